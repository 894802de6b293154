"""Tests of SemanticIdVocab: token layout, encode/decode, vocab.json."""

import json

import numpy as np
import pytest

from jaxrec.semantic_ids import vocab as vocab_lib
from jaxrec.semantic_ids.vocab import SemanticIdVocab

_CODES = np.array([[0, 2, 0], [1, 0, 0], [0, 2, 1], [2, 1, 0]])
_SIZES = (3, 3, 2)
_IDS = ("a", "b", "c", "d")


def _vocab(fingerprint="fp1"):
  return SemanticIdVocab.from_codes(_IDS, _CODES, _SIZES, fingerprint)


def test_from_codes_accepts_numpy_sizes():
  v = SemanticIdVocab.from_codes(list(_IDS), _CODES.astype(np.uint8),
                                 np.array(_SIZES), "fp1")
  assert v == _vocab() and v.codebook_sizes == _SIZES
  assert isinstance(v.codebook_sizes[0], int) and v.item_codes.dtype == np.int32


def test_token_layout():
  v = _vocab()
  assert v.num_items == 4 and v.num_levels == 3
  assert v.token_offsets == (1, 4, 7)
  assert v.vocab_size == 9
  assert vocab_lib.PAD_ID == 0 and vocab_lib.NUM_SPECIAL_TOKENS == 1
  np.testing.assert_array_equal(v.token_level(np.arange(10)),
                                [-1, 0, 0, 0, 1, 1, 1, 2, 2, -1])


def test_encode_decode_round_trip():
  v = _vocab()
  np.testing.assert_array_equal(v.encode(np.array(2)), [1, 6, 8])
  idx = np.array([[3, 0, -1], [1, 2, 2]])
  tokens = v.encode(idx)
  assert tokens.shape == (2, 3, 3) and tokens.dtype == np.int32
  np.testing.assert_array_equal(tokens[0, 2], [0, 0, 0])  # -1 -> PAD.
  decoded = v.decode(tokens)
  assert decoded.dtype == np.int32
  np.testing.assert_array_equal(decoded, idx)


def test_decode_invalid_tuples():
  v = _vocab()
  tokens = np.array([
      [1, 6, 7],  # Item a.
      [1, 6, 8],  # Item c.
      [1, 4, 7],  # In-range codes, but no item has (0, 0, 0).
      [4, 6, 7],  # Level-1 token at level 0.
      [1, 6, 9],  # Past the vocabulary.
      [0, 0, 0],  # PAD.
      [-5, 6, 7],
  ])
  np.testing.assert_array_equal(v.decode(tokens), [0, 2, -1, -1, -1, -1, -1])
  with pytest.raises(ValueError, match="num_levels=3"):
    v.decode(np.array([1, 6]))


def test_encode_rejects_bad_indices():
  with pytest.raises(ValueError, match=r"\[-1, 4\)"):
    _vocab().encode(np.array([4]))


def test_decode_without_int64_keys():
  # 2**21 ** 3 code combinations overflow int64 keys: the fallback path.
  sizes = (2**21,) * 3
  codes = np.array([[5, 2**21 - 1, 0], [5, 0, 7], [0, 0, 0]])
  v = SemanticIdVocab.from_codes(["x", "y", "z"], codes, sizes, "")
  np.testing.assert_array_equal(v.decode(v.encode(np.array([2, 0, 1, -1]))),
                                [2, 0, 1, -1])
  with pytest.raises(ValueError, match="share the code tuple"):
    SemanticIdVocab.from_codes(["x", "y"], codes[[1, 1]], sizes, "")


def test_large_decode_is_vectorised():
  rng = np.random.default_rng(0)
  codes = np.unique(rng.integers(0, 64, size=(60_000, 3)), axis=0)
  v = SemanticIdVocab.from_codes([str(i) for i in range(len(codes))], codes,
                                 (64, 64, 64), "")
  idx = rng.integers(-1, len(codes), size=(500, 200))
  np.testing.assert_array_equal(v.decode(v.encode(idx)), idx)


def test_save_load_round_trip(tmp_path):
  v = _vocab()
  path = tmp_path / "vocab" / "vocab.json"
  v.save(path)
  loaded = SemanticIdVocab.load(path, expected_fingerprint="fp1")
  assert loaded == v
  assert loaded.item_ids == _IDS
  obj = json.loads(path.read_text())
  assert list(obj) == ["format_version", "num_levels", "codebook_sizes",
                       "token_offsets", "num_special_tokens",
                       "dataset_fingerprint", "items"]
  assert obj["items"] == {"a": [0, 2, 0], "b": [1, 0, 0], "c": [0, 2, 1],
                          "d": [2, 1, 0]}
  assert obj["token_offsets"] == [1, 4, 7]
  v.save(tmp_path / "again.json")  # Byte-identical output.
  assert (tmp_path / "again.json").read_text() == path.read_text()
  v.save(path)  # Overwrites in place, leaving no temporary file.
  assert sorted(p.name for p in path.parent.iterdir()) == ["vocab.json"]


def test_vocab_is_immutable():
  v = _vocab()
  with pytest.raises(ValueError):
    v.item_codes[0, 0] = 1
  with pytest.raises(AttributeError):
    v.dataset_fingerprint = "other"


def _tiger_like_vocab():
  """3 x 256 codes + a collision level of 5: items 0..4 share (17, 3, 200)."""
  codes = [[17, 3, 200, c] for c in range(5)] + [[0, 0, 0, 0], [255, 1, 2, 0]]
  return SemanticIdVocab.from_codes([f"i{i}" for i in range(len(codes))],
                                    np.array(codes), (256, 256, 256, 5), "fp")


