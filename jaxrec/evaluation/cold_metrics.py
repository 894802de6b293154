"""Metrics of the cold-start protocol (`jaxrec.data.cold_items`).

Items with index >= `first_new` are "new": added to the catalogue after
training. This module splits the usual ranking metrics by whether a user's
target is new (cold) or not (warm), counts how often ranked lists hold new
items at all, and implements the hybrid option `config.eval.cold_slots`:
`reserve_slots` guarantees new items a few places in each top-k list.
"""

from collections.abc import Sequence

import numpy as np

from jaxrec.evaluation import metrics as metrics_lib

GROUP_METRICS = ("recall", "ndcg")


def group_metrics(ranked: np.ndarray, targets: np.ndarray,
                  users: np.ndarray,
                  cutoffs: Sequence[int] = metrics_lib.DEFAULT_CUTOFFS
                  ) -> dict:
  """Recall/NDCG@cutoffs over the `users` [num_users] bool of a ranking.

  ranked: [num_users, >= max cutoff] item indices, best first (-1: none);
  targets: [num_users], any index (one the lists cannot hold is a miss).
  Returns {"num_users": n, "recall@K": ..., "ndcg@K": ...}, metrics 0.0
  when no user is selected.
  """
  per_user = metrics_lib.per_user_metrics(ranked, targets, cutoffs)
  users = np.asarray(users, bool)
  values = {"num_users": int(users.sum())}
  for name in GROUP_METRICS:
    for k in cutoffs:
      column = per_user[f"{name}@{k}"][users]
      values[f"{name}@{k}"] = float(column.mean()) if column.size else 0.0
  return values


def cold_warm_metrics(ranked: np.ndarray, targets: np.ndarray,
                      first_new: int) -> dict:
  """{"cold": group_metrics of users whose target is >= first_new,
  "warm": of the others}."""
  cold = np.asarray(targets) >= first_new
  return {"cold": group_metrics(ranked, targets, cold),
          "warm": group_metrics(ranked, targets, ~cold)}


def new_items_in_lists(ranked: np.ndarray, first_new: int, k: int = 10
                       ) -> dict[str, float]:
  """How much of the top-k lists [num_users, >= k] new items take.

  new_items_per_list@k: mean number of new items in a top k;
  lists_with_new_items@k: share of users with at least one.
  """
  new = np.asarray(ranked)[:, :k] >= first_new
  return {f"new_items_per_list@{k}": float(new.sum(axis=1).mean()),
          f"lists_with_new_items@{k}": float(new.any(axis=1).mean())}


def reserve_slots(ranked: np.ndarray, ranked_new: np.ndarray, first_new: int,
                  slots: int, k: int = 10) -> np.ndarray:
  """Lists whose top k hold at least `slots` new items (where there are).

  For each user: if the top k of `ranked` holds fewer than `slots` new
  items, the best new items of `ranked_new` not yet in it (the model's own
  ranking restricted to new items) take the places of the lowest-ranked
  other entries of the top k (an empty slot, -1, first), and go at its
  end, in `ranked_new`'s order. The entries they displace, then the rest of
  `ranked`, follow in their order, without repeats; the length is kept
  (padded with -1). Users whose top k already holds `slots` new items keep
  their list.

  Args:
    ranked: [num_users, L] the model's lists, best first (-1: none).
    ranked_new: [num_users, L'] its lists over the new items only.
    first_new: index of the first new item.
    slots: new items wanted in each top k, 0 <= slots <= k.
    k: the cutoff the slots are reserved in.

  Returns:
    [num_users, L] int32.
  """
  if not 0 <= slots <= k:
    raise ValueError(f"slots={slots} must be in [0, k={k}]")
  ranked = np.asarray(ranked)
  out = np.array(ranked, np.int32)
  if slots == 0:
    return out
  length = ranked.shape[1]
  for user, (row, new_row) in enumerate(zip(ranked, ranked_new)):
    top = [int(i) for i in row[:k]]
    need = slots - sum(i >= first_new for i in top)
    if need <= 0:
      continue
    candidates = [int(i) for i in new_row
                  if i >= first_new and int(i) not in top][:need]
    if not candidates:
      continue
    # The last len(candidates) entries of the top k that are not new.
    removable = [p for p in range(len(top)) if top[p] < first_new]
    displaced = set(removable[-len(candidates):])
    kept = [i for p, i in enumerate(top) if p not in displaced]
    rest = [top[p] for p in sorted(displaced)] + [int(i) for i in row[k:]]
    merged = [i for i in kept if i >= 0] + candidates
    merged += [i for i in rest if i >= 0 and i not in candidates]
    merged = merged[:length]
    out[user] = merged + [-1] * (length - len(merged))
  return out
