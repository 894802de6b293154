r"""How long adding items to a live catalogue takes, and what the codes cost.

  python benchmarks/catalog_bench.py [--encoders=collaborative,lexical] \
      [--num_new=1000] [--data_dir=runs/data] [--root=runs/catalog_bench]

For each encoder, builds (once, reused) the default job's MovieLens-100K
vocabulary (configs/ml100k_tiger.py's tokenizer, data settings and split)
in ROOT/ENCODER, makes `num_new` new items from the catalogue's own text (a
real item's genres and year, its title with a word of another title added),
then times `jaxrec.catalog.add_items` in this process (JAX already
imported; median of 3) and the whole `python -m jaxrec.catalog add`
command (interpreter and imports included). Each run's version file is
deleted afterwards, so every run adds to version 0. Prints one JSON line per
encoder, with the tokenizer state's fallback report (collaborative).
"""

import json
import os
import statistics
import subprocess
import sys
import time

from absl import app
from absl import flags
import numpy as np

from jaxrec import catalog
from jaxrec import recipes
from jaxrec.data import registry
from jaxrec.semantic_ids import catalog_versions
from jaxrec.semantic_ids import tokenizer

_REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_ENCODERS = flags.DEFINE_list("encoders", ["collaborative", "lexical"],
                              "Item encoders of the vocabularies.")
_NUM_NEW = flags.DEFINE_integer("num_new", 1000, "Items to add.")
_DATA_DIR = flags.DEFINE_string("data_dir", "runs/data",
                                "tfds data dir holding movielens_100k.")
_ROOT = flags.DEFINE_string("root", "runs/catalog_bench", "Work dirs.")
_REPEATS = 3


def build(encoder: str, workdir: str) -> tuple[object, float]:
  """The default job's vocabulary with `encoder` in workdir; (data, s)."""
  config = recipes.load("ml100k_tiger", encoder)
  config.data.data_dir = _DATA_DIR.value
  data, split = registry.load_split(config.data, workdir)
  start = time.perf_counter()
  tokenizer.build_or_load_vocab(config.tokenizer, data, workdir,
                                dataset_name=config.data.name,
                                train_sequences=split.train,
                                data_config=config.data)
  return data, time.perf_counter() - start


def new_items_file(data, path: str, num_new: int) -> str:
  """JSON lines of `num_new` items made from the catalogue's text."""
  rng = np.random.default_rng(0)
  lines = []
  for i in range(num_new):
    a, b = rng.integers(data.num_items, size=2)
    words = data.titles[b].split() or ["new"]
    lines.append(json.dumps({
        "item_id": f"new{i}", "title": f"{data.titles[a]} {words[0]}",
        "genres": data.genres[a], "year": int(data.years[a])}))
  with open(path, "w", encoding="utf-8") as f:
    f.write("\n".join(lines) + "\n")
  return path


def _drop_versions(workdir: str) -> None:
  for number in catalog_versions.version_numbers(workdir)[1:]:
    os.remove(catalog_versions.version_path(workdir, number))


def measure(encoder: str) -> dict:
  workdir = os.path.join(_ROOT.value, encoder)
  data, build_seconds = build(encoder, workdir)
  items = new_items_file(data, os.path.join(workdir, "new_items.jsonl"),
                         _NUM_NEW.value)
  _drop_versions(workdir)
  api_seconds = []
  for _ in range(_REPEATS):
    start = time.perf_counter()
    version = catalog.add_items(workdir, items)
    api_seconds.append(time.perf_counter() - start)
    _drop_versions(workdir)
  start = time.perf_counter()
  subprocess.run([sys.executable, "-m", "jaxrec.catalog", "add",
                  f"--workdir={workdir}", f"--items={items}"],
                 cwd=_REPO, check=True, capture_output=True,
                 env=dict(os.environ, JAX_PLATFORMS="cpu"))
  command_seconds = time.perf_counter() - start
  codes = version.vocab.item_codes
  new_codes = codes[data.num_items:]
  old_tuples = {tuple(row[:-1]) for row in codes[:data.num_items]}
  _drop_versions(workdir)
  return {
      "encoder": encoder,
      "catalogue_items": data.num_items,
      "new_items": _NUM_NEW.value,
      "vocab_build_seconds": round(build_seconds, 2),
      "add_seconds_api_median": round(statistics.median(api_seconds), 3),
      "add_seconds_api_first": round(api_seconds[0], 3),
      "add_seconds_command": round(command_seconds, 2),
      "codebook_sizes": list(version.vocab.codebook_sizes),
      "new_items_sharing_an_old_tuple": round(float(np.mean(
          [tuple(row[:-1]) in old_tuples for row in new_codes])), 3),
      "new_items_off_collision_0": round(float(np.mean(new_codes[:, -1] > 0)),
                                         3),
      "fallback": catalog.tokenizer_state(workdir).report,
  }


def main(argv: list[str]) -> None:
  del argv
  for encoder in _ENCODERS.value:
    print(json.dumps(measure(encoder)), flush=True)


if __name__ == "__main__":
  app.run(main)
