r"""Exports a `SemanticIdVocab` to other formats; each loads back identically.

`export(vocab, fmt, path)` writes and `load_export(fmt, path)` reads, for fmt:

- `json`: `vocab.json` itself (`SemanticIdVocab.save` / `load`).
- `tsv`: UTF-8 text. Comment lines with JSON values, then a header row, then
  one row per item in dense-index order::

    # format_version: 1
    # codebook_sizes: [256, 256, 256, 4]
    # fingerprint: "3f9a..."
    item_id<TAB>code_0<TAB>code_1<TAB>code_2<TAB>code_3
    1<TAB>17<TAB>3<TAB>200<TAB>0

  Item ids may not contain tabs, newlines or carriage returns (refused at
  export). Loading names the file, line and field of any error.
- `npz`: a compressed numpy archive, readable with `allow_pickle=False`:
  `item_ids` [N] unicode, `item_codes` [N, L] int32, `codebook_sizes` [L]
  int64, `fingerprint` 0-d unicode, `format_version` 0-d int64. Item ids may
  not contain NUL (numpy drops trailing ones).
- `sentencepiece`: `PATH.model` and `PATH.vocab` (SentencePiece's own files)
  for a model whose user-defined symbols are the code tokens of
  `jaxrec.semantic_ids.vocab` (`vocab.code_tokens`), so an item's token
  string (`SemanticIdVocab.item_token_string`, e.g. `<a_17><b_3><c_200><d_0>`)
  encodes to exactly those pieces (at most 26 levels). The model has no table
  of items, so the vocabulary also goes into a sidecar `PATH.items.json` (the
  `vocab.json` format, fingerprint included), which `load_export` needs.
  SentencePiece ids are not jaxrec token ids. PATH is a prefix; a trailing
  `.model` is dropped.

Every loader takes `expected_fingerprint` and then raises
`vocab.FingerprintMismatchError` when the file was built from other data.
"""

from collections.abc import Sequence
import io
import json
import os
import re
import tempfile
from typing import Any

from etils import epath
import numpy as np
import sentencepiece as spm

from jaxrec import workdir as workdir_lib
from jaxrec.semantic_ids import vocab as vocab_lib

SemanticIdVocab = vocab_lib.SemanticIdVocab
VocabFormatError = vocab_lib.VocabFormatError
PathLike = str | os.PathLike[str]

FORMATS = ("json", "tsv", "npz", "sentencepiece")
TSV_FORMAT_VERSION = 1
NPZ_FORMAT_VERSION = 1
SIDECAR_SUFFIX = ".items.json"

_TSV_HEADER_KEYS = ("format_version", "codebook_sizes", "fingerprint")
_TSV_COMMENT = re.compile(r"# ([a-z_]+): (.*)")
_TSV_INT = re.compile(r"-?[0-9]+")
_NPZ_KEYS = ("item_ids", "item_codes", "codebook_sizes", "fingerprint",
             "format_version")
# Gives the SentencePiece model single-character pieces for ASCII text besides
# the code tokens (the tokens themselves are user-defined symbols).
_SP_CORPUS = ("abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ "
              "0123456789 <>_-.,:;!?'\"()[]{}/\\|@#$%^&*+=~`\n")
_SP_SPECIAL_PIECES = 3  # <unk>, <s>, </s>.


# ------------------------------------------------------------------ helpers --


def _is_int(value: Any) -> bool:
  return isinstance(value, int) and not isinstance(value, bool)


def _field_error(where: str, field: str, message: str) -> VocabFormatError:
  return VocabFormatError(f"{where}: field '{field}': {message}")


def _build(item_ids: Sequence[str], item_codes: np.ndarray,
           codebook_sizes: Sequence[int], fingerprint: str,
           where: str) -> SemanticIdVocab:
  """A validated vocabulary; its errors are prefixed with `where`."""
  try:
    return SemanticIdVocab.from_codes(item_ids, item_codes, codebook_sizes,
                                      fingerprint)
  except VocabFormatError as e:
    raise VocabFormatError(f"{where}: {e}") from None


# --------------------------------------------------------------------- tsv --


def _tsv_columns(num_levels: int) -> list[str]:
  return ["item_id"] + [f"code_{level}" for level in range(num_levels)]


