"""Any dataset in RecBole's atomic-file format, as a tfds builder.

Registry name `recbole_atomic/<dataset>`: the files are taken from
`manual_dir` (there is nothing to download), either directly or in a
`<dataset>/` subfolder, as RecBole lays them out:

* `<dataset>.inter` (required): columns `user_id` and `item_id`, optionally
  `rating` (default 1.0: implicit feedback) and `timestamp` (default 0: the
  file order is the time order);
* `<dataset>.item` (optional): `item_id` and text fields, mapped to the item
  features by the first present column of each `ITEM_COLUMNS` entry
  (`token_seq` fields are space-separated, as in RecBole).

The configs are `<dataset>_interactions` and `<dataset>_items` (created on the
fly, so that datasets sharing a tfds data_dir do not collide). Items of the
`.inter` file without a `.item` row are kept with empty text, counted and
logged; `.item` rows of items without interactions are dropped by the loader.
Duplicate rows are kept, as RecBole does. Bad input raises `DataFormatError`
naming file and line. No checksum is known for arbitrary files, so none is
checked.
"""

from __future__ import annotations

import math
import os
import re

from absl import logging
from etils import epath
import tensorflow_datasets as tfds

from jaxrec.data import atomic_files
from jaxrec.data import interactions_builder
from jaxrec.data import parsing

# Item feature -> candidate `.item` columns, the first present one is used.
ITEM_COLUMNS = {
    "title": ("title", "movie_title", "item_name", "name", "book_title",
              "track_name"),
    "genres": ("categories", "genres", "genre", "class", "category"),
    "year": ("release_year", "year"),
    "brand": ("brand",),
    "price": ("price",),
}
_DATASET_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.\-]*(_[A-Za-z0-9.\-]+)*$")
_YEAR = re.compile(r"^\d{4}$")


def check_dataset_name(name: str | None) -> None:
  """Letters, digits, '.', '-' and single '_' between them."""
  if name is None or not _DATASET_NAME.match(name):
    raise ValueError(
        f"recbole_atomic needs a dataset name (the files' prefix, e.g. "
        f"'recbole_atomic/ml-100k'), made of letters, digits, '.', '-' and "
        f"'_'; got {name!r}")


# ----------------------------------------------------------------- parsing --


def parse_inter(file: parsing.SourceFile) -> dict[str, list]:
  """Columns `users`, `items`, `ratings`, `timestamps` of a `.inter` file."""
  header, rows = atomic_files.rows(file, ("user_id", "item_id"))
  positions = header.positions
  users, items, ratings, timestamps = [], [], [], []
  for line_number, fields in rows:
    users.append(parsing.parse_id(file, line_number, "user_id",
                                  fields[positions["user_id"]]))
    items.append(parsing.parse_id(file, line_number, "item_id",
                                  fields[positions["item_id"]]))
    ratings.append(parsing.parse_rating(
        file, line_number, fields[positions["rating"]])
                   if header.has("rating") else 1.0)
    timestamps.append(parsing.parse_timestamp(
        file, line_number, fields[positions["timestamp"]])
                      if header.has("timestamp") else 0)
  if not users:
    raise parsing.DataFormatError(f"{file.name}: no interactions")
  return dict(users=users, items=items, ratings=ratings, timestamps=timestamps)


def _column(header: atomic_files.Header, feature: str) -> str | None:
  return next((name for name in ITEM_COLUMNS[feature] if header.has(name)),
              None)


def _values(header: atomic_files.Header, column: str | None,
            value: str) -> list[str]:
  """The value of a field as a list (split if the column is a sequence)."""
  if column is None or not value.strip():
    return []
  if header.types[column] in ("token_seq", "float_seq"):
    return atomic_files.sequence(value)
  return [value.strip()]


