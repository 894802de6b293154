"""Tests of the leave-one-out split and the training windows."""

import numpy as np
import pytest

from jaxrec.data import split as split_lib

# File order; ties at times 3 and at the last time 9 (13 comes before 15 in
# the file, so 15 is the test item).
ITEMS_A = np.array([10, 11, 12, 13, 14, 15])
TIMES_A = np.array([5, 3, 3, 9, 1, 9])
ORDERED_A = [14, 11, 12, 10, 13, 15]


@pytest.fixture
def split():
  user_items = [ITEMS_A, np.array([7, 8]), np.array([3, 2, 1]), np.array([4])]
  user_times = [TIMES_A, np.array([1, 2]), np.array([1, 1, 1]), np.array([0])]
  return split_lib.leave_one_out(user_items, user_times, ["a", "b", "c", "d"])


def test_chronological_order_is_stable():
  ordered = split_lib.chronological_order(ITEMS_A, TIMES_A)
  assert ordered.dtype == np.int32
  np.testing.assert_array_equal(ordered, ORDERED_A)


def test_leave_one_out(split):
  assert split.user_ids == ["a", "c"]
  assert split.skipped_user_ids == ["b", "d"] and split.num_skipped == 2
  np.testing.assert_array_equal(split.train[0], [14, 11, 12, 10])
  np.testing.assert_array_equal(split.train[1], [3])  # All tied: file order.
  np.testing.assert_array_equal(split.valid_target, [13, 2])
  np.testing.assert_array_equal(split.test_target, [15, 1])
  assert split.valid_target.dtype == split.test_target.dtype == np.int32


def test_history(split):
  np.testing.assert_array_equal(split_lib.history(split, 0, "valid", 3),
                                [11, 12, 10])
  np.testing.assert_array_equal(split_lib.history(split, 0, "test", 3),
                                [12, 10, 13])
  np.testing.assert_array_equal(split_lib.history(split, 1, "test", 5), [3, 2])
  with pytest.raises(ValueError):
    split_lib.history(split, 0, "train", 3)


def test_eval_examples(split):
  histories, targets, seen = split_lib.eval_examples(split, "valid", 3)
  np.testing.assert_array_equal(histories, [[11, 12, 10], [-1, -1, 3]])
  np.testing.assert_array_equal(targets, [13, 2])
  np.testing.assert_array_equal(seen[0], [10, 11, 12, 14])
  np.testing.assert_array_equal(seen[1], [3])

  histories, targets, seen = split_lib.eval_examples(split, "test", 3)
  assert histories.dtype == targets.dtype == np.int32
  np.testing.assert_array_equal(histories, [[12, 10, 13], [-1, 3, 2]])
  np.testing.assert_array_equal(targets, [15, 1])
  np.testing.assert_array_equal(seen[0], [10, 11, 12, 13, 14])
  np.testing.assert_array_equal(seen[1], [2, 3])


@pytest.mark.parametrize("length, expected", [
    (1, np.zeros((0, 3))),
    (2, [[0, 1, -1]]),
    (5, [[0, 1, 2], [2, 3, 4]]),
    (4, [[0, 1, -1], [1, 2, 3]]),
])
def test_training_windows_exact(length, expected):
  windows = split_lib.training_windows([np.arange(length)], window=3)
  assert windows.dtype == np.int32
  assert windows.shape == np.shape(expected)
  np.testing.assert_array_equal(windows, expected)


def test_training_windows_keep_users_apart():
  windows = split_lib.training_windows(
      [np.array([5, 6]), np.array([9]), np.array([1, 2, 3])], window=3)
  np.testing.assert_array_equal(windows, [[5, 6, -1], [1, 2, 3]])


@pytest.mark.parametrize("window", [2, 3, 4, 21])
def test_every_non_first_item_is_a_target_once(window):
  rng = np.random.default_rng(window)
  lengths = rng.integers(0, 60, size=40)
  offsets = np.concatenate([[0], np.cumsum(lengths)])
  sequences = [np.arange(start, start + n) for start, n in
               zip(offsets[:-1], lengths)]  # Item value = global position.
  windows = split_lib.training_windows(sequences, window)
  targets = windows[:, 1:][windows[:, 1:] != split_lib.PAD]
  expected = np.concatenate([s[1:] for s in sequences])
  np.testing.assert_array_equal(np.sort(targets), expected)
  for row in windows:  # Consecutive items of one user, then padding.
    items = row[row != split_lib.PAD]
    np.testing.assert_array_equal(items, np.arange(items[0], items[-1] + 1))
    np.testing.assert_array_equal(row[len(items):], split_lib.PAD)
    assert len(items) >= 2
    users = np.searchsorted(offsets, [items[0], items[-1]], side="right")
    assert users[0] == users[1]
  # Each user's last window ends at its last training item.
  last_items = {row[row != split_lib.PAD][-1] for row in windows}
  assert last_items >= {s[-1] for s in sequences if len(s) >= 2}
