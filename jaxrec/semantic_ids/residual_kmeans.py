"""Residual k-means (RQ-KMeans): L levels of k-means, each on the residuals.

Level l runs k-means++ initialisation and Lloyd iterations on the residuals
left by levels 0..l-1; an item's code at level l is its nearest centroid, and
the residual x - centroid feeds level l+1.

Memory stays bounded for large N: the [N, K] distance matrix is never formed;
points are processed `chunk_size` rows at a time under `lax.map`, and
k-means++ only keeps [N] vectors of distances. The points are zero-padded
once to a whole number of chunks; padding rows are masked out everywhere.
Distances use `Precision.HIGHEST` so that TPUs do not round them to bfloat16.

Empty clusters: after each Lloyd step, every cluster that received no point is
moved onto one of the points with the largest current squared error (the j-th
empty cluster, in index order, onto the j-th worst-fitted point), which is
deterministic and splits the worst-served region.
"""

from collections.abc import Sequence
import functools

import jax
from jax import lax
import jax.numpy as jnp
import numpy as np

from jaxrec.semantic_ids.collisions import quantization_stats

__all__ = [
    "assign_to_centroids",
    "kmeans",
    "kmeans_plus_plus_init",
    "quantization_stats",
    "residual_kmeans",
]

DEFAULT_CHUNK_SIZE = 8192
_HIGHEST = lax.Precision.HIGHEST


