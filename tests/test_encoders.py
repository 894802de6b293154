"""Item encoders: precomputed (validated), collaborative and hybrid."""

import json

import ml_collections
import numpy as np
import pytest

from jaxrec.semantic_ids import collaborative_encoder
from jaxrec.semantic_ids import encoders
from jaxrec.semantic_ids import hybrid_encoder


class _Items:
  item_ids = ["a", "b", "c"]
  titles = ["A", "B", "C"]
  genres = [[], [], []]
  years = np.zeros(3, np.int64)
  fingerprint = "fp"


def _write(tmp_path, embeddings, ids, ids_name="ids.json"):
  emb_path, ids_path = tmp_path / "emb.npy", tmp_path / ids_name
  np.save(emb_path, np.asarray(embeddings))
  ids_path.write_text(json.dumps(ids) if ids_name.endswith(".json")
                      else "\n".join(ids) + "\n")
  return ml_collections.ConfigDict({
      "kind": "precomputed", "embeddings_path": str(emb_path),
      "item_ids_path": str(ids_path)})


@pytest.mark.parametrize("ids_name", ["ids.json", "ids.txt"])
def test_precomputed_rows_follow_dataset_order(tmp_path, ids_name):
  rows = np.array([[3.0, 0.0], [1.0, 0.0], [2.0, 0.0]], np.float64)
  config = _write(tmp_path, rows, ["c", "a", "b"], ids_name)
  embeddings = encoders.encode_items(config, _Items(), seed=0)
  assert embeddings.dtype == np.float32
  np.testing.assert_array_equal(embeddings[:, 0], [1.0, 2.0, 3.0])


@pytest.mark.parametrize("rows, ids, message", [
    (np.ones((3, 2)), ["a", "b"], r"ids.json lists 2 item ids but .*emb.npy "
     r"has 3 rows"),
    (np.ones((3, 2)), ["a", "b", "b"], r"'b' repeated \(entry 3, first at "
     r"entry 2\)"),
    (np.ones((3, 2)), ["a", "b", "x"], r"1 dataset item\(s\) have no "
     r"embedding \(e.g. \['c'\]\), 1 id\(s\) are not in the dataset "
     r"\(e.g. \['x'\]\)"),
    (np.array([[1.0, 0], [np.nan, 0], [0, np.inf]]), ["a", "b", "c"],
     r"emb.npy: 2 row\(s\) hold NaN or Inf, first at row 1"),
    (np.ones(3), ["a", "b", "c"], r"expected a \[num_items, dim\] array"),
    (np.ones((3, 2), np.int32), ["a", "b", "c"], "expected floats"),
])
def test_precomputed_bad_input_names_file_and_problem(tmp_path, rows, ids,
                                                      message):
  config = _write(tmp_path, rows, ids)
  with pytest.raises(encoders.EmbeddingsError, match=message):
    encoders.encode_items(config, _Items(), seed=0)


def test_precomputed_refuses_pickled_arrays(tmp_path):
  config = _write(tmp_path, np.ones((3, 2)), ["a", "b", "c"])
  np.save(config.embeddings_path, np.array([{"x": 1}] * 3, dtype=object),
          allow_pickle=True)
  with pytest.raises(encoders.EmbeddingsError, match="not a plain .npy"):
    encoders.encode_items(config, _Items(), seed=0)


def test_missing_file_is_named(tmp_path):
  config = _write(tmp_path, np.ones((3, 2)), ["a", "b", "c"])
  config.item_ids_path = str(tmp_path / "nope.json")
  with pytest.raises(encoders.EmbeddingsError, match="no such file.*nope"):
    encoders.encode_items(config, _Items(), seed=0)


def test_unknown_kind():
  with pytest.raises(ValueError, match="'word2vec' is not one of"):
    encoders.encode_items(ml_collections.ConfigDict({"kind": "word2vec"}),
                          _Items(), seed=0)


def test_cooccurrence_counts_by_inverse_distance():
  pairs, weights = collaborative_encoder.cooccurrence(
      [np.array([0, 1, 2]), np.array([2, 1])], num_items=3, window=2)
  table = np.zeros((3, 3))
  table[pairs[:, 0], pairs[:, 1]] = weights
  np.testing.assert_allclose(table, [[0, 1, 0.5], [1, 0, 2], [0.5, 2, 0]])


def test_collaborative_embeddings_group_items_used_together():
  rng = np.random.default_rng(0)
  # Two communities of items (0-9 and 10-19); users stay in one of them.
  sequences = [rng.choice(10, size=12) + 10 * (user % 2)
               for user in range(200)]
  config = ml_collections.ConfigDict({"kind": "collaborative", "dim": 4,
                                      "window": 3})
  items = _Items()
  items.item_ids = [str(i) for i in range(21)]  # Item 20 is never seen.
  embeddings = encoders.encode_items(config, items, seed=0,
                                     train_sequences=sequences)
  assert embeddings.shape == (21, 4)
  np.testing.assert_array_equal(embeddings[20], 0.0)
  np.testing.assert_allclose(np.linalg.norm(embeddings[:20], axis=1), 1.0,
                             rtol=1e-5)
  similarity = embeddings[:20] @ embeddings[:20].T
  within = similarity[:10, :10].mean() + similarity[10:, 10:].mean()
  across = similarity[:10, 10:].mean()
  assert within / 2 > across + 0.5
  with pytest.raises(ValueError, match="training sequences"):
    encoders.encode_items(config, items, seed=0)


