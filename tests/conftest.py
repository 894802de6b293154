"""Test set-up: 8 fake CPU devices, so that sharding is really exercised.

XLA reads the flag when the backend starts, so it is set before anything
imports jax.
"""

import os

_DEVICES_FLAG = "--xla_force_host_platform_device_count=8"
if not os.environ.get("XLA_FLAGS", "").endswith(_DEVICES_FLAG):
  # (pytest-xdist's workers inherit it; the last one given counts)
  os.environ["XLA_FLAGS"] = (
      os.environ.get("XLA_FLAGS", "") + " " + _DEVICES_FLAG).strip()
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import atexit  # noqa: E402
import shutil  # noqa: E402
import tempfile  # noqa: E402

# One persistent XLA compilation cache for this test session only: a fresh
# temporary directory (whatever the environment says), removed at exit, so
# nothing compiled outside the session is ever used; pytest-xdist's workers
# share their controller's. The test process and the
# many `python -m jaxrec.main` subprocesses (which inherit the variables)
# compile the same programs again and again; later compiles load them from
# here, the small ones too (orbax compiles ~100 slicing programs at a job's
# first checkpoint). A cached executable is the compiled one: results do not
# change. An entry that cannot be read (a process killed while writing it)
# is compiled again, with a warning.
_XLA_CACHE_DIR = (os.environ.get("JAXREC_TESTS_XLA_CACHE_DIR")
                  if "PYTEST_XDIST_WORKER" in os.environ else None)
if _XLA_CACHE_DIR is None:  # this process is the session's first
  _XLA_CACHE_DIR = tempfile.mkdtemp(prefix="jaxrec-tests-xla-cache-")
  atexit.register(shutil.rmtree, _XLA_CACHE_DIR, ignore_errors=True)
  os.environ["JAXREC_TESTS_XLA_CACHE_DIR"] = _XLA_CACHE_DIR
os.environ["JAX_COMPILATION_CACHE_DIR"] = _XLA_CACHE_DIR
os.environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0"
# XLA without LLVM's optimizations (jax_disable_most_optimizations: LLVM at
# -O0, none of its expensive passes; the HLO passes, SPMD partitioning and
# fusion among them, run as always). Compiling dominates the suite: the tests
# compile hundreds of programs and run each a few times. They compile 3-4x
# faster this way and run a little slower, and every comparison is between
# programs compiled alike. test_wheel's job, as users run it, compiles with
# the default. (The flag is not part of jax's in-memory jit cache key, so a
# test cannot switch it for its own compiles reliably.)
# JAX_DISABLE_MOST_OPTIMIZATIONS=false runs the whole suite so.
os.environ.setdefault("JAX_DISABLE_MOST_OPTIMIZATIONS", "true")

import jax  # noqa: E402  (after the flag, on purpose)


def pytest_configure(config):
  """The 20 slowest tests are listed at the end of every run (CI logs say
  where the suite's time goes), unless --durations says otherwise."""
  if config.option.durations is None:
    config.option.durations = 20


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


@pytest.fixture(scope="session")
def reference_runs(tmp_path_factory, fixture_files):
  """family -> work directory of its finished reference job (made once).

  tiny_runs.reference_command: the uninterrupted run that test_survival's
  killed and corrupted runs must reproduce bit for bit, and the one-process
  run that test_multiprocess's two-process job must match.
  """
  runs = {}

  def run(family):
    if family not in runs:
      workdir = str(tmp_path_factory.mktemp(f"reference_{family}"))
      result = subprocess.run(
          tiny_runs.reference_command(workdir, fixture_files, family),
          cwd=tiny_runs.REPO, env=dict(os.environ, JAX_PLATFORMS="cpu"),
          capture_output=True, text=True, timeout=600)
      assert result.returncode == 0, result.stderr[-5000:]
      runs[family] = workdir
    return runs[family]
  return run
