"""Loads a prepared interactions/items tfds dataset into numpy arrays.

Works with any builder that follows `interactions_builder.InteractionsBuilder`'s
contract: per subset, configs `interactions` (features `user_id`, `item_ids`,
`timestamps`, `ratings`; one example per user, items in file order) and `items`
(features `item_id`, `title`, `genres`, `year`, optionally `brand` and
`price`), each with a single `train` split; `configs_for(subset)`; constructor
keywords `config`, `data_dir`, `verify_checksums`; and a
`MANUAL_DOWNLOAD_INSTRUCTIONS` string.

After loading, the optional iterative k-core filter runs (`kcore`), and the
catalogue is cut to the items that keep at least one interaction: an item no
user interacted with can be neither history nor target. Both are counted and
logged.

Users and items get dense indices in natural id order (numeric when every id
is a decimal integer, as in MovieLens; otherwise lexicographic), which does
not depend on the order tfds wrote the examples in.
"""

from __future__ import annotations

from collections.abc import Iterable
import dataclasses
import functools
import hashlib
import math
import os
from typing import Any

from absl import logging
import numpy as np
import tensorflow_datasets as tfds

from jaxrec.data import interactions_builder
from jaxrec.data import item_text
from jaxrec.data import kcore
from jaxrec.data import movielens_100k


@dataclasses.dataclass(frozen=True, eq=False)
class InteractionData:
  """A dataset's users, items and per-user interactions, in dense indices.

  Attributes:
    item_ids: raw item id of each dense item index, [num_items].
    titles: item titles, [num_items] ("" when unknown).
    genres: genre (or, for products, category) names of each item,
      [num_items] lists.
    years: release years, [num_items] int32, 0 when unknown.
    user_ids: raw user id of each dense user index, [num_users].
    user_items: per user, dense item indices [n_u] int32 in file order.
    user_timestamps: per user, timestamps [n_u] int64 in file order.
    brands: item brands, [num_items] ("" when unknown); all "" if not given.
    prices: item prices, [num_items] float32 (NaN when unknown); all NaN if
      not given.
  """
  item_ids: list[str]
  titles: list[str]
  genres: list[list[str]]
  years: np.ndarray
  user_ids: list[str]
  user_items: list[np.ndarray]
  user_timestamps: list[np.ndarray]
  brands: list[str] | None = None
  prices: np.ndarray | None = None

  def __post_init__(self):
    if self.brands is None:
      object.__setattr__(self, "brands", [""] * len(self.item_ids))
    if self.prices is None:
      object.__setattr__(self, "prices",
                         np.full(len(self.item_ids), np.nan, np.float32))

  @property
  def num_users(self) -> int:
    return len(self.user_ids)

  @property
  def num_items(self) -> int:
    return len(self.item_ids)

  @property
  def num_interactions(self) -> int:
    return sum(len(items) for items in self.user_items)

  @functools.cached_property
  def fingerprint(self) -> str:
    """sha256 hex of the item id list; ties vocabularies to this dataset."""
    return item_ids_fingerprint(self.item_ids)

  @functools.cached_property
  def item_texts(self) -> list[str]:
    """One sentence per item for text encoders (see `item_text`)."""
    return item_text.ItemColumns.of(self).item_texts


def item_ids_fingerprint(item_ids: Iterable[str]) -> str:
  """sha256 hex of the ids, each followed by a newline, in order."""
  digest = hashlib.sha256()
  for item_id in item_ids:
    digest.update(item_id.encode("utf-8") + b"\n")
  return digest.hexdigest()


def natural_order(ids: Iterable[str]) -> list[str]:
  """Sorts ids numerically when all are decimal integers, else as strings."""
  ids = list(ids)
  if all(item_id.isdecimal() for item_id in ids):
    return sorted(ids, key=lambda item_id: (int(item_id), item_id))
  return sorted(ids)


def _text(value: Any) -> str:
  return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def _check_manual_dir(builder_cls: type[Any], manual_dir: str | None) -> None:
  """A given manual_dir must exist and hold files (else tfds ignores it)."""
  if manual_dir is None:
    return
  if not os.path.isdir(manual_dir) or not os.listdir(manual_dir):
    raise FileNotFoundError(
        f"manual_dir {manual_dir} does not exist or is empty. "
        f"{builder_cls.MANUAL_DOWNLOAD_INSTRUCTIONS}")


