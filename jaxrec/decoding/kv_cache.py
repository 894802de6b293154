"""Incremental decoding: the history is encoded once, then one token per step.

`prefill` runs a user's history and keeps every layer's keys and values.
`extend` then runs Q parallel continuations per user (beams, or trie nodes
when scoring exactly) by one token each: every new token attends to the
history, to the cached keys and values of its own earlier tokens, and to
itself. All continuations of a user share the history's cache without copying
it per continuation, and only the new tokens go through the model.

Cached continuation tokens are laid out step-major, [batch, steps, Q, ...], so
token (s, q) belongs to continuation q. The decoder uses learned absolute
positions, so the order of keys does not matter, only the mask.
"""

import dataclasses

import jax
import jax.numpy as jnp

from jaxrec.models import decoder as decoder_lib

Array = jax.Array
# Per layer, keys and values [batch, steps, Q, heads, head_dim].
StepKV = list[tuple[Array, Array]]


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class HistoryCache:
  """The encoded history: per-layer keys and values [batch, hist_len, h, d],
  which history tokens are real [batch, hist_len], and the position of the
  first generated token [batch]."""

  kv: list[tuple[Array, Array]]
  valid: Array
  next_position: Array


def prefill(model: decoder_lib.Decoder, params, history_tokens: Array
            ) -> tuple[Array, HistoryCache]:
  """Encodes left-padded histories [batch, hist_len] (PAD = 0).

  Returns the next-token log-probabilities [batch, vocab] and the cache.
  """
  valid = history_tokens != 0
  positions = decoder_lib.positions_from_valid(valid)
  logits, kv = model.apply({"params": params}, history_tokens, positions,
                           decoder_lib.causal_mask(valid))
  next_position = valid.sum(axis=-1).astype(jnp.int32)
  return jax.nn.log_softmax(logits[:, -1]), HistoryCache(kv, valid,
                                                         next_position)


def _mask(history_valid: Array, steps: int, width: int) -> Array:
  """[batch, Q, hist_len + steps * Q + Q]: history, own cached tokens, self."""
  batch = history_valid.shape[0]
  own = jnp.tile(jnp.eye(width, dtype=bool), (1, steps + 1))  # [Q, (s+1) Q]
  return jnp.concatenate([
      jnp.broadcast_to(history_valid[:, None], (batch, width,
                                                history_valid.shape[1])),
      jnp.broadcast_to(own[None], (batch, width, (steps + 1) * width)),
  ], axis=-1)


def extend(model: decoder_lib.Decoder, params, history: HistoryCache,
           tokens: Array, own_kv: StepKV | None) -> tuple[Array, StepKV]:
  """Runs one more token of Q continuations per user.

  Args:
    model, params: the decoder.
    history: from `prefill`.
    tokens: [batch, Q] the new token of each continuation.
    own_kv: per layer, keys and values [batch, steps, Q, h, d] of each
      continuation's earlier generated tokens, or None before the first.

  Returns:
    Next-token log-probabilities [batch, Q, vocab], and `own_kv` with the new
    tokens appended as step `steps` (the cache for the next call).
  """
  batch, width = tokens.shape
  steps = 0 if own_kv is None else own_kv[0][0].shape[1]
  prefix = history.kv
  if own_kv is not None:
    flat = lambda x: x.reshape(batch, steps * width, *x.shape[3:])
    prefix = [(jnp.concatenate([hk, flat(ok).astype(hk.dtype)], axis=1),
               jnp.concatenate([hv, flat(ov).astype(hv.dtype)], axis=1))
              for (hk, hv), (ok, ov) in zip(history.kv, own_kv)]
  positions = jnp.broadcast_to((history.next_position + steps)[:, None],
                               (batch, width))
  logits, new_kv = model.apply({"params": params}, tokens, positions,
                               _mask(history.valid, steps, width),
                               prefix_kv=prefix)
  new_kv = [(k[:, None], v[:, None]) for k, v in new_kv]
  if own_kv is not None:
    new_kv = [(jnp.concatenate([ok, nk], axis=1),
               jnp.concatenate([ov, nv], axis=1))
              for (ok, ov), (nk, nv) in zip(own_kv, new_kv)]
  return jax.nn.log_softmax(logits), new_kv


def reorder(own_kv: StepKV, index: Array) -> StepKV:
  """Picks continuations: index [batch, Q'] into the Q axis.

  Returns per layer keys and values [batch, steps, Q', h, d].
  """
  take = lambda x: jnp.take_along_axis(
      x, index[:, None, :, None, None], axis=2)
  return [(take(k), take(v)) for k, v in own_kv]
