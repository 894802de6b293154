"""The tfds builder contract shared by every dataset in `jaxrec.data`.

A builder has, per data subset (e.g. Amazon's `beauty`; none for MovieLens),
two configs, each with a single `train` split, written as array_record files:

* `[<subset>_]interactions`: one example per user (key: user id) with the
  user's `item_ids`, `timestamps` and `ratings` in file order (the split sorts
  them stably later, so timestamp ties keep file order). Duplicate
  (user, item) rows are kept, as RecBole does.
* `[<subset>_]items`: one example per item with `item_id`, `title`, `genres`
  (categories for Amazon), `year` (0 when unknown) and the builder's
  `EXTRA_ITEM_FEATURES` (`brand`: "" when unknown; `price`: NaN when unknown).

`jaxrec.data.dataset.load_interactions` reads any builder that follows this
contract. Source files are found in `manual_dir` first (machines without
internet), else downloaded; checksums are registered per builder in
`checksums/<builder name>.tsv` (tfds format: url, size, sha256, file name).
"""

from __future__ import annotations

import abc
import collections
from collections.abc import Callable, Iterator, Mapping
import dataclasses
import math
import os
from typing import Any

from absl import logging
from etils import epath
import numpy as np
import requests
import tensorflow_datasets as tfds
from tensorflow_datasets.core import utils as tfds_utils

from jaxrec.data import checks
from jaxrec.data import parsing

INTERACTIONS = "interactions"
ITEMS = "items"
KINDS = (INTERACTIONS, ITEMS)

# Optional item features, by name: (tfds feature, value when unknown).
_EXTRA_FEATURES = {
    "brand": (tfds.features.Text, ""),
    "price": (np.float32, math.nan),
}


@dataclasses.dataclass(frozen=True)
class Item:
  """One item's metadata; year 0, brand "" and price NaN when unknown."""
  item_id: str
  title: str
  genres: tuple[str, ...]
  year: int
  brand: str = ""
  price: float = math.nan


@dataclasses.dataclass(frozen=True)
class ParsedData:
  """Interactions (columns, file order) and items (item file order)."""
  source: str
  users: list[str]
  items: list[str]
  ratings: list[float]
  timestamps: list[int]
  item_table: list[Item]

  @property
  def num_interactions(self) -> int:
    return len(self.users)

  @property
  def num_users(self) -> int:
    return len(set(self.users))

  def stats(self) -> checks.DatasetStats:
    """Users, items with interactions, interactions."""
    return checks.DatasetStats(self.num_users, len(set(self.items)),
                               self.num_interactions)


def config_name(subset: str | None, kind: str) -> str:
  """`kind` for datasets without subsets, else `<subset>_<kind>`."""
  return kind if subset is None else f"{subset}_{kind}"


def subset_configs(subsets: Mapping[str, str]
                  ) -> list[tfds.core.BuilderConfig]:
  """The interactions and items configs of each subset (name: description)."""
  return [
      tfds.core.BuilderConfig(name=config_name(subset, kind),
                              description=f"{description}: {kind}.")
      for subset, description in subsets.items() for kind in KINDS
  ]


