"""Constrained and unconstrained beam search against brute-force scoring."""

import functools

import jax
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from jaxrec.decoding import beam_search as beam_search_lib
from jaxrec.decoding import exact as exact_lib
from jaxrec.decoding import trie as trie_lib
from jaxrec.models import generator as generator_lib
from tests import decoding_cases
from tests.test_trie import CODEBOOK_SIZES, _catalogue

TOKEN_OFFSETS = decoding_cases.token_offsets(CODEBOOK_SIZES)


def _histories():
  # Left-padded token histories of different lengths.
  return np.array([[0, 0, 0, 1, 4, 8],
                   [1, 6, 9, 2, 4, 8],
                   [0, 0, 0, 3, 7, 9]], dtype=np.int32)


def _search(model, params, trie, histories, seen, beam, constrained=True):
  search = jax.jit(functools.partial(beam_search_lib.beam_search, model,
                                     beam_size=beam, constrained=constrained))
  items, scores = search(params, trie, histories, seen)
  return np.asarray(items), np.asarray(scores)


def _exhaustive_top(scores, excluded):
  """Brute-force ranking: item order, best first, ties to the smaller tuple."""
  scores = scores.copy()
  scores[list(excluded)] = -np.inf
  order = np.argsort(-scores, kind="stable")
  return order[:len(scores) - len(excluded)], scores


@pytest.mark.parametrize(
    "family,layout,tuple_buckets,item_scores,catalogue_loss,new_items",
    [("decoder_only", "csr", 0, False, False, 0),
     ("decoder_only", "dense", 0, False, False, 0),
     ("decoder_only", "csr", 5, False, False, 0),
     ("item_level", "csr", 0, False, False, 0),
     ("item_level", "dense", 5, False, True, 0),
     ("item_level", "csr", 5, True, True, 0),
     ("item_level", "csr", 5, True, False, 4),
     ("encoder_decoder", "csr", 0, False, False, 0)])
