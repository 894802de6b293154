"""Self-attention caches of decoding continuations, for Transformer families.

Q continuations per user (beams, trie nodes) share a prefix whose keys and
values were computed once (the history, or a BOS position), and each keeps
the keys and values of its own generated tokens, [batch, Q, steps, h, d] per
layer (the generator interface's continuation-major layout). A new token of
continuation q attends to the shared prefix, to q's own cached tokens and to
itself; nothing is copied per continuation.
"""

import jax
import jax.numpy as jnp

Array = jax.Array
# Per layer, keys and values [batch, Q, steps, heads, head_dim].
StepKV = list[tuple[Array, Array]]


def num_steps(continuation: StepKV | None) -> int:
  return 0 if continuation is None else continuation[0][0].shape[2]


def attention_prefix(shared_kv: list[tuple[Array, Array]],
                     continuation: StepKV | None) -> list[tuple[Array, Array]]:
  """Per layer, the keys and values a new token attends to before itself:
  the shared prefix [batch, P, h, d], then every continuation's cached tokens
  flattened continuation-major: [batch, P + Q * steps, h, d]."""
  if continuation is None:
    return shared_kv
  def flat(x):
    return x.reshape(x.shape[0], x.shape[1] * x.shape[2], *x.shape[3:])
  return [(jnp.concatenate([sk, flat(ok).astype(sk.dtype)], axis=1),
           jnp.concatenate([sv, flat(ov).astype(sv.dtype)], axis=1))
          for (sk, sv), (ok, ov) in zip(shared_kv, continuation)]


def attention_mask(shared_valid: Array, steps: int, width: int) -> Array:
  """[batch, Q, P + Q * steps + Q]: the shared prefix's real positions
  (shared_valid [batch, P]), the continuation's own cached tokens, itself."""
  batch = shared_valid.shape[0]
  eye = jnp.eye(width, dtype=bool)
  own = jnp.concatenate([jnp.repeat(eye, steps, axis=1), eye], axis=1)
  return jnp.concatenate([
      jnp.broadcast_to(shared_valid[:, None], (batch, width,
                                               shared_valid.shape[1])),
      jnp.broadcast_to(own[None], (batch, width, (steps + 1) * width)),
  ], axis=-1)


def append(continuation: StepKV | None, new_kv: list[tuple[Array, Array]]
           ) -> StepKV:
  """Adds the new tokens' keys and values [batch, Q, h, d] as a step."""
  new_kv = [(k[:, :, None], v[:, :, None]) for k, v in new_kv]
  if continuation is None:
    return new_kv
  return [(jnp.concatenate([ok, nk], axis=2), jnp.concatenate([ov, nv], axis=2))
          for (ok, ov), (nk, nv) in zip(continuation, new_kv)]