def prepared_builder(builder_cls: type[Any],
                     config: str | tfds.core.BuilderConfig, data_dir: str,
                     manual_dir: str | None = None,
                     verify_checksums: bool = True,
                     register_checksums: bool = False
                     ) -> tfds.core.DatasetBuilder:
  """Returns the builder of `config`, preparing the data unless present.

  With `register_checksums`, the sha256 of every source file that is
  downloaded (or taken from `manual_dir`, for builders that support it) is
  recorded in the builder's `checksums/<name>.tsv`.
  """
  builder = builder_cls(config=config, data_dir=data_dir,
                        verify_checksums=verify_checksums)
  download_config = tfds.download.DownloadConfig(
      manual_dir=manual_dir, register_checksums=register_checksums)
  builder.download_and_prepare(download_config=download_config)
  return builder


def _read_examples(builder: tfds.core.DatasetBuilder) -> list[dict[str, Any]]:
  source = builder.as_data_source(split="train")
  return [source[index] for index in range(len(source))]


def _item_table(examples: list[dict[str, Any]]) -> item_text.ItemColumns:
  """The item features in natural id order; brand "" / price NaN if absent."""
  by_id = {_text(example["item_id"]): example for example in examples}
  item_ids = natural_order(by_id)
  rows = [by_id[item_id] for item_id in item_ids]
  return item_text.ItemColumns(
      item_ids=item_ids,
      titles=[_text(row["title"]) for row in rows],
      genres=[[_text(genre) for genre in row["genres"]] for row in rows],
      years=np.asarray([row["year"] for row in rows], np.int32).reshape(-1),
      brands=[_text(row["brand"]) if "brand" in row else "" for row in rows],
      prices=np.asarray([row["price"] if "price" in row else math.nan
                         for row in rows], np.float32).reshape(-1))


def _user_table(examples: list[dict[str, Any]], item_index: dict[str, int]
               ) -> tuple[list[str], list[np.ndarray], list[np.ndarray]]:
  """(user_ids, per-user item indices [n_u] int32, timestamps [n_u] int64)."""
  by_id = {_text(example["user_id"]): example for example in examples}
  user_ids = natural_order(by_id)
  user_items, user_timestamps = [], []
  for user_id in user_ids:
    example = by_id[user_id]
    raw_items = [_text(item) for item in example["item_ids"]]
    unknown = [item for item in raw_items if item not in item_index]
    if unknown:
      raise ValueError(
          f"user {user_id!r}: item(s) {unknown[:5]} missing from the items "
          "config")
    user_items.append(
        np.asarray([item_index[item] for item in raw_items], np.int32))
    user_timestamps.append(np.asarray(example["timestamps"], np.int64))
  return user_ids, user_items, user_timestamps


# --------------------------------------------------------------- filtering --


def filter_interactions(data: InteractionData, min_user_interactions: int = 0,
                        min_item_interactions: int = 0) -> InteractionData:
  """Applies the iterative k-core filter, then drops items without rows.

  Args:
    data: the loaded dataset.
    min_user_interactions: minimum interactions of every remaining user; 0
      turns the user side of the filter off.
    min_item_interactions: the same for items.

  Returns:
    `data` itself when nothing is removed; else the filtered dataset, users
    and items keeping their relative order and each user's rows their file
    order.
  """
  lengths = np.asarray([len(items) for items in data.user_items], np.int64)
  user_of_row = np.repeat(np.arange(data.num_users), lengths)
  item_of_row = (np.concatenate(data.user_items).astype(np.int64)
                 if data.num_users else np.zeros(0, np.int64))
  core = kcore.kcore(user_of_row, item_of_row, min_user_interactions,
                     min_item_interactions)
  used = np.zeros(data.num_items, bool)
  used[item_of_row[core.keep]] = True
  if core.keep.all() and used.all():
    return data
  _log_filtering(data, core, used, (min_user_interactions,
                                    min_item_interactions))
  new_index = (np.cumsum(used) - 1).astype(np.int32)
  user_ids, user_items, user_timestamps = [], [], []
  row_keep = np.split(core.keep, np.cumsum(lengths)[:-1])
  for user, keep in enumerate(row_keep):
    if keep.any():
      user_ids.append(data.user_ids[user])
      user_items.append(new_index[data.user_items[user][keep]])
      user_timestamps.append(data.user_timestamps[user][keep])
  return InteractionData(user_ids=user_ids, user_items=user_items,
                         user_timestamps=user_timestamps,
                         **item_text.ItemColumns.of(data).take(
                             np.flatnonzero(used)).fields())


