"""Ranking metrics and the popularity baseline against hand-computed values."""

import numpy as np
import pytest

from jaxrec.evaluation import metrics
from jaxrec.evaluation import popularity


def _ranked_lists():
  ranked = np.full((4, 20), -1)
  ranked[:, :20] = np.arange(100, 120)
  return ranked


def test_ranking_metrics_hand_computed():
  ranked = _ranked_lists()
  # Targets at ranks 0, 4, 12 and absent.
  targets = np.array([100, 104, 112, 7])
  values = metrics.ranking_metrics(ranked, targets)
  assert values["recall@5"] == pytest.approx(2 / 4)
  assert values["recall@10"] == pytest.approx(2 / 4)
  assert values["recall@20"] == pytest.approx(3 / 4)
  assert values["ndcg@5"] == pytest.approx((1.0 + 1 / np.log2(6)) / 4)
  assert values["ndcg@10"] == pytest.approx((1.0 + 1 / np.log2(6)) / 4)
  assert values["ndcg@20"] == pytest.approx(
      (1.0 + 1 / np.log2(6) + 1 / np.log2(14)) / 4)
  assert values["mrr@10"] == pytest.approx((1.0 + 1 / 5) / 4)


def test_per_user_values_sum_to_the_mean():
  ranked = _ranked_lists()
  targets = np.array([101, 119, 3, 105])
  per_user = metrics.per_user_metrics(ranked, targets)
  means = metrics.ranking_metrics(ranked, targets)
  for name, values in per_user.items():
    assert values.shape == (4,)
    assert values.sum() / 4 == pytest.approx(means[name])


def test_short_lists_are_rejected():
  with pytest.raises(ValueError, match="shorter than the largest cutoff"):
    metrics.ranking_metrics(np.zeros((2, 10), int), np.zeros(2, int))


def test_coverage():
  ranked = np.array([[0, 1, 2, -1], [2, 3, 0, 1]])
  assert metrics.coverage(ranked, num_items=10, k=2) == pytest.approx(4 / 10)


def test_most_popular_excludes_seen_items_and_breaks_ties_by_index():
  counts = popularity.item_counts(
      [np.array([3, 3, 1]), np.array([1, 4, 3]), np.array([0])], num_items=6)
  np.testing.assert_array_equal(counts, [1, 2, 0, 3, 1, 0])
  seen = [np.array([3]), np.array([], dtype=int)]
  ranked = popularity.most_popular(counts, seen, list_len=4)
  np.testing.assert_array_equal(ranked, [[1, 0, 4, 2], [3, 1, 0, 4]])
  unmasked = popularity.most_popular(counts, seen, list_len=3,
                                     exclude_seen=False)
  np.testing.assert_array_equal(unmasked, [[3, 1, 0], [3, 1, 0]])


def test_most_popular_pads_when_the_catalogue_runs_out():
  ranked = popularity.most_popular(np.array([5, 1]), [np.array([0])], 3)
  np.testing.assert_array_equal(ranked, [[1, -1, -1]])
