"""The library API (`jaxrec.Recommender`) and the recommend command, on a
finished configs/tiny.py run; and the README's one-process script."""

import importlib
import json
import os
import pkgutil
import re
import subprocess
import sys

import numpy as np
import pytest
from absl import flags

import jaxrec
from jaxrec import recommend as recommend_cli
from tests import tiny_runs

NUM_ITEMS = 48  # the fixture's catalogue, ids "1" .. "48"


@pytest.fixture(scope="module")
def recommender(finished_tiny_run):
  return jaxrec.Recommender.load(finished_tiny_run[0])


def _python(*args, cwd=tiny_runs.REPO):
  env = dict(os.environ, JAX_PLATFORMS="cpu")
  return subprocess.run([sys.executable, *args], cwd=cwd, env=env,
                        capture_output=True, text=True, timeout=600)


def test_recommend_returns_unseen_catalogue_items_best_first(recommender):
  history = ["3", "7", "11"]
  [top] = recommender.recommend([history], k=10)
  assert len(top.items) == 10 and len(set(top.items)) == 10
  assert not set(top.items) & set(history)
  assert set(top.items) <= set(recommender.item_ids)
  assert top.scores == sorted(top.scores, reverse=True)
  [with_seen] = recommender.recommend([history], k=NUM_ITEMS,
                                      exclude_seen=False)
  assert set(with_seen.items) == set(recommender.item_ids)


def test_beam_covering_the_catalogue_equals_exact_scoring(recommender):
  histories = [["1", "2"], ["40", "5", "9", "33"], ["12"]]
  beam = recommender.recommend(histories, k=NUM_ITEMS, mode="beam")
  exact = recommender.recommend(histories, k=NUM_ITEMS, mode="exact")
  for from_beam, from_exact in zip(beam, exact):
    assert from_beam.items == from_exact.items
    np.testing.assert_allclose(from_beam.scores, from_exact.scores,
                               rtol=1e-4, atol=1e-4)


def test_recommend_reads_only_the_latest_max_history_items(recommender):
  recent = [str(item) for item in range(1, recommender.max_history + 1)]
  older = ["47", "48"]
  [short] = recommender.recommend([recent], k=5, exclude_seen=False)
  [long] = recommender.recommend([older + recent], k=5, exclude_seen=False)
  assert short == long


def test_recommend_errors_name_the_history(recommender):
  with pytest.raises(jaxrec.UnknownItemError,
                     match=r"history 1: unknown item id 'nope' \(position 1\)"):
    recommender.recommend([["1"], ["2", "nope"]])
  with pytest.raises(ValueError, match="history 0 is empty"):
    recommender.recommend([[]])
  with pytest.raises(ValueError, match="k must be >= 1"):
    recommender.recommend([["1"]], k=0)


def test_item_codes_are_the_vocabulary_rows(recommender):
  codes = recommender.item_codes(["5", "1"])
  assert codes.shape == (2, recommender.vocab.num_levels)
  np.testing.assert_array_equal(
      codes, recommender.vocab.item_codes[[recommender.item_ids.index("5"),
                                           recommender.item_ids.index("1")]])


def _write_lines(path, lines):
  path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
  return str(path)


def test_recommend_command(finished_tiny_run, recommender, tmp_path):
  requests = [{"user": "a", "history": ["3", "7", "11"]},
              {"user": "b", "history": [5, "9"]}]
  source = _write_lines(tmp_path / "in.jsonl",
                        [json.dumps(r) for r in requests] + [""])
  output = tmp_path / "out.jsonl"
  result = _python("-m", "jaxrec.recommend",
                   f"--workdir={finished_tiny_run[0]}", f"--input={source}",
                   f"--output={output}", "--k=5")
  assert result.returncode == 0, result.stderr[-3000:]
  assert "recommended for 2 users" in result.stdout
  lines = [json.loads(line) for line in output.read_text().splitlines()]
  expected = recommender.recommend([["3", "7", "11"], ["5", "9"]], k=5)
  assert [line["user"] for line in lines] == ["a", "b"]
  assert [line["items"] for line in lines] == [e.items for e in expected]


