"""Tests of the vocabulary exports and the export_vocab command."""

import io
import os
import pathlib
import subprocess
import sys
import zipfile

import numpy as np
import pytest
import sentencepiece as spm

from jaxrec.semantic_ids import collisions
from jaxrec.semantic_ids import export
from jaxrec.semantic_ids import vocab as vocab_lib

REPO = pathlib.Path(__file__).parents[1]
FINGERPRINT = "fp-0123"
_FILENAMES = {"json": "vocab.json", "tsv": "codes.tsv", "npz": "codes.npz",
              "sentencepiece": "items"}


def _unicode_vocab():
  """3 levels + a collision level, unicode and odd (but legal) item ids."""
  ids = ["été", "東京", "a b", "#not-a-comment", "", "x,y", "🎬", "plain"]
  rng = np.random.default_rng(0)
  codes = rng.integers(0, 3, size=(len(ids), 3))
  codes[1] = codes[0]  # Forces a collision.
  codes, extra = collisions.add_collision_level(codes)
  return vocab_lib.SemanticIdVocab.from_codes(ids, codes, (3, 3, 3, extra),
                                              FINGERPRINT)


def _one_level_vocab():
  ids = [f"item{i}" for i in range(5)]
  return vocab_lib.SemanticIdVocab.from_codes(
      ids, np.arange(5)[::-1, None], (7,), FINGERPRINT)


def _tiger_vocab(num_items=300, seed=1):
  """3 x 256 codes + a collision level, as in TIGER."""
  rng = np.random.default_rng(seed)
  codes = rng.integers(0, 256, size=(num_items, 3))
  codes[:5] = [17, 3, 200]  # A bucket of 5: the collision level has 5 codes.
  codes, extra = collisions.add_collision_level(codes)
  ids = [str(1000 + i) for i in range(num_items)]
  return vocab_lib.SemanticIdVocab.from_codes(
      ids, codes, (256, 256, 256, extra), f"movielens-{seed}")


VOCABS = {"unicode": _unicode_vocab, "one_level": _one_level_vocab,
          "tiger": _tiger_vocab}


@pytest.mark.parametrize("fmt", export.FORMATS)
@pytest.mark.parametrize("name", sorted(VOCABS))
def test_round_trip_gives_identical_vocab(tmp_path, fmt, name):
  vocab = VOCABS[name]()
  path = tmp_path / _FILENAMES[fmt]
  written = export.export(vocab, fmt, path)
  assert all(p.exists() for p in written)
  loaded = export.load_export(
      fmt, path, expected_fingerprint=vocab.dataset_fingerprint)
  assert loaded == vocab
  assert loaded.item_ids == vocab.item_ids  # Order kept, types str.
  assert all(type(i) is str for i in loaded.item_ids)


def test_sentencepiece_files_and_model_suffix(tmp_path):
  vocab = _one_level_vocab()
  written = export.export(vocab, "sentencepiece", tmp_path / "sp.model")
  assert sorted(p.name for p in written) == [
      "sp.items.json", "sp.model", "sp.vocab"]
  assert export.load_export("sentencepiece", tmp_path / "sp") == vocab
  assert export.load_export("sentencepiece", tmp_path / "sp.model") == vocab


def test_sentencepiece_encodes_code_tokens_as_single_pieces(tmp_path):
  vocab = _tiger_vocab()
  export.export(vocab, "sentencepiece", tmp_path / "sp")
  processor = spm.SentencePieceProcessor(model_file=str(tmp_path / "sp.model"))
  text = "<a_17><b_3><c_200><d_0>"
  assert processor.encode(text, out_type=str) == [
      "<a_17>", "<b_3>", "<c_200>", "<d_0>"]
  assert processor.decode(processor.encode(text)) == text
  # Every item's token string is exactly its L pieces.
  for index in range(0, vocab.num_items, 37):
    pieces = processor.encode(vocab.item_token_string(index), out_type=str)
    assert len(pieces) == vocab.num_levels
  assert processor.piece_to_id("<a_256>") == processor.unk_id()
  vocab_lines = (tmp_path / "sp.vocab").read_text(encoding="utf-8")
  assert "<a_17>\t" in vocab_lines and "<d_4>\t" in vocab_lines


def test_more_than_26_levels_cannot_be_sentencepiece(tmp_path):
  vocab = vocab_lib.SemanticIdVocab.from_codes(
      ["i"], np.zeros((1, 27), np.int32), (1,) * 27, FINGERPRINT)
  with pytest.raises(ValueError, match="at most 26 levels"):
    export.export(vocab, "sentencepiece", tmp_path / "sp")


# ---------------------------------------------------------------- errors --


@pytest.mark.parametrize("fmt", export.FORMATS)
def test_fingerprint_mismatch(tmp_path, fmt):
  path = tmp_path / _FILENAMES[fmt]
  export.export(_one_level_vocab(), fmt, path)
  with pytest.raises(vocab_lib.FingerprintMismatchError, match="other data"):
    export.load_export(fmt, path, expected_fingerprint="another")


