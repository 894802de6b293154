"""The built wheel works on its own: installed in a fresh virtual environment,
it ships the recipes and runs the tiny job from any directory.

The venv sees the current environment's packages (`--system-site-packages`),
so nothing is downloaded but the build backend. Those packages include the
editable jaxrec, whose meta-path finder comes after the normal path search, so
the venv's own copy is found first; `-I` keeps the current directory and
PYTHONPATH off sys.path, and the tests check where `jaxrec` comes from.
"""

import os
import shutil
import subprocess
import sys

import pytest

from tests import tiny_runs

# What setup.py needs to build the wheel.
_BUILD_INPUTS = ("setup.py", "README.md", "jaxrec", "configs", "tokenizers")


def _run(command: list[str], cwd: str, timeout: int, env=None) -> str:
  result = subprocess.run(command, cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)
  assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
  return result.stdout


def _copy_sources(directory: str) -> str:
  """The build inputs copied to `directory`, so no build/ lands in the repo."""
  os.makedirs(directory)
  for name in _BUILD_INPUTS:
    source, target = os.path.join(tiny_runs.REPO, name), os.path.join(
        directory, name)
    if os.path.isdir(source):
      shutil.copytree(source, target,
                      ignore=shutil.ignore_patterns("__pycache__"))
    else:
      shutil.copy(source, target)
  return directory


@pytest.fixture(scope="module")
def venv_python(tmp_path_factory) -> list[str]:
  """The command line of a venv's python with only the built wheel installed."""
  root = tmp_path_factory.mktemp("wheel")
  sources = _copy_sources(str(root / "src"))
  _run([sys.executable, "-m", "pip", "wheel", sources, "--no-deps", "-w",
        str(root / "dist")], cwd=str(root), timeout=600)
  (wheel,) = (root / "dist").glob("jaxrec-*.whl")
  venv = root / "venv"
  _run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip",
        str(venv)], cwd=str(root), timeout=120)
  python = [str(venv / "bin" / "python"), "-I"]
  # --ignore-installed: leave the editable jaxrec outside the venv alone.
  _run([*python, "-m", "pip", "install", "--no-deps", "--ignore-installed",
        str(wheel)], cwd=str(root), timeout=300)
  return python


def test_jaxrec_imports_from_the_venv(venv_python, tmp_path):
  script = ("import sys, jaxrec, jaxrec.recipes as r; "
            "print(jaxrec.__file__); print(sys.prefix); "
            "print(r.recipe_path('tiny')); print(r.run_recipes()); "
            "print(r.tokenizer_recipe('rqkmeans').recipe)")
  output = _run([*venv_python, "-c", script], cwd=str(tmp_path), timeout=120)
  package, prefix, tiny, names, tokenizer = output.splitlines()
  assert package.startswith(prefix + os.sep) and prefix != sys.prefix
  assert not package.startswith(tiny_runs.REPO + os.sep)
  assert tiny == os.path.join(os.path.dirname(package), "_recipes", "configs",
                              "tiny.py")
  assert "'ml100k_tiger'" in names and tokenizer == "rqkmeans"


def test_tiny_job_runs_from_the_wheel(venv_python, tmp_path, fixture_files):
  workdir = str(tmp_path / "run")
  # With XLA's default optimizations (tests/conftest.py turns most of them
  # off for the suite): the suite's one job that compiles as users run it.
  _run([*venv_python, "-m", "jaxrec.main", "--config=tiny",
        f"--workdir={workdir}", f"--config.data.manual_dir={fixture_files}",
        "--config.data.verify_checksums=False"],
       cwd=str(tmp_path), timeout=600, env=tiny_runs.optimized_env())
  assert tiny_runs.read_report(workdir)