def save_tsv(vocab: SemanticIdVocab, path: PathLike) -> epath.Path:
  """Writes `codes.tsv` (see the module docstring); returns the path."""
  for item_id in vocab.item_ids:
    if any(c in item_id for c in "\t\n\r"):
      raise ValueError(f"item id {item_id!r} contains a tab, newline or "
                       "carriage return, which TSV cannot hold; export to "
                       "json or npz instead")
  lines = [f"# format_version: {TSV_FORMAT_VERSION}",
           f"# codebook_sizes: {json.dumps(list(vocab.codebook_sizes))}",
           f"# fingerprint: {json.dumps(vocab.dataset_fingerprint)}",
           "\t".join(_tsv_columns(vocab.num_levels))]
  for item_id, codes in zip(vocab.item_ids, vocab.item_codes.tolist()):
    lines.append("\t".join([item_id] + [str(c) for c in codes]))
  text = "\n".join(lines) + "\n"
  return workdir_lib.write_bytes_atomically(path, text.encode("utf-8"))


def _tsv_error(where: str, line: int, field: str,
               message: str) -> VocabFormatError:
  return VocabFormatError(f"{where}, line {line}, field '{field}': {message}")


def _tsv_header_problem(key: str, value: Any) -> str | None:
  """What is wrong with a header comment's value, or None."""
  if key == "format_version" and (not _is_int(value) or
                                  value != TSV_FORMAT_VERSION):
    return (f"unsupported version {value!r}; this code reads "
            f"{TSV_FORMAT_VERSION}")
  if key == "codebook_sizes" and (
      not isinstance(value, list) or not value or
      not all(_is_int(k) and k >= 1 for k in value)):
    return f"must be a non-empty list of positive ints, got {value!r}"
  if key == "fingerprint" and not isinstance(value, str):
    return "must be a JSON string"
  return None


def _parse_tsv_header(lines: list[str], where: str
                      ) -> tuple[int, dict[str, Any]]:
  """Reads the comment lines; returns (index of the header row, values)."""
  values = {}
  row = 0
  while row < len(lines) and lines[row].startswith("#"):
    match = _TSV_COMMENT.fullmatch(lines[row])
    if not match:
      raise _tsv_error(where, row + 1, "comment",
                       f"expected '# key: JSON value', got {lines[row]!r}")
    key, text = match.groups()
    if key not in _TSV_HEADER_KEYS or key in values:
      raise _tsv_error(where, row + 1, key, "unknown or repeated key "
                       f"(expected each of {list(_TSV_HEADER_KEYS)} once)")
    try:
      values[key] = json.loads(text)
    except json.JSONDecodeError as e:
      raise _tsv_error(where, row + 1, key, f"not valid JSON: {e}") from None
    problem = _tsv_header_problem(key, values[key])
    if problem:
      raise _tsv_error(where, row + 1, key, problem)
    row += 1
  for key in _TSV_HEADER_KEYS:
    if key not in values:
      raise _tsv_error(where, row + 1, key,
                       f"missing header comment '# {key}: ...'")
  return row, values


def _parse_tsv_row(line: str, number: int, sizes: Sequence[int],
                   where: str) -> tuple[str, list[int]]:
  """One item row -> (item id, codes)."""
  fields = line.split("\t")
  if len(fields) != len(sizes) + 1:
    raise _tsv_error(where, number, "columns",
                     f"expected {len(sizes) + 1} tab-separated fields, got "
                     f"{len(fields)}")
  codes = []
  for level, (text, size) in enumerate(zip(fields[1:], sizes)):
    if not _TSV_INT.fullmatch(text):
      raise _tsv_error(where, number, f"code_{level}",
                       f"{text!r} is not an integer")
    code = int(text)
    if not 0 <= code < size:
      raise _tsv_error(where, number, f"code_{level}",
                       f"code {code} is outside [0, {size})")
    codes.append(code)
  return fields[0], codes


def load_tsv(path: PathLike, *,
             expected_fingerprint: str | None = None) -> SemanticIdVocab:
  """Reads and validates `codes.tsv`.

  Raises:
    VocabFormatError: Naming the file, line and field of the first error.
    FingerprintMismatchError: The fingerprint differs from the expected one.
  """
  where = os.fspath(path)
  try:
    text = epath.Path(path).read_bytes().decode("utf-8")
  except UnicodeDecodeError as e:
    raise VocabFormatError(f"{where}: not valid UTF-8: {e}") from None
  lines = text.split("\n")
  if lines[-1] == "":
    lines.pop()  # The final newline.
  lines = [line.removesuffix("\r") for line in lines]
  header, values = _parse_tsv_header(lines, where)
  sizes = tuple(values["codebook_sizes"])
  columns = _tsv_columns(len(sizes))
  if header == len(lines) or lines[header].split("\t") != columns:
    found = lines[header] if header < len(lines) else "end of file"
    raise _tsv_error(where, header + 1, "header",
                     f"expected the header row {chr(9).join(columns)!r}, got "
                     f"{found!r}")
  first_line = {}
  item_ids, item_codes = [], []
  for number, line in enumerate(lines[header + 1:], start=header + 2):
    item_id, codes = _parse_tsv_row(line, number, sizes, where)
    if item_id in first_line:
      raise _tsv_error(where, number, "item_id",
                       f"item id {item_id!r} already appears on line "
                       f"{first_line[item_id]}")
    first_line[item_id] = number
    item_ids.append(item_id)
    item_codes.append(codes)
  codes = np.array(item_codes, np.int64).reshape(-1, len(sizes))
  vocab = _build(item_ids, codes, sizes, values["fingerprint"], where)
  return vocab.check_fingerprint(expected_fingerprint, where)