@functools.partial(jax.jit, static_argnames="chunk_size")
def _pad_rows(x: jax.Array, chunk_size: int) -> jax.Array:
  """Zero-pads [N, D] to [P, D], P a multiple of min(chunk_size, N).

  Being jitted, it always returns a fresh buffer (safe to donate).
  """
  n = x.shape[0]
  chunk = min(chunk_size, n)
  return jnp.pad(x, ((0, -(-n // chunk) * chunk - n), (0, 0)))


def _valid(xp: jax.Array, n: int) -> jax.Array:
  """Mask [P] of the real (not padding) rows of padded points [P, D]."""
  return jnp.arange(xp.shape[0]) < n


def _sq_dists(x: jax.Array, centroids: jax.Array) -> jax.Array:
  """Squared distances [n, K] of points [n, D] to centroids [K, D]."""
  cross = jnp.dot(x, centroids.T, precision=_HIGHEST)
  d2 = (jnp.sum(x * x, axis=1, keepdims=True) - 2.0 * cross
        + jnp.sum(centroids * centroids, axis=1))
  return jnp.maximum(d2, 0.0)


@functools.partial(jax.jit, static_argnames="chunk_size")
def _assign(xp: jax.Array, centroids: jax.Array,
            chunk_size: int) -> tuple[jax.Array, jax.Array]:
  """Nearest centroid of padded points [P, D]: labels [P] int32, d2 [P]."""
  padded, dim = xp.shape
  chunk = min(chunk_size, padded)

  def one_chunk(xc):
    d2 = _sq_dists(xc, centroids)
    labels = jnp.argmin(d2, axis=1)
    return labels.astype(jnp.int32), jnp.take_along_axis(
        d2, labels[:, None], axis=1)[:, 0]

  labels, d2 = lax.map(one_chunk, xp.reshape(padded // chunk, chunk, dim))
  return labels.reshape(padded), d2.reshape(padded)


@functools.partial(jax.jit, static_argnames=("n", "k"))
def _kmeans_pp(xp: jax.Array, key: jax.Array, n: int, k: int) -> jax.Array:
  """k-means++ seeding on padded points [P, D] (n real rows): [k, D].

  Each new centroid is a real point drawn with probability proportional to
  its squared distance to the nearest centroid so far (uniformly among real
  points when every distance is zero, i.e. fewer distinct points than k).
  The Gumbel noise is drawn for the n real rows only, so the padding (and
  hence chunk_size) does not change the draws.
  """
  valid = _valid(xp, n)
  x_sq = jnp.sum(xp * xp, axis=1)
  keys = jax.random.split(key, k)

  def draw(key, weights):
    weights = jnp.where(jnp.sum(weights) > 0, weights, valid)
    logits = jnp.where(weights > 0, jnp.log(weights), -jnp.inf)
    noise = jnp.pad(jax.random.gumbel(key, (n,)), (0, xp.shape[0] - n))
    return xp[jnp.argmax(logits + noise)]

  def add_centroid(i, state):
    centroids, min_d2 = state
    c = draw(keys[i], jnp.where(valid, min_d2, 0.0))
    d2 = x_sq - 2.0 * jnp.dot(xp, c, precision=_HIGHEST) + jnp.dot(c, c)
    return centroids.at[i].set(c), jnp.minimum(min_d2, jnp.maximum(d2, 0.0))

  first = draw(keys[0], valid.astype(xp.dtype))
  d2 = jnp.maximum(x_sq - 2.0 * jnp.dot(xp, first, precision=_HIGHEST)
                   + jnp.dot(first, first), 0.0)
  centroids = jnp.zeros((k, xp.shape[1]), xp.dtype).at[0].set(first)
  centroids, _ = lax.fori_loop(1, k, add_centroid, (centroids, d2))
  return centroids


def _lloyd_step(xp: jax.Array, n: int, centroids: jax.Array,
                chunk_size: int) -> jax.Array:
  """One Lloyd iteration with empty-cluster reseeding: centroids [K, D]."""
  k = centroids.shape[0]
  valid = _valid(xp, n)
  labels, d2 = _assign(xp, centroids, chunk_size)
  segments = jnp.where(valid, labels, k)  # Padding goes to a dropped bin.
  sums = jax.ops.segment_sum(xp, segments, num_segments=k + 1)[:k]
  counts = jax.ops.segment_sum(
      valid.astype(xp.dtype), segments, num_segments=k + 1)[:k]
  means = sums / jnp.maximum(counts, 1.0)[:, None]
  empty = counts == 0
  _, worst = lax.top_k(jnp.where(valid, d2, -1.0), k)
  slot = jnp.maximum(jnp.cumsum(empty) - 1, 0)
  return jnp.where(empty[:, None], xp[worst[slot]], means)


@functools.partial(jax.jit, static_argnames=("n", "num_iters", "chunk_size"))
def _lloyd(xp: jax.Array, init: jax.Array, n: int, num_iters: int,
           chunk_size: int) -> tuple[jax.Array, jax.Array, jax.Array]:
  """Lloyd iterations: (centroids [K, D], labels [P], d2 [P])."""
  centroids = lax.fori_loop(
      0, num_iters, lambda _, c: _lloyd_step(xp, n, c, chunk_size), init)
  labels, d2 = _assign(xp, centroids, chunk_size)
  return centroids, labels, d2


@functools.partial(
    jax.jit, static_argnames=("n", "k", "num_iters", "chunk_size"),
    donate_argnames="xp")
def _fit_level(xp, key, *, n, k, num_iters, chunk_size):
  """One residual level: (centroids [k, D], labels [P], residuals [P, D]).

  xp is donated: the residuals reuse its buffer, so a level holds one [P, D]
  array beyond the caller's embeddings.
  """
  init = _kmeans_pp(xp, key, n, k)
  centroids, labels, _ = _lloyd(xp, init, n, num_iters, chunk_size)
  residual = jnp.where(_valid(xp, n)[:, None], xp - centroids[labels], 0.0)
  return centroids, labels, residual


@jax.jit
def _all_finite(x: jax.Array) -> jax.Array:
  return jnp.all(jnp.isfinite(x))


def _check_points(x, name: str, check_finite: bool = True) -> jax.Array:
  x = jnp.asarray(x, jnp.float32)
  if x.ndim != 2 or x.shape[0] == 0:
    raise ValueError(f"{name} must be [num_items > 0, dim], got {x.shape}")
  if check_finite and not bool(_all_finite(x)):
    raise ValueError(f"{name} contain NaN or infinite values")
  return x


def _check_chunk_size(chunk_size: int) -> None:
  if chunk_size < 1:
    raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")


def _check_k(k: int, n: int, what: str) -> None:
  if not 1 <= k <= n:
    raise ValueError(
        f"{what}={k} must be in [1, num_items={n}]: k-means cannot fill more "
        "clusters than there are items; use a smaller codebook")


def kmeans_plus_plus_init(x: jax.Array, k: int, key: jax.Array) -> jax.Array:
  """k-means++ seeding of x [N, D]: centroids [k, D]; jit-able, k static."""
  x = _check_points(x, "x", check_finite=False)
  _check_k(k, x.shape[0], "k")
  return _kmeans_pp(x, key, n=x.shape[0], k=k)


def assign_to_centroids(
    x: jax.Array, centroids: jax.Array, *,
    chunk_size: int = DEFAULT_CHUNK_SIZE) -> tuple[jax.Array, jax.Array]:
  """Nearest centroids of x [N, D] among [K, D]: labels [N] int32, d2 [N]."""
  x = _check_points(x, "x")
  _check_chunk_size(chunk_size)
  xp = _pad_rows(x, chunk_size)
  labels, d2 = _assign(
      xp, jnp.asarray(centroids, jnp.float32), chunk_size=chunk_size)
  return labels[:x.shape[0]], d2[:x.shape[0]]


def kmeans(
    x: jax.Array, init_centroids: jax.Array, *, num_iters: int,
    chunk_size: int = DEFAULT_CHUNK_SIZE) -> tuple[jax.Array, jax.Array]:
  """Lloyd's k-means from given centroids.

  Args:
    x: [N, D] points.
    init_centroids: [K, D] starting centroids (e.g. `kmeans_plus_plus_init`).
    num_iters: Lloyd iterations (each: assign, update, reseed empty clusters).
    chunk_size: Points per distance block.

  Returns:
    (centroids [K, D] float32, labels [N] int32), labels being the nearest of
    the returned centroids.
  """
  x = _check_points(x, "x")
  _check_k(init_centroids.shape[0], x.shape[0], "number of centroids")
  _check_chunk_size(chunk_size)
  centroids, labels, _ = _lloyd(
      _pad_rows(x, chunk_size), jnp.asarray(init_centroids, jnp.float32),
      n=x.shape[0], num_iters=num_iters, chunk_size=chunk_size)
  return centroids, labels[:x.shape[0]]


def residual_kmeans(
    embeddings: np.ndarray,
    codebook_sizes: Sequence[int],
    *,
    num_iters: int,
    seed: int,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
) -> tuple[np.ndarray, list[np.ndarray]]:
  """Quantizes embeddings with residual k-means.

  Args:
    embeddings: [N, D] float item embeddings.
    codebook_sizes: [L] number of centroids per level, each <= N.
    num_iters: Lloyd iterations per level (a fixed count, no early stop, so
      the loop is static and the result reproducible).
    seed: Seed of the k-means++ draws; same inputs and seed, same result.
    chunk_size: Points per distance block; bounds memory at about
      chunk_size * max(K, D) floats per block beyond the [N, D] arrays.

  Returns:
    (codes, codebooks): codes [N, L] int32 and L codebooks [K_l, D] float32;
    sum_l codebooks[l][codes[:, l]] approximates the embeddings.
  """
  sizes = tuple(int(k) for k in codebook_sizes)
  if not sizes:
    raise ValueError("codebook_sizes is empty")
  if num_iters < 0:
    raise ValueError(f"num_iters must be >= 0, got {num_iters}")
  _check_chunk_size(chunk_size)
  x = _check_points(embeddings, "embeddings")
  n = x.shape[0]
  for level, k in enumerate(sizes):
    _check_k(k, n, f"codebook_sizes[{level}]")
  residual = _pad_rows(x, chunk_size)  # A private copy, donated per level.
  del x
  keys = jax.random.split(jax.random.key(seed), len(sizes))
  codes, codebooks = [], []
  for level, k in enumerate(sizes):
    centroids, labels, residual = _fit_level(
        residual, keys[level], n=n, k=k, num_iters=num_iters,
        chunk_size=chunk_size)
    codes.append(np.asarray(labels[:n]))
    codebooks.append(np.asarray(centroids, np.float32))
  return np.stack(codes, axis=1).astype(np.int32), codebooks
