r"""The cold-start table: new items on MovieLens-100K, several seeds.

  python benchmarks/cold_start.py [--cold_items=0.05] [--seeds=0,1,2] \
      [--steps=0] [--cold_slots=1] [--reference] [--root=runs/cold_start] \
      [--data_dir=runs/data] [--models=lexical,minilm,collaborative,sasrec] \
      [--finished_only] [--out=ROOT/cold_start.md]

Each (model, seed) is one whole `python -m jaxrec.main` job under the
cold-start protocol (`--config.data.cold_items`, docs/cold_start.md) in
ROOT/<model>/seed<k>: the latest items by first appearance are held out of
the tokenizer, training and validation, added to the catalogue after
training through their text (title, genres, year), and the test split is
ranked over the catalogue with them. Rows:

  * the generative model, item-level family (configs/ml100k_item_level.py),
    with lexical, MiniLM (sentence_transformer) and collaborative IDs (new
    items placed through the text-to-collaborative fallback);
  * SASRec (configs/ml100k_sasrec.py): its item-ID vocabulary cannot take
    new items, so its cold recall is 0 by construction;
  * with --cold_slots=N > 0, each generative row again with N of the top 10
    reserved for the new items (`eval.cold_slots`, from the same jobs);
  * most-popular and the content-only baseline (cosine between an item's
    text embedding and the mean of the user's latest 5 items'), from the
    same jobs' reports: content-only once per text encoder (lexical, MiniLM).

Columns: Recall/NDCG@10 over the test users whose target is a cold item and
over the others (warm), the new items per top 10, and the warm NDCG@10 of
the same recipe trained without the protocol (same seed and schedule, in
ROOT/reference/<model>/seed<k>: run with --reference, else read if
finished), over the same warm-target users (its rankings are recomputed
once and cached in its work directory); a row with reserved slots is
compared with its model's run. The notes check the cold-start goal: the
best generative row's cold Recall@10 against the best content-only row's,
and its warm NDCG@10 against the same recipe without the protocol. --steps=N > 0 shortens every
recipe's schedule to N steps (validation and checkpoints at N/2 and N, the
warmup scaled); 0 keeps the recipes' own. Use a new --root for other
--cold_items, --steps or --cold_slots values (a finished job is reused, and
a job refuses a changed config).

The last lines give the time to add 1,000 items to the default model's
catalogue, from benchmarks/catalog_bench.py (run once, cached in
ROOT/catalog_bench.json; --nocatalog_bench skips it).
"""

import json
import os
import shlex
import subprocess
import sys

from absl import app
from absl import flags
import numpy as np

import job_runner

# name: (row label, recipe)
MODELS = {
    "lexical": ("Generative, item-level, lexical IDs",
                "configs/ml100k_item_level.py:lexical"),
    "minilm": ("Generative, item-level, MiniLM IDs",
               "configs/ml100k_item_level.py:sentence_transformer"),
    "collaborative": ("Generative, item-level, collaborative IDs (text "
                      "fallback for new items)",
                      "configs/ml100k_item_level.py"),
    "sasrec": ("SASRec (item IDs: no new items)", "configs/ml100k_sasrec.py"),
}
# The content-only rows, by the text encoder the jobs report: the lexical
# one comes from the lexical job or the collaborative one (its text
# fallback is the same encoder), MiniLM from the MiniLM job.
CONTENT_TEXT = {"lexical": "lexical", "sentence_transformer": "MiniLM"}
POPULARITY = "Most popular"
COLUMNS = ("cold recall@10", "cold ndcg@10", "warm recall@10",
           "warm ndcg@10", "new items per top 10",
           "warm ndcg@10 without the protocol")
REFERENCE_FILE = "cold_reference.json"  # In a reference run's workdir.

_COLD_ITEMS = flags.DEFINE_float("cold_items", 0.05,
                                 "data.cold_items of every job.")
_SEEDS = flags.DEFINE_list("seeds", ["0", "1", "2"], "Seeds, one job each.")
_STEPS = flags.DEFINE_integer(
    "steps", 0, "Training steps per job (0: each recipe's own schedule).")
