r"""Recipe sweep for the generative model on MovieLens-100K, validation only.

  python benchmarks/tune_ml100k.py [--variants=base,hist50,...] \
      [--seeds=0,1] [--root=runs/tune] [--parallel=1] [--deadline_minutes=0]

Each variant is --config (default `configs/ml100k_tiger.py`) plus a few
`--config.*` overrides (VARIANTS below), run for each seed as one whole
`python -m jaxrec.main` job in ROOT/<variant>/seed<k>. The table it prints
ranks variants by their mean (over seeds) best validation NDCG@10, the number
that picks a recipe; test NDCG@10 is shown for reference only. Finished
jobs are reused; with --deadline_minutes, jobs still running then are
stopped and reported from their validation evaluations so far ("best steps"
is the best/last evaluated step per seed). --parallel runs several jobs at once (useful on an
accelerator, where one small job leaves it mostly idle; on a CPU it only
shares the cores).
"""

import concurrent.futures
import json
import os
import subprocess
import time

from absl import app
from absl import flags
import numpy as np

import job_runner

# name -> --config.* overrides of --config.
VARIANTS = {
    "base": [],
    "hist50": ["data.max_history=50"],
    "hist50_ls": ["data.max_history=50", "model.dropout_rate=0.1",
                  "train.label_smoothing=0.1"],
    "hist50_drop3": ["data.max_history=50", "model.dropout_rate=0.3"],
    "hist50_l4": ["data.max_history=50", "model.num_layers=4"],
    "hist50_d256": ["data.max_history=50", "model.embed_dim=256",
                    "model.mlp_dim=1024"],
    "hist50_6k": ["data.max_history=50", "train.num_steps=6000"],
    "hist50_lr2e3": ["data.max_history=50", "optimizer.learning_rate=2e-3"],
    "hist50_b128": ["data.max_history=50", "train.batch_size=128"],
    "hist100": ["data.max_history=100"],
    "hist50_beam50": ["data.max_history=50", "eval.beam_size=50"],
    "ls": ["model.dropout_rate=0.1", "train.label_smoothing=0.1"],
    # Co-occurrence window of the collaborative item encoder (default 10):
    # immediate transitions only.
    "cf_window1": ["tokenizer.encoder.window=1"],
    # Finer codes: ~26 items per first-level code, the last two levels
    # nearly identify the item.
    "codes64": ["tokenizer.codebook_sizes=(64,64,64)"],
    # Hashed embedding of each history item's whole code tuple.
    "tuple": ["model.tuple_buckets=8192"],
    "hist50_ls_6k": ["data.max_history=50", "model.dropout_rate=0.1",
                     "train.label_smoothing=0.1", "train.num_steps=6000"],
    "hist50_ls_l4_6k": ["data.max_history=50", "model.dropout_rate=0.1",
                        "train.label_smoothing=0.1", "model.num_layers=4",
                        "train.num_steps=6000"],
}

_CONFIG = flags.DEFINE_string(
    "config", "configs/ml100k_tiger.py",
    "The recipe the variants change (e.g. configs/ml100k_tiger_rqvae.py).")
_VARIANTS = flags.DEFINE_list("variants", list(VARIANTS), "Variants to run.")
_SEEDS = flags.DEFINE_list(
    "seeds", ["0"], "Seeds, one job each per variant (VARIANT@SEED in "
    "--variants runs that seed only).")
_ROOT = flags.DEFINE_string("root", "runs/tune", "Work directories.")
_DATA_DIR = flags.DEFINE_string(
    "data_dir", "", "Shared tfds data dir (default: ROOT/data, prepared once).")
_PARALLEL = flags.DEFINE_integer("parallel", 1, "Jobs run at once.")
_DEADLINE = flags.DEFINE_float(
    "deadline_minutes", 0.0, "Stop unfinished jobs after this long (0: never).")
_OUT = flags.DEFINE_string("out", "", "Also write the markdown table here.")


def jobs() -> list[tuple[str, int]]:
  """(variant, seed) pairs from --variants and --seeds."""
  pairs = []
  for entry in _VARIANTS.value:
    name, _, seed = entry.partition("@")
    if name not in VARIANTS:
      raise app.UsageError(f"unknown variant {name!r}; known: "
                           f"{list(VARIANTS)}")
    seeds = [seed] if seed else _SEEDS.value
    pairs.extend((name, int(s)) for s in seeds)
  return pairs


