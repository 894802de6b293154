"""The live catalogue: `jaxrec.catalog add|remove`, versions, recommending."""

import json
import os
import re
import shutil
import subprocess
import sys

from etils import epath
import numpy as np
import pytest

from jaxrec import catalog
from jaxrec import recommender as recommender_lib
from jaxrec import workdir as workdir_lib
from jaxrec.semantic_ids import catalog_versions
from jaxrec.semantic_ids import cold_start
from jaxrec.semantic_ids import tokenizer
from tests import tiny_runs
from tests.test_cold_start_codes import Catalogue
from tests.test_cold_start_codes import recipe


@pytest.fixture(scope="module")
def built_vocab(tmp_path_factory) -> str:
  """A work directory with a lexical RQ-KMeans vocabulary (no model)."""
  workdir = str(tmp_path_factory.mktemp("catalog_vocab"))
  tokenizer.build_or_load_vocab(recipe("lexical"), Catalogue(), workdir)
  return workdir


@pytest.fixture
def workdir(built_vocab, tmp_path) -> str:
  return shutil.copytree(built_vocab, tmp_path / "run")


def write_lines(path, *lines) -> str:
  path.write_text("".join(
      (line if isinstance(line, str) else json.dumps(line)) + "\n"
      for line in lines))
  return str(path)


NEW = [{"item_id": "n1", "title": "ghost house", "genres": ["Horror"],
        "year": 1999},
       {"item_id": "n2", "title": "funny wedding party", "genres": ["Comedy"]},
       {"item_id": 7001, "title": "war letter", "brand": "Studio",
        "price": 9.5}]


def test_add_appends_items_and_keeps_every_code(workdir, tmp_path):
  before = catalog_versions.load(workdir)
  version = catalog.add_items(workdir,
                              write_lines(tmp_path / "new.jsonl", *NEW))
  assert version.number == 1 and catalog_versions.version_numbers(
      workdir) == [0, 1]
  vocab = catalog_versions.load(workdir).vocab
  assert vocab.item_ids == before.vocab.item_ids + ("n1", "n2", "7001")
  np.testing.assert_array_equal(vocab.item_codes[:120],
                                before.vocab.item_codes)
  assert vocab.codebook_sizes == before.vocab.codebook_sizes
  assert catalog_versions.load(workdir, 0).vocab == before.vocab
  # A horror title lands behind a horror item's first code.
  horror_codes = set(before.vocab.item_codes[3::4, 0])
  assert vocab.item_codes[120, 0] in horror_codes


def test_remove_marks_items_and_versions_stack(workdir, tmp_path):
  catalog.add_items(workdir, write_lines(tmp_path / "new.jsonl", *NEW))
  version = catalog.remove_items(workdir, write_lines(
      tmp_path / "gone.jsonl", {"item_id": "5"}, {"item_id": "n2"}))
  assert version.number == 2 and version.removed == {"5", "n2"}
  assert version.num_active == 121
  assert 4 not in version.active_indices  # Item "5" is index 4.
  assert catalog_versions.load(workdir, 1).removed == frozenset()
  again = catalog.remove_items(workdir, write_lines(
      tmp_path / "more.jsonl", {"item_id": "6"}))
  assert again.removed == {"5", "n2", "6"}


@pytest.mark.parametrize("lines, line, message", [
    (['{"item_id": "a", "title": "ghost"}', '{"item_id": "a", "title": "x"}'],
     2, r"item id 'a' repeated \(first at .*:1\)"),
    (['{"item_id": "3", "title": "ghost"}'], 1,
     "item id '3' is already in catalogue version 0"),
    (['', '{"item_id": "a"}'], 2, "item 'a' has no text"),
    (['{"item_id": "a", "title": "ghost"}', 'not json'], 2,
     "not a JSON object"),
    (['["a"]'], 1, "expected a JSON object"),
    (['{"title": "ghost"}'], 1, "item_id must be a non-empty string"),
    (['{"item_id": "a", "title": 5}'], 1, "field title must be a string"),
    (['{"item_id": "a", "title": "x", "year": "1999"}'], 1, "field year"),
    (['{"item_id": "a", "title": "x", "genres": "Horror"}'], 1,
     "field genres must be a list of strings"),
    (['{"item_id": "a", "title": "x", "colour": "red"}'], 1,
     r"unknown field\(s\) \['colour'\]"),
    (['{"item_id": "a", "title": "zzz qqq"}'], 1,
     "none of item 'a'.*cannot be placed"),
])
def test_bad_input_names_the_line_and_writes_nothing(workdir, tmp_path, lines,
                                                     line, message):
  path = write_lines(tmp_path / "bad.jsonl", *lines)
  with pytest.raises(catalog.CatalogInputError,
                     match=f"^{re.escape(path)}:{line}: {message}"):
    catalog.add_items(workdir, path)
  assert catalog_versions.version_numbers(workdir) == [0]


