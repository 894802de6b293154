"""Builds a semantic-ID vocabulary from a dataset and a tokenizer recipe.

Pipeline (recipes in tokenizers/): item encoder (`encoders`) -> quantizer
(`rqkmeans` residual k-means, `rqvae`, or `random` codes) -> collision level
-> `SemanticIdVocab`. The `item_id` recipe instead gives every item one token
of its own (SASRec's vocabulary, for the baseline). `build_vocab` is pure
computation; `build_or_load_vocab` adds the work-directory stage, shared by
`jaxrec.tokenize` and `jaxrec.main`:

  WORKDIR/vocab/vocab.json          the vocabulary (written last: its presence
                                    marks the stage as done)
  WORKDIR/vocab/tokenizer.json      the recipe and dataset it was built from
  WORKDIR/vocab/stats.json          quantization stats per level
  WORKDIR/vocab/codebooks.png       the same stats, drawn
  WORKDIR/embeddings/embeddings.npy item embeddings [num_items, dim] float32
  WORKDIR/embeddings/item_ids.json  their raw item ids, in row order
"""

from collections.abc import Sequence
import io
import json
import time
from typing import Any

from absl import logging
from etils import epath
import jax
import ml_collections
import numpy as np

from jaxrec import workdir as workdir_lib
from jaxrec.data import registry
from jaxrec.data import split as split_lib
from jaxrec.semantic_ids import codebook_plot
from jaxrec.semantic_ids import collisions
from jaxrec.semantic_ids import encoders
from jaxrec.semantic_ids import random_ids
from jaxrec.semantic_ids import residual_kmeans
from jaxrec.semantic_ids import rqvae
from jaxrec.semantic_ids import vocab as vocab_lib

QUANTIZERS = ("rqkmeans", "rqvae", "random", "item_id")
ItemTable = encoders.ItemTable


def quantize(config: ml_collections.ConfigDict, embeddings: np.ndarray
             ) -> tuple[np.ndarray, dict[str, Any]]:
  """Codes [num_items, L] int32 of the recipe's quantizer, and its info."""
  sizes = tuple(config.codebook_sizes)
  if config.quantizer == "rqkmeans":
    codes, _ = residual_kmeans.residual_kmeans(
        embeddings, sizes, num_iters=config.num_iters, seed=config.seed,
        chunk_size=config.chunk_size, balanced=config.get("balanced", False))
    return codes, {}
  if config.quantizer == "rqvae":
    codes, info = rqvae.train_rqvae(embeddings, sizes, seed=config.seed,
                                    **config.rqvae.to_dict())
    return codes, {"rqvae": info}  # With its per-epoch `history`.
  if config.quantizer == "random":
    return random_ids.random_codes(embeddings.shape[0], sizes,
                                   config.seed), {}
  raise ValueError(f"quantizer={config.quantizer!r} is not one of "
                   f"{QUANTIZERS}")


def build_vocab(
    config: ml_collections.ConfigDict,
    items: ItemTable,
    train_sequences: Sequence[np.ndarray] | None = None,
) -> tuple[vocab_lib.SemanticIdVocab, np.ndarray | None, dict[str, Any]]:
  """Runs the recipe on the dataset's items.

  Args:
    config: A tokenizer recipe (see tokenizers/).
    items: The item table (ids, titles, genres, years; brands and item_texts
      when present).
    train_sequences: Per user, the training part of the split [n_u] (dense
      indices); only the `collaborative` encoder reads it.

  Returns:
    (vocab, embeddings [num_items, dim] float32 or None for `item_id` and
    `random`, stats): `quantization_stats` of the L quantizer levels (before
    the collision level), `collision_level_size`, seconds per stage, and the
    quantizer's own info.
  """
  if config.quantizer not in QUANTIZERS:
    raise ValueError(f"quantizer={config.quantizer!r} is not one of "
                     f"{QUANTIZERS}")
  item_ids = list(items.item_ids)
  if config.quantizer == "item_id":
    return item_id_vocab(item_ids, items.fingerprint), None, {
        "num_items": len(item_ids), "codebook_sizes": [len(item_ids)]}
  sizes = tuple(config.codebook_sizes)
  start = time.perf_counter()
  if config.quantizer == "random":
    embeddings = np.zeros((len(item_ids), 0), np.float32)
  else:
    embeddings = encoders.encode_items(config.encoder, items, config.seed,
                                       train_sequences)
  encode_seconds = time.perf_counter() - start
  codes, info = quantize(config, embeddings)
  stats = collisions.quantization_stats(codes, sizes)
  codes, extra_size = collisions.add_collision_level(codes)
  stats.update(info, collision_level_size=extra_size,
               encode_seconds=round(encode_seconds, 3),
               quantize_seconds=round(time.perf_counter() - start -
                                      encode_seconds, 3))
  vocab = vocab_lib.SemanticIdVocab.from_codes(
      item_ids, codes, sizes + (extra_size,), items.fingerprint)
  logging.info("Semantic IDs: %s", json.dumps(
      {k: v for k, v in stats.items() if k != "rqvae"}))
  return vocab, (embeddings if embeddings.shape[1] else None), stats