class InteractionsBuilder(tfds.core.GeneratorBasedBuilder, abc.ABC):
  """Base of the builders: features, examples, checksums, subsets."""

  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "Initial release."}
  # Data subsets (configs `<subset>_interactions`, ...); empty: none.
  SUBSETS: tuple[str, ...] = ()
  # Item features beyond item_id, title, genres, year (keys of
  # `_EXTRA_FEATURES`).
  EXTRA_ITEM_FEATURES: tuple[str, ...] = ()
  HOMEPAGE = ""

  def __init__(self, *, verify_checksums: bool = True, **kwargs: Any):
    """Creates the builder.

    Args:
      verify_checksums: False turns this package's checksum and statistics
        mismatches into warnings (for tiny test fixtures). The tfds download
        manager still rejects a download whose registered checksum differs.
      **kwargs: for `tfds.core.GeneratorBasedBuilder` (`config`, `data_dir`,
        ...); `file_format` defaults to array_record.
    """
    kwargs.setdefault("file_format", "array_record")
    super().__init__(**kwargs)
    self._verify_checksums = verify_checksums

  # ----------------------------------------------------------- configs --

  @classmethod
  def configs_for(cls, subset: str | None
                 ) -> dict[str, str | tfds.core.BuilderConfig]:
    """The config (name or object) of each kind, for `subset`.

    Raises:
      ValueError: `subset` is not one of `SUBSETS` (or given where the
        builder has none).
    """
    cls.check_subset(subset)
    return {kind: config_name(subset, kind) for kind in KINDS}

  @classmethod
  def check_subset(cls, subset: str | None) -> None:
    if cls.SUBSETS and subset not in cls.SUBSETS:
      raise ValueError(f"{cls.name} needs a subset, one of {list(cls.SUBSETS)}"
                       f"; got {subset!r}")
    if not cls.SUBSETS and subset is not None:
      raise ValueError(f"{cls.name} has no subsets; got {subset!r}")

  @property
  def kind(self) -> str:
    """`interactions` or `items`."""
    return self.builder_config.name.rsplit("_", 1)[-1]

  @property
  def subset(self) -> str | None:
    """The subset of this config (None for builders without subsets)."""
    name = self.builder_config.name
    return None if name in KINDS else name.rsplit("_", 1)[0]

  # ---------------------------------------------------------- checksums --

  @tfds_utils.classproperty
  @classmethod
  def _checksums_path(cls) -> epath.Path:
    """Registered URL checksums, one file per builder under `checksums/`.

    Overrides tfds's default (`checksums.tsv` beside the module, shared by
    every builder in `jaxrec/data`); tfds reads it into `url_infos`, which
    the download manager verifies downloads against, and writes to it with
    `DownloadConfig(register_checksums=True)`.
    """
    return epath.Path(__file__).parent / "checksums" / f"{cls.name}.tsv"

  @classmethod
  def checksums_file(cls) -> epath.Path:
    """Where this builder's URL checksums are registered."""
    return cls._checksums_path

  # ------------------------------------------------------ tfds methods --

  def _info(self) -> tfds.core.DatasetInfo:
    if self.kind == INTERACTIONS:
      features = {
          "user_id": tfds.features.Text(),
          "item_ids": tfds.features.Sequence(tfds.features.Text()),
          "timestamps": tfds.features.Sequence(np.int64),
          "ratings": tfds.features.Sequence(np.float32),
      }
    else:
      features = {
          "item_id": tfds.features.Text(),
          "title": tfds.features.Text(),
          "genres": tfds.features.Sequence(tfds.features.Text()),
          "year": np.int32,
      }
      for name in self.EXTRA_ITEM_FEATURES:
        feature, _ = _EXTRA_FEATURES[name]
        features[name] = (feature() if feature is tfds.features.Text
                          else feature)
    return tfds.core.DatasetInfo(
        builder=self, description=self.__doc__.split("\n", 1)[0],
        features=tfds.features.FeaturesDict(features),
        homepage=self.HOMEPAGE)

  @abc.abstractmethod
  def _load_source(self, dl_manager: tfds.download.DownloadManager
                  ) -> ParsedData:
    """Parses the source files this config needs.

    An `items` config needs `item_table`; an `interactions` config the
    interaction columns (it may leave `item_table` empty).
    """

  def _split_generators(self, dl_manager: tfds.download.DownloadManager):
    return {"train": self._generate_examples(self._load_source(dl_manager))}

  def _generate_examples(self, parsed: ParsedData):
    if self.kind == INTERACTIONS:
      yield from user_examples(parsed)
    else:
      yield from item_examples(parsed, self.EXTRA_ITEM_FEATURES)