def test_removing_unknown_or_removed_items_is_an_error(workdir, tmp_path):
  with pytest.raises(catalog.CatalogInputError,
                     match=r"gone.jsonl:1: item id 'zz' is not in catalogue"):
    catalog.remove_items(workdir, write_lines(tmp_path / "gone.jsonl",
                                              {"item_id": "zz"}))
  catalog.remove_items(workdir, write_lines(tmp_path / "once.jsonl",
                                            {"item_id": "5"}))
  with pytest.raises(catalog.CatalogInputError,
                     match=r"twice.jsonl:2: item id '5' was already removed"):
    catalog.remove_items(workdir, write_lines(
        tmp_path / "twice.jsonl", {"item_id": "6"}, {"item_id": "5"}))
  with pytest.raises(catalog.CatalogInputError, match="already in .* "
                     r"\(removed\)"):
    catalog.add_items(workdir, write_lines(
        tmp_path / "back.jsonl", {"item_id": "5", "title": "ghost"}))
  assert catalog_versions.version_numbers(workdir) == [0, 1]


def test_a_kill_before_the_rename_leaves_the_previous_version(
    workdir, tmp_path, monkeypatch):
  catalog.add_items(workdir, write_lines(tmp_path / "a.jsonl", NEW[0]))

  def killed(self, target):
    raise KeyboardInterrupt(f"killed before renaming {self} to {target}")

  with monkeypatch.context() as patch:
    patch.setattr(type(epath.Path(workdir)), "replace", killed)
    with pytest.raises(KeyboardInterrupt):
      catalog.add_items(workdir, write_lines(tmp_path / "b.jsonl", NEW[1]))
  stray = catalog_versions.version_path(workdir, 2)
  assert not stray.exists() and epath.Path(f"{stray}.tmp").exists()
  epath.Path(f"{stray}.tmp").write_text('{"truncated')  # A torn write.
  latest = catalog_versions.load(workdir)
  assert latest.number == 1 and "n2" not in latest.vocab.item_ids
  assert catalog.add_items(workdir, str(tmp_path / "b.jsonl")).number == 2


def test_a_stale_base_version_is_refused(workdir, tmp_path):
  base = catalog_versions.load(workdir)
  catalog.add_items(workdir, write_lines(tmp_path / "a.jsonl", NEW[0]))
  with pytest.raises(catalog_versions.CatalogVersionError,
                     match="appeared while version 0"):
    catalog_versions.write(workdir, base, base.vocab, {"5"})


def test_precomputed_state_needs_a_state_file(workdir, tmp_path):
  os.remove(workdir_lib.vocab_dir(workdir) / cold_start.STATE_FILENAME)
  with pytest.raises(FileNotFoundError, match="config.json"):
    catalog.add_items(workdir, write_lines(tmp_path / "a.jsonl", NEW[0]))


def _catalog_command(*args):
  return subprocess.run([sys.executable, "-m", "jaxrec.catalog", *args],
                        cwd=tiny_runs.REPO, capture_output=True, text=True,
                        timeout=300,
                        env=dict(os.environ, JAX_PLATFORMS="cpu"))


def test_command_adds_and_reports_bad_input_in_one_line(workdir, tmp_path):
  good = write_lines(tmp_path / "new.jsonl", *NEW)
  result = _catalog_command("add", f"--workdir={workdir}", f"--items={good}")
  assert result.returncode == 0, result.stderr[-3000:]
  assert "catalogue version 1: 123 items, 123 recommendable" in result.stdout
  result = _catalog_command("remove", f"--workdir={workdir}",
                            f"--items={good}", "--items=/no/such/file")
  assert result.returncode == 1
  assert result.stderr.strip().splitlines()[-1].startswith(
      "jaxrec.catalog: error:")
  result = _catalog_command("rename", f"--workdir={workdir}")
  assert result.returncode == 1 and "expected add or remove" in result.stderr


def test_added_item_is_recommended_and_removed_one_never(finished_tiny_run,
                                                         tmp_path):
  """On a trained run, with the tokenizer state rebuilt from the data."""
  workdir = shutil.copytree(finished_tiny_run[0], tmp_path / "run")
  os.remove(workdir_lib.vocab_dir(workdir) / cold_start.STATE_FILENAME)
  history = ["1", "5", "9", "13"]  # Action movies (fixture genre 0).
  before = recommender_lib.Recommender.load(workdir)
  [top] = before.recommend([history], k=5, mode="exact")
  catalog.add_items(workdir, write_lines(
      tmp_path / "new.jsonl", {"item_id": "new1", "title": "Action Movie 99",
                               "genres": ["Action"], "year": 1970}))
  assert (workdir_lib.vocab_dir(workdir) / cold_start.STATE_FILENAME).exists()
  catalog.remove_items(workdir, write_lines(tmp_path / "gone.jsonl",
                                            {"item_id": top.items[0]}))

  recommender = recommender_lib.Recommender.load(workdir)
  assert recommender.catalog.number == 2
  everything = recommender.catalog.num_active
  for mode in ("exact", "beam"):
    [result] = recommender.recommend([history, ["new1"]], k=everything,
                                     mode=mode)[:1]
    assert "new1" in result.items, mode
    assert top.items[0] not in result.items, mode
    assert len(result.items) == everything - len(history)
  # Histories may hold removed items.
  [result] = recommender.recommend([[top.items[0], "new1"]], k=everything)
  assert top.items[0] not in result.items
  report = recommender.evaluate("test", write=False)
  assert report["catalog_version"] == 2 and report["num_items"] == 48
  old = recommender_lib.Recommender.load(workdir, catalog_version=0)
  with pytest.raises(recommender_lib.UnknownItemError, match="new1"):
    old.recommend([["new1"]])