def test_unknown_format(tmp_path):
  with pytest.raises(ValueError, match="unknown export format"):
    export.export(_one_level_vocab(), "xml", tmp_path / "x")
  with pytest.raises(ValueError, match="unknown export format"):
    export.load_export("xml", tmp_path / "x")


@pytest.mark.parametrize("bad_id", ["a\tb", "a\nb", "a\rb"])
def test_tsv_refuses_ids_with_tabs_or_newlines(tmp_path, bad_id):
  vocab = vocab_lib.SemanticIdVocab.from_codes(
      ["ok", bad_id], [[0], [1]], (2,), FINGERPRINT)
  with pytest.raises(ValueError, match="tab, newline or carriage return"):
    export.save_tsv(vocab, tmp_path / "codes.tsv")
  assert not (tmp_path / "codes.tsv").exists()


def _corrupt_tsv(tmp_path, line_number, new_line):
  """Writes the unicode vocab's TSV with line `line_number` (1-based) replaced
  (or removed, if new_line is None); returns the path."""
  path = tmp_path / "codes.tsv"
  export.save_tsv(_unicode_vocab(), path)
  lines = path.read_text(encoding="utf-8").split("\n")
  if new_line is None:
    del lines[line_number - 1]
  else:
    lines[line_number - 1] = new_line
  path.write_text("\n".join(lines), encoding="utf-8")
  return path


# The unicode vocab's file: 3 comment lines, the header row on line 4, items
# on lines 5-12 (line 6 is the item '東京').
@pytest.mark.parametrize("line, new_line, match", [
    (6, "東京\t1\tx\t0\t0", r"line 6, field 'code_1': 'x' is not an integer"),
    (6, "東京\t1\t1.0\t0\t0", r"line 6, field 'code_1': '1.0' is not"),
    (6, "東京\t1\t 1\t0\t0", r"line 6, field 'code_1': ' 1' is not"),
    (6, "東京\t1\t1\t0", r"line 6, field 'columns': expected 5 .* got 4"),
    (6, "", r"line 6, field 'columns'"),
    (7, "東京\t0\t0\t0\t0",
     r"line 7, field 'item_id': .*'東京' already appears on line 6"),
    (6, "東京\t1\t3\t0\t0",
     r"line 6, field 'code_1': code 3 is outside \[0, 3\)"),
    (6, "東京\t-1\t0\t0\t0", r"line 6, field 'code_0': code -1 is outside"),
    (4, None, r"line 4, field 'header': expected the header row"),
    (4, "item_id\tcode_0\tcode_1", r"line 4, field 'header'"),
    (2, None, r"line 3, field 'codebook_sizes': missing header comment"),
    (2, "# codebook_sizes: [3, 3, 0, 2]",
     r"line 2, field 'codebook_sizes': must be a non-empty list of positive"),
    (1, "# format_version: 2",
     r"line 1, field 'format_version': unsupported version 2"),
    (1, "# colour: 1", r"line 1, field 'colour': unknown or repeated key"),
    (3, "# fingerprint: fp", r"line 3, field 'fingerprint': not valid JSON"),
    (1, "#format_version: 1", r"line 1, field 'comment'"),
])
def test_tsv_errors_name_file_line_and_field(tmp_path, line, new_line, match):
  path = _corrupt_tsv(tmp_path, line, new_line)
  with pytest.raises(vocab_lib.VocabFormatError, match=match) as info:
    export.load_tsv(path)
  assert str(info.value).startswith(str(path))


def test_tsv_duplicate_code_tuples_are_refused(tmp_path):
  path = tmp_path / "codes.tsv"
  export.save_tsv(_unicode_vocab(), path)
  codes_of_line_5 = path.read_text(encoding="utf-8").split("\n")[4].split(
      "\t", 1)[1]
  path = _corrupt_tsv(tmp_path, 6, "東京\t" + codes_of_line_5)
  with pytest.raises(vocab_lib.VocabFormatError,
                     match=f"{path}: .*share the code tuple"):
    export.load_tsv(path)


def test_tsv_empty_or_not_utf8(tmp_path):
  path = tmp_path / "codes.tsv"
  path.write_bytes(b"")
  with pytest.raises(vocab_lib.VocabFormatError,
                     match="line 1, field 'format_version': missing"):
    export.load_tsv(path)
  path.write_bytes(b"\xff\xfe")
  with pytest.raises(vocab_lib.VocabFormatError, match="not valid UTF-8"):
    export.load_tsv(path)


def test_tsv_accepts_crlf_line_ends(tmp_path):
  vocab = _unicode_vocab()
  path = tmp_path / "codes.tsv"
  export.save_tsv(vocab, path)
  path.write_bytes(path.read_bytes().replace(b"\n", b"\r\n"))
  assert export.load_tsv(path) == vocab


def _write_npz(path, **arrays):
  buffer = io.BytesIO()
  np.savez(buffer, **arrays)  # Pickles object arrays.
  path.write_bytes(buffer.getvalue())


def _npz_arrays(vocab):
  return {"item_ids": np.array(vocab.item_ids, dtype=str),
          "item_codes": vocab.item_codes,
          "codebook_sizes": np.array(vocab.codebook_sizes),
          "fingerprint": np.array(vocab.dataset_fingerprint),
          "format_version": np.array(export.NPZ_FORMAT_VERSION)}


