"""benchmarks/choose_ids.py: two encoders x one seed on the fixture files."""

import json
import os
import subprocess
import sys

from tests import tiny_runs

_SCRIPT = os.path.join(tiny_runs.REPO, "benchmarks", "choose_ids.py")
# configs/tiny.py with the encoder as get_config's argument, small dims.
_RECIPE = """
from jaxrec import recipes
from jaxrec.semantic_ids import encoders


def get_config(encoder="lexical"):
  config = recipes.load_recipe({tiny!r})
  config.tokenizer.encoder = encoders.default_config(encoder)
  for key in ("dim", "text_dim", "collab_dim"):
    if key in config.tokenizer.encoder:
      config.tokenizer.encoder[key] = 4
  return config
"""


def _write_recipe(directory) -> str:
  recipe = directory / "recipe.py"
  recipe.write_text(_RECIPE.format(
      tiny=os.path.join(tiny_runs.REPO, "configs", "tiny.py")))
  return str(recipe)


def _choose_ids(*flags: str) -> subprocess.CompletedProcess:
  # One CPU device: the jobs compile faster, and sharding is tested elsewhere.
  env = dict(os.environ, XLA_FLAGS=os.environ.get("XLA_FLAGS", "").replace(
      "--xla_force_host_platform_device_count=8", ""))
  return subprocess.run([sys.executable, _SCRIPT, *flags], cwd=tiny_runs.REPO,
                        env=env, capture_output=True, text=True, timeout=240)


def _best_valid_ndcg(workdir: str) -> float:
  with open(os.path.join(workdir, "metrics.jsonl")) as f:
    return max(record["valid/ndcg@10"] for record in map(json.loads, f)
               if "valid/ndcg@10" in record)


def test_ranks_encoders_on_validation(tmp_path, fixture_files):
  recipe = _write_recipe(tmp_path)
  root = tmp_path / "root"
  flags = [f"--config={recipe}", "--encoders=lexical,collaborative",
           "--steps=4", f"--root={root}",
           f"--extra=data.manual_dir={fixture_files},"
           "data.verify_checksums=False"]
  result = _choose_ids(*flags)
  assert result.returncode == 0, result.stderr[-5000:]
  rows = [line for line in result.stdout.splitlines()
          if line.startswith("| ") and "encoder" not in line]
  best = {encoder: _best_valid_ndcg(str(root / encoder / "seed0"))
          for encoder in ("lexical", "collaborative")}
  ranked = sorted(best, key=best.get, reverse=True)
  assert [row.split(" | ")[0].lstrip("| ") for row in rows] == ranked
  assert f"| {best[ranked[0]]:.4f} |" in rows[0]
  assert f"Chosen encoder: {ranked[0]} " in result.stdout
  for encoder in best:  # Short schedule; the test split is never scored.
    workdir = root / encoder / "seed0"
    assert json.loads((workdir / "config.json").read_text())[
        "train"]["num_steps"] == 4
    assert json.loads((workdir / "metrics.json").read_text())[
        "split"] == "valid"
  # A second call reuses the finished jobs.
  again = _choose_ids(*flags)
  assert again.returncode == 0, again.stderr[-5000:]
  assert "[jobs]" not in again.stdout
  table = result.stdout[result.stdout.index("| encoder"):]
  assert again.stdout[again.stdout.index("| encoder"):] == table


def test_one_step_ahead_ranks_on_the_real_validation_targets(
    tmp_path, fixture_files):
  recipe = _write_recipe(tmp_path)
  root = tmp_path / "root"
  result = _choose_ids(
      f"--config={recipe}", "--encoders=lexical,collaborative", "--steps=4",
      "--one_step_ahead", f"--root={root}",
      f"--extra=data.manual_dir={fixture_files},data.verify_checksums=False")
  assert result.returncode == 0, result.stderr[-5000:]
  ahead = {}
  for encoder in ("lexical", "collaborative"):
    workdir = root / encoder / "seed0_ahead"
    config = json.loads((workdir / "config.json").read_text())
    assert config["data"]["drop_last_interactions"] == 1
    report = json.loads((workdir / "metrics.json").read_text())
    # The shifted split's test targets are the real validation targets.
    assert report["split"] == "test"
    ahead[encoder] = report["ndcg@10"]
  assert "| encoder | seeds (finished) | one step ahead ndcg@10 |" in (
      result.stdout)
  rows = [line for line in result.stdout.splitlines()
          if line.startswith("| ") and "encoder" not in line]
  ranked = sorted(ahead, key=ahead.get, reverse=True)
  assert [row.split(" | ")[0].lstrip("| ") for row in rows] == ranked
  assert rows[0].split(" | ")[2] == f"{ahead[ranked[0]]:.4f}"
  assert f"Chosen encoder: {ranked[0]} (highest mean one-step-ahead" in (
      result.stdout)


def test_recipe_without_an_encoder_argument_is_refused(tmp_path):
  result = _choose_ids("--config=configs/tiny.py", "--encoders=lexical",
                       f"--root={tmp_path}")
  assert result.returncode != 0
  assert "get_config(encoder) takes the item encoder" in result.stderr
  assert not os.listdir(tmp_path)  # No job started.
