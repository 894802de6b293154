"""Exact lookup of code tuples (jaxrec/models/tuple_index.py)."""

import jax
import numpy as np
import pytest

from jaxrec.models import tuple_index
from tests import decoding_cases


def test_finds_every_tuple_and_nothing_else():
  """Against a dict over every tuple of a small layout, under jit, with
  PAD-like (negative) and out-of-range codes among the queries."""
  rng = np.random.default_rng(0)
  sizes = (4, 3, 5)
  everything = decoding_cases.all_tuples(sizes)
  chosen = everything[rng.permutation(len(everything))[:17]]
  index = tuple_index.TupleIndex.build(chosen, sizes)
  row_of = {tuple(t): row for row, t in enumerate(chosen.tolist())}
  queries = np.concatenate([everything, [[-1, -1, -1], [0, 3, 0], [4, 0, 0],
                                         [0, 0, 5], [-3, 2, 1]]])
  found = np.asarray(jax.jit(index.find)(queries.reshape(13, 5, 3)))
  expected = [row_of.get(tuple(q), -1) for q in queries.tolist()]
  np.testing.assert_array_equal(found.reshape(-1), expected)


def test_key_overflow_of_a_level_is_not_a_match():
  """(0, 5) with K_1 = 5 would key like (1, 0) if codes were not checked."""
  index = tuple_index.TupleIndex.build(np.array([[1, 0]]), (2, 5))
  np.testing.assert_array_equal(index.find(np.array([[1, 0], [0, 5]])),
                                [0, -1])


def test_empty_set_finds_nothing():
  index = tuple_index.TupleIndex.build(np.zeros((0, 2), int), (2, 2))
  np.testing.assert_array_equal(index.find(np.array([[0, 0], [1, 1]])),
                                [-1, -1])


@pytest.mark.parametrize("tuples,match", [
    (np.array([[0, 1], [0, 1]]), "not distinct"),
    (np.array([[0, 2]]), "outside codebook sizes"),
    (np.array([[0, 1, 0]]), "levels"),
])
def test_bad_tuples(tuples, match):
  with pytest.raises(ValueError, match=match):
    tuple_index.TupleIndex.build(tuples, (2, 2))
