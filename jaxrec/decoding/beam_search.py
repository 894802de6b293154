"""Beam search over code levels, constrained by the catalogue trie or not.

Model-agnostic: any `generator.Generator` encodes the history once
(`prefill`); then one step per code level feeds only the code each beam chose
at the previous level (`extend`), and beams are reordered with
`generator.gather`.

Constrained: at every level a beam may only take a code that leads to an item
that exists and, when history masking is on, that still has an item the user
has not seen (`masking`). So every returned item is valid and distinct, and a
beam at least as wide as the number of allowed items gives exactly the
exhaustive top-K. Per level the candidates are each beam's trie children
(`trie.candidates`: at most the largest fan-out, not the whole codebook).

Unconstrained: every code of the level's codebook is a candidate; generated
tuples that are no item come out as -1 (the invalid-ID rate).

Scores are the summed log-probabilities of an item's codes, comparable with
`exact.exact_leaf_scores`; a generator with an item-level score
(`Generator.rescore`) adds it to the final beams, which are then re-ranked.

Tie-breaking (deterministic): among equal scores, the lexicographically
smaller code tuple (prefix, while searching) wins. Beams are kept in
lexicographic order of their prefixes and each beam's candidates come in
increasing code order, so the flattened candidates are in lexicographic order,
and `lax.top_k` puts the lower index first among equal values.
"""

import jax
import jax.numpy as jnp

from jaxrec.decoding import masking
from jaxrec.decoding import trie as trie_lib
from jaxrec.models import generator as generator_lib

Array = jax.Array


def _select(candidate_scores: Array, beam_size: int, keep_lexicographic: bool
            ) -> tuple[Array, Array]:
  """Top `beam_size` of candidates [batch, n] in lexicographic order.

  Returns scores and indices [batch, beam_size]: best first, or, with
  `keep_lexicographic`, in increasing index (lexicographic) order. Indices
  past n (when n < beam_size) are padding with score -inf.
  """
  batch, num = candidate_scores.shape
  if num < beam_size:
    candidate_scores = jnp.pad(candidate_scores, ((0, 0), (0, beam_size - num)),
                               constant_values=-jnp.inf)
  scores, index = jax.lax.top_k(candidate_scores, beam_size)
  if keep_lexicographic:
    index = jnp.sort(index, axis=-1)
    scores = jnp.take_along_axis(candidate_scores, index, axis=-1)
  return scores, index


def renormalize(log_probs: Array, valid: Array) -> Array:
  """Log-probs [..., width] renormalised over `valid` entries (-inf elsewhere)."""
  total = jax.nn.logsumexp(jnp.where(valid, log_probs, -jnp.inf), axis=-1,
                           keepdims=True)
  return jnp.where(valid, log_probs - total, -jnp.inf)


def _level_candidates(trie: trie_lib.DeviceTrie, depth: int, nodes: Array,
                      level_log_probs: Array, seen_ranks: Array | None,
                      constrained: bool, catalogue_normalized: bool
                      ) -> tuple[Array, Array, Array, Array]:
  """Candidates of every beam at one level: children, codes, log-probs, valid.

  nodes: [batch, beams]; level_log_probs: [batch, beams, codebook_size], the
  level's log-probs (renormalised over the trie children when the model was
  trained with a catalogue-normalised loss). Returns four [batch, beams,
  width] arrays.
  """
  if not constrained:
    codes = jnp.broadcast_to(
        jnp.arange(level_log_probs.shape[-1], dtype=jnp.int32),
        level_log_probs.shape)
    return codes, codes, level_log_probs, jnp.ones(codes.shape, bool)
  children, codes, valid = trie_lib.candidates(trie, depth, nodes)
  if trie.dense[depth] is None:
    level_log_probs = jnp.take_along_axis(level_log_probs, codes, axis=-1)
  if catalogue_normalized:
    level_log_probs = renormalize(level_log_probs, valid)
  if seen_ranks is not None:
    valid &= masking.has_unseen(trie, depth + 1, children, seen_ranks)
  return children, codes, level_log_probs, valid


def beam_search(model: generator_lib.Generator, params,
                trie: trie_lib.DeviceTrie,
                history_tokens: Array, seen_items: Array | None,
                beam_size: int, *, constrained: bool = True
                ) -> tuple[Array, Array]:
  """Top `beam_size` items for each history.

  Args:
    model, params: the generator and its parameters.
    trie: the catalogue's trie on device.
    history_tokens: [batch, hist_len] left-padded history tokens (PAD = 0).
    seen_items: [batch, max_seen] items to exclude (-1 padding), or None to
      allow every item. Ignored when not `constrained`.
    beam_size: number of beams, and of items returned.
    constrained: search the trie (True) or every level's whole codebook.

  Returns:
    items [batch, beam_size] int32, best first: -1 where fewer items exist or,
    unconstrained, where the generated tuple is no item; and their scores
    [batch, beam_size] float32 (summed log-probabilities).
  """
  first_log_probs, history = model.prefill(params, history_tokens)
  batch = history_tokens.shape[0]
  seen_ranks = None
  if constrained and seen_items is not None:
    seen_ranks = masking.seen_leaf_ranks(trie, seen_items)
  nodes = jnp.zeros((batch, 1), jnp.int32)  # one beam at the root
  scores = jnp.zeros((batch, 1), jnp.float32)
  paths = jnp.zeros((batch, 1, 0), jnp.int32)
  continuation, log_probs = None, first_log_probs[:, None]

  for depth in range(trie.num_levels):
    if depth:
      log_probs, continuation = model.extend(
          params, history, continuation, paths[:, :, -1], depth - 1)
    children, codes, code_log_probs, valid = _level_candidates(
        trie, depth, nodes, log_probs, seen_ranks, constrained,
        model.catalogue_normalized)
    num_beams, width = children.shape[1:]
    totals = jnp.where(valid, scores[..., None] + code_log_probs, -jnp.inf)
    last = depth == trie.num_levels - 1
    scores, index = _select(totals.reshape(batch, -1), beam_size,
                            keep_lexicographic=not last)
    index = jnp.minimum(index, num_beams * width - 1)  # padding: any index
    parent = index // width
    nodes = jnp.take_along_axis(children.reshape(batch, -1), index, axis=1)
    chosen = jnp.take_along_axis(codes.reshape(batch, -1), index, axis=1)
    paths = jnp.concatenate([
        jnp.take_along_axis(paths, parent[..., None], axis=1),
        chosen[..., None]], axis=-1)
    if continuation is not None:
      continuation = generator_lib.gather(continuation, parent)

  leaves = nodes if constrained else trie_lib.find_leaves(trie, paths)
  found = jnp.isfinite(scores) & (leaves >= 0)
  items = jnp.where(found, trie.leaf_items[jnp.maximum(leaves, 0)], -1)
  item_scores = model.rescore(params, history, paths, items)
  if item_scores is not None:  # re-rank the final beams, best first
    scores = jnp.where(jnp.isfinite(scores), scores + item_scores, -jnp.inf)
    order = jnp.argsort(-scores, axis=-1, stable=True)
    items = jnp.take_along_axis(items, order, axis=-1)
    scores = jnp.take_along_axis(scores, order, axis=-1)
  return items, scores
