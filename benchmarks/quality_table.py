r"""The quality table: all models on MovieLens-100K, several seeds, one command.

  python benchmarks/quality_table.py [--seeds=0,1,2] [--root=runs/quality] \
      [--models=tiger_rqkmeans,tiger_rqvae,sasrec] [--out=docs/results.md]

Each (model, seed) is one whole `python -m jaxrec.main` job in
ROOT/<model>/seed<k> with `--config.seed=k --config.tokenizer.seed=k` (model
initialisation, dropout, data order and the tokenizer all change with the
seed); the test split is scored at the checkpoint with the best validation
NDCG@10. Most-popular comes from the same jobs' reports (it has no seed). A
finished job is reused, so an interrupted table resumes where it stopped.
Prints a markdown table of mean +- std (over seeds) and writes it, with the
exact command, to --out.
"""

import json
import os
import platform
import subprocess
import sys
import time

import numpy as np
from absl import app
from absl import flags

_REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODELS = {
    "tiger_rqkmeans": ("Generative, RQ-KMeans semantic IDs",
                       "configs/ml100k_tiger.py"),
    "tiger_rqvae": ("Generative, RQ-VAE semantic IDs",
                    "configs/ml100k_tiger_rqvae.py"),
    "sasrec": ("SASRec (full softmax)", "configs/ml100k_sasrec.py"),
}
METRICS = ("recall@5", "recall@10", "ndcg@5", "ndcg@10")

_SEEDS = flags.DEFINE_list("seeds", ["0", "1", "2"], "Seeds, one job each.")
_MODELS = flags.DEFINE_list("models", list(MODELS), "Models to run.")
_ROOT = flags.DEFINE_string("root", "runs/quality", "Work directories.")
_DATA_DIR = flags.DEFINE_string(
    "data_dir", "", "Shared tfds data dir (default: ROOT/data, prepared once).")
_OUT = flags.DEFINE_string("out", "docs/results.md", "Markdown output.")
_EXTRA = flags.DEFINE_list("extra", [], "More --config.* overrides for all.")
_FINISHED_ONLY = flags.DEFINE_bool(
    "finished_only", False,
    "Tabulate the jobs already finished under ROOT; start none.")


def run_job(model: str, seed: int, data_dir: str) -> dict | None:
  """Runs (or reuses) one job; returns its report plus `job_minutes`.

  None if the job has not finished and --finished_only is set.
  """
  workdir = os.path.join(_ROOT.value, model, f"seed{seed}")
  report_path = os.path.join(workdir, "metrics.json")
  timing_path = os.path.join(workdir, "quality_table_time.json")
  if not os.path.exists(report_path):
    if _FINISHED_ONLY.value:
      return None
    command = [sys.executable, "-m", "jaxrec.main",
               f"--config={MODELS[model][1]}", f"--workdir={workdir}",
               f"--config.seed={seed}", f"--config.data.data_dir={data_dir}",
               *[f"--config.{flag}" for flag in _EXTRA.value]]
    if model != "sasrec":  # item_id has no randomness.
      command.append(f"--config.tokenizer.seed={seed}")
    print(f"[quality] {model} seed {seed}: {' '.join(command[1:])}",
          flush=True)
    start = time.time()
    subprocess.run(command, cwd=_REPO, check=True, stdout=subprocess.DEVNULL,
                   stderr=open(os.path.join(_ROOT.value,
                                            f"{model}_seed{seed}.log"), "w"))
    with open(timing_path, "w") as f:
      json.dump({"job_minutes": (time.time() - start) / 60}, f)
  with open(report_path) as f:
    report = json.load(f)
  report["job_minutes"] = float("nan")
  if os.path.exists(timing_path):
    with open(timing_path) as f:
      report["job_minutes"] = json.load(f)["job_minutes"]
  return report


def _cell(values) -> str:
  values = np.asarray(values, np.float64)
  if np.isnan(values).all():
    return "n/a"
  return f"{np.nanmean(values):.4f} ± {np.nanstd(values):.4f}"


def table(rows: dict[str, list[dict]]) -> str:
  header = ["model", "seeds", *METRICS, "job time (min)"]
  lines = ["| " + " | ".join(header) + " |",
           "|" + "---|" * len(header)]
  for name, reports in rows.items():
    cells = [_cell([r[m] for r in reports]) for m in METRICS]
    minutes = np.asarray([r["job_minutes"] for r in reports])
    time_cell = ("–" if np.isnan(minutes).all()
                 else f"{np.nanmean(minutes):.1f} ± {np.nanstd(minutes):.1f}")
    lines.append(f"| {name} | {len(reports)} | " + " | ".join(cells) +
                 f" | {time_cell} |")
  return "\n".join(lines)


def main(argv):
  del argv
  unknown = set(_MODELS.value) - set(MODELS)
  if unknown:
    raise app.UsageError(f"unknown models {sorted(unknown)}; known: "
                         f"{list(MODELS)}")
  os.makedirs(_ROOT.value, exist_ok=True)
  data_dir = os.path.abspath(_DATA_DIR.value or
                             os.path.join(_ROOT.value, "data"))
  rows, popularity = {}, []
  for model in _MODELS.value:
    reports = [run_job(model, int(seed), data_dir) for seed in _SEEDS.value]
    reports = [report for report in reports if report is not None]
    if not reports:
      continue
    rows[MODELS[model][0]] = reports
    popularity.append({**reports[0]["popularity"],
                       "job_minutes": float("nan")})
  if popularity:
    rows["Most popular"] = popularity[:1]
  markdown = table(rows)
  sasrec = rows.get(MODELS["sasrec"][0])
  notes = []
  for model in ("tiger_rqkmeans", "tiger_rqvae"):
    if sasrec and MODELS[model][0] in rows:
      ratio = (np.mean([r["ndcg@10"] for r in rows[MODELS[model][0]]]) /
               np.mean([r["ndcg@10"] for r in sasrec]))
      notes.append(f"- {MODELS[model][0]}: NDCG@10 = {ratio:.0%} of SASRec's.")
  command = "python benchmarks/quality_table.py " + " ".join(sys.argv[1:])
  print(markdown + "\n\n" + "\n".join(notes))
  os.makedirs(os.path.dirname(_OUT.value) or ".", exist_ok=True)
  with open(_OUT.value, "w") as f:
    f.write(_RESULTS_TEMPLATE.format(
        command=command.strip(), table=markdown, notes="\n".join(notes),
        seeds=", ".join(_SEEDS.value), machine=_machine()))
  print(f"[quality] wrote {_OUT.value}")


def _machine() -> str:
  return (f"{platform.machine()} CPU, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}")


_RESULTS_TEMPLATE = """# Results: MovieLens-100K

Test split (leave-one-out, the last item of each of the 943 users), history
masked, scored at the checkpoint with the best validation NDCG@10; mean ±
standard deviation over seeds {seeds}. Job time is one whole
`jaxrec.main` job (tokenizer, training with periodic validation, test
evaluation) on {machine}. Most-popular ranks items by their training
(+ validation) counts and has no seed.

{table}

{notes}

Produced by:

```bash
{command}
```
"""


if __name__ == "__main__":
  app.run(main)
