"""The most-popular baseline: every user gets the most interacted-with items."""

import numpy as np

from jaxrec.data import split as split_lib
from jaxrec.evaluation import long_tail
from jaxrec.evaluation import metrics as metrics_lib


def item_counts(sequences: list[np.ndarray], num_items: int) -> np.ndarray:
  """Interactions per item over the given sequences: [num_items] int64."""
  if not sequences:
    return np.zeros(num_items, dtype=np.int64)
  return np.bincount(np.concatenate(sequences), minlength=num_items)


def most_popular(counts: np.ndarray, seen_items: list[np.ndarray],
                 list_len: int, exclude_seen: bool = True) -> np.ndarray:
  """Top `list_len` items by count for each user: [num_users, list_len].

  Ties go to the smaller item index. With `exclude_seen`, the items in
  `seen_items[user]` are left out of that user's list; lists that run out of
  items are padded with -1.
  """
  order = np.lexsort((np.arange(len(counts)), -counts))
  if not exclude_seen:
    return np.tile(order[:list_len], (len(seen_items), 1))
  ranked = np.full((len(seen_items), list_len), -1, dtype=np.int64)
  for user, seen in enumerate(seen_items):
    # At most list_len + len(seen) candidates are needed.
    candidates = order[:list_len + len(seen)]
    kept = candidates[~np.isin(candidates, seen)][:list_len]
    ranked[user, :len(kept)] = kept
  return ranked


def split_rankings(split: split_lib.SplitData, for_split: str,
                   num_items: int, mask_history: bool
                   ) -> tuple[np.ndarray, np.ndarray]:
  """The baseline's lists [num_users, 20] on `for_split` ("valid" or
  "test"), and the targets [num_users].

  Counts come from everything before that split's targets (the training
  part, plus the validation targets for "test"), over `num_items` items.
  """
  sequences = list(split.train)
  if for_split == "test":
    sequences.append(split.valid_target)
  counts = item_counts(sequences, num_items)
  _, targets, seen_items = split_lib.eval_examples(split, for_split,
                                                   max_history=1)
  ranked = most_popular(counts, seen_items, max(metrics_lib.DEFAULT_CUTOFFS),
                        exclude_seen=mask_history)
  return ranked, targets


def split_metrics(split: split_lib.SplitData, for_split: str, num_items: int,
                  mask_history: bool) -> dict[str, float]:
  """The baseline's metrics on `for_split` ("valid" or "test").

  The lists are `split_rankings`'. Returns Recall/NDCG/MRR@{5,10,20},
  coverage@10 and the long-tail metrics (buckets by training counts), as for
  the model.
  """
  ranked, targets = split_rankings(split, for_split, num_items, mask_history)
  return metrics_of_rankings(ranked, targets, split, num_items)


def metrics_of_rankings(ranked: np.ndarray, targets: np.ndarray,
                        split: split_lib.SplitData, num_items: int
                        ) -> dict[str, float]:
  """`split_metrics` of given lists [num_users, 20] and targets."""
  return {**metrics_lib.ranking_metrics(ranked, targets),
          "coverage@10": metrics_lib.coverage(ranked, num_items),
          **long_tail.report(ranked, targets,
                             item_counts(split.train, num_items))}
