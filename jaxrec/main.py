r"""The whole job: data -> semantic IDs -> train -> evaluate.

  python -m jaxrec.main --config=configs/ml100k_tiger.py --workdir=DIR \
      [--config.model.num_layers=4 ...]

`--config` is a recipe file or a shipped recipe's name (`--config=tiny`,
`--config=ml100k_item_level:hybrid`). Re-running the same command on the same
DIR resumes where it stopped: the prepared dataset, the vocabulary and the
checkpoints are reused, and a config that differs from DIR/config.json is an
error naming the keys. The job itself is `jaxrec.run` (jaxrec/job.py).
"""

import logging as std_logging

import tensorflow_datasets as tfds
from absl import flags
from absl import logging

from jaxrec import cli
from jaxrec import distributed
from jaxrec import job

# Libraries whose INFO lines would drown the job's own progress lines; their
# warnings and errors still show.
_QUIET_LIBRARIES = ("/orbax/", "/tensorflow_datasets/", "/grain/", "/jax/")


class _QuietLibraries(std_logging.Filter):

  def filter(self, record: std_logging.LogRecord) -> bool:
    return (record.levelno >= std_logging.WARNING or
            not any(part in record.pathname for part in _QUIET_LIBRARIES))


def quiet_library_logs() -> None:
  """Keeps only warnings and errors of the noisiest libraries in the log."""
  logging.get_absl_handler().addFilter(_QuietLibraries())
  tfds.disable_progress_bar()


def define_flags(flag_values: flags.FlagValues = flags.FLAGS) -> None:
  """The command's flags, defined in `flag_values`."""
  cli.define_config_flag(
      "Run recipe: an ml_collections file with get_config(), or the name of "
      "a shipped one (configs/), optionally NAME:ARG.", flag_values=flag_values)
  flags.DEFINE_string("workdir", None, "Directory of this run.",
                      flag_values=flag_values)
  flags.mark_flag_as_required("workdir", flag_values=flag_values)
  distributed.define_flags(flag_values=flag_values)


def main(argv: list[str]) -> None:
  del argv  # cli.run_command rejects extra arguments.
  quiet_library_logs()
  distributed.initialize_from_flags()
  job.run(flags.FLAGS.config, flags.FLAGS.workdir)


def entry_point() -> None:
  cli.run_command("main", define_flags, main)


if __name__ == "__main__":
  entry_point()
