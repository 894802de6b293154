"""Exact scoring: the log-likelihood of every item's full code tuple.

Items share prefixes, so the trie is scored level by level: at depth d every
node feeds its last code to the continuation of its parent
(`Generator.extend`), and its children get the node's score plus their code's
log-probability. Each trie node goes through the model once per user: sum over
depths of num_nodes codes, not num_items * num_levels. Nodes of a depth are
batched in chunks of `chunk_size` (`lax.map`), so memory is [batch, num_nodes]
scores plus the continuations of the nodes above the last level.

Scores equal beam search's (same summed log-probabilities), so `exact_top_k`
measures beam search error. Ties go to the smaller leaf rank, i.e. the
lexicographically smaller code tuple, as in beam search. Works for every
model family (`jaxrec.models.generator`).
"""

import jax
import jax.numpy as jnp

from jaxrec.decoding import beam_search as beam_search_lib
from jaxrec.decoding import masking
from jaxrec.decoding import trie as trie_lib
from jaxrec.models import generator as generator_lib

Array = jax.Array


def _score_chunk(model, params, trie, history, depth, node_scores,
                 parent_continuation, nodes, in_range):
  """One chunk of depth-`depth` nodes [C]: their children's scores, and the
  chunk's continuation.

  Returns child scores [batch, C, width], child ids [C, width] (past the last
  node where invalid) and the chunk's continuation, [batch, C, ...] arrays
  (None at the last depth: nobody extends it).
  """
  batch, chunk = node_scores.shape[0], nodes.shape[0]
  continuation = None
  if depth > 1:
    parents = trie_lib.parents(trie, depth, nodes)
    continuation = generator_lib.gather(
        parent_continuation, jnp.broadcast_to(parents, (batch, chunk)))
  codes = jnp.broadcast_to(trie.child_code[depth - 1][nodes].astype(jnp.int32),
                           (batch, chunk))
  log_probs, continuation = model.extend(params, history, continuation, codes,
                                         depth - 1)
  children, child_codes, valid = trie_lib.candidates(trie, depth, nodes)
  child_log_probs = jnp.take_along_axis(
      log_probs, jnp.broadcast_to(child_codes, (batch,) + child_codes.shape),
      axis=-1)
  if model.catalogue_normalized:
    child_log_probs = beam_search_lib.renormalize(child_log_probs, valid)
  child_scores = node_scores[:, nodes, None] + child_log_probs
  valid &= in_range[:, None]
  children = jnp.where(valid, children, _num_nodes(trie, depth + 1))
  if depth + 1 == trie.num_levels:
    continuation = None
  return child_scores, children, continuation


def _num_nodes(trie: trie_lib.DeviceTrie, depth: int) -> int:
  if depth == trie.num_levels:
    return trie.num_items
  return trie.child_start[depth].shape[0] - 1


def exact_leaf_scores(model: generator_lib.Generator, params,
                      trie: trie_lib.DeviceTrie, history_tokens: Array, *,
                      chunk_size: int = 256) -> Array:
  """Log-likelihood of every item after each history: [batch, num_items]
  (plus the generator's item-level score, if it has one).

  history_tokens: [batch, hist_len] left-padded (PAD = 0). Columns are leaf
  ranks (lexicographic order); `[:, trie.item_leaves]` gives item order.
  """
  first_log_probs, history = model.prefill(params, history_tokens)
  scores = first_log_probs[:, trie.child_code[0].astype(jnp.int32)]
  if model.catalogue_normalized:  # the root's children: every first code
    scores = jax.nn.log_softmax(scores, axis=-1)
  continuation = None  # of every node of the previous depth
  for depth in range(1, trie.num_levels):
    num_nodes = _num_nodes(trie, depth)
    chunk = min(chunk_size, num_nodes)
    num_chunks = -(-num_nodes // chunk)
    ids = jnp.arange(num_chunks * chunk, dtype=jnp.int32)
    score_chunk = lambda args, depth=depth, scores=scores, parent=continuation: (
        _score_chunk(model, params, trie, history, depth, scores, parent,
                     jnp.minimum(args[0], num_nodes - 1), args[1]))
    child_scores, children, chunk_continuation = jax.lax.map(
        score_chunk, (ids.reshape(num_chunks, chunk),
                      (ids < num_nodes).reshape(num_chunks, chunk)))
    batch = scores.shape[0]
    values = jnp.moveaxis(child_scores, 1, 0).reshape(batch, -1)
    scores = jnp.zeros((batch, _num_nodes(trie, depth + 1)), jnp.float32).at[
        :, children.reshape(-1)].set(values, mode="drop")
    # [num_chunks, batch, chunk, ...] -> [batch, num_chunks * chunk, ...]
    continuation = jax.tree.map(
        lambda x: jnp.moveaxis(x, 0, 1).reshape(batch, num_chunks * chunk,
                                                *x.shape[3:]),
        chunk_continuation)
  item_scores = model.rescore(params, history, trie_lib.leaf_codes(trie),
                              trie.leaf_items)
  if item_scores is not None:
    scores += item_scores
  return scores


def exact_top_k(model: generator_lib.Generator, params,
                trie: trie_lib.DeviceTrie,
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