def test_token_strings():
  v = _tiger_like_vocab()
  assert v.item_token_string(0) == "<a_17><b_3><c_200><d_0>"
  assert v.item_token_string(4) == "<a_17><b_3><c_200><d_4>"
  assert vocab_lib.parse_token_string("<a_17><b_3><c_200><d_0>") == (
      17, 3, 200, 0)
  for index in range(v.num_items):
    assert v.item_index_of_token_string(v.item_token_string(index)) == index
  assert v.item_index_of_token_string("<a_0><b_0><c_0><d_4>") == -1
  assert vocab_lib.codes_token_string((17, 3)) == "<a_17><b_3>"
  assert vocab_lib.code_tokens((2, 1)) == ["<a_0>", "<a_1>", "<b_0>"]
  assert vocab_lib.code_token(25, 1) == "<z_1>"
  with pytest.raises(ValueError, match="at most 26 levels"):
    vocab_lib.code_token(26, 0)
  with pytest.raises(IndexError):
    v.item_token_string(v.num_items)


@pytest.mark.parametrize("text, match", [
    ("<b_3><a_17>", "levels must be ab in order"),
    ("<a_17> <b_3>", "not a sequence of code tokens"),
    ("<a_17><b_x>", "not a sequence of code tokens"),
    ("", "not a sequence of code tokens"),
])
def test_parse_token_string_rejects(text, match):
  with pytest.raises(ValueError, match=match):
    vocab_lib.parse_token_string(text)


def test_parse_token_string_checks_sizes():
  with pytest.raises(ValueError, match="outside"):
    vocab_lib.parse_token_string("<a_7>", (7,))
  with pytest.raises(ValueError, match="has 2 levels, expected 1"):
    vocab_lib.parse_token_string("<a_1><b_1>", (7,))


def test_check_fingerprint():
  v = _vocab()
  assert v.check_fingerprint(None, "here") is v
  assert v.check_fingerprint("fp1", "here") is v
  with pytest.raises(vocab_lib.FingerprintMismatchError,
                     match="here: dataset_fingerprint 'fp1'.*'fp2'"):
    v.check_fingerprint("fp2", "here")


def test_fingerprint_mismatch(tmp_path):
  path = tmp_path / "vocab.json"
  _vocab("fp1").save(path)
  with pytest.raises(vocab_lib.FingerprintMismatchError,
                     match=r"vocab.json.*'fp1'.*'fp2'"):
    SemanticIdVocab.load(path, expected_fingerprint="fp2")


def _corrupt(obj, field, value):
  obj = dict(obj)
  if value is _DELETE:
    del obj[field]
  else:
    obj[field] = value
  return obj


_DELETE = object()
_CORRUPTIONS = [
    ("format_version", 2, "format_version"),
    ("format_version", _DELETE, "format_version"),
    ("num_levels", 4, "num_levels"),
    ("codebook_sizes", [3, 0, 2], "codebook_sizes"),
    ("codebook_sizes", [3, 3], "num_levels"),
    ("token_offsets", [1, 4, 8], "token_offsets"),
    ("num_special_tokens", 2, "num_special_tokens"),
    ("dataset_fingerprint", 7, "dataset_fingerprint"),
    ("extra_field", 1, "extra_field"),
    ("items", {"a": [0, 2, 0], "b": [0, 2, 0]}, "items"),  # Same tuple.
    ("items", {"a": [0, 3, 0]}, "items"),  # Code out of range.
    ("items", {"a": [0, 2]}, "items"),  # Too few levels.
    ("items", {"a": [0, 2.0, 0]}, "items"),  # Not an int.
    ("items", {"a": [0, True, 0]}, "items"),
    ("items", {"a": [0, 2**70, 0]}, "items"),
    ("items", {}, "items"),
    ("items", [[0, 2, 0]], "items"),
]


@pytest.mark.parametrize("field,value,named", _CORRUPTIONS)
def test_load_rejects_corrupted_field(tmp_path, field, value, named):
  path = tmp_path / "vocab.json"
  obj = _corrupt(_vocab().to_json_dict(), field, value)
  path.write_text(json.dumps(obj))
  with pytest.raises(vocab_lib.VocabFormatError,
                     match=rf"vocab\.json: field '{named}'"):
    SemanticIdVocab.load(path)


def test_load_rejects_duplicate_item_ids_and_bad_json(tmp_path):
  path = tmp_path / "vocab.json"
  _vocab().save(path)
  text = path.read_text()
  path.write_text(text.replace('"b": [1, 0, 0]', '"a": [1, 0, 0]'))
  with pytest.raises(vocab_lib.VocabFormatError, match="'a' appears more"):
    SemanticIdVocab.load(path)
  path.write_text(text[:-10])
  with pytest.raises(vocab_lib.VocabFormatError, match="not valid JSON"):
    SemanticIdVocab.load(path)


@pytest.mark.parametrize("ids,codes,sizes,match", [
    (_IDS, _CODES[[0, 0, 1, 2]], _SIZES, "share the code tuple"),
    (_IDS, _CODES + [0, 0, 1], _SIZES, "outside"),
    (_IDS[:3], _CODES, _SIZES, "shape"),
    (("a", "a", "b", "c"), _CODES, _SIZES, "'a' appears more than once"),
    (_IDS, _CODES, (3, 3), "shape"),
    (_IDS, _CODES, (3, 3, 0), "codebook_sizes"),
    (_IDS, _CODES.astype(float), _SIZES, "integers"),
])
def test_from_codes_validates(ids, codes, sizes, match):
  with pytest.raises(vocab_lib.VocabFormatError, match=match):
    SemanticIdVocab.from_codes(ids, codes, sizes, "fp")
