"""Constrained beam search over the catalogue trie.

The history is encoded once (prefill); then one step per code level runs the
decoder on the tokens generated so far for all beams of a user at once, with
the history's keys and values as a shared prefix. At every level a beam may
only take a code that leads to an item that exists and, when history masking is
on, that still has an item the user has not interacted with. So every returned
item is valid and distinct, and a beam at least as wide as the catalogue gives
exactly the exhaustive top-K.

Scores are the summed log-probabilities of an item's code tokens under the full
softmax, so they are comparable with exact scoring of every item.
"""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from jaxrec.decoding import trie as trie_lib
from jaxrec.models import decoder as decoder_lib

Array = jax.Array


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class DeviceTrie:
  """The trie's tensors as jax arrays, plus the static token layout."""

  children: tuple[Array, ...]
  item_nodes: tuple[Array, ...]
  node_item_counts: tuple[Array, ...]
  codebook_sizes: tuple[int, ...] = dataclasses.field(metadata={"static": True})
  token_offsets: tuple[int, ...] = dataclasses.field(metadata={"static": True})

  @classmethod
  def create(cls, trie: trie_lib.Trie, token_offsets) -> "DeviceTrie":
    as_jax = lambda arrays: tuple(jnp.asarray(a) for a in arrays)
    return cls(as_jax(trie.children), as_jax(trie.item_nodes),
               as_jax(trie.node_item_counts), tuple(trie.codebook_sizes),
               tuple(int(o) for o in token_offsets))

  @property
  def num_levels(self) -> int:
    return len(self.codebook_sizes)


def _remaining_items(trie: DeviceTrie, seen_items: Array, depth: int) -> Array:
  """Items below each depth-`depth` node the user has not seen: [batch, nodes].

  seen_items: [batch, max_seen] int32 item indices, -1 for padding.
  """
  is_seen = (seen_items >= 0).astype(jnp.int32)
  safe_items = jnp.maximum(seen_items, 0)
  if depth == trie.num_levels:  # the leaves are the items themselves
    totals = jnp.ones((trie.item_nodes[0].shape[0],), jnp.int32)
    nodes = safe_items
  else:
    totals = trie.node_item_counts[depth]
    nodes = trie.item_nodes[depth][safe_items]
  rows = jnp.arange(seen_items.shape[0])[:, None]
  seen_counts = jnp.zeros((seen_items.shape[0], totals.shape[0]), jnp.int32)
  seen_counts = seen_counts.at[rows, nodes].add(is_seen)
  return totals[None] - seen_counts


def prefill(model: decoder_lib.Decoder, params, history_tokens: Array):
  """Encodes left-padded histories [batch, hist_len] (PAD = 0).

  Returns the next-token log-probabilities [batch, vocab], the per-layer keys
  and values, the history's validity mask [batch, hist_len] and the position
  of the first generated token [batch].
  """
  valid = history_tokens != 0
  positions = decoder_lib.positions_from_valid(valid)
  logits, prefix_kv = model.apply(
      {"params": params}, history_tokens, positions,
      decoder_lib.causal_mask(valid))
  next_position = valid.sum(axis=-1).astype(jnp.int32)
  return jax.nn.log_softmax(logits[:, -1]), prefix_kv, valid, next_position


def _generated_log_probs(model, params, generated: Array, prefix_kv,
                         history_valid: Array, next_position: Array) -> Array:
  """Next-token log-probs after each beam's generated tokens.

  generated: [batch, beam, steps] tokens. All beams run in one sequence of
  length beam * steps; each attends to the history and, causally, to its own
  beam only. Returns [batch, beam, vocab].
  """
  batch, beam, steps = generated.shape
  tokens = generated.reshape(batch, beam * steps)
  step_index = jnp.tile(jnp.arange(steps), beam)
  beam_index = jnp.repeat(jnp.arange(beam), steps)
  positions = next_position[:, None] + step_index[None]
  own_beam = ((beam_index[:, None] == beam_index[None, :]) &
              (step_index[:, None] >= step_index[None, :]))
  mask = jnp.concatenate([
      jnp.broadcast_to(history_valid[:, None, :],
                       (batch, beam * steps, history_valid.shape[1])),
      jnp.broadcast_to(own_beam[None], (batch, beam * steps, beam * steps)),
  ], axis=-1)
  logits, _ = model.apply({"params": params}, tokens, positions, mask,
                          prefix_kv=prefix_kv)
  last = logits.reshape(batch, beam, steps, -1)[:, :, -1]
  return jax.nn.log_softmax(last)


def beam_search(model: decoder_lib.Decoder, params, trie: DeviceTrie,
                history_tokens: Array, seen_items: Array | None,
                beam_size: int) -> tuple[Array, Array]:
  """Top `beam_size` distinct valid items for each history.

  Args:
    model, params: the decoder and its parameters.
    trie: the catalogue's trie on device.
    history_tokens: [batch, hist_len] left-padded history tokens (PAD = 0).
    seen_items: [batch, max_seen] items to exclude (-1 padding), or None to
      allow every item.
    beam_size: number of beams, and of items returned.

  Returns:
    items [batch, beam_size] int32 (best first; -1 where fewer items exist)
    and their scores [batch, beam_size] float32 (summed log-probabilities).
  """
  log_probs, prefix_kv, history_valid, next_position = prefill(
      model, params, history_tokens)
  batch = history_tokens.shape[0]
  num_levels = trie.num_levels
  nodes = jnp.zeros((batch, beam_size), jnp.int32)
  scores = jnp.full((batch, beam_size), -jnp.inf).at[:, 0].set(0.0)
  generated = jnp.zeros((batch, beam_size, num_levels), jnp.int32)

  for depth in range(num_levels):
    if depth == 0:
      step_log_probs = jnp.broadcast_to(log_probs[:, None],
                                        (batch, beam_size, log_probs.shape[-1]))
    else:
      step_log_probs = _generated_log_probs(
          model, params, generated[:, :, :depth], prefix_kv, history_valid,
          next_position)
    offset, size = trie.token_offsets[depth], trie.codebook_sizes[depth]
    code_log_probs = step_log_probs[..., offset:offset + size]
    children = trie.children[depth][jnp.maximum(nodes, 0)]  # [b, beam, size]
    allowed = children >= 0
    if seen_items is not None:
      remaining = _remaining_items(trie, seen_items, depth + 1)
      rows = jnp.arange(batch)[:, None, None]
      allowed &= remaining[rows, jnp.maximum(children, 0)] > 0
    candidates = scores[..., None] + jnp.where(allowed, code_log_probs, -jnp.inf)
    scores, flat_index = jax.lax.top_k(candidates.reshape(batch, -1), beam_size)
    parent, code = flat_index // size, flat_index % size
    nodes = jnp.take_along_axis(children.reshape(batch, -1), flat_index, axis=1)
    generated = jnp.take_along_axis(generated, parent[..., None], axis=1)
    generated = generated.at[:, :, depth].set(offset + code)

  items = jnp.where(jnp.isfinite(scores), nodes, -1)
  return items, scores


def pad_seen_items(seen_items: list[np.ndarray], width: int) -> np.ndarray:
  """Ragged per-user item lists -> [num_users, width] int32, -1 padded."""
  padded = np.full((len(seen_items), width), -1, dtype=np.int32)
  for row, items in enumerate(seen_items):
    if len(items) > width:
      raise ValueError(f"user {row} has {len(items)} seen items > {width}")
    padded[row, :len(items)] = items
  return padded
