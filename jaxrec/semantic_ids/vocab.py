"""`SemanticIdVocab`: item <-> code tuple <-> token mapping, and `vocab.json`.

Token layout: token 0 is PAD (`PAD_ID`); then each level's codes take one
contiguous range, level l's code c being token `token_offsets[l] + c` with
`token_offsets[l] = NUM_SPECIAL_TOKENS + sum(codebook_sizes[:l])`, so
`vocab_size = NUM_SPECIAL_TOKENS + sum(codebook_sizes)`. `codebook_sizes`
includes the collision level, so every item's code tuple is unique.

`vocab.json` (format version 1) holds, in this order: format_version,
num_levels, codebook_sizes, token_offsets, num_special_tokens,
dataset_fingerprint, and items {raw_id: [code per level]} in dense-index
order. Loading checks every field and names the file and field on error.

Code tokens, the text form of codes (e.g. for a language model's tokenizer):
level l's code c is `<x_c>` with x = chr(ord('a') + l), so an item reads
`<a_17><b_3><c_200><d_0>` (at most 26 levels). These are not token ids.
"""

import collections
from collections.abc import Sequence
import dataclasses
import functools
import json
import math
import os
import re
from typing import Any

from etils import epath
import numpy as np

from jaxrec import workdir as workdir_lib

PAD_ID = 0
NUM_SPECIAL_TOKENS = 1
FORMAT_VERSION = 1
VOCAB_FILENAME = workdir_lib.VOCAB_FILENAME  # DIR/vocab/vocab.json
MAX_TOKEN_LEVELS = 26
_FIELDS = ("format_version", "num_levels", "codebook_sizes", "token_offsets",
           "num_special_tokens", "dataset_fingerprint", "items")
_TOKEN = re.compile(r"<([a-z])_([0-9]+)>")


class VocabFormatError(ValueError):
  """An invalid vocabulary, naming its source and the offending field."""


class FingerprintMismatchError(ValueError):
  """A vocabulary built for another dataset than the expected one."""


def _fail(where: str, field: str, message: str) -> VocabFormatError:
  return VocabFormatError(f"{where}: field '{field}': {message}")


def _is_int(value: Any) -> bool:
  return (isinstance(value, (int, np.integer)) and
          not isinstance(value, (bool, np.bool_)))


def _offsets(sizes: Sequence[int]) -> tuple[int, ...]:
  """Token offset of each level: [L]."""
  return tuple(NUM_SPECIAL_TOKENS + sum(sizes[:l]) for l in range(len(sizes)))


def _tuple_keys(codes: np.ndarray, sizes: Sequence[int]) -> np.ndarray:
  """Mixed-radix int64 key of each in-range code tuple: [..., L] -> [...]."""
  keys = np.zeros(codes.shape[:-1], np.int64)
  for level, size in enumerate(sizes):
    keys = keys * size + codes[..., level]
  return keys


class _RowIndex:
  """Finds code tuples among the rows of a table [N, L] of distinct tuples.

  Rows are keyed by their mixed-radix int64 value, sorted once, and looked up
  with `np.searchsorted`. When the codebooks allow 2**62 or more tuples (keys
  would overflow), lookups fall back to grouping rows with `np.unique`.
  """

  def __init__(self, table: np.ndarray, sizes: Sequence[int]):
    self._table, self._sizes = table, tuple(sizes)
    self._use_keys = math.prod(self._sizes) < 2**62
    if self._use_keys:
      keys = _tuple_keys(table, self._sizes)
      self._order = np.argsort(keys, kind="stable")
      self._sorted_keys = keys[self._order]

  def find(self, queries: np.ndarray) -> np.ndarray:
    """First row equal to each in-range query [M, L], or -1: [M] int64."""
    n = len(self._table)
    if self._use_keys:
      query_keys = _tuple_keys(queries, self._sizes)
      pos = np.minimum(np.searchsorted(self._sorted_keys, query_keys), n - 1)
      found = self._sorted_keys[pos] == query_keys
      return np.where(found, self._order[pos], -1)
    _, inverse = np.unique(np.concatenate([self._table, queries]), axis=0,
                           return_inverse=True)
    inverse = inverse.reshape(-1)
    row_of_group = np.full(inverse.max() + 1, -1)
    row_of_group[inverse[:n][::-1]] = np.arange(n)[::-1]  # First row wins.
    return row_of_group[inverse[n:]]


