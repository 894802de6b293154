"""Evaluation protocol: chronological leave-one-out split, training windows.

Pure numpy, no I/O. Per user, items are ordered by timestamp with ties kept in
file order (a stable sort); the last item is the test target, the
second-to-last the validation target, the rest the training part. Item
indices are dense int32; `PAD` (-1) pads fixed-shape arrays.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
import dataclasses
from typing import Literal

from absl import logging
import numpy as np

PAD = -1
MIN_INTERACTIONS = 3

EvalSplit = Literal["valid", "test"]


def chronological_order(item_indices: np.ndarray,
                        timestamps: np.ndarray) -> np.ndarray:
  """Items sorted by timestamp; ties keep their given (file) order.

  Args:
    item_indices: [n] item indices.
    timestamps: [n] timestamps of the items.

  Returns:
    [n] int32 item indices, stable-sorted by timestamp.
  """
  item_indices = np.asarray(item_indices)
  timestamps = np.asarray(timestamps)
  if item_indices.shape != timestamps.shape or item_indices.ndim != 1:
    raise ValueError(
        f"item_indices {item_indices.shape} and timestamps "
        f"{timestamps.shape} must be 1-D and of equal length")
  order = np.argsort(timestamps, kind="stable")
  return item_indices[order].astype(np.int32)


def first_interactions(items: np.ndarray, timestamps: np.ndarray,
                       max_interactions: int) -> np.ndarray:
  """Which rows are the user's first `max_interactions` in time order.

  Time order is `chronological_order`'s: by timestamp, ties in file order.

  Args:
    items: [n] item indices in file order.
    timestamps: [n] their timestamps.
    max_interactions: how many rows to keep; 0 keeps all.

  Returns:
    [n] bool, True for the kept rows (in file order, so the kept rows still
    sort to the first `max_interactions` of the whole history).
  """
  if max_interactions < 0:
    raise ValueError(f"max_interactions must be >= 0 (0 = all), got "
                     f"{max_interactions}")
  if np.shape(items) != np.shape(timestamps):
    raise ValueError(f"items {np.shape(items)} and timestamps "
                     f"{np.shape(timestamps)} must have equal shapes")
  if not max_interactions:
    return np.ones(len(items), bool)
  rows_in_time_order = chronological_order(np.arange(len(items)), timestamps)
  keep = np.zeros(len(items), bool)
  keep[rows_in_time_order[:max_interactions]] = True
  return keep


def _keep_rows(user_items: Sequence[np.ndarray],
               user_timestamps: Sequence[np.ndarray],
               keep: Callable[[np.ndarray, np.ndarray], np.ndarray]
              ) -> tuple[list[np.ndarray], list[np.ndarray]]:
  """Per user, the rows that `keep(items, timestamps)` marks True [n_u]."""
  if len(user_items) != len(user_timestamps):
    raise ValueError(f"{len(user_items)} item lists but "
                     f"{len(user_timestamps)} timestamp lists")
  kept_items, kept_timestamps = [], []
  for items, timestamps in zip(user_items, user_timestamps):
    rows = keep(items, timestamps)
    kept_items.append(np.asarray(items)[rows])
    kept_timestamps.append(np.asarray(timestamps)[rows])
  return kept_items, kept_timestamps


def truncate_users(user_items: Sequence[np.ndarray],
                   user_timestamps: Sequence[np.ndarray],
                   max_interactions: int
                  ) -> tuple[list[np.ndarray], list[np.ndarray]]:
  """Each user's first `max_interactions` rows (0 = all), in file order.

  Returns:
    (user_items, user_timestamps): per user, the kept rows [min(n_u, max)]
    of each, with their input dtypes.
  """
  return _keep_rows(
      user_items, user_timestamps,
      lambda items, timestamps: first_interactions(items, timestamps,
                                                   max_interactions))


def drop_last_interactions(user_items: Sequence[np.ndarray],
                           user_timestamps: Sequence[np.ndarray],
                           count: int
                          ) -> tuple[list[np.ndarray], list[np.ndarray]]:
  """Each user without her last `count` rows in time order (0 = all kept).

  Time order is `chronological_order`'s, so with `count` = 1 the
  leave-one-out split of what is left has the full data's validation target
  as its test target and never sees the full data's test target: the
  validation variant of any protocol built on the split. A user with at
  most `count` rows keeps none.

  Returns:
    (user_items, user_timestamps): per user, the kept rows [max(n_u - count,
    0)] of each in file order, with their input dtypes.
  """
  if count < 0:
    raise ValueError(f"count must be >= 0 (0 = all kept), got {count}")
  def keep(items, timestamps):
    keep_count = len(items) - count
    if count and keep_count > 0:
      return first_interactions(items, timestamps, keep_count)
    return np.full(len(items), not count, bool)  # 0 keeps all; else none.
  return _keep_rows(user_items, user_timestamps, keep)


@dataclasses.dataclass(frozen=True, eq=False)
class SplitData:
  """Leave-one-out split of the users with >= 3 interactions.

  Attributes:
    user_ids: raw ids of the kept users, [num_users].
    train: per kept user, the chronological training part [n_u - 2] int32.
    valid_target: second-to-last item per kept user, [num_users] int32.
    test_target: last item per kept user, [num_users] int32.
    skipped_user_ids: users with fewer than 3 interactions (not split).
  """
  user_ids: list[str]
  train: list[np.ndarray]
  valid_target: np.ndarray
  test_target: np.ndarray
  skipped_user_ids: list[str]

  @property
  def num_users(self) -> int:
    return len(self.user_ids)

  @property
  def num_skipped(self) -> int:
    return len(self.skipped_user_ids)


def leave_one_out(user_items: Sequence[np.ndarray],
                  user_timestamps: Sequence[np.ndarray],
                  user_ids: Sequence[str] | None = None) -> SplitData:
  """Splits each user's chronological history: train / valid / test.

  Args:
    user_items: per user, item indices [n_u] in file order.
    user_timestamps: per user, timestamps [n_u] in file order.
    user_ids: per user raw id; defaults to "0", "1", ... (the position).

  Returns:
    The split of the users with at least 3 interactions; the others are
    counted in `skipped_user_ids` (and logged), not an error.
  """
  if len(user_items) != len(user_timestamps):
    raise ValueError(f"{len(user_items)} item lists but "
                     f"{len(user_timestamps)} timestamp lists")
  if user_ids is None:
    user_ids = [str(index) for index in range(len(user_items))]
  kept_ids, skipped_ids, train, valid, test = [], [], [], [], []
  for user_id, items, timestamps in zip(user_ids, user_items, user_timestamps):
    ordered = chronological_order(items, timestamps)
    if len(ordered) < MIN_INTERACTIONS:
      skipped_ids.append(user_id)
      continue
    kept_ids.append(user_id)
    train.append(ordered[:-2])
    valid.append(ordered[-2])
    test.append(ordered[-1])
  if skipped_ids:
    logging.info("leave_one_out: skipped %d user(s) with fewer than %d "
                 "interactions", len(skipped_ids), MIN_INTERACTIONS)
  return SplitData(
      user_ids=kept_ids, train=train,
      valid_target=np.asarray(valid, np.int32).reshape(-1),
      test_target=np.asarray(test, np.int32).reshape(-1),
      skipped_user_ids=skipped_ids)


def _check_eval_split(for_split: str) -> None:
  if for_split not in ("valid", "test"):
    raise ValueError(f"for_split must be 'valid' or 'test', got {for_split!r}")


def _items_before_target(split: SplitData, user: int,
                         for_split: EvalSplit) -> np.ndarray:
  """All items before the target, chronological: [n] int32."""
  _check_eval_split(for_split)
  if for_split == "valid":
    return split.train[user]
  return np.append(split.train[user], split.valid_target[user]).astype(
      np.int32)


def history(split: SplitData, user: int, for_split: EvalSplit,
            max_history: int) -> np.ndarray:
  """The most recent `max_history` items before the user's target.

  Args:
    split: the leave-one-out split.
    user: row of the user in `split` (not the raw id).
    for_split: "valid" (history = training part) or "test" (training part +
      validation item).
    max_history: maximum history length, >= 1.

  Returns:
    [min(n, max_history)] int32, oldest first.
  """
  if max_history < 1:
    raise ValueError(f"max_history must be >= 1, got {max_history}")
  return _items_before_target(split, user, for_split)[-max_history:]


def history_matrix(sequences: Sequence[np.ndarray], max_history: int,
                   drop_recent: int = 0
                   ) -> tuple[np.ndarray, list[np.ndarray]]:
  """Fixed-shape model inputs from whole chronological item sequences.

  Args:
    sequences: per user, item indices [n_u], oldest first.
    max_history: history length (columns), >= 1.
    drop_recent: leave each sequence's `drop_recent` latest items out of the
      input (an ablation); they stay in `seen_items`.

  Returns:
    histories: [num_users, max_history] int32, LEFT-padded with PAD (-1), the
      most recent kept item in the last column; the `max_history` latest items
      left after dropping (all PAD when none is left).
    seen_items: per user, the sorted unique items of the whole sequence
      (dropped ones included, not truncated), [m_u] int32, for masking.
  """
  if max_history < 1:
    raise ValueError(f"max_history must be >= 1, got {max_history}")
  if drop_recent < 0:
    raise ValueError(f"drop_recent must be >= 0, got {drop_recent}")
  histories = np.full((len(sequences), max_history), PAD, np.int32)
  seen_items = []
  for user, items in enumerate(sequences):
    kept = items[:max(len(items) - drop_recent, 0)][-max_history:]
    if len(kept):
      histories[user, -len(kept):] = kept
    seen_items.append(np.unique(np.asarray(items, np.int32)))
  return histories, seen_items


def eval_examples(split: SplitData, for_split: EvalSplit, max_history: int,
                  drop_recent: int = 0
                  ) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
  """Fixed-shape evaluation inputs for every user of the split.

  Args:
    split: the leave-one-out split.
    for_split: "valid" or "test".
    max_history: history length (columns).
    drop_recent: leave each history's N latest items out of the input (they
      stay masked); see `history_matrix`.

  Returns:
    histories: [num_users, max_history] int32, LEFT-padded with PAD (-1), the
      most recent item in the last column.
    targets: [num_users] int32.
    seen_items: per user, the sorted unique items of the whole history before
      the target (not truncated), [n_u] int32, for masking.
  """
  _check_eval_split(for_split)
  histories, seen_items = history_matrix(
      [_items_before_target(split, user, for_split)
       for user in range(split.num_users)], max_history, drop_recent)
  targets = split.valid_target if for_split == "valid" else split.test_target
  return histories, targets.astype(np.int32), seen_items


def _window_starts(length: int, window: int) -> list[int]:
  """Start positions (may be negative: clipped at 0), earliest first."""
  starts = []
  start = length - window
  while start + window >= 2:  # At least two items: one context, one target.
    starts.append(start)
    start -= window - 1
  return starts[::-1]


def training_windows(train_sequences: Sequence[np.ndarray],
                     window: int) -> np.ndarray:
  """Cuts training parts into windows of `window` consecutive items.

  A window's first item is context only; each later item is a target
  predicted from the items before it in the window. Windows are strided by
  `window - 1` and aligned so that the last one ends at the training part's
  last item; the earliest one is clipped at the first item (shorter, then
  RIGHT-padded with PAD). So every training item except each user's first is
  a target exactly once. A 1-item training part gives no window.

  Example, window=3 (max_history=2):
    [a, b, c, d, e] -> [a, b, c], [c, d, e]   (targets b, c | d, e)
    [a, b, c, d]    -> [a, b, -1], [b, c, d]  (targets b | c, d)
    [a, b]          -> [a, b, -1]             (target b)
    [a]             -> no window

  Args:
    train_sequences: per user, chronological training items [n_u].
    window: window length (= max_history + 1), >= 2.

  Returns:
    [num_windows, window] int32, users in order, each user's windows oldest
    first.
  """
  if window < 2:
    raise ValueError(f"window must be >= 2, got {window}")
  rows = []
  for sequence in train_sequences:
    sequence = np.asarray(sequence, np.int32)
    for start in _window_starts(len(sequence), window):
      row = np.full(window, PAD, np.int32)
      items = sequence[max(start, 0):start + window]
      row[:len(items)] = items
      rows.append(row)
  if not rows:
    return np.zeros((0, window), np.int32)
  return np.stack(rows)
