r"""Exports a work directory's semantic-ID vocabulary to another format.

  python -m jaxrec.export_vocab --workdir=DIR \
      --format=json|tsv|npz|sentencepiece --out=PATH

Reads DIR/vocab/vocab.json (written by jaxrec.tokenize or jaxrec.main) and
writes PATH in the chosen format (see jaxrec/semantic_ids/export.py). For
sentencepiece, PATH is a prefix: PATH.model, PATH.vocab and PATH.items.json
are written. Every format loads back to the same vocabulary with
`export.load_export(format, PATH)`.
"""

from absl import flags
from absl import logging
from etils import epath

from jaxrec import cli
from jaxrec import workdir as workdir_lib
from jaxrec.semantic_ids import export as export_lib
from jaxrec.semantic_ids import vocab as vocab_lib


def run(workdir: str, fmt: str, out: str) -> list[epath.Path]:
  """Exports DIR/vocab/vocab.json as `fmt` to `out`; returns the files written.

  Raises:
    FileNotFoundError: DIR has no vocabulary yet.
    VocabFormatError: The vocabulary file is invalid.
    ValueError: The vocabulary cannot be written in this format (e.g. item
      ids with tabs for tsv, more than 26 levels for sentencepiece).
  """
  path = workdir_lib.vocab_path(workdir)
  if not path.exists():
    raise FileNotFoundError(
        f"{path} does not exist: run jaxrec.tokenize or jaxrec.main first")
  vocab = vocab_lib.SemanticIdVocab.load(path)
  written = export_lib.export(vocab, fmt, out)
  logging.info("Exported %d items x %d levels (codebooks %s) from %s as %s: %s",
               vocab.num_items, vocab.num_levels, list(vocab.codebook_sizes),
               path, fmt, ", ".join(map(str, written)))
  return written


def define_flags(flag_values: flags.FlagValues = flags.FLAGS) -> None:
  """The command's flags, defined in `flag_values`."""
  flags.DEFINE_string("workdir", None,
                      "Work directory holding vocab/vocab.json.",
                      flag_values=flag_values)
  flags.DEFINE_enum("format", None, list(export_lib.FORMATS), "Export format.",
                    flag_values=flag_values)
  flags.DEFINE_string(
      "out", None, "Output file (for sentencepiece: the prefix of the files).",
                      flag_values=flag_values)
  flags.mark_flags_as_required(["workdir", "format", "out"],
                               flag_values=flag_values)


def main(argv: list[str]) -> None:
  del argv  # cli.run_command rejects extra arguments.
  values = flags.FLAGS
  for path in run(values.workdir, values.format, values.out):
    print(path, flush=True)


def entry_point() -> None:
  cli.run_command("export_vocab", define_flags, main)


if __name__ == "__main__":
  entry_point()