# --------------------------------------------------------------------- npz --


def save_npz(vocab: SemanticIdVocab, path: PathLike) -> epath.Path:
  """Writes `codes.npz` (see the module docstring); returns the path."""
  for name, value in [("fingerprint", vocab.dataset_fingerprint),
                      *(("item id", i) for i in vocab.item_ids)]:
    if "\0" in value:
      raise ValueError(f"{name} {value!r} contains NUL, which a numpy unicode "
                       "array cannot hold; export to json instead")
  buffer = io.BytesIO()
  np.savez_compressed(
      buffer,
      item_ids=np.array(vocab.item_ids, dtype=str),
      item_codes=vocab.item_codes.astype(np.int32),
      codebook_sizes=np.array(vocab.codebook_sizes, np.int64),
      fingerprint=np.array(vocab.dataset_fingerprint, dtype=str),
      format_version=np.array(NPZ_FORMAT_VERSION, np.int64))
  return workdir_lib.write_bytes_atomically(path, buffer.getvalue())


def _npz_field(archive: Any, key: str, kind: str, ndim: int,
               where: str) -> np.ndarray:
  """archive[key], checked to have dtype kind in `kind` and `ndim` dims."""
  try:
    value = archive[key]
  except ValueError as e:  # Object arrays, refused by allow_pickle=False.
    raise _field_error(where, key,
                       f"cannot be read without pickle: {e}") from None
  if value.dtype.kind not in kind or value.ndim != ndim:
    raise _field_error(
        where, key, f"expected a {ndim}-d array of dtype kind {kind!r}, got "
        f"{value.dtype} with shape {list(value.shape)}")
  return value


def load_npz(path: PathLike, *,
             expected_fingerprint: str | None = None) -> SemanticIdVocab:
  """Reads and validates `codes.npz`, never unpickling anything.

  Raises:
    VocabFormatError: Not an npz archive, a missing, extra or object-dtype
      array, or any invalid field.
    FingerprintMismatchError: The fingerprint differs from the expected one.
  """
  where = os.fspath(path)
  data = epath.Path(path).read_bytes()
  try:
    archive = np.load(io.BytesIO(data), allow_pickle=False)
  except (ValueError, OSError) as e:
    raise VocabFormatError(f"{where}: not an npz archive: {e}") from None
  if not hasattr(archive, "files"):
    raise VocabFormatError(f"{where}: a single .npy array, not an npz archive")
  with archive:
    keys = set(archive.files)
    if keys != set(_NPZ_KEYS):
      raise VocabFormatError(
          f"{where}: expected arrays {sorted(_NPZ_KEYS)}, got {sorted(keys)}")
    version = _npz_field(archive, "format_version", "iu", 0, where)
    if int(version) != NPZ_FORMAT_VERSION:
      raise _field_error(where, "format_version",
                         f"unsupported version {int(version)}; this code "
                         f"reads {NPZ_FORMAT_VERSION}")
    item_ids = _npz_field(archive, "item_ids", "U", 1, where)
    item_codes = _npz_field(archive, "item_codes", "iu", 2, where)
    sizes = _npz_field(archive, "codebook_sizes", "iu", 1, where)
    fingerprint = _npz_field(archive, "fingerprint", "U", 0, where)
  vocab = _build(item_ids.tolist(), item_codes, sizes.tolist(),
                 str(fingerprint), where)
  return vocab.check_fingerprint(expected_fingerprint, where)


# ----------------------------------------------------------- sentencepiece --


def _sentencepiece_prefix(path: PathLike) -> str:
  return os.fspath(path).removesuffix(".model")


