"""Verifying source data against what is known about it.

Two kinds of checks, shared by every builder:

* the sha256 of a source file, where one is known (registered);
* the statistics (users, items, interactions) a dataset must reproduce, which
  verify the *content* even where no file hash is published.

With `verify=False` (tests on tiny fixture files) a mismatch is logged as a
warning instead of raised.
"""

from __future__ import annotations

import dataclasses
import hashlib

from absl import logging
from etils import epath

from jaxrec.data import parsing

_HASH_CHUNK_BYTES = 1 << 20


class ChecksumMismatchError(ValueError):
  """A source file's content differs from the known content."""


class StatisticsMismatchError(ChecksumMismatchError):
  """Parsed data does not reproduce the statistics it must reproduce."""


@dataclasses.dataclass(frozen=True)
class DatasetStats:
  """Counts that identify a dataset's content."""
  num_users: int
  num_items: int
  num_interactions: int

  def __str__(self) -> str:
    return (f"{self.num_users:,} users, {self.num_items:,} items, "
            f"{self.num_interactions:,} interactions")


def mismatch(message: str, verify: bool,
             error: type[ChecksumMismatchError] = ChecksumMismatchError
            ) -> None:
  """Raises `error(message)`, or only warns when `verify` is False."""
  if verify:
    raise error(message)
  logging.warning("%s (verify_checksums=False: continuing)", message)


def sha256_hex(data: bytes) -> str:
  return hashlib.sha256(data).hexdigest()


def sha256_of_path(path: epath.Path) -> str:
  """sha256 hex of a file, read in chunks."""
  digest = hashlib.sha256()
  with path.open("rb") as f:
    for chunk in iter(lambda: f.read(_HASH_CHUNK_BYTES), b""):
      digest.update(chunk)
  return digest.hexdigest()


def check_sha256(file: parsing.SourceFile, expected: str,
                 verify: bool) -> None:
  """Compares the sha256 of `file` with `expected`; raises or warns."""
  compare_sha256(file.name, sha256_hex(file.data), expected, verify)


def compare_sha256(name: str, actual: str, expected: str,
                   verify: bool) -> None:
  """Compares a computed sha256 with the known one; raises or warns."""
  if actual != expected:
    mismatch(f"{name}: sha256 mismatch: expected {expected}, actual "
             f"{actual}", verify)


def check_stats(source: str, actual: DatasetStats, expected: DatasetStats,
                verify: bool) -> None:
  """Compares parsed statistics with the published ones; raises or warns."""
  if actual != expected:
    mismatch(f"{source}: statistics mismatch: expected {expected}, actual "
             f"{actual}", verify, StatisticsMismatchError)
  else:
    logging.info("%s: %s, as published.", source, actual)
