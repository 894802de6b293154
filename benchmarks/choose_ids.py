r"""Chooses the semantic-ID recipe (the item encoder) on validation.

  python benchmarks/choose_ids.py --config=configs/ml100k_tiger.py \
      --encoders=collaborative,hybrid,lexical [--steps=600] [--seeds=0] \
      [--one_step_ahead] [--root=runs/choose_ids] \
      [--extra=data.max_user_interactions=20,...]

Why: no encoder is best everywhere. Collaborative IDs (PPMI-SVD of the
training co-occurrences) put items watched together behind the same prefixes
and win on dense data such as MovieLens-100K. On sparse data (few
interactions per user, e.g. configs/ml100k_sparse.py) the co-occurrence
counts are scarce. Rarely seen items then get near-empty rows, and their IDs
collapse into a few large buckets. Text (lexical) and hybrid IDs come from
the item metadata, so they hold. Which case a new dataset is in is measured,
not guessed.

How: --config must be a recipe whose get_config takes the encoder as its
argument (`configs/ml100k_tiger.py:hybrid`). For each encoder and seed, one
whole `python -m jaxrec.main` job runs in ROOT/<encoder>/seed<k>. It uses a
short schedule: --steps training steps, validation and checkpoints at
STEPS//2 and STEPS, and the warmup scaled down in proportion. The --extra
overrides come last. The short schedule is there to rank the encoders
cheaply, not to reach the recipe's final scores, so confirm the choice with
the full recipe. The ranking is by the mean (over seeds) best validation
NDCG@10 from each job's metrics.jsonl. The encoder is a hyperparameter like
any other, and choosing it on test would bias the test score reported later.
So the jobs run with `eval.split=valid`, and their final report scores the
validation split again: the test targets are never scored. The table also
shows the validation Recall@10 at the best step, the IDs' collision rate and
largest bucket (vocab/stats.json), and the job time. Finished jobs are
reused, and an interrupted job resumes.

--one_step_ahead ranks by what test measures, still without test targets.
A reported test score is one step later than the validation that chose its
checkpoint, and the best validation score is the maximum over checkpoints of
the same targets it selects on, so close recipes can tie on it and still
differ on test (docs/tuning.md, section 7). With the flag, every job runs
with `data.drop_last_interactions` one higher than the recipe's: each user's
test target leaves the data (her history too), so the job's validation
targets are each user's third-to-last item and its test targets are the
real validation targets. The job early-stops on its validation and scores
its test at the validation-best checkpoint, as a real run is scored, and the
encoders are ranked by that one-step-ahead NDCG@10. These jobs live in
ROOT/<encoder>/seed<k>_ahead.
"""

import json
import os
import subprocess

from absl import app
from absl import flags
import numpy as np

import job_runner
from jaxrec import recipes
from jaxrec import workdir as workdir_lib
from jaxrec.semantic_ids import encoders

_CONFIG = flags.DEFINE_string(
    "config", None, "A recipe whose get_config(encoder) takes the item "
    "encoder, e.g. configs/ml100k_tiger.py or configs/ml100k_sparse.py.")
_ENCODERS = flags.DEFINE_list(
    "encoders", None, f"Item encoders to compare, of {list(encoders.KINDS)}.")
_STEPS = flags.DEFINE_integer("steps", 600, "Training steps per job.")
_SEEDS = flags.DEFINE_list("seeds", ["0"], "Seeds, one job each per encoder.")
_AHEAD = flags.DEFINE_bool(
    "one_step_ahead", False, "Drop every user's last interaction and rank "
    "by the NDCG@10 on the real validation targets, scored at each job's "
    "validation-best checkpoint (module docstring).")
_ROOT = flags.DEFINE_string("root", "runs/choose_ids", "Work directories.")
_DATA_DIR = flags.DEFINE_string(
    "data_dir", "", "Shared tfds data dir (default: ROOT/data, prepared once).")
_EXTRA = flags.DEFINE_list(
    "extra", [], "More --config.* overrides for every job; quote one that "
    "holds commas: --extra='\"tokenizer.codebook_sizes=(8,8)\",...'.")
flags.mark_flags_as_required(["config", "encoders"])


def recipe_config(path: str, encoder: str):
  """get_config(encoder) of the recipe at `path`; UsageError if it can't."""
  try:
    config = recipes.load_recipe(path, encoder)
  except (TypeError, ValueError) as error:
    raise app.UsageError(
        f"--config={path} must be a recipe whose get_config(encoder) takes "
        "the item encoder (like configs/ml100k_tiger.py); "
        f"get_config({encoder!r}) failed: {error}") from None
  kind = config.tokenizer.get("encoder", {}).get("kind")
  if kind != encoder:
    raise app.UsageError(
        f"--config={path}: get_config({encoder!r}) gives the item encoder "
        f"{kind!r}, so its argument is not the encoder")
  return config


