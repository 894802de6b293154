r"""The quality table: all models on MovieLens-100K, several seeds, one command.

  python benchmarks/quality_table.py [--seeds=0,1,2] [--root=runs/quality] \
      [--models=tiger_rqkmeans,item_level,item_level_hybrid,sasrec] \
      [--out=docs/results.md] [--parallel=1] [--extra=KEY=VALUE,...] \
      [--title=...]

The sparse variant (each user's first 20 interactions only):

  python benchmarks/quality_table.py --root=runs/quality_sparse \
      --extra=data.max_user_interactions=20 --out=docs/results_sparse.md \
      --title="sparse MovieLens-100K (each user's first 20 interactions)"

Each (model, seed) is one whole `python -m jaxrec.main` job in
ROOT/<model>/seed<k> with `--config.seed=k --config.tokenizer.seed=k` (model
initialisation, dropout, data order and the tokenizer all change with the
seed); the test split is scored at the checkpoint with the best validation
NDCG@10. Most-popular comes from the same jobs' reports (it has no seed). A
finished job is reused, so an interrupted table resumes where it stopped.
Prints a markdown table of mean +- std (over seeds) and writes it, with the
exact command, to --out.
"""

import concurrent.futures
import json
import os
import shlex
import sys

from absl import app
from absl import flags
import numpy as np

import job_runner

# configs/ml100k_item_level.py without its item score: the code head alone,
# beam search, the 2000 steps that recipe had before it gained the score.
_CODES_ONLY = ["model.item_score_weight=0.0", "model.tuple_buckets=0",
               "model.item_score_scale=1.0", "eval.mode=beam",
               "train.num_steps=2000"]

MODELS = {
    # name: (row label, recipe, extra --config.* overrides)
    "tiger_rqkmeans": ("Generative, RQ-KMeans semantic IDs",
                       "configs/ml100k_tiger.py", []),
    "tiger_rqvae": ("Generative, RQ-VAE semantic IDs",
                    "configs/ml100k_tiger_rqvae.py", []),
    "tiger_long": ("Generative, RQ-KMeans, validation-best recipe "
                   "(history 50, 6000 steps)", "configs/ml100k_tiger_long.py",
                   []),
    "item_level": ("Generative, item-level, RQ-KMeans IDs, item score, "
                   "exact ranking", "configs/ml100k_item_level.py", []),
    "item_level_codes_only": ("Generative, item-level, RQ-KMeans IDs, codes "
                              "only (beam search)",
                              "configs/ml100k_item_level.py",
                              _CODES_ONLY),
    "item_level_catalogue": ("Generative, item-level, RQ-KMeans IDs, codes "
                             "only, catalogue-normalised loss",
                             "configs/ml100k_item_level.py",
                             _CODES_ONLY + ["model.catalogue_loss=True"]),
    "item_level_hybrid": ("Generative, item-level, hybrid (text + "
                          "collaborative) IDs",
                          "configs/ml100k_item_level.py:hybrid", []),
    "encoder_decoder": ("Generative, encoder-decoder (TIGER layout), "
                        "RQ-KMeans IDs", "configs/ml100k_tiger.py",
                        ["model.family=encoder_decoder"]),
    "sasrec": ("SASRec (full softmax)", "configs/ml100k_sasrec.py", []),
}
# The long recipe costs ~8x the default's on a CPU: run it on request.
DEFAULT_MODELS = ["tiger_rqkmeans", "item_level", "item_level_hybrid",
                  "sasrec"]
METRICS = ("recall@5", "recall@10", "ndcg@5", "ndcg@10")
POPULARITY = "Most popular"

_SEEDS = flags.DEFINE_list("seeds", ["0", "1", "2"], "Seeds, one job each.")
_MODELS = flags.DEFINE_list(
    "models", DEFAULT_MODELS, f"Models to run, of {list(MODELS)}.")
_ROOT = flags.DEFINE_string("root", "runs/quality", "Work directories.")
_DATA_DIR = flags.DEFINE_string(
    "data_dir", "", "Shared tfds data dir (default: ROOT/data, prepared once).")
_OUT = flags.DEFINE_string("out", "docs/results.md", "Markdown output.")
_EXTRA = flags.DEFINE_list("extra", [], "More --config.* overrides for all.")
_PARALLEL = flags.DEFINE_integer(
    "parallel", 1, "Jobs run at once (an accelerator has room for several "
    "of these small jobs; on a CPU they only share the cores).")
_TITLE = flags.DEFINE_string(
    "title", "MovieLens-100K",
    "The data the table is on (e.g. 'sparse MovieLens-100K (each user's first "
    "20 interactions)' with --extra=data.max_user_interactions=20).")
_FINISHED_ONLY = flags.DEFINE_bool(
    "finished_only", False,
    "Tabulate the jobs already finished under ROOT; start none.")