def test_beam_search_equals_exhaustive_search(family, layout, tuple_buckets,
                                              item_scores, catalogue_loss,
                                              new_items):
  # With the tuple embedding, the history's items carry it in the cached
  # prefill exactly as in the full sequences that brute force runs. Brute
  # force scores through each family's training-time pass (item re-scoring
  # and the catalogue-normalised softmax included; the last `new_items`
  # items were added after training, their item score is their stand-in's).
  item_codes = _catalogue()
  model, params = decoding_cases.tiny_model(
      seed=0, num_levels=len(CODEBOOK_SIZES), tuple_buckets=tuple_buckets,
      family=family, item_score_weight=float(item_scores),
      item_codes=item_codes, catalogue_loss=catalogue_loss,
      num_trained_items=len(item_codes) - new_items if new_items else None)
  trie = trie_lib.DeviceTrie.create(
      trie_lib.build_trie(item_codes, CODEBOOK_SIZES), TOKEN_OFFSETS, layout)
  histories = _histories()
  # The last user has seen nothing: no masking.
  seen = np.array([[0, 4, -1], [2, 9, 10], [-1, -1, -1]], dtype=np.int32)
  beam = len(item_codes)  # covers every valid item: the search is exact

  items, scores = _search(model, params, trie, histories, seen, beam)
  brute_force = decoding_cases.brute_force_scores(model, params, histories,
                                                  item_codes, TOKEN_OFFSETS)
  for user in range(len(histories)):
    order, exact = _exhaustive_top(brute_force[user],
                                   seen[user][seen[user] >= 0])
    np.testing.assert_array_equal(items[user, :len(order)], order)
    np.testing.assert_allclose(scores[user, :len(order)], exact[order],
                               rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(items[user, len(order):], -1)


def test_narrow_beam_returns_distinct_valid_items():
  model, params = decoding_cases.tiny_model(seed=3, num_layers=1)
  item_codes = _catalogue()
  trie = trie_lib.DeviceTrie.create(
      trie_lib.build_trie(item_codes, CODEBOOK_SIZES), TOKEN_OFFSETS)
  seen = np.array([[1, 5, 6]] * 3, dtype=np.int32)
  items, scores = _search(model, params, trie, _histories(), seen, beam=4)
  for row in items:
    assert len(set(row.tolist())) == 4
    assert all(0 <= item < len(item_codes) and item not in (1, 5, 6)
               for item in row)
  assert np.all(np.diff(scores, axis=1) <= 0)


@settings(max_examples=5, deadline=None, derandomize=True)
@given(decoding_cases.catalogues(), st.integers(0, 2**16), st.integers(1, 13),
       st.booleans(), st.sampled_from(generator_lib.FAMILIES))
def test_random_tries_and_models(catalogue, seed, beam, mask_history, family):
  """Always distinct, valid, unseen items; exhaustive when the beam covers."""
  item_codes, sizes = catalogue
  offsets = decoding_cases.token_offsets(sizes)
  model, params = decoding_cases.tiny_model(seed, num_layers=1,
                                            codebook_sizes=sizes,
                                            family=family)
  trie = trie_lib.DeviceTrie.create(trie_lib.build_trie(item_codes, sizes),
                                    offsets, layout="auto")
  rng = np.random.default_rng(seed)
  histories = decoding_cases.random_histories(rng, item_codes, offsets, 2)
  seen = np.full((2, len(item_codes)), -1, np.int32)
  for user in range(2):
    count = rng.integers(0, len(item_codes) + 1)
    seen[user, :count] = rng.permutation(len(item_codes))[:count]

  items, scores = _search(model, params, trie, histories,
                          seen if mask_history else None, beam)
  brute_force = decoding_cases.brute_force_scores(model, params, histories,
                                                  item_codes, offsets)
  for user in range(2):
    excluded = seen[user][seen[user] >= 0] if mask_history else []
    order, exact = _exhaustive_top(brute_force[user], excluded)
    got = items[user][items[user] >= 0].tolist()
    assert len(got) == len(set(got)) == min(beam, len(order))
    assert set(got) <= set(order.tolist())  # valid and not seen
    if beam >= len(order):  # the beam covers every allowed item
      np.testing.assert_array_equal(items[user, :len(order)], order)
      np.testing.assert_allclose(scores[user, :len(order)], exact[order],
                                 rtol=1e-4, atol=1e-4)


def test_ties_go_to_the_smaller_code_tuple():
  # Zero weights: a uniform softmax, so every item has the same score.
  model, params = decoding_cases.tiny_model(seed=0, scale=0.0, num_layers=1)
  item_codes = _catalogue()
  trie = trie_lib.DeviceTrie.create(
      trie_lib.build_trie(item_codes, CODEBOOK_SIZES), TOKEN_OFFSETS)
  lexicographic = np.lexsort(item_codes.T[::-1])
  seen = np.array([[lexicographic[1], -1]] * 3, np.int32)
  expected = np.delete(lexicographic, 1)[:5]
  items, scores = _search(model, params, trie, _histories(), seen, beam=5)
  np.testing.assert_array_equal(items, np.tile(expected, (3, 1)))
  assert np.all(scores == scores[0, 0])
  exact_items, _ = jax.jit(functools.partial(
      exact_lib.exact_top_k, model, k=5))(params, trie, _histories(), seen)
  np.testing.assert_array_equal(exact_items, items)
  unconstrained, _ = _search(model, params, trie, _histories(), None, beam=3,
                             constrained=False)
  # Every tuple ties: the smallest ones, (0,0,0), (0,0,1), (0,1,0), are items.
  np.testing.assert_array_equal(unconstrained,
                                np.tile(lexicographic[:3], (3, 1)))


@pytest.mark.parametrize("family", generator_lib.FAMILIES)
def test_unconstrained_search_over_every_tuple(family):
  model, params = decoding_cases.tiny_model(seed=5, num_layers=1,
                                            family=family)
  item_codes = _catalogue()
  trie = trie_lib.DeviceTrie.create(
      trie_lib.build_trie(item_codes, CODEBOOK_SIZES), TOKEN_OFFSETS)
  everything = decoding_cases.all_tuples(CODEBOOK_SIZES)  # 24 tuples
  items, scores = _search(model, params, trie, _histories(), None,
                          beam=len(everything), constrained=False)
  brute_force = decoding_cases.brute_force_scores(
      model, params, _histories(), everything, TOKEN_OFFSETS)
  for user, tuple_scores in enumerate(brute_force):
    order = np.argsort(-tuple_scores, kind="stable")
    np.testing.assert_allclose(scores[user], tuple_scores[order],
                               rtol=1e-4, atol=1e-4)
    is_item = {tuple(t): i for i, t in enumerate(item_codes.tolist())}
    expected = [is_item.get(tuple(everything[t]), -1) for t in order]
    np.testing.assert_array_equal(items[user], expected)
  assert (items < 0).sum() == 3 * (len(everything) - len(item_codes))