def test_recommend_command_bad_lines(finished_tiny_run, tmp_path):
  source = _write_lines(tmp_path / "in.jsonl", [
      '{"user": "a", "history": ["1"]}',
      '{"user": "b", "history": []}',
      '{"user": "c", "history": ["1", "999"]}',
      'not json'])
  output = tmp_path / "out.jsonl"
  args = ["-m", "jaxrec.recommend", f"--workdir={finished_tiny_run[0]}",
          f"--input={source}", f"--output={output}"]
  failed = _python(*args)
  assert failed.returncode == 1
  assert failed.stderr.strip().splitlines()[-1] == (
      f"jaxrec.recommend: error: {source}:2: field history is empty")
  assert "Traceback" not in failed.stderr
  assert not output.exists()
  skipped = _python(*args, "--skip_invalid")
  assert skipped.returncode == 0, skipped.stderr[-3000:]
  assert "3 invalid lines skipped" in skipped.stdout
  assert [json.loads(line)["user"] for line in
          output.read_text().splitlines()] == ["a"]


def test_parse_line_errors():
  parse = recommend_cli.parse_line
  assert parse("  ", "f", 1) is None
  for text, message in [
      ("[1]", "expected a JSON object"),
      ('{"user": 1}', "missing field(s) history"),
      ('{"user": 1, "history": "12"}', "must be a list"),
      ('{"user": 1, "history": [1.5]}', "item ids must be strings"),
      ("{", "not a JSON object")]:
    with pytest.raises(recommend_cli.InputError, match=re.escape(
        f"f:7: ") + ".*" + re.escape(message)):
      parse(text, "f", 7)


def test_unknown_config_key_is_one_line():
  result = _python("-m", "jaxrec.main", "--config=configs/tiny.py",
                   "--workdir=unused", "--config.model.nonexistent=3")
  assert result.returncode == 1
  assert result.stderr.strip().splitlines() == [
      "jaxrec.main: error: --config.model.nonexistent: config.model has no "
      "key 'nonexistent'; keys there: " + ", ".join(sorted(
          jaxrec.load_config("tiny").model.keys()))]


def _readme_script() -> str:
  with open(os.path.join(tiny_runs.REPO, "README.md"), encoding="utf-8") as f:
    readme = f.read()
  [script] = re.findall(r"```python\n(import jaxrec\n.*?)```", readme,
                        flags=re.DOTALL)
  return script


def test_readme_script_trains_evaluates_and_recommends_in_one_process(
    fixture_files, tmp_path):
  script = _readme_script()
  # The README's script on the test fixture instead of downloaded data.
  script = script.replace('"runs/tiny"', repr(str(tmp_path / "run")))
  script = script.replace(
      'config = jaxrec.load_config("tiny")\n',
      'config = jaxrec.load_config("tiny")\n'
      f'config.data.manual_dir = {fixture_files!r}\n'
      'config.data.verify_checksums = False\n')
  result = _python("-c", script, cwd=str(tmp_path))
  assert result.returncode == 0, result.stderr[-5000:]
  assert os.path.exists(tmp_path / "run" / "metrics.json")
  assert os.path.exists(tmp_path / "run" / "eval_test_exact.json")
  *_, ndcg, top = result.stdout.strip().splitlines()
  assert 0.0 <= float(ndcg) <= 1.0 and top.startswith("[")


def test_importing_every_module_defines_no_flag():
  for module in pkgutil.walk_packages(jaxrec.__path__, "jaxrec."):
    importlib.import_module(module.name)
  defined_by = flags.FLAGS.flags_by_module_dict()
  assert not [name for name in defined_by if "jaxrec" in name]