_COLD_SLOTS = flags.DEFINE_integer(
    "cold_slots", 1, "eval.cold_slots of the generative jobs: also report "
    "lists whose top 10 reserve this many places for new items (0: off).")
_MODELS = flags.DEFINE_list("models", list(MODELS),
                            f"Models to run, of {list(MODELS)}.")
_REFERENCE = flags.DEFINE_bool(
    "reference", False, "Also run every recipe without the protocol (for "
    "the last column); without it, finished reference runs are used.")
_ROOT = flags.DEFINE_string("root", "runs/cold_start", "Work directories.")
_DATA_DIR = flags.DEFINE_string(
    "data_dir", "", "Shared tfds data dir (default: ROOT/data, prepared once).")
_EXTRA = flags.DEFINE_list("extra", [], "More --config.* overrides for all.")
_OUT = flags.DEFINE_string("out", "", "Markdown output (default: "
                           "ROOT/cold_start.md).")
_FINISHED_ONLY = flags.DEFINE_bool(
    "finished_only", False,
    "Tabulate the jobs already finished under ROOT; start none.")
_CATALOG_BENCH = flags.DEFINE_bool(
    "catalog_bench", True, "Add the time to add 1,000 items "
    "(benchmarks/catalog_bench.py, collaborative encoder).")


