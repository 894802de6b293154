"""Versions of a run's item catalogue: the vocabulary plus removed items.

Version 0 is DIR/vocab/vocab.json as the tokenizer wrote it. Each change
(`jaxrec.catalog add|remove`) writes the next version next to it,

  DIR/vocab/catalog_v000001.json, catalog_v000002.json, ...

each one whole: a JSON object with `format_version`, `catalog_version`,
`removed` (raw ids no longer recommendable, every removal so far) and `vocab`
(a complete vocab.json object). A version keeps every item ever known, in
the same dense order (new items are appended), so histories holding removed
items still encode and no item's codes ever change; the removed ones are
only left out of the decoding trie. Files are written to a temporary name
and renamed, so a kill mid-update leaves at most a stray `.tmp` file, which
is ignored: the newest complete version wins.
"""

from collections.abc import Iterable
import dataclasses
import functools
import json
import re

from etils import epath
import numpy as np

from jaxrec import workdir as workdir_lib
from jaxrec.semantic_ids import vocab as vocab_lib

FORMAT_VERSION = 1
_NAME = re.compile(r"catalog_v(\d{6})\.json")
_FIELDS = ("format_version", "catalog_version", "removed", "vocab")


class CatalogVersionError(ValueError):
  """A missing or invalid catalogue version."""


@dataclasses.dataclass(frozen=True)
class CatalogVersion:
  """One version of the catalogue.

  number: 0 for DIR/vocab/vocab.json, then 1, 2, ...
  vocab: every item ever known, in dense-index order.
  removed: ids of vocab items that may not be recommended.
  """
  number: int
  vocab: vocab_lib.SemanticIdVocab
  removed: frozenset[str] = frozenset()

  @functools.cached_property
  def active_indices(self) -> np.ndarray:
    """Dense indices [num_active] int32 of the recommendable items."""
    return np.asarray([i for i, item_id in enumerate(self.vocab.item_ids)
                       if item_id not in self.removed], np.int32)

  @property
  def num_active(self) -> int:
    return len(self.vocab.item_ids) - len(self.removed)

  def to_json_dict(self) -> dict:
    removed = [i for i in self.vocab.item_ids if i in self.removed]
    return {"format_version": FORMAT_VERSION,
            "catalog_version": self.number, "removed": removed,
            "vocab": self.vocab.to_json_dict()}


def version_path(workdir: epath.PathLike, number: int) -> epath.Path:
  """DIR/vocab/catalog_v<number>.json (number >= 1)."""
  return workdir_lib.vocab_dir(workdir) / f"catalog_v{number:06d}.json"


def version_numbers(workdir: epath.PathLike) -> list[int]:
  """Every complete version, ascending (0 when vocab.json exists)."""
  directory = workdir_lib.vocab_dir(workdir)
  numbers = [0] if workdir_lib.vocab_path(workdir).exists() else []
  if directory.is_dir():
    numbers += sorted(int(m.group(1)) for m in
                      (_NAME.fullmatch(p.name) for p in directory.iterdir())
                      if m and int(m.group(1)) > 0)
  return numbers


def _parse(obj, where: str, number: int) -> CatalogVersion:
  if not isinstance(obj, dict) or set(obj) != set(_FIELDS):
    raise CatalogVersionError(f"{where}: expected an object with the fields "
                              f"{list(_FIELDS)}")
  if obj["format_version"] != FORMAT_VERSION:
    raise CatalogVersionError(f"{where}: unsupported format_version "
                              f"{obj['format_version']!r}")
  if obj["catalog_version"] != number:
    raise CatalogVersionError(f"{where}: catalog_version "
                              f"{obj['catalog_version']!r} != {number}")
  vocab = vocab_lib.SemanticIdVocab.from_json_dict(obj["vocab"],
                                                   f"{where}: vocab")
  removed = obj["removed"]
  known = set(vocab.item_ids)
  if (not isinstance(removed, list) or
      not all(isinstance(i, str) and i in known for i in removed)):
    raise CatalogVersionError(f"{where}: removed must list ids of the "
                              "vocabulary's items")
  return CatalogVersion(number, vocab, frozenset(removed))


def load(workdir: epath.PathLike, number: int | None = None
         ) -> CatalogVersion:
  """Version `number` of the run's catalogue (None: the newest).

  Raises:
    FileNotFoundError: the run has no vocabulary yet.
    CatalogVersionError: no such version (the message lists them), or an
      invalid file.
  """
  numbers = version_numbers(workdir)
  if not numbers:
    raise FileNotFoundError(f"{workdir_lib.vocab_path(workdir)} does not "
                            f"exist: the run in {workdir} has not built its "
                            "vocabulary yet")
  number = numbers[-1] if number is None else int(number)
  if number not in numbers:
    raise CatalogVersionError(f"no catalogue version {number} in {workdir}; "
                              f"versions: {numbers}")
  if number == 0:
    return CatalogVersion(0, vocab_lib.SemanticIdVocab.load(
        workdir_lib.vocab_path(workdir)))
  path = version_path(workdir, number)
  return _parse(vocab_lib.read_json(path), str(path), number)


def write(workdir: epath.PathLike, base: CatalogVersion,
          vocab: vocab_lib.SemanticIdVocab, removed: Iterable[str]
          ) -> CatalogVersion:
  """Writes version base.number + 1 atomically; returns it.

  Raises:
    CatalogVersionError: `base` is no longer the newest version (another
      update came first), or `vocab` drops or reorders items, or changes
      codes, codebook sizes or the fingerprint, of `base`.
  """
  newest = version_numbers(workdir)[-1]
  if newest != base.number:
    raise CatalogVersionError(
        f"catalogue version {newest} of {workdir} appeared while version "
        f"{base.number} was being updated; apply the change again")
  _check_extends(base.vocab, vocab)
  version = CatalogVersion(base.number + 1, vocab, frozenset(removed))
  text = json.dumps(version.to_json_dict(), separators=(",", ":")) + "\n"
  workdir_lib.write_bytes_atomically(version_path(workdir, version.number),
                                     text.encode("utf-8"))
  return version


def _check_extends(old: vocab_lib.SemanticIdVocab,
                   new: vocab_lib.SemanticIdVocab) -> None:
  """`new` appends items to `old` and changes nothing else."""
  n = old.num_items
  if (new.codebook_sizes != old.codebook_sizes or
      new.dataset_fingerprint != old.dataset_fingerprint or
      new.item_ids[:n] != old.item_ids or
      not np.array_equal(new.item_codes[:n], old.item_codes)):
    raise CatalogVersionError(
        "a new catalogue version may only append items: existing items, "
        "their codes, the codebook sizes and the fingerprint stay")
