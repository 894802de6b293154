"""Amazon product reviews 2014 (McAuley et al.), the TIGER paper's datasets.

Subsets `beauty`, `sports` and `toys` (categories "Beauty", "Sports and
Outdoors", "Toys and Games"), each with configs `<subset>_interactions` and
`<subset>_items` (see `interactions_builder`). Per category, two files from
the 2014 product graph (http://jmcauley.ucsd.edu/data/amazon/index_2014.html):

* `reviews_<Category>_5.json.gz`: the 5-core reviews, one JSON object per line;
  used fields `reviewerID` (user), `asin` (item), `overall` (rating 1-5) and
  `unixReviewTime` (seconds; many ties, which keep file order);
* `meta_<Category>.json.gz`: product metadata, one *Python literal* dict per
  line (single quotes), parsed with `ast.literal_eval`, never `eval`; used
  fields `asin`, `title`, `price`, `brand` and `categories` (a list of
  category paths), the item text TIGER builds its sentence from.

The items are the products of the reviews file. Categories become `genres`
(all paths flattened, duplicates removed, order kept), the year is 0; HTML
entities in the text ("&amp;") are unescaped. A product with no metadata line
is kept with empty text, and counted and logged. Metadata lines of products
outside the reviews file are skipped after reading their `asin` (not parsed).
Duplicate (user, item) reviews are kept, as RecBole, S3-Rec and P5 keep them.

Checks. The files have no published checksums: a file without a registered
sha256 gets it logged, and recorded in `checksums/amazon_reviews_2014.tsv`
with `--config.data.register_checksums=True` (downloads and hand-placed files
alike); later runs verify it. The *content* is always verified: after the
5-core filter (users and items with >= 5 reviews, repeated until stable) the
reviews must reproduce `STATS`, the statistics of the data TIGER, P5 and
S3-Rec use (these files are already 5-core, so the filter removes nothing).
With `verify_checksums=False` (tiny test fixtures) mismatches are warnings.
"""

from __future__ import annotations

from collections.abc import Iterator
import dataclasses
import html
import math
import os
import re
from typing import Any

from absl import logging
from etils import epath
import numpy as np
import tensorflow_datasets as tfds

from jaxrec.data import checks
from jaxrec.data import interactions_builder
from jaxrec.data import kcore
from jaxrec.data import parsing

BASE_URL = "http://snap.stanford.edu/data/amazon/productGraph/categoryFiles/"
CORE = 5  # The reviews files are the 5-core of each category.


@dataclasses.dataclass(frozen=True)
class Category:
  """One subset: its file-name stem and published 5-core statistics."""
  file_stem: str
  description: str
  stats: checks.DatasetStats

  @property
  def reviews_file(self) -> str:
    return f"reviews_{self.file_stem}_5.json.gz"

  @property
  def meta_file(self) -> str:
    return f"meta_{self.file_stem}.json.gz"

  @property
  def reviews_url(self) -> str:
    return BASE_URL + self.reviews_file

  @property
  def meta_url(self) -> str:
    return BASE_URL + self.meta_file


# Statistics after the 5-core filter: TIGER (Rajput et al., 2023, Table 6
# in the appendix) gives users and items; P5 (Geng et al., 2022, Table 1) and
# S3-Rec (Zhou et al., 2020, Table 1) give the same with interactions.
CATEGORIES = {
    "beauty": Category("Beauty", "Amazon 2014 Beauty",
                       checks.DatasetStats(22_363, 12_101, 198_502)),
    "sports": Category("Sports_and_Outdoors", "Amazon 2014 Sports and Outdoors",
                       checks.DatasetStats(35_598, 18_357, 296_337)),
    "toys": Category("Toys_and_Games", "Amazon 2014 Toys and Games",
                     checks.DatasetStats(19_412, 11_924, 167_597)),
}

# The asin at the start of a metadata line, to skip other products cheaply.
_LEADING_ASIN = re.compile(
    r"""^\s*\{\s*(['"])asin\1\s*:\s*(['"])([^'"\\]*)\2""")


# ----------------------------------------------------------------- reviews --


