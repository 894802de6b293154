"""Tests of the iterative k-core filter on hand-made interaction graphs."""

from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
import numpy as np
import pytest

from jaxrec.data import kcore


def _rows(pairs):
  users, items = zip(*pairs) if pairs else ((), ())
  return np.asarray(users, np.int64), np.asarray(items, np.int64)


def test_cascade_user_drops_item_drops_user():
  # A stable 2x2 biclique (rows 0-3), then u2 on i1 and i2, and u3 on i2.
  # u3 has 1 row: removed (round 1); i2 is left with u2 only: removed
  # (round 2); u2 is left with i1 only: removed (round 3).
  pairs = [(0, 0), (0, 1), (1, 0), (1, 1), (2, 1), (2, 2), (3, 2)]
  result = kcore.kcore(*_rows(pairs), min_user=2, min_item=2)
  np.testing.assert_array_equal(result.keep,
                                [True] * 4 + [False] * 3)
  assert result.num_rounds == 3


def test_longer_cascade_empties_a_chain():
  # A path u0-i0-u1-i1-u2-i2-u3: each removal exposes the next end.
  pairs = [(0, 0), (1, 0), (1, 1), (2, 1), (2, 2), (3, 2)]
  result = kcore.kcore(*_rows(pairs), min_user=2, min_item=2)
  assert not result.keep.any()


def test_asymmetric_thresholds():
  # Items need 3 users, users need 1 row: only item 0 (3 users) survives.
  pairs = [(0, 0), (1, 0), (2, 0), (0, 1), (1, 1), (3, 2)]
  result = kcore.kcore(*_rows(pairs), min_user=1, min_item=3)
  np.testing.assert_array_equal(result.keep, [1, 1, 1, 0, 0, 0])
  assert result.num_rounds == 1


def test_duplicate_rows_count_each():
  # User 0 rated item 0 twice: two rows, so she passes min_user=2.
  pairs = [(0, 0), (0, 0), (1, 1)]
  result = kcore.kcore(*_rows(pairs), min_user=2, min_item=0)
  np.testing.assert_array_equal(result.keep, [True, True, False])


@pytest.mark.parametrize("min_user, min_item", [(0, 0), (1, 1), (0, 1)])
def test_off_keeps_everything(min_user, min_item):
  pairs = [(0, 0), (1, 1), (2, 5)]
  result = kcore.kcore(*_rows(pairs), min_user, min_item)
  assert result.keep.all() and result.num_rounds == 0


def test_already_a_core_takes_no_round():
  pairs = [(u, i) for u in range(3) for i in range(3)]
  result = kcore.kcore(*_rows(pairs), min_user=3, min_item=3)
  assert result.keep.all() and result.num_rounds == 0


def test_empty_input():
  result = kcore.kcore(*_rows([]), min_user=5, min_item=5)
  assert result.keep.shape == (0,) and result.num_rounds == 0


@pytest.mark.parametrize("users, items, min_user, message", [
    ([0], [0], -1, "min_user"),
    ([0, 1], [0], 2, "equal length"),
    ([-1], [0], 2, ">= 0"),
])
def test_bad_arguments(users, items, min_user, message):
  with pytest.raises(ValueError, match=message):
    kcore.kcore(np.asarray(users), np.asarray(items), min_user, 2)


def _one_at_a_time(users, items, min_user, min_item):
  """Reference: removes one offending row at a time, until none is left."""
  keep = np.ones(len(users), bool)
  while True:
    for row in np.flatnonzero(keep):
      user_rows = (keep & (users == users[row])).sum()
      item_rows = (keep & (items == items[row])).sum()
      if user_rows < min_user or item_rows < min_item:
        keep[row] = False
        break
    else:
      return keep


@settings(max_examples=60, deadline=None)
@given(pairs=st.lists(st.tuples(st.integers(0, 6), st.integers(0, 6)),
                      max_size=40),
       min_user=st.integers(0, 4), min_item=st.integers(0, 4))
def test_matches_one_at_a_time_removal(pairs, min_user, min_item):
  users, items = _rows(pairs)
  result = kcore.kcore(users, items, min_user, min_item)
  np.testing.assert_array_equal(
      result.keep, _one_at_a_time(users, items, min_user, min_item))
