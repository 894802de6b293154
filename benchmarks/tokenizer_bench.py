r"""Semantic-ID tokenizer speed, memory and quality.

  python benchmarks/tokenizer_bench.py [--parts=synthetic,ml100k] \
      [--num_items=1000000] [--dim=256] [--root=runs/tokenizer_bench]

synthetic: embeddings [num_items, dim] float32 drawn around 4,096 random
  centres (so clusters exist), quantized with 3 x 256 codes. Each measurement
  runs in a fresh process, reporting wall time and the process's peak
  resident memory (ru_maxrss, which includes the embeddings themselves):
  residual k-means (unbalanced and balanced) and two RQ-VAE epochs (k-means
  initialisation included; the second epoch's time is the one per epoch).
ml100k: the whole job (configs/ml100k_tiger.py) with the MiniLM sentence
  encoder and each quantizer (rqkmeans, rqvae, random): utilisation and
  collision rate per level from vocab/stats.json, test NDCG@10 and Recall@10.
"""

import json
import os
import resource
import subprocess
import sys
import time

import numpy as np
from absl import app
from absl import flags

_REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_PARTS = flags.DEFINE_list("parts", ["synthetic", "ml100k"], "What to run.")
_NUM_ITEMS = flags.DEFINE_integer("num_items", 1_000_000, "Synthetic items.")
_DIM = flags.DEFINE_integer("dim", 256, "Synthetic embedding width.")
_NUM_ITERS = flags.DEFINE_integer("num_iters", 20, "Lloyd iterations/level.")
_ROOT = flags.DEFINE_string("root", "runs/tokenizer_bench", "Work dirs.")
_DATA_DIR = flags.DEFINE_string("data_dir", "", "Shared tfds data dir.")
_CHILD = flags.DEFINE_string("child", "", "Internal: one measurement.")
_SIZES = (256, 256, 256)


def synthetic_embeddings(num_items: int, dim: int, seed: int = 0
                         ) -> np.ndarray:
  """[num_items, dim] float32 around 4,096 Gaussian centres, made in blocks."""
  rng = np.random.default_rng(seed)
  centres = rng.standard_normal((4096, dim), dtype=np.float32)
  out = np.empty((num_items, dim), np.float32)
  for start in range(0, num_items, 65536):
    stop = min(start + 65536, num_items)
    out[start:stop] = centres[rng.integers(4096, size=stop - start)]
    out[start:stop] += 0.5 * rng.standard_normal((stop - start, dim),
                                                 dtype=np.float32)
  return out


def _child(kind: str) -> dict:
  """One measurement in this (fresh) process."""
  from jaxrec.semantic_ids import collisions  # pylint: disable=g-import-not-at-top
  from jaxrec.semantic_ids import residual_kmeans  # pylint: disable=g-import-not-at-top
  from jaxrec.semantic_ids import rqvae  # pylint: disable=g-import-not-at-top
  embeddings = synthetic_embeddings(_NUM_ITEMS.value, _DIM.value)
  start = time.perf_counter()
  if kind in ("rqkmeans", "rqkmeans_balanced"):
    codes, _ = residual_kmeans.residual_kmeans(
        embeddings, _SIZES, num_iters=_NUM_ITERS.value, seed=0,
        balanced=kind == "rqkmeans_balanced")
    extra = {}
  elif kind == "rqvae_epoch":
    # Two epochs: the second one's time excludes compilation.
    codes, info = rqvae.train_rqvae(embeddings, _SIZES, num_epochs=2,
                                    seed=0)
    extra = {"seconds_per_epoch": round(info["seconds_per_epoch"], 1),
             "first_epoch_seconds": round(info["first_epoch_seconds"], 1)}
  else:
    raise ValueError(kind)
  seconds = time.perf_counter() - start
  stats = collisions.quantization_stats(np.asarray(codes), _SIZES)
  peak_gib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
  return {"kind": kind, "seconds": round(seconds, 1),
          "peak_rss_gib": round(peak_gib, 2),
          "collision_rate": round(stats["collision_rate"], 4),
          "max_bucket_size": stats["max_bucket_size"],
          "utilisation": [round(u, 3) for u in stats["utilisation"]], **extra}


def synthetic_part() -> None:
  print(f"synthetic: {_NUM_ITEMS.value:,} x {_DIM.value} float32 "
        f"({_NUM_ITEMS.value * _DIM.value * 4 / 2**30:.2f} GiB), codes "
        f"{_SIZES}, {_NUM_ITERS.value} Lloyd iterations per level")
  for kind in ("rqkmeans", "rqkmeans_balanced", "rqvae_epoch"):
    result = subprocess.run(
        [sys.executable, __file__, f"--child={kind}",
         f"--num_items={_NUM_ITEMS.value}", f"--dim={_DIM.value}",
         f"--num_iters={_NUM_ITERS.value}"],
        cwd=_REPO, capture_output=True, text=True, check=False)
    if result.returncode:
      print(f"  {kind}: failed\n{result.stderr[-2000:]}")
      continue
    print("  " + result.stdout.strip().splitlines()[-1], flush=True)


def ml100k_part() -> None:
  data_dir = os.path.abspath(_DATA_DIR.value or
                             os.path.join(_ROOT.value, "data"))
  print("ml100k: whole job, MiniLM item encoder")
  print("| quantizer | utilisation per level | collision rate | largest "
        "bucket | test recall@10 | test ndcg@10 | job min |")
  print("|---|---|---|---|---|---|---|")
  for quantizer in ("rqkmeans", "rqvae", "random"):
    workdir = os.path.join(_ROOT.value, f"ml100k_{quantizer}")
    config = ("configs/ml100k_tiger_rqvae.py" if quantizer == "rqvae"
              else "configs/ml100k_tiger.py")
    command = [sys.executable, "-m", "jaxrec.main",
               f"--config={config}:sentence_transformer",
               f"--workdir={workdir}", f"--config.data.data_dir={data_dir}"]
    if quantizer == "random":
      command.append("--config.tokenizer.quantizer=random")
    start = time.time()
    os.makedirs(workdir, exist_ok=True)
    with open(os.path.join(workdir, "bench.log"), "w") as log:
      subprocess.run(command, cwd=_REPO, check=True, stderr=log)
    minutes = (time.time() - start) / 60
    with open(os.path.join(workdir, "vocab", "stats.json")) as f:
      stats = json.load(f)
    with open(os.path.join(workdir, "metrics.json")) as f:
      report = json.load(f)
    utilisation = "/".join(f"{u:.2f}" for u in stats["utilisation"])
    print(f"| {quantizer} | {utilisation} | {stats['collision_rate']:.3f} | "
          f"{stats['max_bucket_size']} | {report['recall@10']:.4f} | "
          f"{report['ndcg@10']:.4f} | {minutes:.1f} |", flush=True)


def main(argv):
  del argv
  if _CHILD.value:
    print(json.dumps(_child(_CHILD.value)))
    return
  if "synthetic" in _PARTS.value:
    synthetic_part()
  if "ml100k" in _PARTS.value:
    ml100k_part()


if __name__ == "__main__":
  app.run(main)