def _review_row(name: str, line_number: int, line: str
               ) -> tuple[str, str, float, int]:
  """(user, item, rating, timestamp) of one review line."""
  record = parsing.parse_json_record(name, line_number, line)
  user = parsing.record_str(name, line_number, record, "reviewerID")
  item = parsing.record_str(name, line_number, record, "asin")
  missing = [key for key in ("overall", "unixReviewTime")
             if key not in record]
  if missing:
    raise parsing.DataFormatError(
        f"{name} line {line_number}: missing field(s) {missing}")
  rating = parsing.parse_rating(name, line_number, record["overall"])
  timestamp = parsing.parse_timestamp(name, line_number,
                                      record["unixReviewTime"])
  return user, item, rating, timestamp


def parse_reviews(path: epath.Path) -> dict[str, list]:
  """Columns `users`, `items`, `ratings`, `timestamps` in file order."""
  name = os.fspath(path)
  users, items, ratings, timestamps = [], [], [], []
  for line_number, line in parsing.text_lines(path):
    user, item, rating, timestamp = _review_row(name, line_number, line)
    users.append(user)
    items.append(item)
    ratings.append(rating)
    timestamps.append(timestamp)
  if not users:
    raise parsing.DataFormatError(f"{name}: no reviews")
  return dict(users=users, items=items, ratings=ratings, timestamps=timestamps)


def core_stats(columns: dict[str, list], core: int = CORE
              ) -> checks.DatasetStats:
  """Statistics of the reviews after the iterative `core`-core filter."""
  _, user_index = np.unique(np.asarray(columns["users"]), return_inverse=True)
  _, item_index = np.unique(np.asarray(columns["items"]), return_inverse=True)
  keep = kcore.kcore(user_index, item_index, core, core).keep
  return checks.DatasetStats(len(np.unique(user_index[keep])),
                             len(np.unique(item_index[keep])),
                             int(keep.sum()))


# ---------------------------------------------------------------- metadata --


def _optional_text(name: str, line_number: int, record: dict[str, Any],
                   key: str) -> str:
  value = record.get(key)
  if value is None:
    return ""
  if not isinstance(value, str):
    raise parsing.DataFormatError(
        f"{name} line {line_number}: field {key!r} is not a string: "
        f"{value!r:.80}")
  return html.unescape(value).strip()


def _price(name: str, line_number: int, record: dict[str, Any]) -> float:
  value = record.get("price")
  if value is None:
    return math.nan
  if isinstance(value, bool) or not isinstance(value, (int, float)) or (
      not math.isfinite(value) or value < 0):
    raise parsing.DataFormatError(
        f"{name} line {line_number}: field 'price' is not a non-negative "
        f"number: {value!r:.80}")
  return float(value)


def _categories(name: str, line_number: int, record: dict[str, Any]
               ) -> tuple[str, ...]:
  """All category names of all paths, duplicates removed, order kept."""
  paths = record.get("categories", [])
  if not isinstance(paths, (list, tuple)) or not all(
      isinstance(path, (list, tuple)) and
      all(isinstance(category, str) for category in path) for path in paths):
    raise parsing.DataFormatError(
        f"{name} line {line_number}: field 'categories' is not a list of "
        f"lists of strings: {paths!r:.80}")
  names = (html.unescape(category).strip() for path in paths
           for category in path)
  return tuple(dict.fromkeys(category for category in names if category))


def _meta_item(name: str, line_number: int, asin: str,
               record: dict[str, Any]) -> interactions_builder.Item:
  return interactions_builder.Item(
      item_id=asin,
      title=_optional_text(name, line_number, record, "title"),
      genres=_categories(name, line_number, record),
      year=0,
      brand=_optional_text(name, line_number, record, "brand"),
      price=_price(name, line_number, record))


def _wanted_records(path: epath.Path, wanted: set[str]
                   ) -> Iterator[tuple[int, str, dict[str, Any]]]:
  """(line number, asin, record) of the metadata lines of `wanted` items."""
  name = os.fspath(path)
  for line_number, line in parsing.text_lines(path):
    match = _LEADING_ASIN.match(line)
    if match is not None and match.group(3) not in wanted:
      continue
    record = parsing.parse_literal_record(name, line_number, line)
    asin = parsing.record_str(name, line_number, record, "asin")
    if asin in wanted:
      yield line_number, asin, record


