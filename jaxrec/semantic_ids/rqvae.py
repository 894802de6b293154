"""RQ-VAE (TIGER): an MLP autoencoder with L residual codebooks in between.

Item embedding x [D] -> encoder MLP -> latent z [latent_dim]. Level l picks
the code nearest to the residual r_l (r_0 = z, r_{l+1} = r_l - e_l), and the
decoder MLP reconstructs x from the quantized latent sum_l e_l, passed with a
straight-through estimator (gradients reach the encoder as if z had gone
through unchanged). The loss per item is

  sum_d (x_d - x^_d)^2                                   reconstruction
  + sum_l ||sg(r_l) - e_l||^2                            codebook
  + beta * sum_l ||r_l - sg(e_l)||^2                     commitment

averaged over the batch (sg = stop_gradient, beta = commitment_weight).

Training follows TIGER with two stabilisers: every codebook starts from
residual k-means on the latents of the freshly initialised encoder, and every
`restart_every` epochs the codes that no item used in the last epoch are moved
onto randomly chosen current residuals of their level, drawn with probability
proportional to their squared distance to the nearest live code (k-means++'s
rule, so that revived codes go where the quantization error is largest).

Optimiser: Adam, lr 1e-3, batches of 256. TIGER ran Adagrad (lr 0.4) for 20k
epochs; here Adagrad at 0.4 diverges, while Adam converges in ~100-200 epochs
on 1k-10k items (ML-100K's 1,682 unit-norm lexical vectors: reconstruction
error 0.88 -> 0.057 in 200 epochs, all 3 x 32 codes in use). A 10-30x larger
learning rate for the codebooks helps the codes keep up with the encoder early
on, but collapses the last level on ML-100K (utilisation 0.4-0.6), so there is
one learning rate for everything.

Everything is deterministic given the seed: the whole epoch (seeded
permutation, padded minibatches, train steps) runs as one jitted scan.
"""

from collections.abc import Sequence
import functools
import time
from typing import Any

from absl import logging
import flax.linen as nn
import jax
from jax import lax
import jax.numpy as jnp
import numpy as np
import optax

from jaxrec.semantic_ids import collisions
from jaxrec.semantic_ids import residual_kmeans as rk

__all__ = [
    "MLP",
    "fit_rqvae",
    "init_params",
    "quantize",
    "restart_dead_codes",
    "train_rqvae",
]

Array = jax.Array
# {"encoder": MLP params, "decoder": MLP params, "codebooks": ([K_l, latent])}.
Params = dict[str, Any]

DEFAULT_CHUNK_SIZE = 8192
# K-means initialisation fits on at most this many items' latents.
KMEANS_INIT_MAX_ITEMS = 65536
KMEANS_INIT_ITERS = 20


class MLP(nn.Module):
  """Dense layers with ReLU between them (none after the last)."""

  features: Sequence[int]

  @nn.compact
  def __call__(self, x: Array) -> Array:
    """x: [batch, in] -> [batch, features[-1]]."""
    for i, width in enumerate(self.features):
      x = nn.Dense(width, name=f"layer_{i}")(x)
      if i < len(self.features) - 1:
        x = nn.relu(x)
    return x


def _mlp_apply(mlp_params: Params, x: Array) -> Array:
  """Applies the MLP whose layer widths are read off its params."""
  widths = tuple(mlp_params[f"layer_{i}"]["kernel"].shape[1]
                 for i in range(len(mlp_params)))
  return MLP(widths).apply({"params": mlp_params}, x)


# ----------------------------------------------------------- quantization --


def _residual_quantize(z: Array, codebooks: Sequence[Array]
                       ) -> tuple[Array, list[Array], list[Array]]:
  """Residual quantization of latents z [n, d].

  Returns:
    (codes [n, L] int32, residuals: L arrays [n, d] (r_l, the input of level
    l), embeddings: L arrays [n, d] (e_l, the chosen codes' vectors)).
    Gradients flow through r_{l+1} = r_l - e_l to z and to the codebooks.
  """
  residual, codes, residuals, chosen = z, [], [], []
  for codebook in codebooks:
    code = jnp.argmin(rk.sq_dists(lax.stop_gradient(residual), codebook),
                      axis=1)
    e = codebook[code]
    codes.append(code.astype(jnp.int32))
    residuals.append(residual)
    chosen.append(e)
    residual = residual - e
  return jnp.stack(codes, axis=1), residuals, chosen


