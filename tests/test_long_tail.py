"""Long-tail metrics: popularity buckets, per-bucket accuracy, Gini index."""

import numpy as np
import pytest

from jaxrec.evaluation import long_tail


def test_buckets_split_the_interactions_in_thirds():
  # 12 interactions: item 0 alone holds the first third (4), items 1-2 reach
  # 2/3 (8), items 3-6 hold the last third; item 7 was never seen.
  counts = np.array([4, 2, 2, 1, 1, 1, 1, 0])
  assert long_tail.bucket_thresholds(counts) == (4, 1)
  np.testing.assert_array_equal(
      long_tail.item_buckets(counts, 4, 1), [0, 1, 1, 2, 2, 2, 2, 2])


def test_tied_items_share_a_bucket_and_flat_counts_stay_ordered():
  # Every item equally popular: the head takes them all, none is tail.
  assert long_tail.bucket_thresholds(np.array([3, 3, 3])) == (3, 2)
  np.testing.assert_array_equal(
      long_tail.item_buckets(np.array([3, 3, 3]), 3, 2), [0, 0, 0])
  assert long_tail.bucket_thresholds(np.zeros(4, int)) == (1, 0)


def test_gini_index():
  # Equal exposure: 0. One item in every list of one slot: (n - 1) / n.
  equal = np.array([[0, 1], [2, 3]])
  assert long_tail.gini_index(equal, 4, k=2) == pytest.approx(0.0)
  single = np.array([[0], [0], [0]])
  assert long_tail.gini_index(single, 4, k=1) == pytest.approx(3 / 4)
  assert long_tail.gini_index(np.full((2, 3), -1), 4, k=3) == 0.0


def test_report_per_bucket():
  counts = np.array([4, 2, 2, 1, 1, 1, 1, 0])
  ranked = np.tile(np.arange(8), (3, 3))[:, :20]  # item 0 first, 3 fourth
  targets = np.array([0, 3, 7])                   # head, tail, tail
  report = long_tail.report(ranked, targets, counts)
  tail = report["long_tail"]["tail"]
  assert report["long_tail"]["head"] == {
      "num_items": 1, "num_users": 1, "recall@10": 1.0, "ndcg@10": 1.0}
  assert report["long_tail"]["torso"]["num_users"] == 0
  assert tail["num_items"] == 5 and tail["num_users"] == 2
  assert tail["recall@10"] == 1.0
  assert tail["ndcg@10"] == pytest.approx(
      (1 / np.log2(3 + 2) + 1 / np.log2(7 + 2)) / 2)
  assert report["long_tail"]["head_min_count"] == 4
  assert 0.0 <= report["gini@10"] < 1.0