def parse_metadata(path: epath.Path, item_ids: list[str]
                  ) -> list[interactions_builder.Item]:
  """One item per id of `item_ids` (in that order), metadata or not.

  A product listed twice keeps its first line (the others are counted).
  """
  name = os.fspath(path)
  found, repeated = {}, 0
  for line_number, asin, record in _wanted_records(path, set(item_ids)):
    if asin in found:
      repeated += 1
      continue
    found[asin] = _meta_item(name, line_number, asin, record)
  missing = [item_id for item_id in item_ids if item_id not in found]
  if repeated:
    logging.warning("%s: %d repeated metadata line(s) ignored (first kept).",
                    name, repeated)
  if missing:
    logging.warning(
        "%s: %d of %d item(s) have no metadata; kept with empty text "
        "(e.g. %s).", name, len(missing), len(item_ids), missing[:5])
  return [found.get(item_id, interactions_builder.Item(item_id, "", (), 0))
          for item_id in item_ids]


# ----------------------------------------------------------------- sources --


def _manual_path(manual_dir: epath.Path, file_name: str) -> epath.Path:
  """`file_name` (gzip) or the same without ".gz" (uncompressed)."""
  names = (file_name, file_name.removesuffix(".gz"))
  path = interactions_builder.find_manual_file(manual_dir, names)
  if path is None:
    raise FileNotFoundError(
        f"manual_dir {manual_dir} lacks {file_name} (or {names[1]}). "
        + AmazonReviews2014.MANUAL_DOWNLOAD_INSTRUCTIONS)
  return path


class AmazonReviews2014(interactions_builder.InteractionsBuilder):
  """Amazon reviews 2014 (5-core) with product metadata."""

  name = "amazon_reviews_2014"
  SUBSETS = tuple(CATEGORIES)
  BUILDER_CONFIGS = interactions_builder.subset_configs(
      {subset: category.description
       for subset, category in CATEGORIES.items()})
  EXTRA_ITEM_FEATURES = ("brand", "price")
  HOMEPAGE = "http://jmcauley.ucsd.edu/data/amazon/index_2014.html"
  MANUAL_DOWNLOAD_INSTRUCTIONS = (
      "Optional (else the files are downloaded from " + BASE_URL + "). Place "
      "the subset's two files in manual_dir, gzip-compressed as published or "
      "uncompressed without '.gz': " + "; ".join(
          f"{subset}: {category.reviews_file} + {category.meta_file}"
          for subset, category in CATEGORIES.items()) + ".")

  @property
  def category(self) -> Category:
    return CATEGORIES[self.subset]

  def _source_paths(self, dl_manager: tfds.download.DownloadManager
                   ) -> dict[str, epath.Path]:
    """{url: path} of the files this config needs."""
    category = self.category
    urls = [category.reviews_url]
    if self.kind == interactions_builder.ITEMS:
      urls.append(category.meta_url)
    manual_dir = interactions_builder.manual_dir_or_none(dl_manager)
    if manual_dir is not None:
      paths = {url: _manual_path(manual_dir, url.rsplit("/", 1)[-1])
               for url in urls}
    else:
      paths = interactions_builder.download_or_none(
          dl_manager, {url: url for url in urls})
      if paths is None:
        raise FileNotFoundError(
            f"Cannot download {urls}. " + self.MANUAL_DOWNLOAD_INSTRUCTIONS)
    interactions_builder.verify_source_files(type(self), dl_manager, paths,
                                             self._verify_checksums)
    return paths

  def _load_source(self, dl_manager: tfds.download.DownloadManager
                  ) -> interactions_builder.ParsedData:
    category = self.category
    paths = self._source_paths(dl_manager)
    reviews_path = paths[category.reviews_url]
    columns = parse_reviews(reviews_path)
    source = os.fspath(reviews_path)
    item_table = []
    if self.kind == interactions_builder.ITEMS:
      item_ids = list(dict.fromkeys(columns["items"]))
      item_table = parse_metadata(paths[category.meta_url], item_ids)
    else:
      checks.check_stats(f"{category.description} from {source} after the "
                         f"{CORE}-core filter", core_stats(columns),
                         category.stats, self._verify_checksums)
    return interactions_builder.ParsedData(source=source,
                                           item_table=item_table, **columns)