def _workdir(name: str, seed: int) -> str:
  return os.path.join(_ROOT.value, name, f"seed{seed}")


def run_job(name: str, seed: int, data_dir: str, machine_name: str,
            deadline: float) -> None:
  """Runs (or reuses) one job; stops it at `deadline` (a time.time())."""
  overrides = [f"data.data_dir={data_dir}", f"seed={seed}",
               f"tokenizer.seed={seed}", *VARIANTS[name]]
  try:
    job_runner.run_main_job(
        _CONFIG.value, _workdir(name, seed), overrides,
        log_path=os.path.join(_ROOT.value, f"{name}_seed{seed}.log"),
        machine_name=machine_name, deadline=deadline)
  except subprocess.CalledProcessError as error:
    print(f"[tune] {name} seed {seed} failed ({error}); see its log",
          flush=True)


def summarise(name: str, seed: int) -> dict:
  """One job: best validation NDCG@10 so far, its step, test if finished."""
  workdir = _workdir(name, seed)
  summary = {"best_valid": float("nan"), "best_step": 0, "last_step": 0,
             "test_ndcg@10": float("nan"), "test_recall@10": float("nan")}
  history = os.path.join(workdir, "metrics.jsonl")
  if os.path.exists(history):
    with open(history) as f:
      records = [json.loads(line) for line in f if line.strip()]
    for record in records:
      summary["last_step"] = max(summary["last_step"], record["step"])
      value = record.get("valid/ndcg@10")
      if value is not None and not value <= summary["best_valid"]:
        summary["best_valid"] = value
        summary["best_step"] = record["step"]
  report = os.path.join(workdir, "metrics.json")
  if os.path.exists(report):
    with open(report) as f:
      test = json.load(f)
    summary["test_ndcg@10"] = test["ndcg@10"]
    summary["test_recall@10"] = test["recall@10"]
  return summary


def table(results: dict[str, list[dict]]) -> str:
  """Variants ranked by mean best validation NDCG@10 over their seeds."""
  header = ["variant", "overrides", "seeds (finished)", "best valid ndcg@10",
            "best steps", "test ndcg@10", "test recall@10"]
  lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
  def rank(item):
    values = [s["best_valid"] for s in item[1]]
    return -(np.nanmean(values) if not np.isnan(values).all() else -1.0)
  for name, summaries in sorted(results.items(), key=rank):
    steps = ",".join(f"{s['best_step']}/{s['last_step']}" for s in summaries)
    finished = sum(not np.isnan(s["test_ndcg@10"]) for s in summaries)
    valid, ndcg, recall = (
        job_runner.mean_std([s[key] for s in summaries])
        for key in ("best_valid", "test_ndcg@10", "test_recall@10"))
    lines.append(
        f"| {name} | {' '.join(VARIANTS[name]) or '(recipe)'} | "
        f"{len(summaries)} ({finished}) | {valid} | {steps} | {ndcg} | "
        f"{recall} |")
  return "\n".join(lines)


def main(argv):
  del argv
  pairs = jobs()
  os.makedirs(_ROOT.value, exist_ok=True)
  data_dir = os.path.abspath(_DATA_DIR.value or
                             os.path.join(_ROOT.value, "data"))
  deadline = (time.time() + 60 * _DEADLINE.value if _DEADLINE.value > 0
              else float("inf"))
  with concurrent.futures.ThreadPoolExecutor(_PARALLEL.value) as pool:
    machine_name = job_runner.machine(_PARALLEL.value)
    futures = [pool.submit(run_job, name, seed, data_dir, machine_name,
                           deadline)
               for name, seed in pairs]
    for future in futures:
      future.result()
  results = {}
  for name, seed in pairs:
    results.setdefault(name, []).append(summarise(name, seed))
  markdown = table(results)
  print(markdown)
  if _OUT.value:
    with open(_OUT.value, "w") as f:
      f.write(markdown + "\n")


if __name__ == "__main__":
  app.run(main)
