"""Tests of random IDs (jaxrec.semantic_ids.random_ids), the ablation."""

import numpy as np
import pytest

from jaxrec.semantic_ids import random_ids


def test_shape_dtype_and_range():
  codes = random_ids.random_codes(1000, (4, 16, 256), seed=0)
  assert codes.shape == (1000, 3) and codes.dtype == np.int32
  assert (codes.min(0) == 0).all()
  np.testing.assert_array_equal(codes.max(0), [3, 15, 255])


def test_same_seed_same_codes_other_seed_other_codes():
  a = random_ids.random_codes(500, (8, 8), seed=3)
  np.testing.assert_array_equal(a, random_ids.random_codes(500, (8, 8), seed=3))
  b = random_ids.random_codes(500, (8, 8), seed=4)
  assert (a != b).any(axis=1).mean() > 0.9  # 1 - 1/64 expected.


def test_codes_are_roughly_uniform_and_independent():
  n, sizes = 40_000, (4, 8)
  codes = random_ids.random_codes(n, sizes, seed=0)
  for level, k in enumerate(sizes):
    counts = np.bincount(codes[:, level], minlength=k)
    np.testing.assert_allclose(counts, n / k, rtol=0.05)
  joint = np.bincount(codes[:, 0] * 8 + codes[:, 1], minlength=32)
  np.testing.assert_allclose(joint, n / 32, rtol=0.1)


@pytest.mark.parametrize("num_items, sizes, match", [
    (10, (4, 11), r"codebook_sizes\[1\]=11 must be in \[1, num_items=10\]"),
    (10, (0,), r"codebook_sizes\[0\]=0 must be in \[1, num_items=10\]"),
    (10, (), "codebook_sizes is empty"),
    (0, (1,), "num_items must be >= 1"),
])
def test_bad_arguments_are_errors(num_items, sizes, match):
  with pytest.raises(ValueError, match=match):
    random_ids.random_codes(num_items, sizes, seed=0)
