"""Shared pieces of the tests that run `python -m jaxrec.main` for real."""

import json
import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def tiny_main_command(workdir: str, manual_dir: str, *flags: str) -> list[str]:
  """The whole job with configs/tiny.py on fixture files in `manual_dir`."""
  return [sys.executable, "-m", "jaxrec.main", "--config=configs/tiny.py",
          f"--workdir={workdir}", f"--config.data.manual_dir={manual_dir}",
          "--config.data.verify_checksums=False", *flags]


def optimized_env() -> dict[str, str]:
  """os.environ without tests/conftest.py's JAX_DISABLE_MOST_OPTIMIZATIONS:
  a job that compiles with XLA's default optimizations, as users run it."""
  env = dict(os.environ)
  env.pop("JAX_DISABLE_MOST_OPTIMIZATIONS", None)
  return env


def read_report(workdir: str) -> dict:
  with open(os.path.join(workdir, "metrics.json")) as f:
    return json.load(f)