def user_examples(parsed: ParsedData) -> Iterator[tuple[str, dict]]:
  """One example per user, rows in file order, users by first appearance."""
  rows_of_user = collections.defaultdict(list)
  for row, user in enumerate(parsed.users):
    rows_of_user[user].append(row)
  for user, rows in rows_of_user.items():
    yield user, {
        "user_id": user,
        "item_ids": [parsed.items[row] for row in rows],
        "timestamps": np.asarray(
            [parsed.timestamps[row] for row in rows], np.int64),
        "ratings": np.asarray(
            [parsed.ratings[row] for row in rows], np.float32),
    }


def item_examples(parsed: ParsedData, extra_features: tuple[str, ...] = ()
                 ) -> Iterator[tuple[str, dict]]:
  """One example per item of the item table."""
  for item in parsed.item_table:
    example = {
        "item_id": item.item_id,
        "title": item.title,
        "genres": list(item.genres),
        "year": np.int32(item.year),
    }
    for name in extra_features:
      value = getattr(item, name)
      example[name] = np.float32(value) if name == "price" else value
    yield item.item_id, example


# ------------------------------------------------------ sources, download --


def manual_dir_or_none(dl_manager: tfds.download.DownloadManager
                      ) -> epath.Path | None:
  """The manual_dir given to tfds, or None (tfds asserts when absent)."""
  try:
    manual_dir = dl_manager.manual_dir
  except AssertionError:  # tfds: manual_dir missing or empty.
    return None
  return None if manual_dir is None else epath.Path(manual_dir)


def find_manual_file(manual_dir: epath.Path, names: tuple[str, ...]
                    ) -> epath.Path | None:
  """The first of `names` (relative paths) present in `manual_dir`."""
  for name in names:
    if (manual_dir / name).exists():
      return manual_dir / name
  return None


def download_or_none(dl_manager: tfds.download.DownloadManager,
                     urls: Mapping[str, str],
                     reachable: Callable[[str], bool] = parsing.host_reachable
                    ) -> dict[str, epath.Path] | None:
  """Downloads `urls` ({key: url}) through tfds; None if unreachable.

  The download manager verifies each download against the registered
  checksums (and records them with `register_checksums`).
  """
  for url in urls.values():
    if not reachable(url):
      logging.warning("Cannot reach %s.", url)
      return None
  try:
    paths = dl_manager.download(dict(urls))
  except (requests.exceptions.RequestException, OSError,
          tfds.download.DownloadError) as err:
    logging.warning("Download of %s failed: %s", list(urls.values()), err)
    return None
  return {key: epath.Path(path) for key, path in paths.items()}


def verify_source_files(builder_cls: type[InteractionsBuilder],
                        dl_manager: tfds.download.DownloadManager,
                        files: Mapping[str, epath.Path],
                        verify: bool) -> None:
  """Checks source files ({url: path}) against registered checksums.

  For files placed by hand, and for downloads (which tfds already checked):
  a file whose url has no registered sha256 gets it logged as a warning, and
  with `DownloadConfig(register_checksums=True)` recorded in the builder's
  checksums file, so that later runs verify it.
  """
  known = builder_cls.url_infos or {}
  recorded = {}
  for url, path in files.items():
    info = tfds.download.checksums.compute_url_info(path)
    if url in known:
      checks.compare_sha256(os.fspath(path), info.checksum,
                            known[url].checksum, verify)
      continue
    recorded[url] = dataclasses.replace(info, filename=url.rsplit("/", 1)[-1])
    if not dl_manager.register_checksums:
      logging.warning(
          "%s: sha256 %s, size %d: no registered checksum for %s; run once "
          "with --config.data.register_checksums=True to record it in %s.",
          path, info.checksum, info.size, url, builder_cls.checksums_file())
  if recorded and dl_manager.register_checksums:
    tfds.download.checksums.save_url_infos(builder_cls.checksums_file(),
                                           recorded)
    logging.info("Recorded the sha256 of %s in %s.", sorted(recorded),
                 builder_cls.checksums_file())