def _map_chunks(fn, x: Array, chunk_size: int) -> Array:
  """fn over row blocks of x [N, D] (zero-padded to whole blocks): [N, ...]."""
  n = x.shape[0]
  chunk = min(chunk_size, n)
  xp = jnp.pad(x, ((0, -(-n // chunk) * chunk - n), (0, 0)))
  out = lax.map(fn, xp.reshape(-1, chunk, x.shape[1]))
  return out.reshape((-1,) + out.shape[2:])[:n]


@functools.partial(jax.jit, static_argnames="chunk_size")
def _encode(encoder: Params, x: Array, chunk_size: int) -> Array:
  """Latents [N, latent] of x [N, D], chunk_size rows at a time."""
  return _map_chunks(lambda xc: _mlp_apply(encoder, xc), x, chunk_size)


@functools.partial(jax.jit, static_argnames="chunk_size")
def _quantize(params: Params, x: Array, chunk_size: int) -> Array:
  """Codes [N, L] of x [N, D], chunk_size rows at a time."""
  def codes(xc):
    z = _mlp_apply(params["encoder"], xc)
    return _residual_quantize(z, params["codebooks"])[0]
  return _map_chunks(codes, x, chunk_size)


def quantize(params: Params, embeddings: np.ndarray, *,
             chunk_size: int = DEFAULT_CHUNK_SIZE) -> np.ndarray:
  """Codes [N, L] int32 of embeddings [N, D]: the nearest code per level.

  Pure given params; runs under jit on chunk_size rows at a time, so memory
  stays at about chunk_size * max(K, widths) floats beyond the inputs.
  """
  x = rk._check_points(embeddings, "embeddings")  # pylint: disable=protected-access
  rk._check_chunk_size(chunk_size)  # pylint: disable=protected-access
  return np.asarray(_quantize(params, x, chunk_size))


# ------------------------------------------------------------------- loss --


def _loss(params: Params, x: Array, weights: Array, commitment_weight: float
          ) -> tuple[Array, tuple[Array, Array]]:
  """Loss on a batch x [B, D] with row weights [B] (0 = padding).

  Returns:
    (loss, (reconstruction loss, codes [B, L])), losses being weighted means
    over the batch of per-item values.
  """
  z = _mlp_apply(params["encoder"], x)
  codes, residuals, chosen = _residual_quantize(z, params["codebooks"])
  quantized = sum(chosen)
  z_q = z + lax.stop_gradient(quantized - z)  # Straight-through estimator.
  x_hat = _mlp_apply(params["decoder"], z_q)
  # Summed over features, not averaged: with a mean over D features the
  # reconstruction term shrinks by D while the codebook and commitment terms
  # (sums over latent dims) do not, so commitment dominates, the encoder
  # collapses its latents onto a few codes and the codebooks die.
  recon = jnp.sum((x - x_hat) ** 2, axis=1)
  quant = sum(jnp.sum((lax.stop_gradient(r) - e) ** 2, axis=1)
              + commitment_weight * jnp.sum((r - lax.stop_gradient(e)) ** 2,
                                            axis=1)
              for r, e in zip(residuals, chosen))
  total = jnp.sum(weights)

  def mean(v):
    return jnp.sum(weights * v) / total

  return mean(recon + quant), (mean(recon), codes)


# ------------------------------------------------------------------ train --


def _optimizer(learning_rate: float) -> optax.GradientTransformation:
  return optax.adam(learning_rate)


@functools.partial(jax.jit, static_argnames=("n", "batch_size",
                                             "learning_rate",
                                             "commitment_weight"),
                   donate_argnames=("params", "opt_state"))
def _train_epoch(params: Params, opt_state: Any, x: Array, key: Array, *,
                 n: int, batch_size: int, learning_rate: float,
                 commitment_weight: float):
  """One epoch over x [n, D] in a seeded order.

  The permutation is padded to whole batches; padding rows get weight 0.

  Returns:
    (params, opt_state, mean loss, mean reconstruction loss, usage: L arrays
    [K_l] int32, how many items each code got during the epoch).
  """
  steps = -(-n // batch_size)
  order = jnp.pad(jax.random.permutation(key, n), (0, steps * batch_size - n))
  weights = (jnp.arange(steps * batch_size) < n).astype(jnp.float32)
  batches = (order.reshape(steps, batch_size),
             weights.reshape(steps, batch_size))
  grad_fn = jax.value_and_grad(_loss, has_aux=True)
  optimizer = _optimizer(learning_rate)

  def step(carry, batch):
    params, opt_state, usage, sums = carry
    idx, w = batch
    (loss, (recon, codes)), grads = grad_fn(params, x[idx], w,
                                            commitment_weight)
    updates, opt_state = optimizer.update(grads, opt_state, params)
    params = optax.apply_updates(params, updates)
    usage = tuple(u.at[codes[:, level]].add(w.astype(u.dtype))
                  for level, u in enumerate(usage))
    count = jnp.sum(w)
    sums = sums + jnp.stack([loss * count, recon * count])
    return (params, opt_state, usage, sums), None

  usage = tuple(jnp.zeros(c.shape[0], jnp.int32) for c in params["codebooks"])
  (params, opt_state, usage, sums), _ = lax.scan(
      step, (params, opt_state, usage, jnp.zeros(2)), batches)
  return params, opt_state, sums[0] / n, sums[1] / n, usage


@functools.partial(jax.jit, static_argnames="chunk_size")
def _restart_on_latents(codebooks: Sequence[Array], z: Array,
                        dead: Sequence[Array], key: Array,
                        chunk_size: int) -> tuple[Array, ...]:
  """Moves dead codes onto random residuals, level by level; see below."""
  residual, new_books = z, []
  for level, (codebook, is_dead) in enumerate(zip(codebooks, dead)):
    d2 = _map_chunks(  # To the nearest live code (inf if none is live).
        lambda rc, c=codebook, dead=is_dead: jnp.min(
            jnp.where(dead, jnp.inf, rk.sq_dists(rc, c)), axis=1),
        residual, chunk_size)
    pick = _draw_by_error(jax.random.fold_in(key, level), d2,
                          codebook.shape[0])
    codebook = jnp.where(is_dead[:, None], residual[pick], codebook)
    code = _map_chunks(
        lambda rc, c=codebook: jnp.argmin(rk.sq_dists(rc, c), axis=1),
        residual, chunk_size)
    residual = residual - codebook[code]
    new_books.append(codebook)
  return tuple(new_books)


def _draw_by_error(key: Array, d2: Array, k: int) -> Array:
  """k distinct rows [k] drawn with probability ~ d2 [n] (k-means++'s rule).

  Gumbel top-k sampling without replacement; uniform if every d2 is zero
  or every d2 is inf (no live code).
  """
  d2 = jnp.where(jnp.isfinite(d2), d2, 1.0)
  d2 = jnp.where(jnp.sum(d2) > 0, d2, 1.0)
  logits = jnp.where(d2 > 0, jnp.log(d2), -1e30)
  return lax.top_k(logits + jax.random.gumbel(key, d2.shape), k)[1]


def restart_dead_codes(params: Params, embeddings: np.ndarray,
                       usage: Sequence[np.ndarray], key: Array, *,
                       chunk_size: int = DEFAULT_CHUNK_SIZE) -> Params:
  """Re-sets every unused code to a random current residual of its level.

  Level by level: the residuals r_l of all items are computed with the
  codebooks of levels < l already restarted; code j of level l, if
  usage[l][j] == 0, becomes r_l of a random item, drawn with probability
  proportional to the squared distance from r_l to its nearest live code
  (distinct items for the codes of one level; deterministic given `key`).
  The optimiser's moments for the moved rows are left as they were.

  Args:
    params: RQ-VAE params.
    embeddings: [N, D] items.
    usage: L arrays [K_l], items per code (e.g. over the last epoch).
    key: PRNG key.
    chunk_size: Rows per encoder block.

  Returns:
    params with new codebooks (encoder and decoder unchanged).
  """
  x = rk._check_points(embeddings, "embeddings")  # pylint: disable=protected-access
  z = _encode(params["encoder"], x, chunk_size)
  dead = tuple(jnp.asarray(u) == 0 for u in usage)
  books = _restart_on_latents(tuple(params["codebooks"]), z, dead, key,
                              chunk_size)
  return {**params, "codebooks": books}


def init_params(embeddings: np.ndarray, codebook_sizes: Sequence[int],
                key: Array, *, hidden_dims: Sequence[int] = (512, 256, 128),
                latent_dim: int = 32,
                chunk_size: int = DEFAULT_CHUNK_SIZE) -> Params:
  """Random MLPs and k-means codebooks.

  The encoder and decoder get Flax's default initialisers; the codebooks are
  residual k-means (k-means++ then KMEANS_INIT_ITERS Lloyd iterations) of
  the initial encoder's latents of the items (of a random sample of
  KMEANS_INIT_MAX_ITEMS when there are more).

  Args:
    embeddings: [N, D] float32 items, already validated.
    codebook_sizes: [L] codebook sizes, each <= N.
    key: PRNG key.
    hidden_dims: Encoder widths; the decoder mirrors them.
    latent_dim: Width of the quantized latent.
    chunk_size: Rows per encoder block.

  Returns:
    {"encoder", "decoder", "codebooks": tuple of [K_l, latent_dim]}.
  """
  x = jnp.asarray(embeddings, jnp.float32)
  n, dim = x.shape
  enc_key, dec_key, sample_key, kmeans_key = jax.random.split(key, 4)
  encoder = MLP(tuple(hidden_dims) + (latent_dim,)).init(
      enc_key, jnp.zeros((1, dim)))["params"]
  decoder = MLP(tuple(reversed(hidden_dims)) + (dim,)).init(
      dec_key, jnp.zeros((1, latent_dim)))["params"]
  if n > KMEANS_INIT_MAX_ITEMS:
    x = x[jax.random.choice(sample_key, n, (KMEANS_INIT_MAX_ITEMS,),
                            replace=False)]
  z = np.asarray(_encode(encoder, x, chunk_size))
  seed = int(jax.random.randint(kmeans_key, (), 0, 2**31 - 1))
  _, books = rk.residual_kmeans(z, codebook_sizes, num_iters=KMEANS_INIT_ITERS,
                                seed=seed, chunk_size=chunk_size)
  return {"encoder": encoder, "decoder": decoder,
          "codebooks": tuple(jnp.asarray(b) for b in books)}


@functools.partial(jax.jit, static_argnames="commitment_weight")
def _eval_loss(params: Params, x: Array, commitment_weight: float
               ) -> tuple[Array, Array]:
  loss, (recon, _) = _loss(params, x, jnp.ones(x.shape[0]), commitment_weight)
  return loss, recon


def _validate(latent_dim: int, hidden_dims: Sequence[int], num_epochs: int,
              batch_size: int, restart_every: int,
              learning_rate: float) -> None:
  for name, value in (("latent_dim", latent_dim), ("num_epochs", num_epochs),
                      ("batch_size", batch_size)):
    if value < 1:
      raise ValueError(f"{name} must be >= 1, got {value}")
  if any(h < 1 for h in hidden_dims):
    raise ValueError(f"hidden_dims must be positive, got {hidden_dims}")
  if restart_every < 0:
    raise ValueError(f"restart_every must be >= 0, got {restart_every}")
  if not learning_rate > 0:
    raise ValueError(f"learning_rate must be > 0, got {learning_rate}")


def fit_rqvae(
    embeddings: np.ndarray,
    codebook_sizes: Sequence[int],
    *,
    hidden_dims: Sequence[int] = (512, 256, 128),
    latent_dim: int = 32,
    commitment_weight: float = 0.25,
    learning_rate: float = 1e-3,
    num_epochs: int = 200,
    batch_size: int = 256,
    restart_every: int = 10,
    seed: int = 0,
    log_every: int = 0,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
) -> tuple[Params, dict[str, Any]]:
  """Trains an RQ-VAE.

  Args:
    embeddings: [N, D] float item embeddings (finite).
    codebook_sizes: [L] codes per level, each in [1, N].
    hidden_dims: Encoder widths; the decoder mirrors them back to D.
    latent_dim: Width of the quantized latent.
    commitment_weight: beta, the weight of ||r - sg(e)||^2.
    learning_rate: Adam learning rate.
    num_epochs: Epochs (fixed, no early stop: reproducible).
    batch_size: Items per step (capped at N); the last batch of an epoch is
      padded and the padding masked out.
    restart_every: Every this many epochs, codes unused during the epoch are
      restarted (`restart_dead_codes`); 0 disables restarts.
    seed: Seeds initialisation, k-means, batch order and restarts.
    log_every: Log the losses every this many epochs (0: never).
    chunk_size: Rows per block when encoding the whole catalogue.

  Returns:
    (params, info), info as in `train_rqvae` minus the code statistics.
  """
  x = rk._check_points(embeddings, "embeddings")  # pylint: disable=protected-access
  n = x.shape[0]
  sizes = rk.check_codebook_sizes(codebook_sizes, n)
  _validate(latent_dim, hidden_dims, num_epochs, batch_size, restart_every,
            learning_rate)
  batch_size = min(batch_size, n)
  init_key, epoch_key, restart_key = jax.random.split(jax.random.key(seed), 3)
  params = init_params(x, sizes, init_key, hidden_dims=hidden_dims,
                       latent_dim=latent_dim, chunk_size=chunk_size)
  opt_state = _optimizer(learning_rate).init(params)
  history = {"loss": [], "reconstruction_loss": [], "epoch_seconds": [],
             "num_dead_codes": []}
  num_restarts = 0
  for epoch in range(num_epochs):
    start = time.perf_counter()
    params, opt_state, loss, recon, usage = _train_epoch(
        params, opt_state, x, jax.random.fold_in(epoch_key, epoch), n=n,
        batch_size=batch_size, learning_rate=float(learning_rate),
        commitment_weight=float(commitment_weight))
    loss, recon = float(loss), float(recon)  # Waits for the epoch.
    history["loss"].append(loss)
    history["reconstruction_loss"].append(recon)
    dead = int(sum(np.sum(np.asarray(u) == 0) for u in usage))
    history["num_dead_codes"].append(dead)
    # No restart after the last epoch: the returned codebooks are trained.
    if (restart_every and (epoch + 1) % restart_every == 0 and dead
        and epoch + 1 < num_epochs):
      params = restart_dead_codes(params, x, usage,
                                  jax.random.fold_in(restart_key, epoch),
                                  chunk_size=chunk_size)
      jax.block_until_ready(params["codebooks"])
      num_restarts += dead
    history["epoch_seconds"].append(time.perf_counter() - start)
    if log_every and (epoch + 1) % log_every == 0:
      logging.info("RQ-VAE epoch %d: loss %.5f, reconstruction %.5f, "
                   "%d dead codes", epoch + 1, loss, recon, dead)
  seconds = history["epoch_seconds"]
  info = {
      "num_restarts": num_restarts,
      "history": history,
      "seconds_per_epoch": float(np.mean(seconds[1:] if len(seconds) > 1
                                         else seconds)),
      "first_epoch_seconds": seconds[0],  # Includes compilation.
      "batch_size": batch_size,
  }
  return params, info


def train_rqvae(
    embeddings: np.ndarray,
    codebook_sizes: Sequence[int],
    **options: Any,
) -> tuple[np.ndarray, dict[str, Any]]:
  """Quantizes item embeddings with a trained RQ-VAE (TIGER).

  Args:
    embeddings: [N, D] float item embeddings (finite).
    codebook_sizes: [L] codes per level, each in [1, N].
    **options: Keyword arguments of `fit_rqvae`.

  Returns:
    (codes [N, L] int32, info): codes are the nearest code per level under
    the final params (`quantize`). info (JSON-serialisable) has
    `reconstruction_loss` and `loss` (final, on all items), `utilisation`
    and `perplexity` per level, `collision_rate`, `num_restarts` (codes
    restarted, summed over restarts), `seconds_per_epoch` (mean wall time of
    epochs after the first, restarts included), `first_epoch_seconds` (with
    compilation) and
    `history`: per-epoch `loss`, `reconstruction_loss`, `epoch_seconds` and
    `num_dead_codes`.
  """
  params, info = fit_rqvae(embeddings, codebook_sizes, **options)
  chunk_size = options.get("chunk_size", DEFAULT_CHUNK_SIZE)
  codes = quantize(params, embeddings, chunk_size=chunk_size)
  loss, recon = _final_losses(params, embeddings,
                              options.get("commitment_weight", 0.25),
                              chunk_size)
  stats = collisions.quantization_stats(codes, codebook_sizes)
  info.update(loss=loss, reconstruction_loss=recon,
              utilisation=stats["utilisation"],
              perplexity=stats["perplexity"],
              collision_rate=stats["collision_rate"])
  return codes, info


def _final_losses(params: Params, embeddings: np.ndarray,
                  commitment_weight: float, chunk_size: int
                  ) -> tuple[float, float]:
  """Mean loss and reconstruction loss over all items, chunk by chunk."""
  x = jnp.asarray(embeddings, jnp.float32)
  n = x.shape[0]
  loss = recon = 0.0
  for start in range(0, n, chunk_size):
    xc = x[start:start + chunk_size]
    l, r = _eval_loss(params, xc, commitment_weight)
    loss += float(l) * xc.shape[0]
    recon += float(r) * xc.shape[0]
  return loss / n, recon / n