def _validate(item_ids: Any, item_codes: Any, codebook_sizes: Any,
              fingerprint: Any, where: str, ids_field: str = "item_ids",
              codes_field: str = "item_codes",
              ) -> tuple[tuple[str, ...], np.ndarray, tuple[int, ...], str]:
  """Checks every invariant; returns the normalised (read-only) fields."""
  if (not isinstance(codebook_sizes, Sequence) or not codebook_sizes or
      not all(_is_int(k) and k >= 1 for k in codebook_sizes)):
    raise _fail(where, "codebook_sizes",
                f"must be a non-empty list of positive ints, got "
                f"{codebook_sizes!r}")
  sizes = tuple(int(k) for k in codebook_sizes)
  if not isinstance(fingerprint, str):
    raise _fail(where, "dataset_fingerprint",
                f"must be a string, got {type(fingerprint).__name__}")
  if isinstance(item_ids, str) or not all(isinstance(i, str) for i in item_ids):
    raise _fail(where, ids_field, "must be a sequence of strings")
  ids = tuple(item_ids)
  if not ids:
    raise _fail(where, ids_field, "the vocabulary has no items")
  counts = collections.Counter(ids)
  if len(counts) != len(ids):
    dup = next(i for i, c in counts.items() if c > 1)
    raise _fail(where, ids_field, f"item id {dup!r} appears more than once")
  codes = np.asarray(item_codes)
  if codes.shape != (len(ids), len(sizes)):
    raise _fail(where, codes_field,
                f"expected shape [num_items={len(ids)}, num_levels="
                f"{len(sizes)}], got {list(codes.shape)}")
  if codes.dtype.kind not in "iu":
    raise _fail(where, codes_field, f"must be integers, got {codes.dtype}")
  bad = (codes < 0) | (codes >= np.asarray(sizes))
  if bad.any():
    row, level = np.argwhere(bad)[0]
    raise _fail(where, codes_field,
                f"item {ids[row]!r} has code {codes[row, level]} at level "
                f"{level}, outside [0, {sizes[level]})")
  codes = codes.astype(np.int32)
  first = _RowIndex(codes, sizes).find(codes)
  if (first != np.arange(len(ids))).any():
    row = int(np.flatnonzero(first != np.arange(len(ids)))[0])
    raise _fail(where, codes_field,
                f"items {ids[first[row]]!r} and {ids[row]!r} share the code "
                f"tuple {codes[row].tolist()}; code tuples must be unique (add "
                "a collision level)")
  codes.setflags(write=False)
  return ids, codes, sizes, fingerprint


def _reject_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
  counts = collections.Counter(k for k, _ in pairs)
  if len(counts) != len(pairs):
    dup = next(k for k, c in counts.items() if c > 1)
    raise VocabFormatError(f"JSON object key {dup!r} appears more than once")
  return dict(pairs)


def _parse_header(obj: Any, where: str) -> tuple[tuple[int, ...], str]:
  """Checks every field but the items; returns (codebook_sizes, fingerprint)."""
  if not isinstance(obj, dict):
    raise VocabFormatError(f"{where}: expected a JSON object at the top level")
  for field in _FIELDS:
    if field not in obj:
      raise _fail(where, field, "missing")
  for field in obj:
    if field not in _FIELDS:
      raise _fail(where, field, f"unknown field (expected {list(_FIELDS)})")
  version = obj["format_version"]
  if not _is_int(version) or version != FORMAT_VERSION:
    raise _fail(where, "format_version",
                f"unsupported version {version!r}; this code reads "
                f"{FORMAT_VERSION}")
  sizes = obj["codebook_sizes"]
  if (not isinstance(sizes, list) or not sizes or
      not all(_is_int(k) and k >= 1 for k in sizes)):
    raise _fail(where, "codebook_sizes",
                f"must be a non-empty list of positive ints, got {sizes!r}")
  if not _is_int(obj["num_levels"]) or obj["num_levels"] != len(sizes):
    raise _fail(where, "num_levels",
                f"{obj['num_levels']!r} != len(codebook_sizes) = {len(sizes)}")
  if (not _is_int(obj["num_special_tokens"]) or
      obj["num_special_tokens"] != NUM_SPECIAL_TOKENS):
    raise _fail(where, "num_special_tokens",
                f"{obj['num_special_tokens']!r}, expected {NUM_SPECIAL_TOKENS}")
  offsets = obj["token_offsets"]
  if (not isinstance(offsets, list) or not all(_is_int(o) for o in offsets)
      or offsets != list(_offsets(sizes))):
    raise _fail(where, "token_offsets",
                f"{obj['token_offsets']!r} is inconsistent with codebook_sizes "
                f"{sizes}: expected {list(_offsets(sizes))}")
  if not isinstance(obj["dataset_fingerprint"], str):
    raise _fail(where, "dataset_fingerprint", "must be a string")
  return tuple(sizes), obj["dataset_fingerprint"]