def run_job(model: str, seed: int, data_dir: str, machine_name: str
            ) -> dict | None:
  """Runs (or reuses) one job; returns its report plus `job_minutes`.

  None if the job has not finished and --finished_only is set.
  """
  workdir = os.path.join(_ROOT.value, model, f"seed{seed}")
  _, recipe, model_overrides = MODELS[model]
  overrides = [f"seed={seed}", f"data.data_dir={data_dir}", *model_overrides,
               *_EXTRA.value]
  if model != "sasrec":  # item_id has no randomness.
    overrides.append(f"tokenizer.seed={seed}")
  if not _FINISHED_ONLY.value:
    job_runner.run_main_job(
        recipe, workdir, overrides, machine_name=machine_name,
        log_path=os.path.join(_ROOT.value, f"{model}_seed{seed}.log"))
  report_path = os.path.join(workdir, "metrics.json")
  if not os.path.exists(report_path):
    return None
  with open(report_path) as f:
    report = json.load(f)
  report.update(job_runner.job_time(workdir))
  return report


def table(rows: dict[str, list[dict]]) -> str:
  header = ["model", "seeds", *METRICS, "job time (min)", "ran on"]
  lines = ["| " + " | ".join(header) + " |",
           "|" + "---|" * len(header)]
  for name, reports in rows.items():
    cells = [job_runner.mean_std([r[m] for r in reports]) for m in METRICS]
    minutes = np.asarray([r["job_minutes"] for r in reports])
    time_cell = ("–" if np.isnan(minutes).all()
                 else f"{np.nanmean(minutes):.1f} ± {np.nanstd(minutes):.1f}")
    # "1 x NVIDIA H200 (x86_64, ...)" -> "1 x NVIDIA H200".
    devices = sorted({r["machine"].split(" (")[0] for r in reports
                      if r.get("machine")})
    seeds = "–" if name == POPULARITY else len(reports)
    lines.append(f"| {name} | {seeds} | " + " | ".join(cells) +
                 f" | {time_cell} | {', '.join(devices) or '–'} |")
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
  with concurrent.futures.ThreadPoolExecutor(_PARALLEL.value) as pool:
    machine_name = ("" if _FINISHED_ONLY.value
                    else job_runner.machine(_PARALLEL.value))
    futures = {(model, seed): pool.submit(run_job, model, int(seed), data_dir,
                                          machine_name)
               for model in _MODELS.value for seed in _SEEDS.value}
  rows, popularity = {}, []
  for model in _MODELS.value:
    reports = [futures[model, seed].result() for seed in _SEEDS.value]
    reports = [report for report in reports if report is not None]
    if not reports:
      continue
    rows[MODELS[model][0]] = reports
    popularity.append({**reports[0]["popularity"],
                       "job_minutes": float("nan")})
  if popularity:
    rows[POPULARITY] = popularity[:1]
  markdown = table(rows)
  sasrec = rows.get(MODELS["sasrec"][0])
  notes = []
  for model in _MODELS.value:
    if sasrec and model != "sasrec" and MODELS[model][0] in rows:
      ratio = (np.mean([r["ndcg@10"] for r in rows[MODELS[model][0]]]) /
               np.mean([r["ndcg@10"] for r in sasrec]))
      notes.append(f"- {MODELS[model][0]}: NDCG@10 = {ratio:.0%} of SASRec's.")
  arguments = [a for a in sys.argv[1:] if a != "--finished_only"]
  command = "python benchmarks/quality_table.py " + shlex.join(arguments)
  if _FINISHED_ONLY.value:
    notes.append("- Tabulated with --finished_only from jobs that had run "
                 "before (where each ran is in the last column); the command "
                 "below runs any that are missing.")
  print(markdown + "\n\n" + "\n".join(notes))
  os.makedirs(os.path.dirname(_OUT.value) or ".", exist_ok=True)
  with open(_OUT.value, "w") as f:
    f.write(_RESULTS_TEMPLATE.format(
        command=command.strip(), table=markdown, notes="\n".join(notes),
        title=_TITLE.value,
        seeds=", ".join(_SEEDS.value), machine=_machines(rows)))
  print(f"[quality] wrote {_OUT.value}")


def _machines(rows: dict[str, list[dict]]) -> str:
  names = sorted({report["machine"] for reports in rows.values()
                  for report in reports if report.get("machine")})
  return "\n".join(f"- {name}" for name in names) or "- (not recorded)"


_RESULTS_TEMPLATE = """# Results: {title}

Test split (leave-one-out, the last item of each of the 943 users), history
masked, scored at the checkpoint with the best validation NDCG@10; mean ±
standard deviation over seeds {seeds}. Job time is one whole
`jaxrec.main` job (tokenizer, training with periodic validation, test
evaluation); the last column says where the jobs ran:

{machine}

Most-popular ranks items by their training (+ validation) counts and has no
seed.

{table}

{notes}

How the generative recipes were chosen (on validation only), and where the
gap to SASRec comes from: [tuning.md](tuning.md).

Produced by:

```bash
{command}
```
"""


if __name__ == "__main__":
  app.run(main)