def test_npz_is_loadable_without_pickle(tmp_path):
  vocab = _unicode_vocab()
  export.save_npz(vocab, tmp_path / "codes.npz")
  with np.load(tmp_path / "codes.npz", allow_pickle=False) as archive:
    assert archive["item_ids"].dtype.kind == "U"
    assert archive["item_codes"].dtype == np.int32
    assert archive["item_codes"].shape == (vocab.num_items, vocab.num_levels)
    assert str(archive["fingerprint"]) == FINGERPRINT


def test_npz_refuses_object_arrays(tmp_path):
  vocab = _unicode_vocab()
  arrays = _npz_arrays(vocab)
  arrays["item_ids"] = np.array(vocab.item_ids, dtype=object)
  _write_npz(tmp_path / "codes.npz", **arrays)
  with pytest.raises(vocab_lib.VocabFormatError,
                     match="field 'item_ids': cannot be read without pickle"):
    export.load_npz(tmp_path / "codes.npz")


@pytest.mark.parametrize("change, match", [
    ({"extra": np.zeros(1)}, "expected arrays"),
    ({"item_codes": np.zeros((8, 4), np.float32)}, "field 'item_codes'"),
    ({"item_ids": np.arange(8)}, "field 'item_ids'"),
    ({"format_version": np.array(9)}, "unsupported version 9"),
    ({"codebook_sizes": np.array([3, 3, 3])}, "field 'item_codes'"),
])
def test_npz_refuses_bad_arrays(tmp_path, change, match):
  arrays = _npz_arrays(_unicode_vocab())
  arrays.update(change)
  _write_npz(tmp_path / "codes.npz", **arrays)
  with pytest.raises(vocab_lib.VocabFormatError, match=match):
    export.load_npz(tmp_path / "codes.npz")


def test_npz_refuses_non_archives_and_nul_ids(tmp_path):
  (tmp_path / "x.npz").write_bytes(b"not a zip")
  with pytest.raises(vocab_lib.VocabFormatError, match="not an npz archive"):
    export.load_npz(tmp_path / "x.npz")
  with zipfile.ZipFile(tmp_path / "empty.npz", "w"):
    pass
  with pytest.raises(vocab_lib.VocabFormatError, match="expected arrays"):
    export.load_npz(tmp_path / "empty.npz")
  vocab = vocab_lib.SemanticIdVocab.from_codes(["a\0"], [[0]], (1,), "f")
  with pytest.raises(ValueError, match="NUL"):
    export.save_npz(vocab, tmp_path / "nul.npz")


def test_sentencepiece_model_must_match_its_sidecar(tmp_path):
  export.export(_one_level_vocab(), "sentencepiece", tmp_path / "sp")
  export.export(_unicode_vocab(), "sentencepiece", tmp_path / "other")
  (tmp_path / "sp.model").write_bytes((tmp_path / "other.model").read_bytes())
  with pytest.raises(vocab_lib.VocabFormatError, match="does not belong"):
    export.load_export("sentencepiece", tmp_path / "sp")
  (tmp_path / "sp.model").write_bytes(b"garbage")
  with pytest.raises(vocab_lib.VocabFormatError, match="not a SentencePiece"):
    export.load_export("sentencepiece", tmp_path / "sp")
  (tmp_path / "other.items.json").unlink()
  with pytest.raises(FileNotFoundError):
    export.load_export("sentencepiece", tmp_path / "other")


# ------------------------------------------------------------------- CLI --


def _cli(*args):
  env = dict(os.environ, JAX_PLATFORMS="cpu")
  return subprocess.run([sys.executable, "-m", "jaxrec.export_vocab", *args],
                        cwd=REPO, env=env, capture_output=True, text=True,
                        timeout=60, check=False)


def test_cli_exports_the_workdir_vocab(tmp_path):
  vocab = _tiger_vocab(num_items=50)
  vocab.save(tmp_path / "run" / "vocab" / vocab_lib.VOCAB_FILENAME)
  out = tmp_path / "exports" / "items"
  result = _cli(f"--workdir={tmp_path / 'run'}", "--format=sentencepiece",
                f"--out={out}")
  assert result.returncode == 0, result.stderr
  assert "Exported 50 items x 4 levels" in result.stderr
  assert str(out) + ".model" in result.stdout
  assert export.load_export("sentencepiece", out,
                            expected_fingerprint=vocab.dataset_fingerprint
                            ) == vocab


def test_cli_errors(tmp_path):
  result = _cli(f"--workdir={tmp_path}", "--format=tsv",
                f"--out={tmp_path / 'codes.tsv'}")
  assert result.returncode != 0
  assert "run jaxrec.tokenize or jaxrec.main first" in result.stderr
  assert not (tmp_path / "codes.tsv").exists()
  result = _cli(f"--workdir={tmp_path}", "--format=tsv", "--out=x",
                "--no_such_flag=1")
  assert result.returncode != 0 and "no_such_flag" in result.stderr