def _log_filtering(data: InteractionData, core: kcore.KCoreResult,
                   used: np.ndarray, minimums: tuple[int, int]) -> None:
  """Logs what the k-core filter and the catalogue cut removed."""
  if not core.keep.all():
    lengths = [len(items) for items in data.user_items]
    kept_rows = np.split(core.keep, np.cumsum(lengths)[:-1])
    removed_users = sum(not keep.any() for keep in kept_rows)
    logging.info(
        "k-core filter (users >= %d, items >= %d interactions): removed "
        "%d interaction(s) and %d user(s) in %d round(s).", *minimums,
        int((~core.keep).sum()), removed_users, core.num_rounds)
  logging.info("Dropped %d of %d item(s) with no interactions left.",
               int((~used).sum()), data.num_items)


# ----------------------------------------------------------------- loading --


def log_stats(name: str, data: InteractionData) -> None:
  """Logs counts, history lengths and the item-id fingerprint."""
  lengths = np.asarray([len(items) for items in data.user_items], np.int64)
  if not len(lengths):
    logging.warning("%s: no users", name)
    return
  num_used_items = len(np.unique(np.concatenate(data.user_items)))
  logging.info(
      "%s: %d users, %d items (%d with interactions), %d interactions; "
      "per-user history length min %d / median %g / max %d; item ids "
      "fingerprint %s", name, data.num_users, data.num_items, num_used_items,
      data.num_interactions, lengths.min(), np.median(lengths), lengths.max(),
      data.fingerprint)


def load_interactions(builder_cls: type[Any], data_dir: str,
                      manual_dir: str | None = None,
                      verify_checksums: bool = True, *,
                      subset: str | None = None,
                      register_checksums: bool = False,
                      min_user_interactions: int = 0,
                      min_item_interactions: int = 0) -> InteractionData:
  """Prepares (once) and loads a dataset with `interactions` and `items`.

  Args:
    builder_cls: a tfds builder class following the module's contract.
    data_dir: tfds data directory; prepared data there is reused as is.
    manual_dir: optional directory with source files (see the builder).
    verify_checksums: False turns checksum and statistics mismatches into
      warnings.
    subset: the builder's data subset (e.g. "beauty"), None if it has none.
    register_checksums: record the sha256 of the source files in the
      builder's checksums file (see `prepared_builder`).
    min_user_interactions: k-core filter on users (0 = off).
    min_item_interactions: k-core filter on items (0 = off).

  Returns:
    The dataset, users and items in natural id order.
  """
  _check_manual_dir(builder_cls, manual_dir)
  configs = builder_cls.configs_for(subset)
  builders = {
      kind: prepared_builder(builder_cls, configs[kind], data_dir,
                             manual_dir, verify_checksums, register_checksums)
      for kind in (interactions_builder.ITEMS,
                   interactions_builder.INTERACTIONS)
  }
  items = _item_table(_read_examples(builders[interactions_builder.ITEMS]))
  item_index = {item_id: index for index, item_id in enumerate(items.item_ids)}
  user_ids, user_items, user_timestamps = _user_table(
      _read_examples(builders[interactions_builder.INTERACTIONS]), item_index)
  data = InteractionData(
      user_ids=user_ids, user_items=user_items,
      user_timestamps=user_timestamps, **items.fields())
  data = filter_interactions(data, min_user_interactions,
                             min_item_interactions)
  log_stats(builder_cls.name if subset is None
            else f"{builder_cls.name}/{subset}", data)
  return data


def load_movielens_100k(data_dir: str, manual_dir: str | None = None,
                        verify_checksums: bool = True) -> InteractionData:
  """MovieLens-100K (943 users, 1,682 items, 100,000 interactions)."""
  return load_interactions(movielens_100k.MovieLens100K, data_dir,
                           manual_dir=manual_dir,
                           verify_checksums=verify_checksums)
