"""Loads a prepared interactions/items tfds dataset into numpy arrays.

Works with any builder that follows `movielens_100k.MovieLens100K`'s contract:

* configs `interactions` (features `user_id`, `item_ids`, `timestamps`,
  `ratings`; one example per user, items in file order) and `items` (features
  `item_id`, `title`, `genres`, `year`), each with a single `train` split;
* constructor keywords `config`, `data_dir`, `verify_checksums`;
* a `MANUAL_DOWNLOAD_INSTRUCTIONS` string.

Users and items get dense indices in natural id order (numeric when every id
is a decimal integer, as in MovieLens; otherwise lexicographic), which does
not depend on the order tfds wrote the examples in.
"""

from __future__ import annotations

from collections.abc import Iterable
import dataclasses
import functools
import hashlib
import os
from typing import Any

from absl import logging
import numpy as np
import tensorflow_datasets as tfds

from jaxrec.data import movielens_100k


@dataclasses.dataclass(frozen=True, eq=False)
class InteractionData:
  """A dataset's users, items and per-user interactions, in dense indices.

  Attributes:
    item_ids: raw item id of each dense item index, [num_items].
    titles: item titles, [num_items].
    genres: genre names of each item, [num_items] lists.
    years: release years, [num_items] int32, 0 when unknown.
    user_ids: raw user id of each dense user index, [num_users].
    user_items: per user, dense item indices [n_u] int32 in file order.
    user_timestamps: per user, timestamps [n_u] int64 in file order.
  """
  item_ids: list[str]
  titles: list[str]
  genres: list[list[str]]
  years: np.ndarray
  user_ids: list[str]
  user_items: list[np.ndarray]
  user_timestamps: list[np.ndarray]

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


def prepared_builder(builder_cls: type[Any], config: str, data_dir: str,
                     manual_dir: str | None = None,
                     verify_checksums: bool = True
                     ) -> tfds.core.DatasetBuilder:
  """Returns the builder of `config`, preparing the data unless present."""
  builder = builder_cls(config=config, data_dir=data_dir,
                        verify_checksums=verify_checksums)
  download_config = tfds.download.DownloadConfig(manual_dir=manual_dir)
  builder.download_and_prepare(download_config=download_config)
  return builder


def _read_examples(builder: tfds.core.DatasetBuilder) -> list[dict[str, Any]]:
  source = builder.as_data_source(split="train")
  return [source[index] for index in range(len(source))]


def _item_table(examples: list[dict[str, Any]]
               ) -> tuple[list[str], list[str], list[list[str]], np.ndarray]:
  """(item_ids, titles, genres, years [num_items] int32) in natural id order."""
  by_id = {_text(example["item_id"]): example for example in examples}
  item_ids = natural_order(by_id)
  titles = [_text(by_id[item_id]["title"]) for item_id in item_ids]
  genres = [[_text(genre) for genre in by_id[item_id]["genres"]]
            for item_id in item_ids]
  years = np.asarray([by_id[item_id]["year"] for item_id in item_ids],
                     np.int32)
  return item_ids, titles, genres, years


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
                      verify_checksums: bool = True) -> InteractionData:
  """Prepares (once) and loads a dataset with `interactions` and `items`.

  Args:
    builder_cls: a tfds builder class following the module's contract.
    data_dir: tfds data directory; prepared data there is reused as is.
    manual_dir: optional directory with source files (see the builder).
    verify_checksums: False turns checksum mismatches into warnings.

  Returns:
    The dataset, users and items in natural id order.
  """
  _check_manual_dir(builder_cls, manual_dir)
  builders = {
      config: prepared_builder(builder_cls, config, data_dir, manual_dir,
                               verify_checksums)
      for config in ("items", "interactions")
  }
  item_ids, titles, genres, years = _item_table(
      _read_examples(builders["items"]))
  item_index = {item_id: index for index, item_id in enumerate(item_ids)}
  user_ids, user_items, user_timestamps = _user_table(
      _read_examples(builders["interactions"]), item_index)
  data = InteractionData(
      item_ids=item_ids, titles=titles, genres=genres, years=years,
      user_ids=user_ids, user_items=user_items,
      user_timestamps=user_timestamps)
  log_stats(builder_cls.name, data)
  return data


def load_movielens_100k(data_dir: str, manual_dir: str | None = None,
                        verify_checksums: bool = True) -> InteractionData:
  """MovieLens-100K (943 users, 1,682 items, 100,000 interactions)."""
  return load_interactions(movielens_100k.MovieLens100K, data_dir,
                           manual_dir=manual_dir,
                           verify_checksums=verify_checksums)
