"""Test set-up: 8 fake CPU devices, so that sharding is really exercised.

XLA reads the flag when the backend starts, so it is set before anything
imports jax.
"""

import os

os.environ["XLA_FLAGS"] = (
    os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=8"
).strip()
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax  # noqa: E402  (after the flag, on purpose)


def pytest_report_header(config):
  del config
  return f"jax {jax.__version__}, devices: {jax.device_count()} x {jax.devices()[0].platform}"


import subprocess  # noqa: E402

import pytest  # noqa: E402

from tests import synthetic_movielens  # noqa: E402
from tests import tiny_runs  # noqa: E402


@pytest.fixture(scope="session")
def fixture_files(tmp_path_factory) -> str:
  """A small MovieLens-shaped dataset in RecBole atomic files."""
  return synthetic_movielens.write_recbole_fixture(
      str(tmp_path_factory.mktemp("ml100k_files")))


@pytest.fixture(scope="session")
def finished_tiny_run(tmp_path_factory, fixture_files):
  """(workdir, completed process) of one whole configs/tiny.py job."""
  workdir = str(tmp_path_factory.mktemp("tiny_run"))
  result = subprocess.run(
      tiny_runs.tiny_main_command(workdir, fixture_files), cwd=tiny_runs.REPO,
      capture_output=True, text=True, timeout=300)
  assert result.returncode == 0, result.stderr[-5000:]
  return workdir, result
