"""The evaluation job, end to end, on a tiny finished run (configs/tiny.py)."""

import csv
import json
import os
import subprocess
import sys

import pytest

from jaxrec import recommender as recommender_lib
from jaxrec.train import checkpoints as checkpoints_lib
from tests import tiny_runs

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NUM_ITEMS = 48  # the fixture's catalogue: a beam of 48 covers it
KEYS = ("split", "mode", "checkpoint_step", "num_users", "num_items",
        "mask_history", "coverage@10", "recall@10_ci95", "ndcg@10_ci95",
        "trie_bytes", "trie_bytes_per_item") + tuple(
            f"{name}@{k}" for name in ("recall", "ndcg", "mrr")
            for k in (5, 10, 20))


def _python(module, *args):
  env = dict(os.environ, JAX_PLATFORMS="cpu")
  return subprocess.run([sys.executable, "-m", module, *args], cwd=REPO,
                        env=env, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def finished_run(finished_tiny_run):
  return finished_tiny_run[0]


def _recommender(workdir, checkpoint="best"):
  return recommender_lib.Recommender.load(workdir, checkpoint)


def _read_topk(path):
  with open(path, encoding="utf-8") as f:
    return [row for row in csv.DictReader(f, delimiter="\t")]


def test_cli_beam_search_report_and_export(finished_run, tmp_path):
  export = str(tmp_path / "topk.tsv")
  result = _python("jaxrec.evaluate", f"--workdir={finished_run}",
                   "--mode=beam", f"--beam_size={NUM_ITEMS}",
                   f"--export_topk={export}")
  assert result.returncode == 0, result.stderr[-5000:]
  assert "recall@10" in result.stdout and "95% CI" in result.stdout
  with open(os.path.join(finished_run, "eval_test_beam.json")) as f:
    report = json.load(f)
  for key in KEYS:
    assert key in report, key
  assert report["split"] == "test" and report["num_users"] == 80
  low, high = report["recall@10_ci95"]
  assert low <= report["recall@10"] <= high
  rows = _read_topk(export)
  assert list(rows[0]) == ["user_id", "rank", "item_id", "score"]
  assert [row["rank"] for row in rows[:3]] == ["1", "2", "3"]
  # With history masking, fewer than 48 items are left for each user; the
  # empty slots are the missing items, left out of the export.
  assert 80 * 20 < len(rows) < 80 * NUM_ITEMS
  assert report["missing_items"] == 80 * NUM_ITEMS - len(rows)


def test_exact_agrees_with_a_covering_beam(finished_run, tmp_path):
  reports, lists = {}, {}
  for mode in ("beam", "exact"):
    export = str(tmp_path / f"{mode}.tsv")
    reports[mode] = _recommender(finished_run).evaluate(
        mode=mode, beam_size=NUM_ITEMS, export_path=export)
    lists[mode] = [(r["user_id"], r["item_id"]) for r in _read_topk(export)]
  assert lists["beam"] == lists["exact"]
  for key in KEYS[6:]:
    if key.startswith(("recall", "ndcg", "mrr", "coverage")):
      assert reports["beam"][key] == reports["exact"][key], key
  assert os.path.exists(os.path.join(finished_run, "eval_test_exact.json"))


def test_unconstrained_on_a_checkpoint_by_step(finished_run):
  report = _recommender(finished_run, "10").evaluate("valid",
                                                    mode="unconstrained")
  assert report["split"] == "valid" and report["checkpoint_step"] == 10
  assert 0.0 <= report["invalid_rate@10"] <= 1.0
  assert report["mask_history"] is False
  assert os.path.exists(os.path.join(finished_run,
                                     "eval_valid_unconstrained.json"))


def test_checkpoint_names(finished_run):
  directory = os.path.join(finished_run, "checkpoints")
  checkpointer = checkpoints_lib.Checkpointer(directory, read_only=True)
  assert recommender_lib.resolve_checkpoint(checkpointer, directory, "latest") == 20
  assert recommender_lib.resolve_checkpoint(checkpointer, directory, "10") == 10
  assert recommender_lib.resolve_checkpoint(checkpointer, directory, "best") in (10, 20)
  with pytest.raises(ValueError, match="saved steps: \\[10, 20\\]"):
    recommender_lib.resolve_checkpoint(checkpointer, directory, "15")
  checkpointer.close()


def test_drop_recent_ablation(finished_run):
  recommender = _recommender(finished_run, "20")
  full = recommender.evaluate("valid")
  dropped = recommender.evaluate("valid", drop_recent=3)
  assert full["drop_recent"] == 0 and dropped["drop_recent"] == 3
  assert os.path.exists(os.path.join(finished_run,
                                     "eval_valid_beam_drop3.json"))
  # Another input, the same targets and masked items: another ranking.
  assert full["num_users"] == dropped["num_users"]
  assert full["ndcg@20"] != dropped["ndcg@20"]


def test_default_mode_is_the_runs_eval_mode(finished_run):
  recommender = _recommender(finished_run, "20")
  assert recommender.default_mode == "beam"
  recommender.config.eval.mode = "exact"
  report = recommender.evaluate("valid", write=False)
  assert report["mode"] == "exact"
  assert report["ndcg@10"] == pytest.approx(
      recommender.evaluate("valid", "exact", write=False)["ndcg@10"])


def test_item_score_scale_needs_an_item_score(finished_run):
  with pytest.raises(ValueError, match="item_score_weight is 0"):
    recommender_lib.Recommender.load(finished_run, item_score_scale=2.0)


@pytest.fixture(scope="module")
def item_score_run(tmp_path_factory, fixture_files):
  """A tiny item-level job with an item score, ranked exactly, scale 2."""
  workdir = str(tmp_path_factory.mktemp("item_score_run"))
  result = subprocess.run(
      tiny_runs.tiny_main_command(
          workdir, fixture_files, "--config.model.family=item_level",
          "--config.model.item_score_weight=1.0",
          "--config.model.item_score_scale=2.0",
          "--config.eval.mode=exact"),
      cwd=REPO, env=dict(os.environ, JAX_PLATFORMS="cpu"),
      capture_output=True, text=True, timeout=600)
  assert result.returncode == 0, result.stderr[-5000:]
  return workdir


def test_item_score_scale_and_exact_mode_reach_the_report(item_score_run):
  report = tiny_runs.read_report(item_score_run)
  assert report["mode"] == "exact"
  recommender = _recommender(item_score_run)
  assert recommender.default_mode == "exact"
  again = recommender.evaluate(write=False)
  assert again["item_score_scale"] == 2.0
  assert again["ndcg@10"] == pytest.approx(report["ndcg@10"])
  rescaled = recommender_lib.Recommender.load(
      item_score_run, item_score_scale=50.0).evaluate(write=False)
  assert rescaled["item_score_scale"] == 50.0
  assert rescaled["ndcg@20"] != again["ndcg@20"]