# ------------------------------------------------------------------ hybrid --

# Items 0-19 in two communities (0-9 "red", 10-19 "blue"), item 20 never seen.
_SEQUENCES = [np.random.default_rng(user).choice(10, size=12) + 10 * (user % 2)
              for user in range(60)]


def _hybrid_items():
  items = _Items()
  items.item_ids = [str(i) for i in range(21)]
  items.titles = [f"{'red' if i < 10 else 'blue'} thing{i}" for i in range(21)]
  items.genres = [["Red"] if i < 10 else ["Blue"] for i in range(21)]
  items.years = np.zeros(21, np.int64)
  return items


def _hybrid_config(**overrides):
  config = encoders.default_config("hybrid")
  config.update(dict(text_dim=4, collab_dim=3, window=3, **overrides))
  return config


def test_hybrid_default_config():
  assert "hybrid" in encoders.KINDS
  config = encoders.default_config("hybrid")
  assert (config.text_kind, config.text_weight, config.shrinkage) == (
      "lexical", 0.5, 5.0)
  text = encoders.hybrid_text_config(config)
  assert text.kind == "lexical" and text.dim == config.text_dim
  config.text_kind = "sentence_transformer"
  assert encoders.hybrid_text_config(config).to_dict() == {
      "kind": "sentence_transformer", "model_dir": "", "batch_size": 256}


def test_hybrid_shape_and_halves():
  items = _hybrid_items()
  embeddings = encoders.encode_items(_hybrid_config(), items, seed=0,
                                     train_sequences=_SEQUENCES)
  assert embeddings.shape == (21, 7) and embeddings.dtype == np.float32
  text, collab = embeddings[:, :4], embeddings[:, 4:]
  np.testing.assert_allclose(np.linalg.norm(text, axis=1), np.sqrt(0.5),
                             rtol=1e-5)
  # Never seen in training: no collaborative half at all.
  np.testing.assert_array_equal(collab[20], 0.0)
  # Seen c times: the unit collaborative row scaled by sqrt(1 - w) c/(c + k).
  counts = np.bincount(np.concatenate(_SEQUENCES), minlength=21)
  np.testing.assert_allclose(np.linalg.norm(collab[:20], axis=1),
                             np.sqrt(0.5) * counts[:20] / (counts[:20] + 5),
                             rtol=1e-5)


def test_hybrid_text_weight_one_is_the_text_embedding():
  items = _hybrid_items()
  embeddings = encoders.encode_items(_hybrid_config(text_weight=1.0), items,
                                     seed=0, train_sequences=_SEQUENCES)
  lexical = encoders.encode_items(
      encoders.hybrid_text_config(_hybrid_config()), items, seed=0)
  lexical = lexical / np.linalg.norm(lexical, axis=1, keepdims=True)
  np.testing.assert_allclose(embeddings[:, :4], lexical, atol=1e-6)
  np.testing.assert_array_equal(embeddings[:, 4:], 0.0)


def test_hybrid_collaborative_scale():
  counts = np.array([0, 1, 5, 10])
  np.testing.assert_allclose(
      hybrid_encoder.collaborative_scale(counts, 5.0), [0, 1 / 6, 0.5, 2 / 3])
  np.testing.assert_array_equal(
      hybrid_encoder.collaborative_scale(counts, 0.0), [0, 1, 1, 1])
  np.testing.assert_array_equal(
      hybrid_encoder.item_counts([np.array([2, 0, 2]), np.array([2])], 4),
      [1, 0, 3, 0])


@pytest.mark.parametrize("overrides, message", [
    (dict(text_weight=1.5), r"encoder.text_weight=1.5 must be in \[0, 1\]"),
    (dict(text_weight=-0.1), r"encoder.text_weight=-0.1 must be in \[0, 1\]"),
    (dict(shrinkage=-1.0), r"encoder.shrinkage=-1.0 must be >= 0"),
    (dict(text_kind="collaborative"),
     r"encoder.text_kind='collaborative' is not one of"),
])
def test_hybrid_bad_config(overrides, message):
  with pytest.raises(ValueError, match=message):
    encoders.encode_items(_hybrid_config(**overrides), _hybrid_items(),
                          seed=0, train_sequences=_SEQUENCES)


def test_hybrid_needs_training_sequences():
  with pytest.raises(ValueError, match="'hybrid' needs the training"):
    encoders.encode_items(_hybrid_config(), _hybrid_items(), seed=0)
