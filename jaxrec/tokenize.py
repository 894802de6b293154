r"""Builds the semantic-ID vocabulary of a dataset on its own.

  python -m jaxrec.tokenize --config=tokenizers/rqkmeans.py \
      --dataset=movielens_100k --workdir=DIR [--config.codebook_sizes=...] \
      [--max_user_interactions=20]

Writes DIR/embeddings/ and DIR/vocab/ (vocab.json, tokenizer.json, stats.json,
codebooks.png) exactly as the semantic-ID stage of `jaxrec.main` does, so a
job started later on the same DIR reuses the vocabulary. Export it with
`python -m jaxrec.export_vocab`.
"""

from absl import app
from absl import flags
from absl import logging
from ml_collections import config_flags

from jaxrec.data import registry
from jaxrec.semantic_ids import tokenizer

_CONFIG = config_flags.DEFINE_config_file(
    "config", None, "Tokenizer recipe (tokenizers/<name>.py).",
    lock_config=True)
_DATASET = flags.DEFINE_string(
    "dataset", None, f"Dataset name, one of {list(registry.DATASETS)}.")
_WORKDIR = flags.DEFINE_string("workdir", None, "Output directory.")
_DATA_DIR = flags.DEFINE_string("data_dir", "",
                                "tfds data directory (default: DIR/data).")
_MANUAL_DIR = flags.DEFINE_string("manual_dir", "",
                                  "Source files placed by hand (no download).")
_VERIFY_CHECKSUMS = flags.DEFINE_bool(
    "verify_checksums", True, "Check downloaded files against recorded sha256.")
_MIN_USER = flags.DEFINE_integer("min_user_interactions", 0,
                                 "k-core filter on users (0 = off).")
_MIN_ITEM = flags.DEFINE_integer("min_item_interactions", 0,
                                 "k-core filter on items (0 = off).")
_MAX_USER = flags.DEFINE_integer(
    "max_user_interactions", 0,
    "Keep each user's first N interactions only, a sparse variant (0 = off).")
flags.mark_flags_as_required(["config", "dataset", "workdir"])


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
  vocab = tokenizer.tokenize_dataset(
      _CONFIG.value, _DATASET.value, _WORKDIR.value, data_dir=_DATA_DIR.value,
      manual_dir=_MANUAL_DIR.value,
      min_user_interactions=_MIN_USER.value,
      min_item_interactions=_MIN_ITEM.value,
      max_user_interactions=_MAX_USER.value,
      verify_checksums=_VERIFY_CHECKSUMS.value)
  logging.info("Vocabulary: %d items, codebook sizes %s, %d tokens.",
               vocab.num_items, vocab.codebook_sizes, vocab.vocab_size)


def entry_point():
  app.run(main)


if __name__ == "__main__":
  entry_point()
