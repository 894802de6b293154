"""Builds a semantic-ID vocabulary from a dataset and a tokenizer recipe.

Pipeline (recipes in tokenizers/): item encoder (`encoders`) -> quantizer
(`rqkmeans` residual k-means, `rqvae`, or `random` codes) -> collision level
-> `SemanticIdVocab`. The `item_id` recipe instead gives every item one token
of its own (SASRec's vocabulary, for the baseline). `build_vocab` is pure
computation; `build_or_load_vocab` adds the work-directory stage, shared by
`jaxrec.tokenize` and `jaxrec.main`:

  WORKDIR/vocab/vocab.json          the vocabulary (written last: its presence
                                    marks the stage as done)
  WORKDIR/vocab/tokenizer.json      the recipe, dataset and data settings it
                                    was built from
  WORKDIR/vocab/stats.json          quantization stats per level
  WORKDIR/vocab/codebooks.png       the same stats, drawn
  WORKDIR/vocab/tokenizer_state.npz what places new items in the fitted
                                    space (`cold_start`; rqkmeans only)
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
from jaxrec.semantic_ids import codebook_plot
from jaxrec.semantic_ids import cold_start
from jaxrec.semantic_ids import collisions
from jaxrec.semantic_ids import encoders
from jaxrec.semantic_ids import random_ids
from jaxrec.semantic_ids import residual_kmeans
from jaxrec.semantic_ids import rqvae
from jaxrec.semantic_ids import vocab as vocab_lib

QUANTIZERS = ("rqkmeans", "rqvae", "random", "item_id")
# The `config.data` settings that change which interactions, and so which
# IDs, a vocabulary is built from (paths and checksum flags do not).
DATA_SETTINGS = ("min_user_interactions", "min_item_interactions",
                 "max_user_interactions", "drop_last_interactions")
RECIPE_FILENAME = "tokenizer.json"
EMBEDDINGS_DIR = "embeddings"
ItemTable = encoders.ItemTable


def quantize(config: ml_collections.ConfigDict, embeddings: np.ndarray
             ) -> tuple[np.ndarray, dict[str, Any], list[np.ndarray] | None]:
  """Codes [num_items, L] int32 of the recipe's quantizer, its info, and
  its codebooks (L arrays [K_l, D]; rqkmeans only, else None)."""
  sizes = tuple(config.codebook_sizes)
  if config.quantizer == "rqkmeans":
    codes, codebooks = residual_kmeans.residual_kmeans(
        embeddings, sizes, num_iters=config.num_iters, seed=config.seed,
        chunk_size=config.chunk_size, balanced=config.get("balanced", False))
    return codes, {}, codebooks
  if config.quantizer == "rqvae":
    codes, info = rqvae.train_rqvae(embeddings, sizes, seed=config.seed,
                                    **config.rqvae.to_dict())
    return codes, {"rqvae": info}, None  # With its per-epoch `history`.
  if config.quantizer == "random":
    return random_ids.random_codes(embeddings.shape[0], sizes,
                                   config.seed), {}, None
  raise ValueError(f"quantizer={config.quantizer!r} is not one of "
                   f"{QUANTIZERS}")


def build_vocab(
    config: ml_collections.ConfigDict,
    items: ItemTable,
    train_sequences: Sequence[np.ndarray] | None = None,
) -> tuple[vocab_lib.SemanticIdVocab, np.ndarray | None, dict[str, Any]]:
  """`build_vocab_and_state` without the tokenizer state."""
  return build_vocab_and_state(config, items, train_sequences)[:3]


def build_vocab_and_state(
    config: ml_collections.ConfigDict,
    items: ItemTable,
    train_sequences: Sequence[np.ndarray] | None = None,
) -> tuple[vocab_lib.SemanticIdVocab, np.ndarray | None, dict[str, Any],
           cold_start.TokenizerState | None]:
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
    quantizer's own info; and the state that places new items
    (`cold_start.TokenizerState`), None unless the quantizer is rqkmeans.
  """
  if config.quantizer not in QUANTIZERS:
    raise ValueError(f"quantizer={config.quantizer!r} is not one of "
                     f"{QUANTIZERS}")
  item_ids = list(items.item_ids)
  if config.quantizer == "item_id":
    return item_id_vocab(item_ids, items.fingerprint), None, {
        "num_items": len(item_ids), "codebook_sizes": [len(item_ids)]}, None
  sizes = tuple(config.codebook_sizes)
  start = time.perf_counter()
  if config.quantizer == "random":
    embeddings = np.zeros((len(item_ids), 0), np.float32)
  else:
    embeddings = encoders.encode_items(config.encoder, items, config.seed,
                                       train_sequences)
  encode_seconds = time.perf_counter() - start
  codes, info, codebooks = quantize(config, embeddings)
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
  state = None
  if codebooks is not None:
    state = cold_start.fit_state(config, items, embeddings, codebooks)
  return (vocab, (embeddings if embeddings.shape[1] else None), stats,
          state)


