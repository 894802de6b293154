"""Cold-start protocol: hold out the items that appear last in time.

Pure numpy, no I/O. With `config.data.cold_items = f` (0 < f < 0.5):

1. Each item's first appearance is its earliest interaction: by timestamp,
   ties between items broken by which of those interactions comes first in
   loading order (users in dataset order, each user's rows in file order),
   so the order is total and deterministic. Items without interactions
   have no first appearance and are never cold.
2. The last ceil(f * items with interactions) items by first appearance are
   cold; the others are warm.
3. Per user, in `split.chronological_order`: the test target is the last
   interaction, cold or warm; every other interaction with a cold item is
   dropped; the leave-one-out split is then made of what is left as usual
   (valid = the last remaining item before the target, train = the rest;
   users left with fewer than 3 items are skipped).
4. Items are re-indexed: the W warm items keep their relative order as
   0..W-1, the C cold items get W..W+C-1 in their dataset order, the order
   in which the job appends them to the catalogue (`jaxrec.catalog`).

So training and validation never see a cold item, the tokenizer is fitted on
the warm items only, and the cold items enter the catalogue after training,
through their text, like any new item.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from absl import logging
import numpy as np

from jaxrec.data import dataset
from jaxrec.data import item_text
from jaxrec.data import split as split_lib

MAX_FRACTION = 0.5


def check_fraction(fraction: float) -> float:
  """`fraction` as a float in [0, 0.5); ValueError naming data.cold_items."""
  if (isinstance(fraction, bool) or
      not isinstance(fraction, (int, float)) or
      not 0.0 <= fraction < MAX_FRACTION):
    raise ValueError(f"data.cold_items={fraction!r} must be a fraction in "
                     f"[0, {MAX_FRACTION}) (0 = off)")
  return float(fraction)


def first_appearance_order(user_items: list[np.ndarray],
                           user_timestamps: list[np.ndarray],
                           num_items: int) -> np.ndarray:
  """The items that have interactions, by first appearance, earliest first.

  Args:
    user_items: per user, item indices [n_u] in file order.
    user_timestamps: per user, timestamps [n_u] in file order.
    num_items: catalogue size.

  Returns:
    [num_items_with_interactions] int64 item indices. An item's key is its
    earliest (timestamp, loading position) over its interactions, where the
    loading position counts rows user by user, each in file order.
  """
  if not user_items:
    return np.zeros(0, np.int64)
  items = np.concatenate([np.asarray(i, np.int64) for i in user_items])
  times = np.concatenate([np.asarray(t, np.int64) for t in user_timestamps])
  if items.size and (items.min() < 0 or items.max() >= num_items):
    raise ValueError(f"item indices must be in [0, {num_items})")
  order = np.lexsort((np.arange(len(items)), times))  # By time, then position.
  in_time_order = items[order]
  _, first = np.unique(in_time_order, return_index=True)
  return in_time_order[np.sort(first)]


@dataclasses.dataclass(frozen=True, eq=False)
class ColdItems:
  """The cold-start protocol applied to a dataset.

  Attributes:
    fraction: the `data.cold_items` it was made with.
    warm_data: the dataset with the W warm items only (indices 0..W-1, the
      item table the tokenizer sees); every user stays, with her warm
      interactions in file order (a cold test target is not among them).
    split: the leave-one-out split; `train` and `valid_target` hold warm
      items only, `test_target` [num_users] may be a cold item (>= W).
    items: the C cold items' ids and text [C]; row c has index W + c.
    removed_interactions: interactions with cold items that are in no part
      of the split (all of them except the cold test targets).
  """
  fraction: float
  warm_data: dataset.InteractionData
  split: split_lib.SplitData
  items: item_text.ItemColumns
  removed_interactions: int

  @property
  def item_ids(self) -> list[str]:
    """Raw ids of the cold items [C]; item_ids[c] has index W + c."""
    return self.items.item_ids

  @property
  def num_warm_items(self) -> int:
    return self.warm_data.num_items

  @property
  def num_cold_items(self) -> int:
    return len(self.item_ids)

  @property
  def cold_indices(self) -> np.ndarray:
    """[C] int32: W..W+C-1."""
    return np.arange(self.num_warm_items,
                     self.num_warm_items + self.num_cold_items, dtype=np.int32)

  def is_cold_target(self) -> np.ndarray:
    """[num_users] bool: the user's test target is a cold item."""
    return self.split.test_target >= self.num_warm_items

  def counts(self) -> dict[str, Any]:
    """What the metrics and the log report of the hold-out."""
    cold_users = int(self.is_cold_target().sum())
    return {"fraction": self.fraction,
            "num_cold_items": self.num_cold_items,
            "num_warm_items": self.num_warm_items,
            "cold_test_users": cold_users,
            "warm_test_users": self.split.num_users - cold_users,
            "removed_interactions": self.removed_interactions}

  def records(self) -> list[dict[str, Any]]:
    """The cold items as `jaxrec.catalog add` input objects, index order.

    Empty or unknown fields are left out (a NaN price, an empty brand, year
    0), so the file holds only what the dataset knows.
    """
    items, records = self.items, []
    for index, item_id in enumerate(items.item_ids):
      record = {"item_id": item_id, "title": items.titles[index],
                "genres": list(items.genres[index])}
      if int(items.years[index]) > 0:
        record["year"] = int(items.years[index])
      if items.brands[index]:
        record["brand"] = items.brands[index]
      if np.isfinite(items.prices[index]):
        record["price"] = float(items.prices[index])
      records.append(record)
    return records


