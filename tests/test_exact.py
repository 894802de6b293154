"""Exact scoring of every item against a brute-force loop."""

import functools

import jax
import numpy as np
import pytest

from jaxrec.decoding import exact as exact_lib
from jaxrec.decoding import trie as trie_lib
from tests import decoding_cases


def _four_level_catalogue():
  rng = np.random.default_rng(0)
  sizes = (3, 3, 3, 2)
  tuples = decoding_cases.all_tuples(sizes)
  return tuples[np.sort(rng.permutation(len(tuples))[:30])], sizes


@pytest.mark.parametrize("family,tuple_buckets,item_score_scale",
                         [("decoder_only", 0, 0.0), ("decoder_only", 5, 0.0),
                          ("item_level", 0, 0.0), ("item_level", 5, 1.0),
                          ("item_level", 5, 3.0),
                          ("item_level_new_items", 5, 3.0),
                          ("item_level_catalogue", 0, 0.0),
                          ("encoder_decoder", 0, 0.0)])
def test_exact_scores_equal_brute_force(family, tuple_buckets,
                                        item_score_scale, chunk_size=4):
  """Several chunks per depth, the last one padded; masking and ranking.

  item_score_scale > 0: the item-level model has an item score, weighted so.
  _new_items: the last 8 of the 30 items were added after training (their
  item score is their stand-in's).
  """
  item_codes, sizes = _four_level_catalogue()
  offsets = decoding_cases.token_offsets(sizes)
  model, params = decoding_cases.tiny_model(
      seed=1, vocab_size=1 + sum(sizes), num_levels=len(sizes),
      tuple_buckets=tuple_buckets, codebook_sizes=sizes,
      family=family.removesuffix("_catalogue").removesuffix("_new_items"),
      item_score_weight=float(item_score_scale > 0), item_codes=item_codes,
      catalogue_loss=family.endswith("_catalogue"),
      item_score_scale=item_score_scale or 1.0,
      num_trained_items=22 if family.endswith("_new_items") else None)
  trie = trie_lib.DeviceTrie.create(trie_lib.build_trie(item_codes, sizes),
                                    offsets)
  histories = decoding_cases.random_histories(np.random.default_rng(1),
                                              item_codes, offsets, 3)
  seen = np.array([[0, 5, 7], [-1, -1, -1], [29, 29, -1]], np.int32)
  items, scores = jax.jit(functools.partial(
      exact_lib.exact_top_k, model, k=32, chunk_size=chunk_size))(
          params, trie, histories, seen)
  brute_force = decoding_cases.brute_force_scores(model, params, histories,
                                                  item_codes, offsets)
  for user in range(3):  # user 1 has seen nothing: every item is ranked
    excluded = np.unique(seen[user][seen[user] >= 0])
    masked = brute_force[user].copy()
    masked[excluded] = -np.inf
    order = np.argsort(-masked, kind="stable")[:30 - len(excluded)]
    np.testing.assert_array_equal(items[user, :len(order)], order)
    np.testing.assert_allclose(scores[user, :len(order)], masked[order],
                               rtol=1e-4, atol=1e-4)
    np.testing.assert_array_equal(items[user, len(order):], -1)
