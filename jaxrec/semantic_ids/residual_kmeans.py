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

Balanced option (`balanced=True`): after the Lloyd iterations, a few more
iterations use a capacity-constrained assignment, so that no cluster holds
more than ceil(N / K) points (see `balanced_assign`). Spreading dense regions
over many codes gives more distinct code tuples and much smaller collision
buckets (a smaller extra collision level); the fraction of items sharing
their tuple with some other item need not drop. The assignment is host-side
numpy (its rounds shrink data-dependently, which does not suit jit); the
default, unbalanced path is untouched.
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
    "balanced_assign",
    "balanced_kmeans",
    "check_codebook_sizes",
    "kmeans",
    "kmeans_plus_plus_init",
    "quantization_stats",
    "residual_kmeans",
    "sq_dists",
]

DEFAULT_CHUNK_SIZE = 8192
DEFAULT_BALANCED_ITERS = 5
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


def sq_dists(x: jax.Array, centroids: jax.Array) -> jax.Array:
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
    d2 = sq_dists(xc, centroids)
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


def check_codebook_sizes(codebook_sizes: Sequence[int],
                         num_items: int) -> tuple[int, ...]:
  """Codebook sizes as ints, each in [1, num_items], else a ValueError."""
  sizes = tuple(int(k) for k in codebook_sizes)
  if not sizes:
    raise ValueError("codebook_sizes is empty")
  for level, k in enumerate(sizes):
    _check_k(k, num_items, f"codebook_sizes[{level}]")
  return sizes


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
    balanced: bool = False,
    balanced_iters: int = DEFAULT_BALANCED_ITERS,
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
    balanced: If True, each level ends with `balanced_iters` balanced Lloyd
      iterations (`balanced_kmeans`) after the `num_iters` ordinary ones, so
      that no code of level l holds more than ceil(N / K_l) items.
    balanced_iters: Balanced iterations per level (used if `balanced`).

  Returns:
    (codes, codebooks): codes [N, L] int32 and L codebooks [K_l, D] float32;
    sum_l codebooks[l][codes[:, l]] approximates the embeddings.
  """
  if num_iters < 0:
    raise ValueError(f"num_iters must be >= 0, got {num_iters}")
  _check_chunk_size(chunk_size)
  x = _check_points(embeddings, "embeddings")
  n = x.shape[0]
  sizes = check_codebook_sizes(codebook_sizes, n)
  if balanced:
    return _balanced_residual_kmeans(
        x, sizes, num_iters=num_iters, balanced_iters=balanced_iters,
        seed=seed, chunk_size=chunk_size)
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


# --------------------------------------------------------------- balanced --


def _nearest_open(x: np.ndarray, centroids: np.ndarray, is_open: np.ndarray,
                  chunk_size: int) -> tuple[np.ndarray, np.ndarray]:
  """Nearest open centroid of x [m, D]: labels [m] int64, d2 [m] float32."""
  open_ids = np.flatnonzero(is_open)
  c = centroids[open_ids]
  c_sq = np.sum(c * c, axis=1)
  labels = np.empty(x.shape[0], np.int64)
  d2 = np.empty(x.shape[0], np.float32)
  for start in range(0, x.shape[0], chunk_size):
    xc = x[start:start + chunk_size]
    d = np.sum(xc * xc, axis=1, keepdims=True) - 2.0 * (xc @ c.T) + c_sq
    best = np.argmin(d, axis=1)
    labels[start:start + chunk_size] = open_ids[best]
    d2[start:start + chunk_size] = d[np.arange(len(best)), best]
  return labels, d2


def _accept_closest(labels: np.ndarray, d2: np.ndarray,
                    remaining: np.ndarray) -> np.ndarray:
  """Which proposals [m] a centroid accepts: its `remaining` closest ones.

  Ties in distance go to the earlier proposal, so the result is deterministic.
  """
  order = np.lexsort((d2, labels))  # By centroid, then distance, then index.
  by_centroid = labels[order]
  rank = np.arange(len(order)) - np.searchsorted(by_centroid, by_centroid)
  accepted = np.empty(len(order), bool)
  accepted[order] = rank < remaining[by_centroid]
  return accepted


def balanced_assign(
    x: np.ndarray, centroids: np.ndarray, *, capacity: int | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE) -> np.ndarray:
  """Greedy capacity-constrained assignment of x [N, D] to centroids [K, D].

  Rounds: every unassigned point proposes to its nearest centroid that still
  has room; each centroid accepts its closest proposers up to its remaining
  capacity, and a centroid that fills up closes. Each round either finishes
  or closes a centroid, so there are at most K + 1 rounds; each costs
  O(m K D) for the m points still unassigned. In practice m collapses after
  the first round: on 100k x 256 points and K = 256 the total work is about
  1-2 full distance passes (0.1-1.3 s on 2 CPU cores, 5-25 rounds), and 1M x
  256 points take ~2.5 s. Worst case (every point preferring the same chain
  of centroids) is O(N K^2 D).

  Args:
    x: [N, D] points.
    centroids: [K, D] centroids.
    capacity: Most points per centroid; default ceil(N / K), the smallest
      that fits every point. Must satisfy capacity * K >= N.
    chunk_size: Points per distance block.

  Returns:
    labels [N] int32, each centroid used at most `capacity` times.
  """
  x = np.asarray(x, np.float32)
  centroids = np.asarray(centroids, np.float32)
  n, k = x.shape[0], centroids.shape[0]
  capacity = -(-n // k) if capacity is None else int(capacity)
  if capacity * k < n:
    raise ValueError(f"capacity={capacity} x {k} centroids < {n} points")
  _check_chunk_size(chunk_size)
  labels = np.full(n, -1, np.int32)
  remaining = np.full(k, capacity, np.int64)
  pending = np.arange(n)
  while pending.size:
    choice, d2 = _nearest_open(x[pending], centroids, remaining > 0,
                               chunk_size)
    accepted = _accept_closest(choice, d2, remaining)
    labels[pending[accepted]] = choice[accepted]
    remaining -= np.bincount(choice[accepted], minlength=k)
    pending = pending[~accepted]
  return labels


def _cluster_means(x: np.ndarray, labels: np.ndarray,
                   previous: np.ndarray) -> np.ndarray:
  """Means [K, D] of the clusters; an empty cluster keeps its centroid."""
  counts = np.bincount(labels, minlength=previous.shape[0])
  used = counts > 0
  starts = (np.cumsum(counts) - counts)[used]
  sums = np.add.reduceat(x[np.argsort(labels, kind="stable")], starts,
                         axis=0, dtype=np.float64)
  means = previous.copy()
  means[used] = sums / counts[used, None]
  return means


def _balanced_lloyd(x: np.ndarray, centroids: np.ndarray, num_iters: int,
                    chunk_size: int) -> tuple[np.ndarray, np.ndarray]:
  """Balanced Lloyd on host arrays: (centroids [K, D], labels [N] int32)."""
  labels = balanced_assign(x, centroids, chunk_size=chunk_size)
  for _ in range(num_iters):
    centroids = _cluster_means(x, labels, centroids)
    labels = balanced_assign(x, centroids, chunk_size=chunk_size)
  return centroids, labels


def balanced_kmeans(
    x: np.ndarray, init_centroids: np.ndarray, *, num_iters: int,
    chunk_size: int = DEFAULT_CHUNK_SIZE) -> tuple[np.ndarray, np.ndarray]:
  """Balanced k-means: Lloyd with `balanced_assign` in place of argmin.

  Args:
    x: [N, D] points.
    init_centroids: [K, D] starting centroids (e.g. the output of `kmeans`).
    num_iters: Balanced iterations (each: update to the means of the balanced
      clusters, then reassign); 0 only assigns.
    chunk_size: Points per distance block.

  Returns:
    (centroids [K, D] float32, labels [N] int32), labels being the balanced
    assignment to the returned centroids: no cluster exceeds ceil(N / K).
  """
  x = np.asarray(_check_points(x, "x"))
  _check_k(init_centroids.shape[0], x.shape[0], "number of centroids")
  if num_iters < 0:
    raise ValueError(f"num_iters must be >= 0, got {num_iters}")
  return _balanced_lloyd(x, np.asarray(init_centroids, np.float32),
                         num_iters, chunk_size)


@functools.partial(jax.jit, static_argnames=("n", "k", "num_iters",
                                             "chunk_size"))
def _init_and_lloyd(xp, key, *, n, k, num_iters, chunk_size):
  """k-means++ then Lloyd on padded points [P, D]: centroids [k, D]."""
  init = _kmeans_pp(xp, key, n, k)
  return _lloyd(xp, init, n, num_iters, chunk_size)[0]


def _balanced_residual_kmeans(
    x: jax.Array, sizes: tuple[int, ...], *, num_iters: int,
    balanced_iters: int, seed: int, chunk_size: int
) -> tuple[np.ndarray, list[np.ndarray]]:
  """`residual_kmeans(balanced=True)`; arguments already validated."""
  if balanced_iters < 0:
    raise ValueError(f"balanced_iters must be >= 0, got {balanced_iters}")
  n = x.shape[0]
  residual = np.array(x)  # Host copy, [N, D] float32.
  keys = jax.random.split(jax.random.key(seed), len(sizes))
  codes, codebooks = [], []
  for level, k in enumerate(sizes):
    centroids = _init_and_lloyd(
        _pad_rows(jnp.asarray(residual), chunk_size), keys[level], n=n, k=k,
        num_iters=num_iters, chunk_size=chunk_size)
    centroids, labels = _balanced_lloyd(
        residual, np.asarray(centroids), balanced_iters, chunk_size)
    residual -= centroids[labels]
    codes.append(labels)
    codebooks.append(centroids)
  return np.stack(codes, axis=1).astype(np.int32), codebooks
