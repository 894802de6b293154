r"""Choose the item score's weight of a trained item-level run on validation.

  python benchmarks/rescore_scale.py --workdirs=runs/a,runs/b \
      [--scales=1,2,4,8] [--mode=beam] [--beam_size=20]

For item-level runs trained with an item score (`model.item_score_weight`
> 0), decoding ranks by log p(codes) + scale * s(h, i)
(jaxrec/models/item_level.py). Training never reads the scale, so it is a
decoding setting to choose after training, on validation: for every run,
every saved checkpoint that has a validation metric and every scale, this
ranks the validation split. One scale is chosen for all the runs (it is a
recipe setting): the one with the best mean, over the runs, of each run's
best validation NDCG@10. Each run's best checkpoint at that scale then ranks
the test split, once. It prints one row per run and a mean ± std row, and
writes nothing into the work directories.

Use the chosen scale with `jaxrec.evaluate --item_score_scale=S
--checkpoint=STEP`, or set `model.item_score_scale` in the recipe for new
runs.
"""

import json

import numpy as np
from absl import app
from absl import flags
from etils import epath

from jaxrec import recommender as recommender_lib

_WORKDIRS = flags.DEFINE_list("workdirs", None, "Trained item-level runs.")
_SCALES = flags.DEFINE_list("scales", ["0.5", "1", "2", "4", "8"],
                            "Item score weights to try.")
_MODE = flags.DEFINE_enum("mode", "beam", ["beam", "exact"],
                          "How to rank (jaxrec.evaluate --mode).")
_BEAM_SIZE = flags.DEFINE_integer("beam_size", None,
                                  "Beams (default: the run's eval.beam_size).")
flags.mark_flag_as_required("workdirs")


def validated_steps(workdir: str) -> list[int]:
  """Saved checkpoints of `workdir` that have a validation NDCG@10."""
  evaluated = set()
  for line in (epath.Path(workdir) / "metrics.jsonl").read_text().splitlines():
    record = json.loads(line)
    if "valid/ndcg@10" in record:
      evaluated.add(int(record["step"]))
  saved = {int(path.name) for path in (epath.Path(workdir) /
                                       "checkpoints").iterdir()
           if path.name.isdigit()}
  return sorted(evaluated & saved)


def _ndcg(workdir: str, step: int, scale: float, split: str) -> float:
  recommender = recommender_lib.Recommender.load(workdir, step,
                                                 item_score_scale=scale)
  report = recommender.evaluate(split, _MODE.value, beam_size=_BEAM_SIZE.value,
                                write=False)
  return float(report["ndcg@10"])


def validation_grid(workdir: str, scales: list[float]
                    ) -> dict[tuple[int, float], float]:
  """Validation NDCG@10 of every (validated checkpoint, scale) of a run."""
  steps = validated_steps(workdir)
  if not steps:
    raise ValueError(f"{workdir}: no saved checkpoint has a validation "
                     "metric in metrics.jsonl")
  grid = {}
  for step in steps:
    for scale in scales:
      grid[step, scale] = _ndcg(workdir, step, scale, "valid")
      print(f"  {workdir} step {step} scale {scale:g}: valid ndcg@10 "
            f"{grid[step, scale]:.4f}", flush=True)
  return grid


def best_step(grid: dict[tuple[int, float], float], scale: float
              ) -> tuple[int, float]:
  """(step, validation NDCG@10) of the best checkpoint at `scale`."""
  return max(((step, value) for (step, s), value in grid.items()
              if s == scale), key=lambda pair: (pair[1], -pair[0]))


def main(argv: list[str]) -> None:
  del argv
  scales = [float(scale) for scale in _SCALES.value]
  grids = {workdir: validation_grid(workdir, scales)
           for workdir in _WORKDIRS.value}
  # One scale for every run (a recipe setting): the best mean over the runs
  # of each run's best validation NDCG@10 at that scale.
  mean_valid = {scale: np.mean([best_step(grid, scale)[1]
                                for grid in grids.values()])
                for scale in scales}
  scale = max(scales, key=lambda s: (mean_valid[s], -s))
  rows = []
  for workdir, grid in grids.items():
    step, valid = best_step(grid, scale)
    rows.append({"workdir": workdir, "step": step, "valid": valid,
                 "test": _ndcg(workdir, step, scale, "test")})
  print(f"\nmode {_MODE.value}, beam size "
        f"{_BEAM_SIZE.value or 'as the run'}; mean validation NDCG@10 by "
        "scale: " + ", ".join(f"{s:g}: {mean_valid[s]:.4f}" for s in scales))
  print(f"chosen scale: {scale:g}\n")
  print("| run | best step | valid ndcg@10 | test ndcg@10 |")
  print("|---|---|---|---|")
  for row in rows:
    print(f"| {row['workdir']} | {row['step']} | {row['valid']:.4f} | "
          f"{row['test']:.4f} |")
  if len(rows) > 1:
    def stat(key):
      values = np.array([row[key] for row in rows])
      return f"{values.mean():.4f} ± {values.std():.4f}"
    print(f"| mean ± std ({len(rows)} runs) | | {stat('valid')} | "
          f"{stat('test')} |")


if __name__ == "__main__":
  app.run(main)
