"""Ranking metrics for next-item prediction with one target per user.

Every metric is a mean over users of a per-user value, so shards of users can be
aggregated exactly by summing `per_user_metrics` and dividing by the count.
"""

from typing import Sequence

import numpy as np

DEFAULT_CUTOFFS = (5, 10, 20)
MRR_CUTOFF = 10


def target_ranks(ranked_items: np.ndarray, targets: np.ndarray) -> np.ndarray:
  """0-based rank of each target in its list, or -1 if absent.

  ranked_items: [num_users, list_len] item indices, best first (-1 = none).
  targets: [num_users] item indices.
  """
  hits = ranked_items == targets[:, None]
  return np.where(hits.any(axis=1), hits.argmax(axis=1), -1)


def per_user_metrics(ranked_items: np.ndarray, targets: np.ndarray,
                     cutoffs: Sequence[int] = DEFAULT_CUTOFFS
                     ) -> dict[str, np.ndarray]:
  """Recall@K, NDCG@K for every cutoff and MRR@10, per user: [num_users] each."""
  if ranked_items.shape[1] < max(max(cutoffs), MRR_CUTOFF):
    raise ValueError(f"ranked lists of length {ranked_items.shape[1]} are "
                     f"shorter than the largest cutoff {max(cutoffs)}")
  ranks = target_ranks(ranked_items, targets)
  found = ranks >= 0
  ranks = np.where(found, ranks, 0)  # keeps the formulas finite; masked below
  values = {}
  for k in cutoffs:
    hit = found & (ranks < k)
    values[f"recall@{k}"] = hit.astype(np.float64)
    values[f"ndcg@{k}"] = np.where(hit, 1.0 / np.log2(ranks + 2.0), 0.0)
  hit = found & (ranks < MRR_CUTOFF)
  values[f"mrr@{MRR_CUTOFF}"] = np.where(hit, 1.0 / (ranks + 1.0), 0.0)
  return values


def ranking_metrics(ranked_items: np.ndarray, targets: np.ndarray,
                    cutoffs: Sequence[int] = DEFAULT_CUTOFFS) -> dict[str, float]:
  """Means over users of `per_user_metrics`."""
  return {name: float(values.mean()) for name, values
          in per_user_metrics(ranked_items, targets, cutoffs).items()}


def coverage(ranked_items: np.ndarray, num_items: int, k: int = 10) -> float:
  """Fraction of the catalogue that appears in at least one user's top k."""
  top = ranked_items[:, :k]
  return len(np.unique(top[top >= 0])) / num_items