def _item(file: parsing.SourceFile, line_number: int, fields: list[str],
          header: atomic_files.Header) -> interactions_builder.Item:
  """One `.item` row as an Item."""
  def field(feature: str) -> tuple[str | None, str]:
    column = _column(header, feature)
    return column, "" if column is None else fields[header.positions[column]]

  item_id = parsing.parse_id(file, line_number, "item_id",
                             fields[header.positions["item_id"]])
  title_column, title = field("title")
  _, year = field("year")
  _, brand = field("brand")
  _, price = field("price")
  return interactions_builder.Item(
      item_id=item_id,
      title=" ".join(_values(header, title_column, title)),
      genres=tuple(_values(header, *field("genres"))),
      year=int(year) if _YEAR.match(year.strip()) else 0,
      brand=brand.strip(),
      price=(parsing.parse_number(file, line_number, "price", price)
             if price.strip() else math.nan))


def parse_item(file: parsing.SourceFile) -> list[interactions_builder.Item]:
  """The rows of a `.item` file, in file order."""
  header, rows = atomic_files.rows(file, ("item_id",))
  items, seen = [], set()
  for line_number, fields in rows:
    item = _item(file, line_number, fields, header)
    parsing.check_unique_item(file, line_number, item.item_id, seen)
    items.append(item)
  return items


def item_table(item_ids: list[str], items: list[interactions_builder.Item],
               source: str) -> list[interactions_builder.Item]:
  """`items` in `.item` order, plus the `item_ids` it lacks (empty text)."""
  known = {item.item_id for item in items}
  missing = [item_id for item_id in dict.fromkeys(item_ids)
             if item_id not in known]
  if missing:
    logging.warning("%s: %d item(s) of the .inter file have no .item row; "
                    "kept with empty text (e.g. %s).", source, len(missing),
                    missing[:5])
  return items + [interactions_builder.Item(item_id, "", (), 0)
                  for item_id in missing]


# ----------------------------------------------------------------- builder --


def _find(manual_dir: epath.Path, dataset: str, suffix: str
         ) -> epath.Path | None:
  name = dataset + suffix
  return interactions_builder.find_manual_file(
      manual_dir, (name, f"{dataset}/{name}"))


class RecBoleAtomic(interactions_builder.InteractionsBuilder):
  """A dataset in RecBole's atomic-file format (.inter, optional .item)."""

  name = "recbole_atomic"
  EXTRA_ITEM_FEATURES = ("brand", "price")
  HOMEPAGE = "https://recbole.io/docs/user_guide/data/atomic_files.html"
  MANUAL_DOWNLOAD_INSTRUCTIONS = (
      "Required. Place <dataset>.inter (and optionally <dataset>.item) in "
      "manual_dir or in manual_dir/<dataset>/, where <dataset> is the name "
      "after 'recbole_atomic/' in config.data.name.")

  @classmethod
  def configs_for(cls, subset: str | None
                 ) -> dict[str, tfds.core.BuilderConfig]:
    """Configs `<dataset>_interactions` and `<dataset>_items`."""
    check_dataset_name(subset)
    return {
        kind: tfds.core.BuilderConfig(
            name=interactions_builder.config_name(subset, kind),
            description=f"RecBole atomic files {subset}: {kind}.")
        for kind in interactions_builder.KINDS
    }

  @classmethod
  def check_subset(cls, subset: str | None) -> None:
    check_dataset_name(subset)

  def _load_source(self, dl_manager: tfds.download.DownloadManager
                  ) -> interactions_builder.ParsedData:
    dataset = self.subset
    manual_dir = interactions_builder.manual_dir_or_none(dl_manager)
    inter_path = None if manual_dir is None else _find(manual_dir, dataset,
                                                       ".inter")
    if inter_path is None:
      raise FileNotFoundError(
          f"No {dataset}.inter in manual_dir {manual_dir}. "
          + self.MANUAL_DOWNLOAD_INSTRUCTIONS)
    columns = parse_inter(parsing.read_file(inter_path))
    items = []
    if self.kind == interactions_builder.ITEMS:
      item_path = _find(manual_dir, dataset, ".item")
      if item_path is None:
        logging.warning("No %s.item in %s: items get empty text.", dataset,
                        manual_dir)
      else:
        items = parse_item(parsing.read_file(item_path))
      items = item_table(columns["items"], items, os.fspath(inter_path))
    return interactions_builder.ParsedData(
        source=os.fspath(inter_path), item_table=items, **columns)