def item_id_vocab(item_ids: Sequence[str], fingerprint: str
                  ) -> vocab_lib.SemanticIdVocab:
  """One level whose code is the item index: each item is its own token."""
  codes = np.arange(len(item_ids), dtype=np.int32)[:, None]
  return vocab_lib.SemanticIdVocab.from_codes(item_ids, codes,
                                              (len(item_ids),), fingerprint)


def _write_outputs(workdir: epath.Path, vocab: vocab_lib.SemanticIdVocab,
                   embeddings: np.ndarray | None, stats: dict[str, Any],
                   state: cold_start.TokenizerState | None) -> None:
  """Writes the stage's files (embeddings [num_items, dim]), vocab.json last."""
  if embeddings is not None:
    buffer = io.BytesIO()
    np.save(buffer, embeddings, allow_pickle=False)
    workdir_lib.write_bytes_atomically(workdir / EMBEDDINGS_DIR /
                                       "embeddings.npy", buffer.getvalue())
    workdir_lib.write_json_atomically(workdir / EMBEDDINGS_DIR /
                                      "item_ids.json", list(vocab.item_ids))
  vocab_dir = workdir_lib.vocab_dir(workdir)
  workdir_lib.write_json_atomically(vocab_dir / "stats.json", stats)
  if state is not None:
    cold_start.save(state, vocab_dir / cold_start.STATE_FILENAME)
  if vocab.num_levels > 1:  # Not for `item_id`: one code per item.
    levels = vocab.num_levels - 1
    codebook_plot.write_codebook_plot(
        vocab.item_codes[:, :levels], vocab.codebook_sizes[:levels], stats,
        vocab_dir / codebook_plot.PLOT_FILENAME)
  vocab.save(workdir_lib.vocab_path(workdir))


def _recipe(config: ml_collections.ConfigDict, dataset_name: str,
            data_config: ml_collections.ConfigDict | None) -> dict[str, Any]:
  """What vocab/tokenizer.json records: dataset, data settings and recipe.

  The recipe's file name (`recipe`, set by `recipes.tokenizer_recipe`) is
  left out: `jaxrec.tokenize --config=tokenizers/x.py` loads the same recipe
  without it. So is `data` when `data_config` is None.
  """
  recipe = {"dataset": dataset_name,
            "tokenizer": workdir_lib.config_to_dict(config)}
  recipe["tokenizer"].pop("recipe", None)
  if data_config is not None:
    recipe["data"] = {key: data_config.get(key, 0) for key in DATA_SETTINGS}
  return recipe


def _check_recipe(path: epath.Path, recipe: dict[str, Any]) -> None:
  """A finished stage must have been built from the same recipe and data.

  Data settings are compared only when both the file (older ones have none)
  and `recipe` record them; a setting the file lacks (added later) counts as
  0, its off value.
  """
  if not path.exists():
    return  # Written by an older version: only the fingerprint is checked.
  built = json.loads(path.read_text())
  if "data" not in built or "data" not in recipe:
    built.pop("data", None)
    recipe = {k: v for k, v in recipe.items() if k != "data"}
  else:  # Settings added later are 0 (off) in files written before them.
    built["data"] = {key: 0 for key in DATA_SETTINGS} | built["data"]
  differences = workdir_lib.config_differences(built, recipe)
  if differences:
    raise ValueError(
        f"the vocabulary in {path.parent} was built from another tokenizer "
        f"recipe or other data settings ({', '.join(differences)}); use a new "
        f"workdir or remove {path.parent}")


def build_or_load_vocab(
    config: ml_collections.ConfigDict, data: ItemTable, workdir: str,
    dataset_name: str = "",
    train_sequences: Sequence[np.ndarray] | None = None,
    data_config: ml_collections.ConfigDict | None = None,
) -> vocab_lib.SemanticIdVocab:
  """Loads WORKDIR/vocab/vocab.json if present, else builds and writes it.

  A loaded vocabulary must carry `data.fingerprint` (else
  `FingerprintMismatchError`) and come from the same recipe and data
  settings (`DATA_SETTINGS` of `data_config`, the `config.data` block `data`
  was loaded with), as recorded in vocab/tokenizer.json; else ValueError
  naming the keys. Without `data_config` the data settings are neither
  recorded nor checked. Every process builds the same vocabulary
  (deterministic); only process 0 writes files.
  """
  workdir = epath.Path(workdir)
  path = workdir_lib.vocab_path(workdir)
  recipe_path = workdir_lib.vocab_dir(workdir) / RECIPE_FILENAME
  recipe = _recipe(config, dataset_name, data_config)
  if path.exists():
    _check_recipe(recipe_path, recipe)
    logging.info("Reusing the semantic-ID vocabulary %s.", path)
    return vocab_lib.SemanticIdVocab.load(
        path, expected_fingerprint=data.fingerprint)
  vocab, embeddings, stats, state = build_vocab_and_state(
      config, data, train_sequences)
  if jax.process_index() == 0:
    workdir_lib.write_json_atomically(recipe_path, recipe)
    _write_outputs(workdir, vocab, embeddings, stats, state)
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
  data, split = registry.load_split(data_config, workdir)
  return build_or_load_vocab(config, data, workdir, dataset_name=dataset,
                             train_sequences=split.train,
                             data_config=data_config)
