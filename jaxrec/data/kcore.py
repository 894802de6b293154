"""Iterative k-core filtering of an interaction list. Pure numpy, no I/O.

Removing a user's rows can drop an item below its threshold, which can drop
another user below hers, and so on; the filter therefore repeats until every
remaining user has at least `min_user` rows and every remaining item at least
`min_item` rows. The result (the largest such subset of rows) does not depend
on the order of removals. Duplicate (user, item) rows count once each, as in
RecBole and in the 5-core filters of S3-Rec and P5.
"""

from __future__ import annotations

import dataclasses

import numpy as np


@dataclasses.dataclass(frozen=True)
class KCoreResult:
  """Which rows survive the filter.

  Attributes:
    keep: [num_rows] bool, True for the rows of the k-core.
    num_rounds: filtering rounds until nothing changed (0 when the input was
      already a k-core, or the filter is off).
  """
  keep: np.ndarray
  num_rounds: int


def _check(name: str, value: int) -> None:
  if value < 0:
    raise ValueError(f"{name} must be >= 0 (0 = off), got {value}")


def kcore(user_index: np.ndarray, item_index: np.ndarray, min_user: int,
          min_item: int) -> KCoreResult:
  """Finds the rows of the (min_user, min_item)-core.

  Args:
    user_index: [num_rows] non-negative integer user of each row.
    item_index: [num_rows] non-negative integer item of each row.
    min_user: minimum rows per remaining user; 0 or 1 = no constraint.
    min_item: minimum rows per remaining item; 0 or 1 = no constraint.

  Returns:
    The rows to keep and the number of rounds it took.
  """
  _check("min_user", min_user)
  _check("min_item", min_item)
  user_index = np.asarray(user_index, np.int64)
  item_index = np.asarray(item_index, np.int64)
  if user_index.shape != item_index.shape or user_index.ndim != 1:
    raise ValueError(f"user_index {user_index.shape} and item_index "
                     f"{item_index.shape} must be 1-D and of equal length")
  if user_index.size and min(user_index.min(), item_index.min()) < 0:
    raise ValueError("user and item indices must be >= 0")
  keep = np.ones(user_index.shape, bool)
  num_rounds = 0
  while True:
    drop = (_below(user_index, keep, min_user) |
            _below(item_index, keep, min_item)) & keep
    if not drop.any():
      return KCoreResult(keep, num_rounds)
    keep &= ~drop
    num_rounds += 1


def _below(index: np.ndarray, keep: np.ndarray, minimum: int) -> np.ndarray:
  """[num_rows] whether the row's user (or item) has < minimum kept rows."""
  if minimum <= 1 or not index.size:
    return np.zeros(index.shape, bool)
  counts = np.bincount(index[keep], minlength=int(index.max()) + 1)
  return counts[index] < minimum
