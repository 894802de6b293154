"""Tests of balanced residual k-means (`balanced=True` in residual_kmeans).

The default, unbalanced path is tested in test_semantic_ids.py.
"""

import numpy as np
import pytest

from jaxrec.semantic_ids import collisions
from jaxrec.semantic_ids import residual_kmeans as rk


def _skewed(seed, n=256, dim=4):
  """Three quarters of the points in a tight blob, the rest spread widely."""
  rng = np.random.default_rng(seed)
  scale = np.where(np.arange(n) < 3 * n // 4, 0.1, 3.0)[:, None]
  return (scale * rng.normal(size=(n, dim))).astype(np.float32)


def test_balanced_assign_by_hand():
  x = np.array([[0.0], [0.1], [0.2], [10.0], [0.05]], np.float32)
  centroids = np.array([[0.0], [10.0], [5.0]], np.float32)
  # Capacity 2: 0.0 and 0.05 are closest to centroid 0 and fill it; 0.1 and
  # 0.2 move to their next open choice, centroid 2 (5.0).
  np.testing.assert_array_equal(rk.balanced_assign(x, centroids),
                                [0, 2, 2, 1, 0])
  # Capacity 3: only 0.2 is crowded out of centroid 0.
  np.testing.assert_array_equal(
      rk.balanced_assign(x, centroids, capacity=3), [0, 0, 2, 1, 0])


def test_balanced_assign_breaks_ties_by_index():
  x = np.zeros((3, 2), np.float32)
  centroids = np.array([[0.0, 0.0], [1.0, 0.0]], np.float32)
  np.testing.assert_array_equal(rk.balanced_assign(x, centroids), [0, 0, 1])


def test_balanced_assign_respects_capacity_and_chunking():
  rng = np.random.default_rng(0)
  x = rng.normal(size=(1000, 3)).astype(np.float32) ** 3  # Heavy tails.
  centroids = x[:7]
  labels = rk.balanced_assign(x, centroids)
  assert np.bincount(labels, minlength=7).max() <= -(-1000 // 7)
  np.testing.assert_array_equal(
      rk.balanced_assign(x, centroids, chunk_size=33), labels)


def test_balanced_assign_rejects_too_small_capacity():
  with pytest.raises(ValueError, match="capacity=1 x 2 centroids < 3 points"):
    rk.balanced_assign(np.zeros((3, 1)), np.zeros((2, 1)), capacity=1)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_balanced_levels_respect_capacity(seed):
  x = _skewed(seed)
  sizes = (16, 16)
  codes, _ = rk.residual_kmeans(x, sizes, num_iters=10, seed=0, balanced=True)
  for level, k in enumerate(sizes):
    assert np.bincount(codes[:, level], minlength=k).max() <= -(-len(x) // k)
  plain, _ = rk.residual_kmeans(x, sizes, num_iters=10, seed=0)
  assert np.bincount(plain[:, 0]).max() > 150  # The blob shares one code.


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_balanced_has_fewer_collisions_on_skewed_data(seed):
  x = _skewed(seed)
  sizes = (16, 16)
  plain, _ = rk.residual_kmeans(x, sizes, num_iters=10, seed=0)
  balanced, _ = rk.residual_kmeans(x, sizes, num_iters=10, seed=0,
                                   balanced=True)
  p = collisions.quantization_stats(plain, sizes)
  b = collisions.quantization_stats(balanced, sizes)
  # The collision level's size (largest bucket) drops by ~10x and there are
  # many more distinct tuples. (The share of items in some shared tuple does
  # not drop here: the blob now fills many small buckets instead of one.)
  assert b["max_bucket_size"] * 5 < p["max_bucket_size"]
  assert b["num_unique_tuples"] > 1.4 * p["num_unique_tuples"]


def test_balanced_is_deterministic_and_reconstructs():
  x = _skewed(0)
  codes, books = rk.residual_kmeans(x, (8, 8, 8), num_iters=5, seed=3,
                                    balanced=True)
  again, books_again = rk.residual_kmeans(x, (8, 8, 8), num_iters=5, seed=3,
                                          balanced=True)
  np.testing.assert_array_equal(codes, again)
  for book, book_again in zip(books, books_again):
    np.testing.assert_array_equal(book, book_again)
  errors, recon = [], np.zeros_like(x)
  for level, book in enumerate(books):
    assert book.shape == (8, 4) and book.dtype == np.float32
    recon = recon + book[codes[:, level]]
    errors.append(((x - recon) ** 2).sum())
  assert np.sum(x ** 2) > errors[0] > errors[1] > errors[2]


def test_balanced_kmeans_keeps_equal_sized_clusters():
  rng = np.random.default_rng(0)
  centers = 10.0 * rng.normal(size=(4, 3))
  truth = np.repeat(np.arange(4), 25)
  x = (centers[truth] + 0.1 * rng.normal(size=(100, 3))).astype(np.float32)
  centroids, labels = rk.balanced_kmeans(x, x[[0, 25, 50, 75]], num_iters=5)
  assert centroids.shape == (4, 3)
  pairs = set(zip(labels.tolist(), truth.tolist()))
  assert len(pairs) == 4 == len(set(labels.tolist()))


def test_balanced_errors_like_the_default():
  x = np.zeros((10, 3), np.float32)
  with pytest.raises(ValueError, match=r"codebook_sizes\[0\]=11 .*10"):
    rk.residual_kmeans(x, (11,), num_iters=1, seed=0, balanced=True)
  with pytest.raises(ValueError, match="balanced_iters must be >= 0"):
    rk.residual_kmeans(x, (2,), num_iters=1, seed=0, balanced=True,
                       balanced_iters=-1)
