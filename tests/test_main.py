"""The whole job, end to end, on a small fixture dataset (configs/tiny.py)."""

import json
import os
import subprocess
import sys

import pytest

from tests import synthetic_movielens

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
METRIC_KEYS = ("recall@5", "recall@10", "recall@20", "ndcg@5", "ndcg@10",
               "ndcg@20", "mrr@10")


def _run_main(workdir, manual_dir, *overrides):
  command = [sys.executable, "-m", "jaxrec.main",
             "--config=configs/tiny.py", f"--workdir={workdir}",
             f"--config.data.manual_dir={manual_dir}",
             "--config.data.verify_checksums=False", *overrides]
  env = dict(os.environ, JAX_PLATFORMS="cpu")
  return subprocess.run(command, cwd=REPO, env=env, capture_output=True,
                        text=True, timeout=300)


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
  manual_dir = synthetic_movielens.write_recbole_fixture(
      str(tmp_path_factory.mktemp("ml100k_files")))
  workdir = str(tmp_path_factory.mktemp("run"))
  result = _run_main(workdir, manual_dir)
  assert result.returncode == 0, result.stderr[-5000:]
  return workdir, manual_dir, result


def test_main_writes_the_report(finished_run):
  workdir, _, result = finished_run
  with open(os.path.join(workdir, "metrics.json")) as f:
    report = json.load(f)
  assert report["split"] == "test"
  assert report["num_users"] == 80
  assert report["checkpoint_step"] in (10, 20)
  for key in METRIC_KEYS:
    assert 0.0 <= report[key] <= 1.0
    assert 0.0 <= report["popularity"][key] <= 1.0
  assert report["missing_items"] == 0
  for path in ("config.json", "vocab/vocab.json", "metrics.jsonl",
               "embeddings"):
    assert os.path.exists(os.path.join(workdir, path)), path
  for stage in ("data", "semantic ids", "train", "evaluate"):
    assert f"stage: {stage}" in result.stderr
  assert "steps/s" in result.stderr and "ETA" in result.stderr


def test_rerun_resumes_without_training_again(finished_run):
  workdir, manual_dir, _ = finished_run
  result = _run_main(workdir, manual_dir)
  assert result.returncode == 0, result.stderr[-5000:]
  assert "resuming from the checkpoint at step 20" in result.stderr
  assert "[train] step" not in result.stderr.replace(
      "[train] step 20/20", "")  # no training step ran again


def test_changed_config_on_the_same_workdir_is_an_error(finished_run):
  workdir, manual_dir, _ = finished_run
  result = _run_main(workdir, manual_dir, "--config.model.num_layers=2")
  assert result.returncode != 0
  assert "model.num_layers" in result.stderr


def test_unknown_config_key_is_an_error(tmp_path):
  result = _run_main(str(tmp_path), str(tmp_path), "--config.model.no_such_key=1")
  assert result.returncode != 0
  assert "no_such_key" in result.stderr


def test_unknown_flag_is_an_error(tmp_path):
  result = _run_main(str(tmp_path), str(tmp_path), "--no_such_flag=1")
  assert result.returncode != 0
  assert "no_such_flag" in result.stderr