def schedule(config, steps: int) -> list[str]:
  """Overrides that shorten the recipe's schedule to `steps` steps."""
  every = max(steps // 2, 1)
  warmup = config.optimizer.warmup_steps * steps / config.train.num_steps
  return [f"train.num_steps={steps}", f"train.eval_every_steps={every}",
          f"train.checkpoint_every_steps={every}",
          f"optimizer.warmup_steps={max(round(warmup), 1)}"]


def split_overrides(config, one_step_ahead: bool) -> list[str]:
  """The data and evaluation overrides of a job (module docstring)."""
  if not one_step_ahead:
    return ["eval.split=valid"]
  dropped = config.data.get("drop_last_interactions", 0) + 1
  return [f"data.drop_last_interactions={dropped}", "eval.split=test"]


def summarise(workdir: str) -> dict:
  """A finished job: best validation NDCG@10, the final report's NDCG@10
  (`ahead`: one step ahead with --one_step_ahead), ID stats, job time (or
  NaN)."""
  summary = {"ndcg": np.nan, "recall": np.nan, "ahead": np.nan,
             "collision_rate": np.nan, "largest_bucket": np.nan,
             **job_runner.job_time(workdir)}
  if not os.path.exists(os.path.join(workdir, "metrics.json")):
    return summary  # Failed or unfinished: not ranked on partial results.
  with open(os.path.join(workdir, "metrics.jsonl")) as f:
    records = [json.loads(line) for line in f if line.strip()]
  valid = [r for r in records if "valid/ndcg@10" in r]
  best = max(valid, key=lambda r: r["valid/ndcg@10"])
  summary.update(ndcg=best["valid/ndcg@10"], recall=best["valid/recall@10"])
  with open(os.path.join(workdir, "metrics.json")) as f:
    summary["ahead"] = json.load(f)["ndcg@10"]
  with (workdir_lib.vocab_dir(workdir) / "stats.json").open() as f:
    stats = json.load(f)
  summary.update(collision_rate=stats["collision_rate"],
                 largest_bucket=stats["max_bucket_size"])
  return summary


def table(rows: dict[str, list[dict]], one_step_ahead: bool = False
          ) -> tuple[str, str | None]:
  """The markdown table, best first, and the chosen encoder (None: none ran).

  Ranked by the mean best validation NDCG@10, or with `one_step_ahead` by
  the mean one-step-ahead NDCG@10 (an extra column).
  """
  key = "ahead" if one_step_ahead else "ndcg"
  def mean_score(encoder):
    values = [s[key] for s in rows[encoder]]
    return -1.0 if np.isnan(values).all() else np.nanmean(values)
  ranked = sorted(rows, key=mean_score, reverse=True)
  header = ["encoder", "seeds (finished)",
            *(["one step ahead ndcg@10"] if one_step_ahead else []),
            "best valid ndcg@10", "valid recall@10 (same step)",
            "collision rate", "largest bucket", "job minutes"]
  lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
  for encoder in ranked:
    summaries = rows[encoder]
    finished = sum(not np.isnan(s["ndcg"]) for s in summaries)
    ahead, ndcg, recall, collisions = (
        job_runner.mean_std([s[name] for s in summaries])
        for name in ("ahead", "ndcg", "recall", "collision_rate"))
    buckets = ",".join("–" if np.isnan(s["largest_bucket"])
                       else str(int(s["largest_bucket"])) for s in summaries)
    minutes = [s["job_minutes"] for s in summaries]
    minutes = ("–" if np.isnan(minutes).all()
               else f"{np.nanmean(minutes):.1f}")
    cells = [encoder, f"{len(summaries)} ({finished})",
             *([ahead] if one_step_ahead else []), ndcg, recall, collisions,
             buckets, minutes]
    lines.append("| " + " | ".join(cells) + " |")
  chosen = ranked[0] if mean_score(ranked[0]) >= 0 else None
  return "\n".join(lines), chosen


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
  if ":" in _CONFIG.value:
    raise app.UsageError("give --config without :ARG; the encoder is its "
                         "argument")
  config_path = os.path.abspath(_CONFIG.value)
  configs = {encoder: recipe_config(config_path, encoder)
             for encoder in _ENCODERS.value}
  root = os.path.abspath(_ROOT.value)
  os.makedirs(root, exist_ok=True)
  data_dir = os.path.abspath(_DATA_DIR.value or os.path.join(root, "data"))
  machine_name = job_runner.machine(1)
  rows = {}
  for encoder, config in configs.items():
    for seed in map(int, _SEEDS.value):
      workdir = os.path.join(
          root, encoder, f"seed{seed}" + ("_ahead" if _AHEAD.value else ""))
      overrides = [f"data.data_dir={data_dir}", f"seed={seed}",
                   f"tokenizer.seed={seed}",
                   *split_overrides(config, _AHEAD.value),
                   *schedule(config, _STEPS.value), *_EXTRA.value]
      try:
        job_runner.run_main_job(
            f"{config_path}:{encoder}", workdir, overrides,
            log_path=os.path.join(root, f"{encoder}_seed{seed}.log"),
            machine_name=machine_name)
      except subprocess.CalledProcessError as error:
        print(f"[choose_ids] {encoder} seed {seed} failed ({error}); see its "
              "log", flush=True)
      rows.setdefault(encoder, []).append(summarise(workdir))
  markdown, chosen = table(rows, _AHEAD.value)
  print(markdown)
  criterion = ("one-step-ahead NDCG@10" if _AHEAD.value
               else "best validation NDCG@10")
  print(f"\nChosen encoder: {chosen} (highest mean {criterion}, "
        f"{_STEPS.value} steps)" if chosen else
        "\nNo job finished: no encoder chosen.")


if __name__ == "__main__":
  app.run(main)
