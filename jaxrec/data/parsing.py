"""Reading and parsing dataset source files, with errors that name file + line.

Shared by every builder in `jaxrec.data`. Nothing here knows a dataset: the
helpers read bytes (plain, zip members, gzip), split them into numbered lines
and fields, and parse ids, ratings, timestamps, JSON lines and Python-literal
lines. Every failure is a `DataFormatError` whose message starts with
"<file> line <n>:"; nothing is skipped silently and no input is ever executed
(Python-literal text goes through `ast.literal_eval`, never `eval`).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator, Sequence
import dataclasses
import gzip
import json
import math
import os
import re
import socket
from typing import Any
import urllib.parse
import zipfile
import zlib

from etils import epath

# Integer seconds, possibly written as a float with a zero fraction.
_TIMESTAMP = re.compile(r"\s*(?P<seconds>[+-]?\d+)(?:\.0*)?\s*")
# MovieLens "Title (1995)"; ML-100K item 1412 ends "(1995) (V)" (video).
_TITLE_YEAR = re.compile(
    r"^(?P<title>.*?)\s*\((?P<year>\d{4})\)(?:\s*\(V\))?\s*$")
_REACHABILITY_TIMEOUT_S = 5.0
_GZIP_MAGIC = b"\x1f\x8b"


class DataFormatError(ValueError):
  """A source file does not have the expected format."""


@dataclasses.dataclass(frozen=True)
class SourceFile:
  """The bytes of one source file and the name that error messages use."""
  name: str
  data: bytes


# ------------------------------------------------------------ lines, fields --


def decode(file: SourceFile, encoding: str) -> str:
  """Decodes `file`, naming the line of the first undecodable byte."""
  try:
    return file.data.decode(encoding)
  except UnicodeDecodeError as err:
    line_number = file.data.count(b"\n", 0, err.start) + 1
    raise DataFormatError(
        f"{file.name} line {line_number}: text is not valid {encoding}: "
        f"{err.reason} at byte {err.start}") from None


def lines(text: str) -> Iterator[tuple[int, str]]:
  """Yields (1-based line number, line) without the final empty line."""
  all_lines = text.split("\n")
  if all_lines and not all_lines[-1]:
    all_lines.pop()
  for line_number, line in enumerate(all_lines, start=1):
    yield line_number, line.rstrip("\r")


def fields(file: SourceFile, line_number: int, line: str, separator: str,
           expected: int) -> list[str]:
  """Splits a line and checks the number of fields."""
  parts = line.split(separator)
  if len(parts) != expected:
    raise DataFormatError(
        f"{file.name} line {line_number}: expected {expected} "
        f"{separator!r}-separated fields, found {len(parts)} "
        f"(truncated or garbled line?): {line[:80]!r}")
  return parts


# ------------------------------------------------------------------ values --
# `file` is the SourceFile, or just the name that error messages use.


def _name(file: SourceFile | str) -> str:
  return file.name if isinstance(file, SourceFile) else file


def parse_id(file: SourceFile | str, line_number: int, field: str,
             value: str) -> str:
  """A non-empty id, stripped of surrounding white space."""
  value = value.strip()
  if not value:
    raise DataFormatError(f"{_name(file)} line {line_number}: empty {field}")
  return value


def parse_number(file: SourceFile | str, line_number: int, field: str,
                 value: Any) -> float:
  """A finite number (a string or a JSON number; not a bool)."""
  number = math.nan
  if not isinstance(value, bool):
    try:
      number = float(value)
    except (TypeError, ValueError):
      pass
  if not math.isfinite(number):
    raise DataFormatError(
        f"{_name(file)} line {line_number}: field {field!r} is not a finite "
        f"number: {value!r}")
  return number


def parse_rating(file: SourceFile | str, line_number: int,
                 value: Any) -> float:
  """The finite number of a 'rating' field."""
  return parse_number(file, line_number, "rating", value)


def parse_timestamp(file: SourceFile | str, line_number: int,
                    value: Any) -> int:
  """An integer timestamp, also written as a float ("881250949.0")."""
  if isinstance(value, int) and not isinstance(value, bool):
    return value
  match = _TIMESTAMP.fullmatch(value) if isinstance(value, str) else None
  if match is None:
    raise DataFormatError(
        f"{_name(file)} line {line_number}: field 'timestamp' is not an "
        f"integer number of seconds: {value!r}")
  return int(match.group("seconds"))


def parse_item_ref(file: SourceFile, line_number: int, value: str,
                   known_items: set[str]) -> str:
  """An item id that must be in `known_items` (the item file's ids)."""
  item = parse_id(file, line_number, "item", value)
  if item not in known_items:
    raise DataFormatError(
        f"{file.name} line {line_number}: field 'item' {item!r} is not in "
        "the item file")
  return item


def split_lines(file: SourceFile, numbered_lines: Iterator[tuple[int, str]],
                separator: str, num_fields: int
               ) -> Iterator[tuple[int, list[str]]]:
  """Yields (line number, fields), each line having `num_fields` fields."""
  for line_number, line in numbered_lines:
    yield line_number, fields(file, line_number, line, separator, num_fields)


def parse_ratings_rows(file: SourceFile,
                       rows: Iterator[tuple[int, list[str]]],
                       columns: tuple[int, int, int, int],
                       known_items: set[str] | None) -> dict[str, list]:
  """Parses user, item, rating, timestamp columns (by index) of each row.

  Args:
    file: the file (for error messages).
    rows: (line number, fields) of the data lines.
    columns: positions of the user, item, rating and timestamp fields.
    known_items: the item file's ids, which every item must be one of; None
      accepts any item.

  Returns:
    Columns `users`, `items`, `ratings`, `timestamps` in file order.
  """
  user_col, item_col, rating_col, time_col = columns
  users, items, ratings, timestamps = [], [], [], []
  for line_number, parts in rows:
    users.append(parse_id(file, line_number, "user", parts[user_col]))
    if known_items is None:
      items.append(parse_id(file, line_number, "item", parts[item_col]))
    else:
      items.append(
          parse_item_ref(file, line_number, parts[item_col], known_items))
    ratings.append(parse_rating(file, line_number, parts[rating_col]))
    timestamps.append(parse_timestamp(file, line_number, parts[time_col]))
  return dict(users=users, items=items, ratings=ratings, timestamps=timestamps)


def check_unique_item(file: SourceFile, line_number: int, item_id: str,
                      seen: set[str]) -> None:
  """Raises if `item_id` was seen before in the item file; records it."""
  if item_id in seen:
    raise DataFormatError(
        f"{file.name} line {line_number}: duplicate item id {item_id!r}")
  seen.add(item_id)


def split_title_year(title: str) -> tuple[str, int | None]:
  """Splits a MovieLens "Title (1995)" into ("Title", 1995).

  A trailing " (V)" (video release) after the year is dropped too. Without a
  year at the end, returns (the stripped title, None).
  """
  match = _TITLE_YEAR.match(title)
  if match is None:
    return title.strip(), None
  return match.group("title"), int(match.group("year"))


# ------------------------------------------------- JSON and literal records --


def parse_json_record(name: str, line_number: int, line: str
                     ) -> dict[str, Any]:
  """One JSON object per line (JSON lines)."""
  try:
    record = json.loads(line)
  except json.JSONDecodeError as err:
    raise DataFormatError(
        f"{name} line {line_number}: not valid JSON ({err.msg} at column "
        f"{err.colno}): {line[:80]!r}") from None
  return _check_record(name, line_number, record, line)


def parse_literal_record(name: str, line_number: int, line: str
                        ) -> dict[str, Any]:
  """One Python-literal dict per line, parsed with `ast.literal_eval`.

  Only literals (strings, numbers, tuples, lists, dicts, sets, booleans,
  None) are accepted; anything else, e.g. a call, is an error, never run.
  """
  try:
    record = ast.literal_eval(line)
  except (ValueError, SyntaxError, TypeError, MemoryError,
          RecursionError) as err:
    raise DataFormatError(
        f"{name} line {line_number}: not a Python literal "
        f"({type(err).__name__}: {str(err)[:80]}): {line[:80]!r}") from None
  return _check_record(name, line_number, record, line)


def _check_record(name: str, line_number: int, record: Any,
                  line: str) -> dict[str, Any]:
  if not isinstance(record, dict):
    raise DataFormatError(
        f"{name} line {line_number}: expected an object/dict, found "
        f"{type(record).__name__}: {line[:80]!r}")
  return record


def record_str(name: str, line_number: int, record: dict[str, Any],
               key: str) -> str:
  """A required, non-empty string field of a record."""
  value = record.get(key)
  if not isinstance(value, str) or not value.strip():
    raise DataFormatError(
        f"{name} line {line_number}: field {key!r} is missing or not a "
        f"non-empty string: {value!r}")
  return value.strip()


# ------------------------------------------------------------------- files --


def read_file(path: epath.Path) -> SourceFile:
  """The whole file, named by its path."""
  return SourceFile(os.fspath(path), path.read_bytes())


def read_zip_members(path: epath.Path, members: Sequence[str]
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


def text_lines(path: epath.Path, encoding: str = "utf-8"
              ) -> Iterator[tuple[int, str]]:
  """Streams (1-based line number, line) of a plain or gzip text file.

  Gzip is recognised by its magic bytes, whatever the file's name. Empty lines
  are yielded too (callers decide). A truncated or corrupt gzip stream, or
  undecodable text, is a DataFormatError naming the file and line.
  """
  name = os.fspath(path)
  line_number = 0
  with path.open("rb") as raw:
    compressed = raw.read(2) == _GZIP_MAGIC
    raw.seek(0)
    stream = gzip.GzipFile(fileobj=raw, mode="rb") if compressed else raw
    try:
      for line_number, data in enumerate(stream, start=1):
        yield line_number, _decode_line(name, line_number, data, encoding)
    except (EOFError, gzip.BadGzipFile, zlib.error) as err:
      raise DataFormatError(
          f"{name} line {line_number + 1}: gzip stream is truncated or "
          f"corrupt after {line_number} complete line(s): {err}") from None


def _decode_line(name: str, line_number: int, data: bytes,
                 encoding: str) -> str:
  try:
    return data.decode(encoding).rstrip("\r\n")
  except UnicodeDecodeError as err:
    raise DataFormatError(
        f"{name} line {line_number}: text is not valid {encoding}: "
        f"{err.reason} at column {err.start + 1}") from None


# ----------------------------------------------------------------- network --


def host_reachable(url: str) -> bool:
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