def schedule(recipe_steps: int, warmup: int, steps: int) -> list[str]:
  """Overrides that shorten a schedule of `recipe_steps` to `steps`."""
  every = max(steps // 2, 1)
  warmup = max(round(warmup * steps / recipe_steps), 1)
  return [f"train.num_steps={steps}", f"train.eval_every_steps={every}",
          f"train.checkpoint_every_steps={every}",
          f"optimizer.warmup_steps={warmup}"]


def _overrides(model: str, seed: int, data_dir: str, cold_items: float
               ) -> list[str]:
  from jaxrec import recipes  # pylint: disable=g-import-not-at-top
  recipe, _, arg = MODELS[model][1].partition(":")
  config = recipes.load_recipe(os.path.join(job_runner.REPO, recipe),
                               *([arg] if arg else []))
  overrides = [f"seed={seed}", f"data.data_dir={data_dir}",
               f"data.cold_items={cold_items}"]
  if model != "sasrec":  # item_id has no randomness, and adds no items.
    overrides += [f"tokenizer.seed={seed}", f"eval.cold_slots="
                  f"{_COLD_SLOTS.value if cold_items else 0}"]
  if _STEPS.value:
    overrides += schedule(config.train.num_steps,
                          config.optimizer.warmup_steps, _STEPS.value)
  return overrides + list(_EXTRA.value)


def run_job(workdir: str, model: str, seed: int, data_dir: str,
            cold_items: float, machine_name: str) -> dict | None:
  """Runs (or reuses) one job; its report plus job_minutes, or None if it
  has not finished (--finished_only) or failed (its log says why)."""
  if not _FINISHED_ONLY.value:
    os.makedirs(workdir, exist_ok=True)
    try:
      job_runner.run_main_job(
          MODELS[model][1], workdir,
          _overrides(model, seed, data_dir, cold_items),
          log_path=os.path.join(workdir, "job.log"),
          machine_name=machine_name)
    except subprocess.CalledProcessError as error:
      print(f"[cold_start] {workdir} failed ({error}); see its job.log",
            flush=True)
  path = os.path.join(workdir, "metrics.json")
  if not os.path.exists(path):
    return None
  with open(path) as f:
    report = json.load(f)
  return {**report, **job_runner.job_time(workdir)}


def reference_warm_ndcg(workdir: str, cold_items: float) -> float:
  """Test NDCG@10 of a run made without the protocol, over its users whose
  target is not one of the items the protocol would hold out at
  `cold_items` (the warm-target users); cached in
  WORKDIR/cold_reference.json.

  The run's best checkpoint ranks each user's test history as its own
  evaluation does (beam search, seen items masked per its config).
  """
  cache = os.path.join(workdir, REFERENCE_FILE)
  key = repr(float(cold_items))
  cached = {}
  if os.path.exists(cache):
    with open(cache) as f:
      cached = json.load(f)
    if key in cached:
      return cached[key]
  # Imported here: the table itself needs no JAX.
  import jaxrec  # pylint: disable=g-import-not-at-top
  from jaxrec import workdir as workdir_lib  # pylint: disable=g-import-not-at-top
  from jaxrec.data import cold_items as cold_items_lib  # pylint: disable=g-import-not-at-top
  from jaxrec.data import registry  # pylint: disable=g-import-not-at-top
  config = workdir_lib.load_config(workdir)
  data, split = registry.load_split(config.data, workdir)
  cold_ids = set(cold_items_lib.hold_out(data, cold_items).item_ids)
  ids = data.item_ids
  histories = [[ids[i] for i in np.append(split.train[u],
                                          split.valid_target[u])]
               for u in range(split.num_users)]
  targets = [ids[i] for i in split.test_target]
  recommender = jaxrec.Recommender.load(workdir)
  lists = recommender.recommend(
      histories, k=10, exclude_seen=bool(config.eval.mask_history))
  gains = [1.0 / np.log2(top.items.index(target) + 2.0)
           if target in top.items else 0.0
           for top, target in zip(lists, targets) if target not in cold_ids]
  value = float(np.mean(gains))
  cached[key] = value
  with open(cache, "w") as f:
    json.dump(cached, f)
  return value


def _cells(sections: list[dict]) -> list[str]:
  """Mean ± std over seeds of a row's columns (but the last): `sections`
  are one `cold_start` part (model, content, ...) per seed."""
  cells = [job_runner.mean_std([s[group][f"{metric}@10"] for s in sections])
           for group in ("cold", "warm") for metric in ("recall", "ndcg")]
  cells.append(job_runner.mean_std([s.get("new_items_per_list@10", np.nan)
                                    for s in sections]))
  return cells


def table(rows: list[tuple[str, int | str, list[dict], list[float]]]
          ) -> str:
  header = ["model", "seeds", *COLUMNS]
  lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
  for label, seeds, sections, reference in rows:
    reference_cell = (job_runner.mean_std(reference) if reference else "–")
    lines.append(f"| {label} | {seeds} | " +
                 " | ".join(_cells(sections)) +
                 f" | {reference_cell} |")
  return "\n".join(lines)


def _catalog_bench(root: str, data_dir: str) -> dict | None:
  path = os.path.join(root, "catalog_bench.json")
  if os.path.exists(path):
    with open(path) as f:
      return json.load(f)
  if _FINISHED_ONLY.value:
    return None
  result = subprocess.run(
      [sys.executable, os.path.join(job_runner.REPO, "benchmarks",
                                    "catalog_bench.py"),
       "--encoders=collaborative", f"--data_dir={data_dir}",
       f"--root={os.path.join(root, 'catalog_bench')}"],
      cwd=job_runner.REPO, capture_output=True, text=True, check=True)
  measured = json.loads(result.stdout.strip().splitlines()[-1])
  with open(path, "w") as f:
    json.dump(measured, f)
  return measured


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
  unknown = set(_MODELS.value) - set(MODELS)
  if unknown:
    raise app.UsageError(f"unknown models {sorted(unknown)}; known: "
                         f"{list(MODELS)}")
  if not 0.0 < _COLD_ITEMS.value < 0.5:
    raise app.UsageError(f"--cold_items={_COLD_ITEMS.value} must be in "
                         "(0, 0.5)")
  root = os.path.abspath(_ROOT.value)
  os.makedirs(root, exist_ok=True)
  data_dir = os.path.abspath(_DATA_DIR.value or os.path.join(root, "data"))
  machine_name = "" if _FINISHED_ONLY.value else job_runner.machine(1)
  seeds = [int(s) for s in _SEEDS.value]
  rows, slot_rows, content, popularity, references = [], [], {}, [], {}
  for model in _MODELS.value:
    label = MODELS[model][0]
    sections = []
    references[model] = []
    for seed in seeds:
      report = run_job(os.path.join(root, model, f"seed{seed}"), model, seed,
                       data_dir, _COLD_ITEMS.value, machine_name)
      reference_dir = os.path.join(root, "reference", model, f"seed{seed}")
      if _REFERENCE.value:
        run_job(reference_dir, model, seed, data_dir, 0.0, machine_name)
      if os.path.exists(os.path.join(reference_dir, "metrics.json")):
        references[model].append(reference_warm_ndcg(reference_dir,
                                                     _COLD_ITEMS.value))
      if report is None:
        continue
      section = report["cold_start"]
      sections.append(section["model"])
      popularity.append(section["popularity"])
      text = CONTENT_TEXT.get(section["content"]["encoder"])
      if text and model != "sasrec":  # One row per text, one entry a seed.
        content.setdefault(text, {}).setdefault(seed, section["content"])
      if "reserved_slots" in section:
        slot_rows.append((model, section["reserved_slots"]))
    if sections:
      rows.append((label, len(sections), sections, references[model]))
  for model in _MODELS.value:
    slots = [s for m, s in slot_rows if m == model]
    if slots:
      rows.append((f"{MODELS[model][0]}, {slots[0]['slots']} of the top 10 "
                   "reserved for new items", len(slots), slots,
                   references[model]))
  for text, by_seed in content.items():
    sections = list(by_seed.values())
    rows.append((f"Content-only, {text} text (latest "
                 f"{sections[0]['recent_items']} items)", len(sections),
                 sections, []))
  if popularity:
    rows.append((POPULARITY, "–", popularity[:1], []))
  markdown = table(rows)
  notes = _notes(rows)
  bench = _catalog_bench(root, data_dir) if _CATALOG_BENCH.value else None
  if bench:
    notes.append(
        f"- Adding {bench['new_items']:,} items to the default model's "
        f"{bench['catalogue_items']:,}-item catalogue (collaborative IDs, "
        "benchmarks/catalog_bench.py): "
        f"{bench['add_seconds_api_median']:.2f} s in process, "
        f"{bench['add_seconds_command']:.1f} s as a command.")
  arguments = [a for a in sys.argv[1:] if a != "--finished_only"]
  command = "python benchmarks/cold_start.py " + shlex.join(arguments)
  text = (markdown + "\n\n" + "\n".join(notes) + "\n\nProduced by:\n\n"
          f"```bash\n{command.strip()}\n```\n")
  print(text)
  out = _OUT.value or os.path.join(root, "cold_start.md")
  os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
  with open(out, "w") as f:
    f.write(text)
  print(f"[cold_start] wrote {out}")


def _notes(rows) -> list[str]:
  """The counts, and the done-when comparisons where the rows exist."""
  notes = []
  generative = [(label, s) for label, _, s, _ in rows
                if label.startswith("Generative")]
  plain = {label: (s, ref) for label, _, s, ref in rows}
  content = [s for label, _, s, _ in rows if label.startswith("Content")]
  if generative and content:
    best_label, best = max(generative, key=lambda r: np.mean(
        [s["cold"]["recall@10"] for s in r[1]]))
    best_content = max(np.mean([s["cold"]["recall@10"] for s in c])
                       for c in content)
    best_recall = np.mean([s["cold"]["recall@10"] for s in best])
    notes.append(f"- Best generative cold Recall@10: {best_recall:.4f} "
                 f"({best_label}); best content-only: {best_content:.4f}.")
    reference = plain[best_label][1]
    if reference:
      warm = np.mean([s["warm"]["ndcg@10"] for s in best])
      notes.append(f"- Its warm NDCG@10 is {warm / np.mean(reference):.1%} "
                   "of the same recipe's without the protocol.")
  notes.append(f"- {_STEPS.value} training steps per job (a short schedule)."
               if _STEPS.value else "- Each recipe's own training schedule.")
  for label, _, sections, _ in rows[:1]:
    cold = sections[0]["cold"]["num_users"]
    warm = sections[0]["warm"]["num_users"]
    notes.append(f"- {cold} test users have a cold target and {warm} a warm "
                 f"one (--cold_items={_COLD_ITEMS.value}); with so few cold "
                 "users, one hit moves cold Recall@10 by "
                 f"{1 / max(cold, 1):.3f}.")
  return notes


if __name__ == "__main__":
  app.run(main)
