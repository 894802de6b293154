"""Sharded ranking: the same lists and metrics on 1 device and on 8."""

import jax
import ml_collections
import numpy as np
import pytest

from jaxrec.data import split as split_lib
from jaxrec.evaluation import evaluator
from jaxrec.evaluation import metrics
from jaxrec.models import generator as generator_lib
from jaxrec.semantic_ids import vocab as vocab_lib
from jaxrec import sharding
from tests import decoding_cases

SIZES = (4, 4, 3)
RULES = sharding.logical_rules([("batch", ("data", "fsdp"))])

# The 8 devices run other shapes, so float32 sums run in another order: the
# scores [users, 20] agree to a few float32 ulps per summed term. How many
# depends on the CPU and XLA's code for it: on some CPUs the
# encoder-decoder's differ by up to 6.5e-6 relative (with XLA's optimizations
# or without), the other families' by under 4e-7.
SCORES_RTOL = 2e-5


def _vocab():
  rng = np.random.default_rng(0)
  tuples = decoding_cases.all_tuples(SIZES)
  codes = tuples[np.sort(rng.permutation(len(tuples))[:30])]
  return vocab_lib.SemanticIdVocab.from_codes(
      [str(i) for i in range(len(codes))], codes, SIZES, "fixture")


def _eval_set(num_items: int, num_users: int = 21) -> evaluator.EvalSet:
  rng = np.random.default_rng(1)
  histories = np.full((num_users, 5), -1, np.int32)
  seen = []
  for user in range(num_users):
    items = rng.permutation(num_items)[:rng.integers(1, 9)]
    histories[user, -min(5, len(items)):] = items[-5:]
    seen.append(np.unique(items).astype(np.int32))
  return evaluator.EvalSet(histories, rng.integers(0, num_items, num_users),
                           seen)


def _ranker(model, vocab, num_devices, mode):
  mesh = sharding.make_mesh(
      ml_collections.ConfigDict(dict(data=-1, fsdp=1, tensor=1)),
      devices=jax.devices()[:num_devices])
  return evaluator.Ranker(model, vocab, mesh, RULES,
                          sharding.replicated(mesh), beam_size=20,
                          batch_size=8, mask_history=True, mode=mode)


# Both modes with the default family; beam search with the others (their
# exact scores are checked against brute force in test_exact.py).
@pytest.mark.parametrize(
    "mode,family",
    [("beam", family) for family in generator_lib.FAMILIES] +
    [("exact", "decoder_only")])
def test_one_and_eight_devices_agree(mode, family):
  assert jax.device_count() == 8
  vocab = _vocab()
  model, params = decoding_cases.tiny_model(
      seed=2, num_layers=1, vocab_size=vocab.vocab_size,
      codebook_sizes=vocab.codebook_sizes, family=family)
  eval_set = _eval_set(vocab.num_items)
  results = []
  for num_devices in (1, 8):
    ranker = _ranker(model, vocab, num_devices, mode)
    results.append((ranker.rankings(params, eval_set),
                    evaluator.evaluate(ranker, params, eval_set)))
  (one, one_metrics), (eight, eight_metrics) = results
  assert one.items.shape == (21, 20)
  np.testing.assert_array_equal(one.items, eight.items)
  np.testing.assert_allclose(one.scores, eight.scores, rtol=SCORES_RTOL)
  assert one_metrics == eight_metrics
  assert one_metrics["missing_items"] == 0
  for user, row in enumerate(one.items):  # masked: nothing seen comes back
    assert not set(row.tolist()) & set(eval_set.seen_items[user].tolist())


def test_beam_must_cover_the_largest_cutoff():
  with pytest.raises(ValueError, match="largest metric cutoff"):
    evaluator.Ranker(None, _vocab(), None, RULES, None, beam_size=10,
                     batch_size=8, mask_history=True)


def test_bootstrap_interval_is_reproducible_and_brackets_the_mean():
  values = np.random.default_rng(0).random(500) < 0.3
  low, high = metrics.bootstrap_interval(values, seed=0)
  assert (low, high) == metrics.bootstrap_interval(values, seed=0)
  assert low < values.mean() < high
  assert high - low == pytest.approx(2 * 1.96 * values.std() / np.sqrt(500),
                                     rel=0.15)


def test_invalid_rate_and_mrr_cutoffs():
  ranked = np.array([[5, -1, 7, -1] + [-1] * 16, [-1, 3, 4, 5] + [9] * 16])
  assert metrics.invalid_rate(ranked, 4) == pytest.approx(3 / 8)
  values = metrics.ranking_metrics(ranked, np.array([7, 3]))
  assert values["mrr@5"] == pytest.approx((1 / 3 + 1 / 2) / 2)
  assert values["mrr@20"] == values["mrr@5"]


def test_drop_recent_removes_only_the_latest_items():
  # Histories are cut from the whole sequences after dropping: older items
  # beyond the window come back in, and a short sequence may empty out.
  sequences = [np.array([1, 2, 3, 4, 5, 6]), np.array([7, 8])]
  histories, seen = split_lib.history_matrix(sequences, 3, drop_recent=2)
  np.testing.assert_array_equal(histories, [[2, 3, 4], [-1, -1, -1]])
  np.testing.assert_array_equal(seen[0], [1, 2, 3, 4, 5, 6])
  full, _ = split_lib.history_matrix(sequences, 3)
  np.testing.assert_array_equal(full, [[4, 5, 6], [-1, 7, 8]])
  with pytest.raises(ValueError, match="drop_recent"):
    split_lib.history_matrix(sequences, 3, drop_recent=-1)


def test_example_counts_repeat_targets_and_empty_histories():
  eval_set = evaluator.EvalSet(
      histories=np.array([[-1, 4, 5], [-1, -1, -1], [1, 2, 3]], np.int32),
      targets=np.array([5, 8, 9], np.int32),
      seen_items=[np.array([4, 5]), np.array([8]), np.array([1, 2, 3])])
  assert evaluator.example_counts(eval_set) == {"repeat_targets": 2,
                                                "empty_histories": 1}