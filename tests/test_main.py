"""The whole job, end to end, on a small fixture dataset (configs/tiny.py)."""

import json
import os
import subprocess

import ml_collections
import pytest

from jaxrec import workdir as workdir_lib
from tests import tiny_runs

METRIC_KEYS = ("recall@5", "recall@10", "recall@20", "ndcg@5", "ndcg@10",
               "ndcg@20", "mrr@10")


def _run_main(workdir, manual_dir, *overrides):
  return subprocess.run(
      tiny_runs.tiny_main_command(workdir, manual_dir, *overrides),
      cwd=tiny_runs.REPO, capture_output=True, text=True, timeout=300)


def test_main_writes_the_report(finished_tiny_run):
  workdir, result = finished_tiny_run
  report = tiny_runs.read_report(workdir)
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


def test_rerun_resumes_without_training_again(finished_tiny_run,
                                             fixture_files):
  workdir, _ = finished_tiny_run
  result = _run_main(workdir, fixture_files)
  assert result.returncode == 0, result.stderr[-5000:]
  assert "resuming from the checkpoint at step 20" in result.stderr
  assert "[train] step" not in result.stderr.replace(
      "[train] step 20/20", "")  # no training step ran again


def test_changed_config_on_the_same_workdir_is_an_error(finished_tiny_run,
                                                       fixture_files):
  workdir, _ = finished_tiny_run
  result = _run_main(workdir, fixture_files, "--config.model.num_layers=2")
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


def test_keys_added_later_resume_when_they_keep_the_old_behaviour(tmp_path):
  config = ml_collections.ConfigDict(
      {"model": {"num_layers": 1, "item_score_scale": 1.0},
       "eval": {"mode": "beam"}})
  older = {"model": {"num_layers": 1}, "eval": {}}  # made before the keys
  (tmp_path / "config.json").write_text(json.dumps(older))
  workdir_lib.write_or_check_config(config, str(tmp_path))  # the same run
  config.eval.mode = "exact"
  with pytest.raises(ValueError, match="eval.mode: 'beam' before, 'exact' "
                     "now"):
    workdir_lib.write_or_check_config(config, str(tmp_path))
