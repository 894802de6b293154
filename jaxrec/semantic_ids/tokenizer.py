"""Builds a semantic-ID vocabulary from item metadata and a tokenizer recipe.

Pipeline: lexical encoder -> residual k-means -> collision level -> vocab
(recipe: tokenizers/rqkmeans.py). The `item_id` recipe instead gives every
item one token of its own (SASRec's vocabulary, for the baseline). `build_vocab` is pure computation;
`build_or_load_vocab` adds the work-directory stage:

  WORKDIR/vocab/vocab.json          the vocabulary (written last: its presence
                                    marks the stage as done)
  WORKDIR/vocab/stats.json          quantization stats
  WORKDIR/embeddings/embeddings.npy item embeddings [num_items, dim] float32
  WORKDIR/embeddings/item_ids.json  their raw item ids, in row order
"""

from collections.abc import Sequence
import io
import json
from typing import Any, Protocol

from absl import logging
from etils import epath
import jax
import ml_collections
import numpy as np

from jaxrec.semantic_ids import collisions
from jaxrec.semantic_ids import lexical_encoder
from jaxrec.semantic_ids import residual_kmeans
from jaxrec.semantic_ids import vocab as vocab_lib


def encode(encoder_config: ml_collections.ConfigDict, titles: Sequence[str],
           genres: Sequence[Sequence[str]], years: np.ndarray,
           seed: int, brands: Sequence[str] | None = None) -> np.ndarray:
  """Item embeddings [num_items, encoder_config.dim] float32.

  `brands` ([num_items], "" = unknown) add brand tokens, weighted by
  `encoder_config.brand_weight` when the recipe sets it (default 1.0).
  """
  if encoder_config.kind != "lexical":
    raise ValueError(f"encoder.kind={encoder_config.kind!r} is not supported "
                     "here; expected 'lexical'")
  return lexical_encoder.encode_items(
      titles, genres, years, encoder_config.dim, seed,
      genre_weight=encoder_config.genre_weight,
      year_weight=encoder_config.year_weight, brands=brands,
      brand_weight=encoder_config.get(
          "brand_weight", lexical_encoder.DEFAULT_BRAND_WEIGHT))


def build_vocab(
    config: ml_collections.ConfigDict,
    titles: Sequence[str],
    genres: Sequence[Sequence[str]],
    years: np.ndarray,
    item_ids: Sequence[str],
    fingerprint: str,
    brands: Sequence[str] | None = None,
) -> tuple[vocab_lib.SemanticIdVocab, np.ndarray, dict[str, Any]]:
  """Runs the recipe on [num_items] item metadata.

  Args:
    config: A tokenizer recipe (see tokenizers/rqkmeans.py).
    titles: [num_items] titles.
    genres: [num_items] genre lists.
    years: [num_items] int years, 0 = unknown.
    item_ids: [num_items] raw item ids, in dense-index order.
    fingerprint: The dataset fingerprint stored in the vocabulary.
    brands: [num_items] brands ("" = unknown), or None when there are none.

  Returns:
    (vocab, embeddings [num_items, dim] float32 or None for `item_id`,
    stats): stats are `quantization_stats` of the L quantizer levels (before
    the collision level) plus `collision_level_size`.
  """
  if config.quantizer == "item_id":
    return item_id_vocab(item_ids, fingerprint), None, {
        "num_items": len(item_ids), "codebook_sizes": [len(item_ids)]}
  if config.quantizer != "rqkmeans":
    raise ValueError(f"quantizer={config.quantizer!r} is not supported here; "
                     "expected 'rqkmeans' or 'item_id'")
  embeddings = encode(config.encoder, titles, genres, years, config.seed,
                      brands)
  sizes = tuple(config.codebook_sizes)
  codes, _ = residual_kmeans.residual_kmeans(
      embeddings, sizes, num_iters=config.num_iters, seed=config.seed,
      chunk_size=config.chunk_size)
  stats = collisions.quantization_stats(codes, sizes)
  codes, extra_size = collisions.add_collision_level(codes)
  stats["collision_level_size"] = extra_size
  vocab = vocab_lib.SemanticIdVocab.from_codes(
      item_ids, codes, sizes + (extra_size,), fingerprint)
  logging.info("Semantic IDs: %s", stats)
  return vocab, embeddings, stats


def item_id_vocab(item_ids: Sequence[str], fingerprint: str
                  ) -> vocab_lib.SemanticIdVocab:
  """One level whose code is the item index: each item is its own token."""
  codes = np.arange(len(item_ids), dtype=np.int32)[:, None]
  return vocab_lib.SemanticIdVocab.from_codes(item_ids, codes,
                                              (len(item_ids),), fingerprint)


class ItemTable(Protocol):
  """What the stage needs of a dataset (e.g. `jaxrec.data` InteractionData).

  An optional `brands` attribute ([num_items] str) is used when present.
  """
  item_ids: Sequence[str]
  titles: Sequence[str]
  genres: Sequence[Sequence[str]]
  years: np.ndarray

  @property
  def fingerprint(self) -> str:
    ...


def _write_outputs(workdir: epath.Path, vocab: vocab_lib.SemanticIdVocab,
                   embeddings: np.ndarray | None, stats: dict[str, Any]
                   ) -> None:
  if embeddings is not None:
    emb_dir = workdir / "embeddings"
    emb_dir.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    np.save(buffer, embeddings, allow_pickle=False)
    (emb_dir / "embeddings.npy").write_bytes(buffer.getvalue())
    (emb_dir / "item_ids.json").write_text(json.dumps(list(vocab.item_ids)))
  vocab_dir = workdir / "vocab"
  vocab_dir.mkdir(parents=True, exist_ok=True)
  (vocab_dir / "stats.json").write_text(json.dumps(stats, indent=2))
  vocab.save(vocab_dir / vocab_lib.VOCAB_FILENAME)


def build_or_load_vocab(config: ml_collections.ConfigDict, data: ItemTable,
                        workdir: str) -> vocab_lib.SemanticIdVocab:
  """Loads WORKDIR/vocab/vocab.json if present, else builds and writes it.

  A loaded vocabulary must carry `data.fingerprint` (else
  `FingerprintMismatchError`). Every process builds the same vocabulary
  (deterministic); only process 0 writes the files.
  """
  workdir = epath.Path(workdir)
  path = workdir / "vocab" / vocab_lib.VOCAB_FILENAME
  if path.exists():
    logging.info("Reusing the semantic-ID vocabulary %s.", path)
    return vocab_lib.SemanticIdVocab.load(
        path, expected_fingerprint=data.fingerprint)
  vocab, embeddings, stats = build_vocab(
      config, data.titles, data.genres, data.years, data.item_ids,
      data.fingerprint, getattr(data, "brands", None))
  if jax.process_index() == 0:
    _write_outputs(workdir, vocab, embeddings, stats)
  return vocab
