"""Datasets by name, as `config.data.name` selects them.

A name is `<builder>` or `<builder>/<subset>`:

  movielens_100k                MovieLens-100K (the embedded default)
  movielens_1m                  MovieLens-1M
  amazon_reviews_2014/beauty    Amazon 2014 5-core Beauty (also /sports, /toys)
  recbole_atomic/<dataset>      <dataset>.inter (+ .item) from data.manual_dir

`load` also makes a sparse variant of any of them: with
`data.max_user_interactions=N`, each user keeps only her first N
interactions; and a validation variant of any protocol: with
`data.drop_last_interactions=1`, each user's last interaction (her test
target) is dropped, so the split's test target is her validation target.
`load_split` applies the cold-start protocol when `data.cold_items` > 0
(`cold_items`).
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

from absl import logging
import ml_collections
import numpy as np

from jaxrec.data import amazon_reviews_2014
from jaxrec.data import cold_items
from jaxrec.data import dataset
from jaxrec.data import movielens_100k
from jaxrec.data import movielens_1m
from jaxrec.data import recbole_atomic
from jaxrec.data import split

BUILDERS = {
    "movielens_100k": movielens_100k.MovieLens100K,
    "movielens_1m": movielens_1m.MovieLens1M,
    "amazon_reviews_2014": amazon_reviews_2014.AmazonReviews2014,
    "recbole_atomic": recbole_atomic.RecBoleAtomic,
}
# Every name with a fixed subset; recbole_atomic takes any dataset name.
DATASETS = (
    "movielens_100k",
    "movielens_1m",
    *(f"amazon_reviews_2014/{subset}"
      for subset in amazon_reviews_2014.CATEGORIES),
    "recbole_atomic/<dataset>",
)


def resolve(name: str) -> tuple[type[Any], str | None]:
  """(builder class, subset or None) of a dataset name.

  Raises:
    ValueError: the builder is unknown or the subset is not one of its own.
  """
  builder_name, _, subset = name.partition("/")
  if builder_name not in BUILDERS:
    raise ValueError(f"unknown dataset {name!r}; known: {list(DATASETS)}")
  builder_cls = BUILDERS[builder_name]
  subset = subset or None
  try:
    builder_cls.check_subset(subset)
  except ValueError as err:
    raise ValueError(f"dataset {name!r}: {err}; known: {list(DATASETS)}"
                     ) from None
  return builder_cls, subset


def load(data_config: ml_collections.ConfigDict, workdir: str
         ) -> dataset.InteractionData:
  """Prepares (once) and loads `data_config.name`, filters and truncates it.

  The tfds data directory is `data_config.data_dir`, or WORKDIR/data. The
  k-core thresholds are `data_config.min_user_interactions` and
  `min_item_interactions` (0 = off). Then `max_user_interactions` (0 = off;
  absent in older configs) keeps each user's first N interactions (see
  `truncate_users`), and `drop_last_interactions` (0 = off; absent in older
  configs) drops each user's last K of those (see `drop_last`).
  """
  builder_cls, subset = resolve(data_config.name)
  data = dataset.load_interactions(
      builder_cls,
      data_dir=data_config.data_dir or os.path.join(workdir, "data"),
      manual_dir=data_config.manual_dir or None,
      verify_checksums=data_config.verify_checksums,
      subset=subset,
      register_checksums=data_config.register_checksums,
      min_user_interactions=data_config.min_user_interactions,
      min_item_interactions=data_config.min_item_interactions)
  data = truncate_users(data, data_config.get("max_user_interactions", 0),
                        data_config.name)
  return drop_last(data, data_config.get("drop_last_interactions", 0),
                   data_config.name)


def load_split(data_config: ml_collections.ConfigDict, workdir: str
               ) -> tuple[dataset.InteractionData, split.SplitData]:
  """`load`, then the leave-one-out split every stage uses (train / valid /
  test per user), so all of them see the same users and targets.

  With `data_config.cold_items` > 0, the cold-start protocol's warm-only
  data and split (`load_split_and_cold_items`).
  """
  data, split_data, _ = load_split_and_cold_items(data_config, workdir)
  return data, split_data


def cold_items_fraction(data_config: ml_collections.ConfigDict) -> float:
  """`data_config.cold_items` (0.0 when absent, as in older run configs).

  Raises:
    ValueError: outside [0, 0.5), naming data.cold_items.
  """
  return cold_items.check_fraction(data_config.get("cold_items", 0.0))


def load_split_and_cold_items(
    data_config: ml_collections.ConfigDict, workdir: str
) -> tuple[dataset.InteractionData, split.SplitData,
           cold_items.ColdItems | None]:
  """(data, split, cold items or None) of `data_config`.

  With `data.cold_items` = 0 (off): `load`'s data, its leave-one-out split
  and None. Otherwise the cold-start protocol (`cold_items.hold_out`): the
  warm items' data (the catalogue the tokenizer sees), the split whose test
  targets may be cold items (indices >= the warm items'), and the hold-out.
  """
  fraction = cold_items_fraction(data_config)  # Fails before loading.
  data = load(data_config, workdir)
  if not fraction:
    return data, split.leave_one_out(data.user_items, data.user_timestamps,
                                     data.user_ids), None
  held_out = cold_items.hold_out(data, fraction)
  return held_out.warm_data, held_out.split, held_out


def truncate_users(data: dataset.InteractionData, max_interactions: int,
                   name: str = "dataset") -> dataset.InteractionData:
  """Keeps each user's first `max_interactions` interactions (0 = all).

  "First" is in time order with ties in file order, the order of the
  leave-one-out split (`split.chronological_order`), so the split then
  takes its validation and test targets from within those N. Kept rows stay
  in file order. Every user and every item stays: an item left without any
  interaction remains in the catalogue (item ids, the fingerprint and the
  item table are unchanged), it just never appears in a sequence.

  Raises:
    ValueError: `max_interactions` is negative, 1 or 2 (the split needs 3
      interactions per user), naming `data.max_user_interactions`.
  """
  if max_interactions < 0 or max_interactions in (1, 2):
    raise ValueError(
        f"data.max_user_interactions={max_interactions} must be 0 (off) or "
        f">= {split.MIN_INTERACTIONS} (the leave-one-out split needs "
        f"{split.MIN_INTERACTIONS} interactions per user)")
  if not max_interactions:
    return data
  user_items, user_timestamps = split.truncate_users(
      data.user_items, data.user_timestamps, max_interactions)
  truncated = dataclasses.replace(data, user_items=user_items,
                                  user_timestamps=user_timestamps)
  used = (np.unique(np.concatenate(user_items)).size if user_items else 0)
  logging.info(
      "data.max_user_interactions=%d: kept %d of %d interactions (each "
      "user's first %d); %d of %d items have none left and stay in the "
      "catalogue.", max_interactions, truncated.num_interactions,
      data.num_interactions, max_interactions, data.num_items - used,
      data.num_items)
  dataset.log_stats(f"{name} (first {max_interactions} per user)", truncated)
  return truncated


def drop_last(data: dataset.InteractionData, count: int,
              name: str = "dataset") -> dataset.InteractionData:
  """Drops each user's last `count` interactions (0 = none).

  "Last" is in the leave-one-out split's time order, so `count` = 1 makes
  the validation variant of whatever protocol follows (plain, sparse or
  cold-start): the split's test target is then the full data's validation
  target, and the full data's test targets are never loaded. Choices made
  on that variant's test split are choices made on validation. Every user
  and item stays, as in `truncate_users`; a user left with fewer than 3
  interactions is skipped by the split.

  Raises:
    ValueError: `count` is negative, naming `data.drop_last_interactions`.
  """
  if count < 0:
    raise ValueError(f"data.drop_last_interactions={count} must be 0 (off) "
                     "or a number of interactions to drop per user (1: the "
                     "validation variant)")
  if not count:
    return data
  user_items, user_timestamps = split.drop_last_interactions(
      data.user_items, data.user_timestamps, count)
  dropped = dataclasses.replace(data, user_items=user_items,
                                user_timestamps=user_timestamps)
  logging.info(
      "data.drop_last_interactions=%d: kept %d of %d interactions (each "
      "user's last %d dropped, so the split's test targets are the full "
      "data's %s).", count, dropped.num_interactions, data.num_interactions,
      count, "validation targets" if count == 1 else "earlier items")
  dataset.log_stats(f"{name} (last {count} per user dropped)", dropped)
  return dropped


def data_config(name: str, data_dir: str = "", manual_dir: str = "",
                min_user_interactions: int = 0, min_item_interactions: int = 0,
                max_user_interactions: int = 0,
                drop_last_interactions: int = 0
                ) -> ml_collections.ConfigDict:
  """A `config.data` block for `name` with the run recipes' defaults."""
  resolve(name)  # Fails early on an unknown name.
  return ml_collections.ConfigDict({
      "name": name,
      "data_dir": data_dir,
      "manual_dir": manual_dir,
      "verify_checksums": True,
      "register_checksums": False,
      "min_user_interactions": min_user_interactions,
      "min_item_interactions": min_item_interactions,
      "max_user_interactions": max_user_interactions,
      "drop_last_interactions": drop_last_interactions,
  })
