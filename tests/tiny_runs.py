"""Shared pieces of the tests that run `python -m jaxrec.main` for real."""

import json
import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# The reference job of the tests that compare whole runs (SIGKILL and resume,
# a corrupt checkpoint, two processes against one): configs/tiny.py with
# dropout, so that the result depends on the random streams and on where each
# row of a batch is, a checkpoint every 5 steps and two validations (the best
# checkpoint is chosen between them).
REFERENCE_STEPS = 40
REFERENCE_OVERRIDES = (f"--config.train.num_steps={REFERENCE_STEPS}",
                       "--config.train.checkpoint_every_steps=5",
                       "--config.train.eval_every_steps=20",
                       "--config.train.log_every_steps=5",
                       "--config.model.dropout_rate=0.1")


def tiny_main_command(workdir: str, manual_dir: str, *flags: str) -> list[str]:
  """The whole job with configs/tiny.py on fixture files in `manual_dir`."""
  return [sys.executable, "-m", "jaxrec.main", "--config=configs/tiny.py",
          f"--workdir={workdir}", f"--config.data.manual_dir={manual_dir}",
          "--config.data.verify_checksums=False", *flags]


def reference_command(workdir: str, manual_dir: str, family: str,
                      *flags: str) -> list[str]:
  """The reference job (`REFERENCE_OVERRIDES`) of one model family."""
  return tiny_main_command(workdir, manual_dir, *REFERENCE_OVERRIDES,
                           f"--config.model.family={family}", *flags)


def optimized_env() -> dict[str, str]:
  """os.environ without tests/conftest.py's JAX_DISABLE_MOST_OPTIMIZATIONS:
  a job that compiles with XLA's default optimizations, as users run it."""
  env = dict(os.environ)
  env.pop("JAX_DISABLE_MOST_OPTIMIZATIONS", None)
  return env


def read_report(workdir: str) -> dict:
  with open(os.path.join(workdir, "metrics.json")) as f:
    return json.load(f)
