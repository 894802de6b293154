"""MovieLens-1M as a tfds builder, written as array_record files.

Configs `interactions` and `items` (see `interactions_builder`). The GroupLens
archive `ml-1m.zip` holds, under `ml-1m/`:

* `ratings.dat`: "UserID::MovieID::Rating::Timestamp" lines (1,000,209 of
  them, from 6,040 users on 3,706 movies);
* `movies.dat`: "MovieID::Title::Genres" lines in Latin-1 (3,883 movies,
  genres "|"-separated, the year in the title: "Toy Story (1995)");
* `users.dat` (demographics, not used).

Sources, tried in this order:

1. `manual_dir`, holding one of `ACCEPTED_MANUAL_FILES`.
2. The GroupLens archive through the tfds download manager, verified against
   `checksums/movielens_1m.tsv` (the sha256 that tfds's own `movielens`
   builder registers for this URL).

Checks: `ml-1m.zip` (manual or downloaded) must have the registered sha256;
every source must reproduce `STATS` (users, movies with ratings, ratings).
With `verify_checksums=False` (tiny test fixtures) mismatches are warnings.
The items config holds every movie of `movies.dat`; the loader keeps those
with ratings (3,706). Bad input raises `DataFormatError` naming file and line.
"""

from __future__ import annotations

import os

from absl import logging
from etils import epath
import tensorflow_datasets as tfds

from jaxrec.data import checks
from jaxrec.data import interactions_builder
from jaxrec.data import parsing

GROUPLENS_URL = "https://files.grouplens.org/datasets/movielens/ml-1m.zip"
# What the real data must give (GroupLens README of ml-1m).
STATS = checks.DatasetStats(num_users=6_040, num_items=3_706,
                            num_interactions=1_000_209)
_SEPARATOR = "::"
_ZIP_DIR = "ml-1m/"
_DATA_FILES = ("ratings.dat", "movies.dat")

# Accepted `manual_dir` contents, tried in this order.
_MANUAL_ZIP = "ml-1m.zip"
_MANUAL_EXTRACTED = (("ratings.dat", "movies.dat"),
                     ("ml-1m/ratings.dat", "ml-1m/movies.dat"))
ACCEPTED_MANUAL_FILES = (
    "ml-1m.zip",
    "ratings.dat + movies.dat",
    "ml-1m/ratings.dat + ml-1m/movies.dat",
)


def parse_ratings(file: parsing.SourceFile,
                  known_items: set[str]) -> dict[str, list]:
  """Parses `ratings.dat`: "UserID::MovieID::Rating::Timestamp" lines."""
  rows = parsing.split_lines(
      file, parsing.lines(parsing.decode(file, "utf-8")), _SEPARATOR, 4)
  return parsing.parse_ratings_rows(file, rows, (0, 1, 2, 3), known_items)


def parse_movies(file: parsing.SourceFile) -> list[interactions_builder.Item]:
  """Parses `movies.dat` (Latin-1): "MovieID::Title (Year)::Genre|Genre"."""
  rows = parsing.split_lines(
      file, parsing.lines(parsing.decode(file, "latin-1")), _SEPARATOR, 3)
  items, seen = [], set()
  for line_number, (item_id, raw_title, genres) in rows:
    item_id = parsing.parse_id(file, line_number, "MovieID", item_id)
    parsing.check_unique_item(file, line_number, item_id, seen)
    title, year = parsing.split_title_year(raw_title)
    items.append(interactions_builder.Item(
        item_id, title, tuple(g for g in genres.split("|") if g), year or 0))
  return items


def parse_source(source: str, ratings_file: parsing.SourceFile,
                 movies_file: parsing.SourceFile
                ) -> interactions_builder.ParsedData:
  """Parses `movies.dat`, then `ratings.dat` (checking its movie ids)."""
  item_table = parse_movies(movies_file)
  if not item_table:
    raise parsing.DataFormatError(f"{movies_file.name}: no movies")
  columns = parse_ratings(ratings_file,
                          {item.item_id for item in item_table})
  if not columns["users"]:
    raise parsing.DataFormatError(f"{ratings_file.name}: no ratings")
  return interactions_builder.ParsedData(source=source, item_table=item_table,
                                         **columns)


def _read_zip(path: epath.Path) -> list[parsing.SourceFile]:
  """[ratings.dat, movies.dat] from the archive's `ml-1m/` folder."""
  return parsing.read_zip_members(
      path, [_ZIP_DIR + name for name in _DATA_FILES])


def _manual_files(manual_dir: epath.Path
                 ) -> tuple[epath.Path | None, list[parsing.SourceFile]]:
  """(the archive if that is the source, [ratings.dat, movies.dat])."""
  zip_path = manual_dir / _MANUAL_ZIP
  if zip_path.exists():
    return zip_path, _read_zip(zip_path)
  for names in _MANUAL_EXTRACTED:
    if (manual_dir / names[0]).exists():
      return None, [parsing.read_file(manual_dir / name) for name in names]
  raise FileNotFoundError(
      f"No MovieLens-1M files in manual_dir {manual_dir}. Accepted: "
      + "; ".join(ACCEPTED_MANUAL_FILES))


class MovieLens1M(interactions_builder.InteractionsBuilder):
  """MovieLens-1M: per-user rating lists and movie metadata."""

  name = "movielens_1m"
  BUILDER_CONFIGS = [
      tfds.core.BuilderConfig(
          name=interactions_builder.INTERACTIONS,
          description="One example per user: movies, timestamps, ratings "
          "in file order."),
      tfds.core.BuilderConfig(
          name=interactions_builder.ITEMS,
          description="One example per movie: title, genres, year."),
  ]
  MANUAL_DOWNLOAD_INSTRUCTIONS = (
      f"Optional (else {GROUPLENS_URL} is downloaded). Place one of these in "
      "manual_dir: " + "; ".join(ACCEPTED_MANUAL_FILES) + ".")
  HOMEPAGE = "https://grouplens.org/datasets/movielens/1m/"

  def _load_source(self, dl_manager: tfds.download.DownloadManager
                  ) -> interactions_builder.ParsedData:
    verify = self._verify_checksums
    manual_dir = interactions_builder.manual_dir_or_none(dl_manager)
    if manual_dir is not None:
      zip_path, files = _manual_files(manual_dir)
      if zip_path is not None:
        interactions_builder.verify_source_files(
            type(self), dl_manager, {GROUPLENS_URL: zip_path}, verify)
    else:
      zip_path = self._download(dl_manager)
      files = _read_zip(zip_path)
    parsed = parse_source(os.fspath(zip_path or files[0].name), *files)
    checks.check_stats(f"MovieLens-1M from {parsed.source}", parsed.stats(),
                       STATS, verify)
    logging.info("MovieLens-1M: %d movies in %s.", len(parsed.item_table),
                 files[1].name)
    return parsed

  def _download(self, dl_manager: tfds.download.DownloadManager
               ) -> epath.Path:
    paths = interactions_builder.download_or_none(
        dl_manager, {"zip": GROUPLENS_URL})
    if paths is None:
      raise FileNotFoundError(
          f"Cannot download {GROUPLENS_URL}. "
          + self.MANUAL_DOWNLOAD_INSTRUCTIONS)
    return paths["zip"]
