"""Exact scoring: the log-likelihood of every item's full code tuple.

Items share prefixes, so the trie is scored level by level: at depth d every
node runs one token (its last code) through the decoder, attending to the
history and to its ancestors' cached keys and values, and its children get the
node's score plus their code's log-probability. Each trie node goes through
the model once per user: sum over depths of num_nodes tokens, not num_items *
num_levels. Nodes of a depth are batched in chunks of `chunk_size`
(`lax.map`), so memory is [batch, num_nodes] scores plus the keys and values of
the nodes above the last level.

Scores equal beam search's (same summed log-probabilities under the full
softmax), so `exact_top_k` measures beam search error. Ties go to the smaller
leaf rank, i.e. the lexicographically smaller code tuple, as in beam search.
"""

import jax
import jax.numpy as jnp

from jaxrec.decoding import kv_cache
from jaxrec.decoding import masking
from jaxrec.decoding import trie as trie_lib
from jaxrec.models import decoder as decoder_lib

Array = jax.Array


def _ancestors(trie: trie_lib.DeviceTrie, depth: int, nodes: Array
               ) -> list[Array]:
  """Ancestors of depth-`depth` nodes at depths 1 ... depth - 1: each [C]."""
  chain = []
  for level in range(depth, 1, -1):
    nodes = trie_lib.parents(trie, level, nodes)
    chain.insert(0, nodes)
  return chain


def _score_chunk(model, params, trie, history, depth, node_scores, level_kv,
                 nodes, in_range):
  """One chunk of depth-`depth` nodes [C]: their children's scores and KV.

  Returns child scores [batch, C, width], child ids [C, width] (past the last
  node where invalid) and, per layer, the chunk's keys and values
  [batch, C, h, d] (none at the last depth: no one attends to them).
  """
  batch = node_scores.shape[0]
  own_kv = None
  if depth > 1:
    ancestors = _ancestors(trie, depth, nodes)
    own_kv = [tuple(jnp.stack([kv[layer][part][:, a] for kv, a in
                               zip(level_kv, ancestors)], axis=1)
                    for part in range(2))
              for layer in range(len(level_kv[0]))]
  codes = trie.child_code[depth - 1][nodes].astype(jnp.int32)
  tokens = jnp.broadcast_to(codes + trie.token_offsets[depth - 1],
                            (batch, nodes.shape[0]))
  log_probs, new_kv = kv_cache.extend(model, params, history, tokens, own_kv)
  children, child_codes, valid = trie_lib.candidates(trie, depth, nodes)
  offset, size = trie.token_offsets[depth], trie.codebook_sizes[depth]
  child_log_probs = jnp.take_along_axis(
      log_probs[..., offset:offset + size],
      jnp.broadcast_to(child_codes, (batch,) + child_codes.shape), axis=-1)
  child_scores = node_scores[:, nodes, None] + child_log_probs
  valid &= in_range[:, None]
  children = jnp.where(valid, children, _num_nodes(trie, depth + 1))
  if depth + 1 == trie.num_levels:
    new_kv = []
  return child_scores, children, [(k[:, -1], v[:, -1]) for k, v in new_kv]


def _num_nodes(trie: trie_lib.DeviceTrie, depth: int) -> int:
  if depth == trie.num_levels:
    return trie.num_items
  return trie.child_start[depth].shape[0] - 1


def exact_leaf_scores(model: decoder_lib.Decoder, params,
                      trie: trie_lib.DeviceTrie, history_tokens: Array, *,
                      chunk_size: int = 256) -> Array:
  """Log-likelihood of every item after each history: [batch, num_items].

  history_tokens: [batch, hist_len] left-padded (PAD = 0). Columns are leaf
  ranks (lexicographic order); `[:, trie.item_leaves]` gives item order.
  """
  first_log_probs, history = kv_cache.prefill(model, params, history_tokens)
  scores = first_log_probs[:, trie.token_offsets[0] +
                           trie.child_code[0].astype(jnp.int32)]
  level_kv = []
  for depth in range(1, trie.num_levels):
    num_nodes = _num_nodes(trie, depth)
    chunk = min(chunk_size, num_nodes)
    num_chunks = -(-num_nodes // chunk)
    ids = jnp.arange(num_chunks * chunk, dtype=jnp.int32)
    score_chunk = lambda args, depth=depth, scores=scores: _score_chunk(
        model, params, trie, history, depth, scores, level_kv,
        jnp.minimum(args[0], num_nodes - 1), args[1])
    child_scores, children, chunk_kv = jax.lax.map(
        score_chunk, (ids.reshape(num_chunks, chunk),
                      (ids < num_nodes).reshape(num_chunks, chunk)))
    batch = scores.shape[0]
    values = jnp.moveaxis(child_scores, 1, 0).reshape(batch, -1)
    scores = jnp.zeros((batch, _num_nodes(trie, depth + 1)), jnp.float32).at[
        :, children.reshape(-1)].set(values, mode="drop")
    if depth + 1 < trie.num_levels:
      level_kv.append([tuple(jnp.moveaxis(x, 1, 0).reshape(
          batch, num_chunks * chunk, *x.shape[3:]) for x in layer)
                       for layer in chunk_kv])
  return scores


def exact_top_k(model: decoder_lib.Decoder, params, trie: trie_lib.DeviceTrie,
                history_tokens: Array, seen_items: Array | None, k: int, *,
                chunk_size: int = 256) -> tuple[Array, Array]:
  """The exact top-k items, ranked like `beam_search.beam_search`.

  Args:
    model, params, trie, history_tokens: as for `exact_leaf_scores`.
    seen_items: [batch, max_seen] items to exclude (-1 padding), or None.
    k: list length.
    chunk_size: trie nodes per decoder call.

  Returns:
    items [batch, k] int32 (-1 where fewer items are allowed) and scores
    [batch, k] float32, best first, ties to the smaller code tuple.
  """
  scores = exact_leaf_scores(model, params, trie, history_tokens,
                             chunk_size=chunk_size)
  if seen_items is not None:
    ranks = masking.seen_leaf_ranks(trie, seen_items)
    rows = jnp.arange(scores.shape[0])[:, None]
    scores = scores.at[rows, ranks].set(-jnp.inf, mode="drop")
  if scores.shape[1] < k:
    scores = jnp.pad(scores, ((0, 0), (0, k - scores.shape[1])),
                     constant_values=-jnp.inf)
  scores, leaves = jax.lax.top_k(scores, k)
  leaves = jnp.minimum(leaves, trie.num_items - 1)
  items = jnp.where(jnp.isfinite(scores), trie.leaf_items[leaves], -1)
  return items, scores
