"""`python -m jaxrec.tokenize`: the semantic-ID stage on its own."""

import json
import os
import subprocess
import sys

import pytest

from jaxrec import recipes
from jaxrec.semantic_ids import tokenizer
from jaxrec.semantic_ids import vocab as vocab_lib
from tests import tiny_runs

_TINY = os.path.join(tiny_runs.REPO, "configs", "tiny.py")


def test_same_vocab_as_the_main_job(tmp_path, fixture_files, finished_tiny_run):
  run_dir, _ = finished_tiny_run
  config = recipes.load_recipe(_TINY)
  vocab = tokenizer.tokenize_dataset(
      config.tokenizer, config.data.name, str(tmp_path),
      manual_dir=fixture_files, verify_checksums=False)
  from_job = vocab_lib.SemanticIdVocab.load(
      os.path.join(run_dir, "vocab", "vocab.json"))
  assert vocab == from_job
  assert (tmp_path / "vocab" / "tokenizer.json").read_bytes() == open(
      os.path.join(run_dir, "vocab", "tokenizer.json"), "rb").read()
  stats = json.loads((tmp_path / "vocab" / "stats.json").read_text())
  with open(os.path.join(run_dir, "vocab", "stats.json")) as f:
    job_stats = json.load(f)
  timings = ("encode_seconds", "quantize_seconds")
  assert ({k: v for k, v in stats.items() if k not in timings} ==
          {k: v for k, v in job_stats.items() if k not in timings})
  assert stats["num_items"] == vocab.num_items
  assert (tmp_path / "vocab" / "codebooks.png").stat().st_size > 1000
  # A job on this directory reuses the vocabulary; other data settings or
  # another recipe are refused.
  with pytest.raises(ValueError, match=r"data.max_user_interactions: 0 "
                     r"before, 5 now"):
    tokenizer.tokenize_dataset(
        config.tokenizer, config.data.name, str(tmp_path),
        manual_dir=fixture_files, verify_checksums=False,
        max_user_interactions=5)
  config.tokenizer.codebook_sizes = (4, 4)
  with pytest.raises(ValueError, match=r"codebook_sizes: \[8, 8\] before, "
                     r"\[4, 4\] now"):
    tokenizer.tokenize_dataset(
        config.tokenizer, config.data.name, str(tmp_path),
        manual_dir=fixture_files, verify_checksums=False)


def test_command_line(tmp_path, fixture_files):
  result = subprocess.run(
      [sys.executable, "-m", "jaxrec.tokenize",
       "--config=tokenizers/random.py", "--dataset=movielens_100k",
       f"--workdir={tmp_path}", f"--manual_dir={fixture_files}",
       "--noverify_checksums", "--config.codebook_sizes=(4,4)"],
      cwd=tiny_runs.REPO, capture_output=True, text=True, timeout=120)
  assert result.returncode == 0, result.stderr[-3000:]
  vocab = vocab_lib.SemanticIdVocab.load(tmp_path / "vocab" / "vocab.json")
  assert vocab.codebook_sizes[:2] == (4, 4)
  assert not (tmp_path / "embeddings").exists()  # Random IDs embed nothing.


def test_unknown_dataset_is_an_error(tmp_path):
  result = subprocess.run(
      [sys.executable, "-m", "jaxrec.tokenize",
       "--config=tokenizers/rqkmeans.py", "--dataset=movielens_5m",
       f"--workdir={tmp_path}"],
      cwd=tiny_runs.REPO, capture_output=True, text=True, timeout=60)
  assert result.returncode != 0
  assert "unknown dataset 'movielens_5m'" in result.stderr