def _parse_items(items: Any, sizes: Sequence[int],
                 where: str) -> tuple[list[str], np.ndarray]:
  """Checks the items object's structure; returns ids and codes [N, L]."""
  if not isinstance(items, dict):
    raise _fail(where, "items", "must be an object {raw_id: [codes...]}")
  for raw_id, codes in items.items():
    if (not isinstance(codes, list) or len(codes) != len(sizes) or
        not all(_is_int(c) and 0 <= c < k for c, k in zip(codes, sizes))):
      raise _fail(where, "items",
                  f"item {raw_id!r}: expected {len(sizes)} ints, code l in "
                  f"[0, codebook_sizes[l]) for sizes {list(sizes)}; got "
                  f"{codes!r}")
  codes = np.array(list(items.values()), np.int64).reshape(-1, len(sizes))
  return list(items), codes


def item_sequences_to_tokens(item_indices: np.ndarray, item_tokens: np.ndarray
                             ) -> np.ndarray:
  """Item indices [..., num_items_in_seq] (-1 = padding) -> flat code tokens.

  item_tokens: [num_items, num_levels] token ids of every item.
  Returns [..., num_items_in_seq * num_levels] int32, padding -> token 0.
  """
  tokens = np.where(item_indices[..., None] >= 0,
                    item_tokens[np.maximum(item_indices, 0)], 0)
  return tokens.reshape(*item_indices.shape[:-1], -1).astype(np.int32)


def level_letter(level: int) -> str:
  """The letter of level `level` in code tokens: 0 -> 'a', 1 -> 'b', ..."""
  if not 0 <= level < MAX_TOKEN_LEVELS:
    raise ValueError(f"code tokens name levels a..z, so at most "
                     f"{MAX_TOKEN_LEVELS} levels; got level {level}")
  return chr(ord("a") + level)


def code_token(level: int, code: int) -> str:
  """The token of code `code` at level `level`, e.g. (2, 200) -> '<c_200>'."""
  return f"<{level_letter(level)}_{int(code)}>"


def code_tokens(codebook_sizes: Sequence[int]) -> list[str]:
  """Every code token [sum(codebook_sizes)], level by level: '<a_0>', ..."""
  return [code_token(level, code)
          for level, size in enumerate(codebook_sizes) for code in range(size)]


def codes_token_string(codes: Sequence[int]) -> str:
  """A code tuple [L] as its token string: (17, 3) -> '<a_17><b_3>'."""
  return "".join(code_token(level, c) for level, c in enumerate(codes))


def parse_token_string(text: str,
                       codebook_sizes: Sequence[int] | None = None
                       ) -> tuple[int, ...]:
  """Inverse of `codes_token_string`: '<a_17><b_3>' -> (17, 3).

  Args:
    text: Tokens of levels a, b, c, ... in order, nothing between them.
    codebook_sizes: [L]; if given, the number of levels and each code's range
      are checked too.

  Raises:
    ValueError: Malformed text, levels out of order, or (with
      codebook_sizes) a wrong number of levels or a code out of range.
  """
  tokens = _TOKEN.findall(text)
  if not tokens or "".join(f"<{x}_{c}>" for x, c in tokens) != text:
    raise ValueError(f"{text!r} is not a sequence of code tokens like "
                     "'<a_17><b_3>'")
  letters = "".join(x for x, _ in tokens)
  expected = "".join(level_letter(level) for level in range(len(tokens)))
  if letters != expected:
    raise ValueError(f"{text!r}: levels must be {expected} in order, got "
                     f"{letters}")
  codes = tuple(int(c) for _, c in tokens)
  if codebook_sizes is not None:
    if len(codes) != len(codebook_sizes):
      raise ValueError(f"{text!r} has {len(codes)} levels, expected "
                       f"{len(codebook_sizes)}")
    for level, (code, size) in enumerate(zip(codes, codebook_sizes)):
      if code >= size:
        raise ValueError(f"{text!r}: code {code} at level {level} is outside "
                         f"[0, {size})")
  return codes


