r"""Throughput of `jaxrec.recommend` on a trained work directory.

  python benchmarks/recommend_bench.py --workdir=runs/ml100k \
      [--num_histories=10000] [--k=10] [--mode=beam]

Writes `num_histories` JSON-lines requests built from the run's own data (each
user's interactions up to a random cut, users drawn with replacement, fixed
seed), runs the real command `python -m jaxrec.recommend` on them and prints
its line (users/s over ranking alone) and the command's wall time (start-up,
restoring the checkpoint and compiling included).
"""

import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
from absl import app
from absl import flags

from jaxrec import workdir as workdir_lib
from jaxrec.data import registry

_WORKDIR = flags.DEFINE_string("workdir", None, "A trained run.")
_NUM_HISTORIES = flags.DEFINE_integer("num_histories", 10_000,
                                      "Requests to answer.")
_K = flags.DEFINE_integer("k", 10, "Items per request.")
_MODE = flags.DEFINE_enum("mode", "beam", ["beam", "exact"], "Decoding.")
_SEED = flags.DEFINE_integer("seed", 0, "Seeds the requests.")
flags.mark_flag_as_required("workdir")


def request_lines(workdir: str, num_histories: int, seed: int) -> list[str]:
  """Requests from the run's users: a prefix of >= 1 item of a random user."""
  data, split = registry.load_split(workdir_lib.load_config(workdir).data,
                                    workdir)
  rng = np.random.default_rng(seed)
  lines = []
  for number in range(num_histories):
    user = rng.integers(split.num_users)
    items = split.train[user]
    cut = rng.integers(1, len(items) + 1) if len(items) else 0
    history = [data.item_ids[i] for i in items[:max(cut, 1)]]
    lines.append(json.dumps({"user": f"r{number}", "history": history}))
  return lines


def main(argv):
  del argv
  with tempfile.TemporaryDirectory() as directory:
    source = os.path.join(directory, "histories.jsonl")
    output = os.path.join(directory, "topk.jsonl")
    with open(source, "w", encoding="utf-8") as f:
      f.write("\n".join(request_lines(_WORKDIR.value, _NUM_HISTORIES.value,
                                      _SEED.value)) + "\n")
    start = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "jaxrec.recommend",
         f"--workdir={_WORKDIR.value}", f"--input={source}",
         f"--output={output}", f"--k={_K.value}", f"--mode={_MODE.value}"],
        capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    if result.returncode:
      sys.exit(result.stderr[-3000:])
    with open(output, encoding="utf-8") as f:
      answered = sum(1 for _ in f)
  print(result.stdout.strip())
  print(f"{answered} lists written; whole command {wall:.1f}s "
        f"({answered / wall:.0f} users/s including start-up and compiling)")


if __name__ == "__main__":
  app.run(main)