def hold_out(data: dataset.InteractionData, fraction: float) -> ColdItems:
  """Applies the protocol (module docstring) to `data`.

  Raises:
    ValueError: `fraction` is not in (0, 0.5), naming data.cold_items.
  """
  fraction = check_fraction(fraction)
  if fraction == 0.0:
    raise ValueError("data.cold_items=0 is off: there is nothing to hold out")
  appearance = first_appearance_order(data.user_items, data.user_timestamps,
                                      data.num_items)
  num_cold = math.ceil(fraction * len(appearance))
  is_cold = np.zeros(data.num_items, bool)
  is_cold[appearance[len(appearance) - num_cold:]] = True
  warm, cold = np.flatnonzero(~is_cold), np.flatnonzero(is_cold)
  new_index = np.empty(data.num_items, np.int32)
  new_index[warm] = np.arange(len(warm))
  new_index[cold] = len(warm) + np.arange(len(cold))

  sequences, warm_items, warm_timestamps = [], [], []
  for items, timestamps in zip(data.user_items, data.user_timestamps):
    items = np.asarray(items)
    ordered = split_lib.chronological_order(items, timestamps)
    if len(ordered):
      before = ordered[:-1]
      sequences.append(new_index[np.append(before[~is_cold[before]],
                                           ordered[-1])])
    else:
      sequences.append(np.zeros(0, np.int32))
    keep = ~is_cold[items]
    warm_items.append(new_index[items[keep]].astype(np.int32))
    warm_timestamps.append(np.asarray(timestamps)[keep])
  # The sequences are already in time order: positions as timestamps.
  split = split_lib.leave_one_out(
      sequences, [np.arange(len(s)) for s in sequences], data.user_ids)

  cold_in_split = int((split.test_target >= len(warm)).sum())
  total_cold = int(sum(is_cold[np.asarray(i)].sum() for i in data.user_items))
  columns = item_text.ItemColumns.of(data)
  warm_data = dataclasses.replace(
      data, **columns.take(warm).fields(), user_items=warm_items,
      user_timestamps=warm_timestamps)
  result = ColdItems(
      fraction=fraction, warm_data=warm_data, split=split,
      items=columns.take(cold),
      removed_interactions=total_cold - cold_in_split)
  logging.info(
      "data.cold_items=%g: %d of %d items with interactions are cold (the "
      "latest by first appearance); %d test users have a cold target, %d a "
      "warm one; %d other interactions with cold items removed.", fraction,
      num_cold, len(appearance), cold_in_split,
      split.num_users - cold_in_split, result.removed_interactions)
  return result