@dataclasses.dataclass(frozen=True, eq=False)
class SemanticIdVocab:
  """Maps dense item indices to code tuples and code tuples to tokens.

  Attributes:
    item_ids: [num_items] raw item ids; dense index i is item_ids[i].
    item_codes: [num_items, num_levels] int32 (read-only), pairwise distinct
      rows, item_codes[:, l] in [0, codebook_sizes[l]).
    codebook_sizes: [num_levels] sizes, the collision level included.
    dataset_fingerprint: Identifies the data the vocabulary was built from.
  """
  item_ids: tuple[str, ...]
  item_codes: np.ndarray
  codebook_sizes: tuple[int, ...]
  dataset_fingerprint: str

  def __post_init__(self):
    self._set_fields(_validate(self.item_ids, self.item_codes,
                               self.codebook_sizes, self.dataset_fingerprint,
                               type(self).__name__))

  def _set_fields(self, fields: tuple[Any, ...]) -> None:
    for name, value in zip(
        ("item_ids", "item_codes", "codebook_sizes", "dataset_fingerprint"),
        fields):
      object.__setattr__(self, name, value)

  @classmethod
  def from_codes(cls, item_ids: Sequence[str], item_codes: np.ndarray,
                 codebook_sizes: Sequence[int],
                 dataset_fingerprint: str) -> "SemanticIdVocab":
    """Builds a validated vocabulary (codes [num_items, num_levels])."""
    return cls(tuple(item_ids), np.asarray(item_codes), tuple(codebook_sizes),
               dataset_fingerprint)

  def __eq__(self, other: object) -> bool:
    if not isinstance(other, SemanticIdVocab):
      return NotImplemented
    return (self.item_ids == other.item_ids and
            self.codebook_sizes == other.codebook_sizes and
            self.dataset_fingerprint == other.dataset_fingerprint and
            np.array_equal(self.item_codes, other.item_codes))

  __hash__ = None

  @property
  def num_items(self) -> int:
    return len(self.item_ids)

  @property
  def num_levels(self) -> int:
    return len(self.codebook_sizes)

  @property
  def token_offsets(self) -> tuple[int, ...]:
    """First token of each level's code range: [num_levels]."""
    return _offsets(self.codebook_sizes)

  @property
  def vocab_size(self) -> int:
    return NUM_SPECIAL_TOKENS + sum(self.codebook_sizes)

  @functools.cached_property
  def _row_index(self) -> _RowIndex:
    return _RowIndex(self.item_codes, self.codebook_sizes)

  @functools.cached_property
  def _offset_array(self) -> np.ndarray:
    return np.asarray(self.token_offsets, np.int64)

  def encode(self, item_indices: np.ndarray) -> np.ndarray:
    """Item indices [...] (-1 = padding) -> tokens [..., num_levels] int32."""
    idx = np.asarray(item_indices)
    if idx.dtype.kind not in "iu":
      raise ValueError(f"item indices must be integers, got {idx.dtype}")
    if idx.size and (idx.min() < -1 or idx.max() >= self.num_items):
      raise ValueError(f"item indices must be in [-1, {self.num_items}), got "
                       f"values in [{idx.min()}, {idx.max()}]")
    tokens = self.item_codes[np.maximum(idx, 0)] + self._offset_array
    return np.where(idx[..., None] >= 0, tokens, PAD_ID).astype(np.int32)

  def decode(self, tokens: np.ndarray) -> np.ndarray:
    """Tokens [..., num_levels] -> item indices [...] int32, -1 if no item."""
    tokens = np.asarray(tokens)
    if tokens.ndim < 1 or tokens.shape[-1] != self.num_levels:
      raise ValueError(f"tokens must be [..., num_levels={self.num_levels}], "
                       f"got {tokens.shape}")
    codes = tokens.astype(np.int64) - self._offset_array
    in_range = np.all((codes >= 0) & (codes < np.asarray(self.codebook_sizes)),
                      axis=-1)
    flat = np.where(in_range[..., None], codes, 0).reshape(-1, self.num_levels)
    rows = self._row_index.find(flat)
    return np.where(in_range, rows.reshape(in_range.shape), -1).astype(np.int32)

  def token_level(self, tokens: np.ndarray) -> np.ndarray:
    """Level of each token [...] -> [...] int32; -1 for PAD and out of range."""
    tokens = np.asarray(tokens)
    level = np.searchsorted(self._offset_array, tokens, side="right") - 1
    valid = (tokens >= NUM_SPECIAL_TOKENS) & (tokens < self.vocab_size)
    return np.where(valid, level, -1).astype(np.int32)

  def item_token_string(self, item_index: int) -> str:
    """Item `item_index`'s codes as '<a_17><b_3><c_200><d_0>'."""
    if not 0 <= item_index < self.num_items:
      raise IndexError(f"item index {item_index} outside [0, {self.num_items})")
    return codes_token_string(self.item_codes[item_index].tolist())

  def item_index_of_token_string(self, text: str) -> int:
    """The item whose token string is `text`, or -1 if no item has it."""
    codes = parse_token_string(text, self.codebook_sizes)
    return int(self.decode(np.asarray(codes, np.int64) + self._offset_array))

  def check_fingerprint(self, expected: str | None,
                        where: str) -> "SemanticIdVocab":
    """Returns self if `expected` is None or its dataset_fingerprint.

    Raises:
      FingerprintMismatchError: The fingerprints differ; `where` (the source,
        e.g. a file) prefixes the message.
    """
    if expected is not None and self.dataset_fingerprint != expected:
      raise FingerprintMismatchError(
          f"{where}: dataset_fingerprint {self.dataset_fingerprint!r} does not "
          f"match the expected {expected!r}: the vocabulary was built from "
          "other data; rebuild it")
    return self

  def to_json_dict(self) -> dict[str, Any]:
    """The `vocab.json` content as a dict (fields in file order)."""
    return {
        "format_version": FORMAT_VERSION,
        "num_levels": self.num_levels,
        "codebook_sizes": list(self.codebook_sizes),
        "token_offsets": list(self.token_offsets),
        "num_special_tokens": NUM_SPECIAL_TOKENS,
        "dataset_fingerprint": self.dataset_fingerprint,
        "items": dict(zip(self.item_ids, self.item_codes.tolist())),
    }

  def save(self, path: str | os.PathLike[str]) -> None:
    """Writes `vocab.json` to path (a file path), one item per line."""
    obj = self.to_json_dict()
    items = obj.pop("items")
    lines = [f"  {json.dumps(k)}: {json.dumps(v)}," for k, v in obj.items()]
    rows = ",\n".join(f"    {json.dumps(k)}: {json.dumps(v)}"
                      for k, v in items.items())
    text = "{\n" + "\n".join(lines) + '\n  "items": {\n' + rows + "\n  }\n}\n"
    workdir_lib.write_bytes_atomically(path, text.encode("utf-8"))

  @classmethod
  def load(cls, path: str | os.PathLike[str], *,
           expected_fingerprint: str | None = None) -> "SemanticIdVocab":
    """Reads and validates `vocab.json`.

    Args:
      path: The file.
      expected_fingerprint: If given, the file's dataset_fingerprint must equal
        it.

    Raises:
      VocabFormatError: Invalid JSON or any invalid field.
      FingerprintMismatchError: The fingerprints differ.
    """
    where = os.fspath(path)
    vocab = cls.from_json_dict(read_json(path), where)
    return vocab.check_fingerprint(expected_fingerprint, where)

  @classmethod
  def from_json_dict(cls, obj: Any, where: str) -> "SemanticIdVocab":
    """Validates a `to_json_dict` dict; errors name `where` and the field."""
    sizes, fingerprint = _parse_header(obj, where)
    ids, codes = _parse_items(obj["items"], sizes, where)
    fields = _validate(ids, codes, sizes, fingerprint, where, "items", "items")
    vocab = object.__new__(cls)  # validated above, naming the file: once
    vocab._set_fields(fields)  # pylint: disable=protected-access
    return vocab


def read_json(path: str | os.PathLike[str]) -> Any:
  """A JSON file's content; VocabFormatError (naming the file) if invalid
  or if an object repeats a key."""
  where = os.fspath(path)
  try:
    return json.loads(epath.Path(path).read_text(encoding="utf-8"),
                      object_pairs_hook=_reject_duplicate_keys)
  except VocabFormatError as e:
    raise VocabFormatError(f"{where}: {e}") from None
  except json.JSONDecodeError as e:
    raise VocabFormatError(f"{where}: not valid JSON: {e}") from None