def save_sentencepiece(vocab: SemanticIdVocab,
                       path: PathLike) -> list[epath.Path]:
  """Writes PATH.model, PATH.vocab and PATH.items.json; returns their paths."""
  prefix = _sentencepiece_prefix(path)
  # Checks the number of levels too.
  symbols = vocab_lib.code_tokens(vocab.codebook_sizes)
  with tempfile.TemporaryDirectory() as tmp:
    corpus = os.path.join(tmp, "corpus.txt")
    with open(corpus, "w", encoding="utf-8") as f:
      f.write(_SP_CORPUS)
    # A character model: training is instant, and with hard_vocab_limit=False
    # vocab_size is only an upper bound, so the tiny corpus cannot fail it.
    spm.SentencePieceTrainer.train(
        input=corpus, model_prefix=os.path.join(tmp, "m"), model_type="char",
        vocab_size=len(symbols) + _SP_SPECIAL_PIECES + len(set(_SP_CORPUS)),
        hard_vocab_limit=False, user_defined_symbols=symbols,
        add_dummy_prefix=False, normalization_rule_name="identity",
        num_threads=1, minloglevel=2)
    written = [
        workdir_lib.write_bytes_atomically(
            prefix + suffix, epath.Path(tmp, "m" + suffix).read_bytes())
        for suffix in (".model", ".vocab")]
  sidecar = epath.Path(prefix + SIDECAR_SUFFIX)
  vocab.save(sidecar)
  return written + [sidecar]


def _check_sentencepiece_model(processor: spm.SentencePieceProcessor,
                               codebook_sizes: Sequence[int],
                               where: str) -> None:
  """Every code token is one piece of the model, and no other is."""
  for level, size in enumerate(codebook_sizes):
    tokens = [vocab_lib.code_token(level, code) for code in range(size)]
    ids = [processor.piece_to_id(t) for t in tokens]
    missing = [t for t, i in zip(tokens, ids) if i == processor.unk_id()]
    if missing or processor.encode("".join(tokens)) != ids:
      raise VocabFormatError(
          f"{where}: the model lacks code tokens of level {level} (e.g. "
          f"{(missing or tokens)[0]!r}) for codebook sizes "
          f"{list(codebook_sizes)}; it does not belong to its "
          f"{SIDECAR_SUFFIX} file")
  extra = [vocab_lib.code_token(level, size) for level, size in
           enumerate(codebook_sizes)]
  if len(codebook_sizes) < vocab_lib.MAX_TOKEN_LEVELS:
    extra.append(vocab_lib.code_token(len(codebook_sizes), 0))
  for token in extra:
    if processor.piece_to_id(token) != processor.unk_id():
      raise VocabFormatError(
          f"{where}: the model has the code token {token!r}, beyond codebook "
          f"sizes {list(codebook_sizes)}; it does not belong to its "
          f"{SIDECAR_SUFFIX} file")


def load_sentencepiece(path: PathLike, *,
                       expected_fingerprint: str | None = None
                       ) -> SemanticIdVocab:
  """Reads PATH.items.json and checks PATH.model against it.

  Raises:
    VocabFormatError: An invalid sidecar, an unreadable model, or a model
      whose code tokens do not match the sidecar's codebook sizes.
    FingerprintMismatchError: The fingerprint differs from the expected one.
  """
  prefix = _sentencepiece_prefix(path)
  vocab = SemanticIdVocab.load(prefix + SIDECAR_SUFFIX,
                               expected_fingerprint=expected_fingerprint)
  model = prefix + ".model"
  try:
    processor = spm.SentencePieceProcessor(
        model_proto=epath.Path(model).read_bytes())
  except RuntimeError as e:
    raise VocabFormatError(f"{model}: not a SentencePiece model: {e}") from None
  _check_sentencepiece_model(processor, vocab.codebook_sizes, model)
  return vocab


# ---------------------------------------------------------------- dispatch --


def export(vocab: SemanticIdVocab, fmt: str,
           out_path: PathLike) -> list[epath.Path]:
  """Writes `vocab` in format `fmt` (one of FORMATS); returns the files."""
  if fmt == "json":
    vocab.save(out_path)
    return [epath.Path(out_path)]
  if fmt == "tsv":
    return [save_tsv(vocab, out_path)]
  if fmt == "npz":
    return [save_npz(vocab, out_path)]
  if fmt == "sentencepiece":
    return save_sentencepiece(vocab, out_path)
  raise ValueError(f"unknown export format {fmt!r}; expected one of {FORMATS}")


def load_export(fmt: str, path: PathLike, *,
                expected_fingerprint: str | None = None) -> SemanticIdVocab:
  """Reads back what `export(vocab, fmt, path)` wrote, validating it."""
  if fmt == "json":
    return SemanticIdVocab.load(path, expected_fingerprint=expected_fingerprint)
  loaders = {"tsv": load_tsv, "npz": load_npz,
             "sentencepiece": load_sentencepiece}
  if fmt not in loaders:
    raise ValueError(f"unknown export format {fmt!r}; expected one of "
                     f"{FORMATS}")
  return loaders[fmt](path, expected_fingerprint=expected_fingerprint)
