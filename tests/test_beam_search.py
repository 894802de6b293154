"""Constrained beam search against exhaustive scoring on a tiny random model."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrec.decoding import beam_search as beam_search_lib
from jaxrec.decoding import trie as trie_lib
from jaxrec.models import decoder as decoder_lib

CODEBOOK_SIZES = (3, 4, 2)
TOKEN_OFFSETS = (1, 4, 8)
VOCAB_SIZE = 10


def _catalogue():
  # 11 items: some prefixes shared, some codes never used, so the trie has
  # dead ends at every level.
  return np.array([[0, 0, 0], [0, 0, 1], [0, 1, 0], [0, 3, 0], [1, 0, 0],
                   [1, 0, 1], [1, 2, 0], [1, 2, 1], [2, 1, 0], [2, 3, 1],
                   [2, 3, 0]], dtype=np.int32)


def _model_and_params(seed=0):
  model = decoder_lib.Decoder(vocab_size=VOCAB_SIZE, max_len=32, num_layers=2,
                              num_heads=2, embed_dim=16, mlp_dim=32)
  tokens = jnp.zeros((1, 4), jnp.int32)
  params = model.init(jax.random.key(seed), tokens, tokens,
                      decoder_lib.causal_mask(tokens >= 0))["params"]
  # Larger random weights make the distribution far from uniform.
  params = jax.tree.map(lambda p: p * 4.0, params)
  return model, params


def _exhaustive_scores(model, params, history_row, item_codes):
  """Brute force: log-probability of every item's tuple after the history."""
  history = history_row[history_row > 0]
  scores = []
  for codes in item_codes:
    tokens = np.concatenate([history, np.asarray(TOKEN_OFFSETS) + codes])[None]
    positions = np.arange(tokens.shape[1])[None]
    logits, _ = model.apply({"params": params}, tokens, positions,
                            decoder_lib.causal_mask(jnp.ones_like(tokens, bool)))
    log_probs = jax.nn.log_softmax(logits[0])
    start = len(history) - 1
    scores.append(sum(float(log_probs[start + level, tokens[0, start + level + 1]])
                      for level in range(len(codes))))
  return np.array(scores)


def _histories():
  # Left-padded token histories of different lengths.
  return np.array([[0, 0, 0, 1, 4, 8],
                   [1, 6, 9, 2, 4, 8],
                   [0, 0, 0, 3, 7, 9]], dtype=np.int32)


def test_trie_tables_are_exact():
  trie = trie_lib.build_trie(_catalogue(), CODEBOOK_SIZES)
  np.testing.assert_array_equal(trie.children[0], [[0, 1, 2]])
  # Depth-1 nodes are prefixes (0,), (1,), (2,); their children at depth 2.
  np.testing.assert_array_equal(
      trie.children[1], [[0, 1, -1, 2], [3, -1, 4, -1], [-1, 5, -1, 6]])
  # Leaves are item indices.
  np.testing.assert_array_equal(
      trie.children[2], [[0, 1], [2, -1], [3, -1], [4, 5], [6, 7], [8, -1],
                         [10, 9]])
  np.testing.assert_array_equal(trie.node_item_counts[1], [4, 4, 3])
  np.testing.assert_array_equal(trie.item_nodes[2],
                                [0, 0, 1, 2, 3, 3, 4, 4, 5, 6, 6])


def test_trie_rejects_shared_tuples():
  codes = np.array([[0, 1], [0, 1]])
  with pytest.raises(ValueError, match="collision level"):
    trie_lib.build_trie(codes, (2, 2))


@pytest.mark.parametrize("mask_history", [False, True])
def test_beam_search_equals_exhaustive_search(mask_history):
  model, params = _model_and_params()
  item_codes = _catalogue()
  trie = beam_search_lib.DeviceTrie.create(
      trie_lib.build_trie(item_codes, CODEBOOK_SIZES), TOKEN_OFFSETS)
  histories = _histories()
  seen = np.array([[0, 4, -1], [2, 9, 10], [-1, -1, -1]], dtype=np.int32)
  beam = len(item_codes)  # covers every valid item: the search is exact

  items, scores = jax.jit(
      lambda p, t, h, s: beam_search_lib.beam_search(model, p, t, h, s, beam)
  )(params, trie, histories, seen if mask_history else None)

  for user in range(len(histories)):
    exact = _exhaustive_scores(model, params, histories[user], item_codes)
    excluded = seen[user][seen[user] >= 0] if mask_history else []
    exact[list(excluded)] = -np.inf
    order = np.argsort(-exact, kind="stable")
    num_valid = len(item_codes) - len(excluded)
    np.testing.assert_array_equal(items[user, :num_valid], order[:num_valid])
    np.testing.assert_allclose(scores[user, :num_valid],
                               exact[order[:num_valid]], rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(items[user, num_valid:], -1)


def test_narrow_beam_returns_distinct_valid_items():
  model, params = _model_and_params(seed=3)
  item_codes = _catalogue()
  trie = beam_search_lib.DeviceTrie.create(
      trie_lib.build_trie(item_codes, CODEBOOK_SIZES), TOKEN_OFFSETS)
  seen = np.array([[1, 5, 6]] * 3, dtype=np.int32)
  items, scores = beam_search_lib.beam_search(model, params, trie, _histories(),
                                              seen, beam_size=4)
  items = np.asarray(items)
  for row in items:
    assert len(set(row.tolist())) == 4
    assert all(0 <= item < len(item_codes) and item not in (1, 5, 6)
               for item in row)
  assert np.all(np.diff(np.asarray(scores), axis=1) <= 0)
