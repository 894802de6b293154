r"""Builds the semantic-ID vocabulary of a dataset on its own.

  python -m jaxrec.tokenize --config=tokenizers/rqkmeans.py \
      --dataset=movielens_100k --workdir=DIR [--config.codebook_sizes=...] \
      [--max_user_interactions=20]

Writes DIR/embeddings/ and DIR/vocab/ (vocab.json, tokenizer.json, stats.json,
codebooks.png) exactly as the semantic-ID stage of `jaxrec.main` does, so a
job started later on the same DIR reuses the vocabulary. Export it with
`python -m jaxrec.export_vocab`.
"""

from absl import flags
from absl import logging

from jaxrec import cli
from jaxrec.data import registry
from jaxrec.semantic_ids import tokenizer


def define_flags(flag_values: flags.FlagValues = flags.FLAGS) -> None:
  """The command's flags, defined in `flag_values`."""
  cli.define_config_flag("Tokenizer recipe (tokenizers/<name>.py).",
                         flag_values=flag_values)
  flags.DEFINE_string(
      "dataset", None, f"Dataset name, one of {list(registry.DATASETS)}.",
                      flag_values=flag_values)
  flags.DEFINE_string("workdir", None, "Output directory.",
                      flag_values=flag_values)
  flags.mark_flags_as_required(["dataset", "workdir"], flag_values=flag_values)
  flags.DEFINE_string("data_dir", "",
                      "tfds data directory (default: DIR/data).",
                      flag_values=flag_values)
  flags.DEFINE_string("manual_dir", "",
                      "Source files placed by hand (no download).",
                      flag_values=flag_values)
  flags.DEFINE_bool("verify_checksums", True,
                    "Check downloaded files against recorded sha256.",
                    flag_values=flag_values)
  flags.DEFINE_integer("min_user_interactions", 0,
                       "k-core filter on users (0 = off).",
                       flag_values=flag_values)
  flags.DEFINE_integer("min_item_interactions", 0,
                       "k-core filter on items (0 = off).",
                       flag_values=flag_values)
  flags.DEFINE_integer(
      "max_user_interactions", 0,
      "Keep each user's first N interactions only, a sparse variant (0 = off).",
                       flag_values=flag_values)


def main(argv: list[str]) -> None:
  del argv  # cli.run_command rejects extra arguments.
  values = flags.FLAGS
  vocab = tokenizer.tokenize_dataset(
      values.config, values.dataset, values.workdir,
      data_dir=values.data_dir, manual_dir=values.manual_dir,
      min_user_interactions=values.min_user_interactions,
      min_item_interactions=values.min_item_interactions,
      max_user_interactions=values.max_user_interactions,
      verify_checksums=values.verify_checksums)
  logging.info("Vocabulary: %d items, codebook sizes %s, %d tokens.",
               vocab.num_items, vocab.codebook_sizes, vocab.vocab_size)


def entry_point() -> None:
  cli.run_command("tokenize", define_flags, main)


if __name__ == "__main__":
  entry_point()
