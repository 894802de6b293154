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


@pytest.mark.parametrize("max_interactions, kept_items, kept_times", [
    # ITEMS_A in time order: 14 (1), 11 (3), 12 (3), 10 (5), 13 (9), 15 (9).
    (2, [11, 14], [3, 1]),               # Tie at 3: 11 is first in the file.
    (3, [11, 12, 14], [3, 3, 1]),
    (5, [10, 11, 12, 13, 14], [5, 3, 3, 9, 1]),  # Tie at 9: 13 before 15.
    (6, ITEMS_A, TIMES_A),
    (9, ITEMS_A, TIMES_A),
    (0, ITEMS_A, TIMES_A),               # 0 = off.
])
def test_truncate_users_keeps_first_in_time_order(max_interactions,
                                                  kept_items, kept_times):
  items, times = split_lib.truncate_users(
      [ITEMS_A, np.array([4, 3]), np.array([], np.int32)],
      [TIMES_A, np.array([2, 1]), np.array([], np.int64)], max_interactions)
  np.testing.assert_array_equal(items[0], kept_items)  # Still file order.
  np.testing.assert_array_equal(times[0], kept_times)
  np.testing.assert_array_equal(items[1], [4, 3])  # No more than N: all.
  assert len(items[2]) == len(times[2]) == 0
  # The split of the truncated user is the first N of the full order.
  np.testing.assert_array_equal(
      split_lib.chronological_order(items[0], times[0]),
      ORDERED_A[:max_interactions or None])


@pytest.mark.parametrize("count, kept_items, kept_times", [
    (0, ITEMS_A, TIMES_A),                       # 0 = off.
    (1, [10, 11, 12, 13, 14], [5, 3, 3, 9, 1]),  # Tie at 9: 15 is last.
    (2, [10, 11, 12, 14], [5, 3, 3, 1]),
    (5, [14], [1]),
    (6, [], []),
    (9, [], []),
])
def test_drop_last_interactions_drops_last_in_time_order(count, kept_items,
                                                         kept_times):
  items, times = split_lib.drop_last_interactions(
      [ITEMS_A, np.array([4, 3]), np.array([], np.int32)],
      [TIMES_A, np.array([2, 1]), np.array([], np.int64)], count)
  np.testing.assert_array_equal(items[0], kept_items)  # Still file order.
  np.testing.assert_array_equal(times[0], kept_times)
  assert items[0].dtype == ITEMS_A.dtype and times[0].dtype == TIMES_A.dtype
  # [4, 3] at times [2, 1]: 4 is the later one.
  np.testing.assert_array_equal(items[1], {0: [4, 3], 1: [3]}.get(count, []))
  assert len(items[2]) == len(times[2]) == 0
  np.testing.assert_array_equal(
      split_lib.chronological_order(items[0], times[0]),
      ORDERED_A[:max(len(ORDERED_A) - count, 0)])


def test_drop_last_split_is_the_validation_variant():
  """Dropping one: its test targets are the full split's validation targets
  and its validation targets the full training parts' last items."""
  user_items = [ITEMS_A, np.array([7, 8, 9, 6]), np.array([1, 2, 3])]
  user_times = [TIMES_A, np.array([4, 1, 2, 3]), np.array([1, 2, 3])]
  full = split_lib.leave_one_out(user_items, user_times)
  shifted = split_lib.leave_one_out(
      *split_lib.drop_last_interactions(user_items, user_times, 1))
  assert full.user_ids == ["0", "1", "2"]
  assert shifted.user_ids == ["0", "1"]  # "2" is left with 2: skipped.
  assert shifted.skipped_user_ids == ["2"]
  np.testing.assert_array_equal(shifted.test_target, full.valid_target[:2])
  np.testing.assert_array_equal(shifted.valid_target,
                                [full.train[0][-1], full.train[1][-1]])
  for shifted_train, full_train in zip(shifted.train, full.train):
    np.testing.assert_array_equal(shifted_train, full_train[:-1])
  assert not np.isin(full.test_target[:2], shifted.test_target).any()


def test_truncate_users_bad_input():
  with pytest.raises(ValueError, match="max_interactions must be >= 0"):
    split_lib.truncate_users([ITEMS_A], [TIMES_A], -1)
  with pytest.raises(ValueError, match="1 item lists but 2 timestamp lists"):
    split_lib.truncate_users([ITEMS_A], [TIMES_A, TIMES_A], 3)
  with pytest.raises(ValueError, match="must have equal shapes"):
    split_lib.first_interactions(ITEMS_A, TIMES_A[:3], 3)
  with pytest.raises(ValueError, match="count must be >= 0"):
    split_lib.drop_last_interactions([ITEMS_A], [TIMES_A], -1)
  with pytest.raises(ValueError, match="1 item lists but 2 timestamp lists"):
    split_lib.drop_last_interactions([ITEMS_A], [TIMES_A, TIMES_A], 1)


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
