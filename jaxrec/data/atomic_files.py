"""RecBole atomic files: a typed header line, then tab-separated rows.

The header names each column "name:type" (e.g. `user_id:token`,
`timestamp:float`, `class:token_seq`); RecBole's types are `token`,
`token_seq`, `float` and `float_seq`, and sequence fields separate their
values by a space. Columns are found by name, so their order and any extra
columns do not matter. Files are UTF-8.
"""

from __future__ import annotations

from collections.abc import Iterator
import dataclasses

from jaxrec.data import parsing

TYPES = ("token", "token_seq", "float", "float_seq")
SEQUENCE_SEPARATOR = " "


@dataclasses.dataclass(frozen=True)
class Header:
  """Column positions and types (None where the header gives no type)."""
  positions: dict[str, int]
  types: dict[str, str | None]
  num_fields: int

  def has(self, column: str) -> bool:
    return column in self.positions


def parse_header(file: parsing.SourceFile, line: str,
                 required: tuple[str, ...]) -> Header:
  """Parses the header line; every `required` column must be present."""
  positions, types = {}, {}
  for position, field in enumerate(line.split("\t")):
    name, _, field_type = field.partition(":")
    name, field_type = name.strip(), field_type.strip() or None
    if field_type is not None and field_type not in TYPES:
      raise parsing.DataFormatError(
          f"{file.name} line 1: column {name!r} has unknown type "
          f"{field_type!r}; RecBole's types are {list(TYPES)}")
    if name in positions:
      raise parsing.DataFormatError(
          f"{file.name} line 1: duplicate column {name!r}")
    positions[name], types[name] = position, field_type
  missing = [name for name in required if name not in positions]
  if missing:
    raise parsing.DataFormatError(
        f"{file.name} line 1: header lacks column(s) {missing}; found "
        f"{sorted(positions)}")
  return Header(positions, types, len(positions))


def rows(file: parsing.SourceFile, required: tuple[str, ...]
        ) -> tuple[Header, Iterator[tuple[int, list[str]]]]:
  """Returns the header and the data rows as (line number, fields).

  Each row must have as many tab-separated fields as the header.
  """
  all_lines = parsing.lines(parsing.decode(file, "utf-8"))
  first = next(all_lines, None)
  if first is None:
    raise parsing.DataFormatError(f"{file.name} line 1: empty file, no header")
  header = parse_header(file, first[1], required)
  return header, parsing.split_lines(file, all_lines, "\t", header.num_fields)


def sequence(value: str) -> list[str]:
  """The values of a `token_seq` field."""
  return value.split()
