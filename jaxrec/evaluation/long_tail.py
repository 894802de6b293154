"""Long-tail metrics: accuracy per item-popularity bucket, and concentration.

Items fall into three buckets by their training interaction counts: walking
down the catalogue from the most interacted-with item, the `head` holds the
items that make up the first third of all training interactions, the `tail`
those that make up the last third (never-seen items included), the `torso`
the rest. The buckets are count thresholds, so tied items always share one:

  head:  count >= head_min_count
  tail:  count <= tail_max_count
  torso: in between

`report` gives Recall/NDCG@10 over the users whose target is in each bucket,
and the Gini index of how often each catalogue item is recommended in the
top 10 (0: every item equally often; near 1: a few items everywhere).
"""

import numpy as np

from jaxrec.evaluation import metrics as metrics_lib

BUCKETS = ("head", "torso", "tail")


def bucket_thresholds(train_counts: np.ndarray) -> tuple[int, int]:
  """(head_min_count, tail_max_count) of `train_counts` [num_items].

  head_min_count > tail_max_count always; with no interactions at all every
  item is tail.
  """
  counts = np.sort(np.asarray(train_counts, np.int64))[::-1]
  total = counts.sum()
  if total == 0:
    return 1, 0
  thirds = 3 * np.cumsum(counts)  # in thirds of the total, exactly
  head_min = int(counts[np.searchsorted(thirds, total)])
  # The tail starts after the item where the cumulative share reaches 2/3.
  last_not_tail = np.searchsorted(thirds, 2 * total)
  tail_max = (int(counts[last_not_tail + 1])
              if last_not_tail + 1 < len(counts) else -1)
  head_min = max(head_min, 1)
  return head_min, min(tail_max, head_min - 1)


def item_buckets(train_counts: np.ndarray, head_min_count: int,
                 tail_max_count: int) -> np.ndarray:
  """Bucket index (0 head, 1 torso, 2 tail) of every item: [num_items] int."""
  counts = np.asarray(train_counts)
  return np.where(counts >= head_min_count, 0,
                  np.where(counts <= tail_max_count, 2, 1))


def gini_index(ranked_items: np.ndarray, num_items: int, k: int = 10
               ) -> float:
  """Gini index of the items' appearance counts in the top-k lists.

  ranked_items: [num_users, >= k] item indices, best first (-1 = none).
  Every catalogue item counts, recommended or not; 0.0 when nothing is
  recommended.
  """
  top = ranked_items[:, :k]
  counts = np.sort(np.bincount(top[top >= 0], minlength=num_items))
  if counts.sum() == 0:
    return 0.0
  ranks = np.arange(1, num_items + 1)
  return float((2.0 * (ranks * counts).sum()) / (num_items * counts.sum())
               - (num_items + 1.0) / num_items)


def _target_buckets(buckets: np.ndarray, targets: np.ndarray,
                    head_min_count: int, tail_max_count: int) -> np.ndarray:
  """Bucket of each target [num_users]; a target outside the catalogue of
  `buckets` (an item the ranked catalogue does not hold, e.g. a cold-start
  item that could not be added) is bucketed as an item never seen in
  training."""
  targets = np.asarray(targets)
  inside = (targets >= 0) & (targets < len(buckets))
  unseen = item_buckets(np.zeros(1, np.int64), head_min_count,
                        tail_max_count)[0]
  return np.where(inside, buckets[np.where(inside, targets, 0)], unseen)


def report(ranked_items: np.ndarray, targets: np.ndarray,
           train_counts: np.ndarray, k: int = 10) -> dict:
  """{"gini@k": ..., "long_tail": {thresholds, per bucket: items, users,
  recall@k, ndcg@k}}; a bucket with no target user has metrics of 0.0.

  ranked_items: [num_users, >= 20]; targets: [num_users] (one outside
  [0, num_items) is a miss, bucketed as an unseen item);
  train_counts: [num_items] training interactions per item.
  """
  head_min, tail_max = bucket_thresholds(train_counts)
  buckets = item_buckets(train_counts, head_min, tail_max)
  per_user = metrics_lib.per_user_metrics(ranked_items, targets)
  target_buckets = _target_buckets(buckets, targets, head_min, tail_max)
  long_tail = {"head_min_count": head_min, "tail_max_count": tail_max}
  for index, name in enumerate(BUCKETS):
    users = target_buckets == index
    long_tail[name] = {
        "num_items": int((buckets == index).sum()),
        "num_users": int(users.sum()),
        **{f"{metric}@{k}": (float(per_user[f"{metric}@{k}"][users].mean())
                             if users.any() else 0.0)
           for metric in ("recall", "ndcg")}}
  return {f"gini@{k}": gini_index(ranked_items, len(train_counts), k),
          "long_tail": long_tail}
