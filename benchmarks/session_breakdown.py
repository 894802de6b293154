r"""Where a trained model wins and loses: same-session vs new-session targets.

  python benchmarks/session_breakdown.py --workdirs=runs/il,runs/sasrec \
      [--splits=valid,test] [--session_gap_seconds=0]

A target is "same-session" when it comes at most `session_gap_seconds`
after the user's previous interaction (0: the same timestamp; in
MovieLens-100K about 44% of validation and of test targets share their
timestamp with the item before them, one rating sitting). For each run and
split it prints NDCG@10 over all users and over the two groups, ranked
exactly as `jaxrec.evaluate` ranks them (the best checkpoint, beam search,
history masked). Read the runs' validation rows to choose; test rows are for
reference.
"""

import numpy as np
from absl import app
from absl import flags

from jaxrec import recommender as recommender_lib
from jaxrec.data import registry
from jaxrec.evaluation import evaluator as evaluator_lib

_WORKDIRS = flags.DEFINE_list("workdirs", None, "Trained runs.")
_SPLITS = flags.DEFINE_list("splits", ["valid", "test"], "Splits to rank.")
_GAP = flags.DEFINE_integer(
    "session_gap_seconds", 0,
    "A target at most this long after the previous interaction is "
    "same-session.")
flags.mark_flag_as_required("workdirs")

_TARGET_FROM_END = {"valid": 2, "test": 1}


def same_session(user_timestamps: list[np.ndarray], user_rows: np.ndarray,
                 split: str, gap_seconds: int) -> np.ndarray:
  """[num_users] bool: the split's target is <= gap after the item before.

  user_timestamps: per dataset user, timestamps [n_u]; user_rows: the
  dataset row of each split user.
  """
  back = _TARGET_FROM_END[split]
  flags_ = []
  for row in user_rows:
    times = np.sort(user_timestamps[row])
    flags_.append(times[-back] - times[-back - 1] <= gap_seconds)
  return np.asarray(flags_, dtype=bool)


def ndcg_at_10(ranked: np.ndarray, targets: np.ndarray) -> np.ndarray:
  """Per-user NDCG@10 of rankings [num_users, >= 10]: [num_users]."""
  hits = ranked[:, :10] == targets[:, None]
  ranks = np.argmax(hits, axis=1)
  return np.where(hits.any(axis=1), 1.0 / np.log2(ranks + 2.0), 0.0)


def main(argv):
  del argv
  print(f"| run | split | users | ndcg@10 | same-session share "
        f"(gap <= {_GAP.value} s) | same-session ndcg@10 | "
        f"new-session ndcg@10 |")
  print("|---|---|---|---|---|---|---|")
  for workdir in _WORKDIRS.value:
    model = recommender_lib.Recommender.load(workdir)
    if model.config.data.get("cold_items", 0.0):
      raise app.UsageError(f"{workdir}: runs under the cold-start protocol "
                           "drop interactions; not supported here")
    data, users = registry.load_split(model.config.data, workdir)
    row_of = {user_id: row for row, user_id in enumerate(data.user_ids)}
    user_rows = np.array([row_of[user_id] for user_id in users.user_ids])
    ranker = model.ranker()
    for split in _SPLITS.value:
      eval_set = evaluator_lib.EvalSet.from_split(users, split,
                                                  model.max_history)
      ranked = ranker.rankings(model.params, eval_set).items
      ndcg = ndcg_at_10(ranked, eval_set.targets)
      same = same_session(data.user_timestamps, user_rows, split, _GAP.value)
      print(f"| {workdir} | {split} | {len(ndcg)} | {ndcg.mean():.4f} | "
            f"{same.mean():.3f} | {ndcg[same].mean():.4f} | "
            f"{ndcg[~same].mean():.4f} |")


if __name__ == "__main__":
  app.run(main)