def item_id_vocab(item_ids: Sequence[str], fingerprint: str
                  ) -> vocab_lib.SemanticIdVocab:
  """One level whose code is the item index: each item is its own token."""
  codes = np.arange(len(item_ids), dtype=np.int32)[:, None]
  return vocab_lib.SemanticIdVocab.from_codes(item_ids, codes,
                                              (len(item_ids),), fingerprint)


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
  if vocab.num_levels > 1:  # Not for `item_id`: one code per item.
    levels = vocab.num_levels - 1
    codebook_plot.write_codebook_plot(
        vocab.item_codes[:, :levels], vocab.codebook_sizes[:levels], stats,
        vocab_dir / "codebooks.png")
  vocab.save(vocab_dir / vocab_lib.VOCAB_FILENAME)


def _check_recipe(path: epath.Path, recipe: dict[str, Any]) -> None:
  """A finished stage must have been built from the same recipe."""
  if not path.exists():
    return  # Written by an older version: only the fingerprint is checked.
  built = json.loads(path.read_text())
  differences = workdir_lib.config_differences(built, recipe)
  if differences:
    raise ValueError(
        f"the vocabulary in {path.parent} was built from another tokenizer "
        f"recipe ({', '.join(differences)}); use a new workdir or remove "
        f"{path.parent}")


def build_or_load_vocab(config: ml_collections.ConfigDict, data: ItemTable,
                        workdir: str, dataset_name: str = "",
                        train_sequences: Sequence[np.ndarray] | None = None
                        ) -> vocab_lib.SemanticIdVocab:
  """Loads WORKDIR/vocab/vocab.json if present, else builds and writes it.

  A loaded vocabulary must carry `data.fingerprint` (else
  `FingerprintMismatchError`) and come from the same recipe (recorded in
  vocab/tokenizer.json; else ValueError naming the keys). Every process
  builds the same vocabulary (deterministic); only process 0 writes files.
  """
  workdir = epath.Path(workdir)
  path = workdir / "vocab" / vocab_lib.VOCAB_FILENAME
  recipe_path = workdir / "vocab" / "tokenizer.json"
  # The recipe's file name (`recipe`, set by `recipes.tokenizer_recipe`) is
  # not compared: `jaxrec.tokenize --config=tokenizers/x.py` loads the same
  # recipe without it.
  recipe = {"dataset": dataset_name,
            "tokenizer": workdir_lib.config_to_dict(config)}
  recipe["tokenizer"].pop("recipe", None)
  if path.exists():
    _check_recipe(recipe_path, recipe)
    logging.info("Reusing the semantic-ID vocabulary %s.", path)
    return vocab_lib.SemanticIdVocab.load(
        path, expected_fingerprint=data.fingerprint)
  vocab, embeddings, stats = build_vocab(config, data, train_sequences)
  if jax.process_index() == 0:
    (workdir / "vocab").mkdir(parents=True, exist_ok=True)
    recipe_path.write_text(json.dumps(recipe, indent=2))
    _write_outputs(workdir, vocab, embeddings, stats)
  return vocab


def tokenize_dataset(config: ml_collections.ConfigDict, dataset: str,
                     workdir: str, *, data_dir: str = "",
                     manual_dir: str = "", min_user_interactions: int = 0,
                     min_item_interactions: int = 0,
                     max_user_interactions: int = 0,
                     verify_checksums: bool = True
                     ) -> vocab_lib.SemanticIdVocab:
  """`jaxrec.tokenize`: loads `dataset`, then builds (or reuses) DIR/vocab.

  The training sequences come from the same leave-one-out split as
  `jaxrec.main`'s, so both build the same vocabulary.
  """
  data_config = registry.data_config(dataset, data_dir, manual_dir,
                                     min_user_interactions,
                                     min_item_interactions,
                                     max_user_interactions)
  data_config.verify_checksums = verify_checksums
  data = registry.load(data_config, workdir)
  split = split_lib.leave_one_out(data.user_items, data.user_timestamps,
                                  data.user_ids)
  return build_or_load_vocab(config, data, workdir, dataset_name=dataset,
                             train_sequences=split.train)
