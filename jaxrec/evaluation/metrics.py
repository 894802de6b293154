"""Ranking metrics for next-item prediction with one target per user.

Every metric is a mean over users of a per-user value, so shards of users can be
aggregated exactly by summing `per_user_metrics` and dividing by the count.
Ranked lists may hold -1 (no item, or an invalid generated ID): never a hit.
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
  """Recall@K, NDCG@K and MRR@K for every cutoff (and MRR@10), per user.

  Returns {name: [num_users] float64}.
  """
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
  for k in sorted(set(cutoffs) | {MRR_CUTOFF}):
    hit = found & (ranks < k)
    values[f"mrr@{k}"] = np.where(hit, 1.0 / (ranks + 1.0), 0.0)
  return values


def ranking_metrics(ranked_items: np.ndarray, targets: np.ndarray,
                    cutoffs: Sequence[int] = DEFAULT_CUTOFFS
                    ) -> dict[str, float]:
  """Means over users of `per_user_metrics`."""
  return {name: float(values.mean()) for name, values
          in per_user_metrics(ranked_items, targets, cutoffs).items()}


def coverage(ranked_items: np.ndarray, num_items: int, k: int = 10) -> float:
  """Fraction of the catalogue that appears in at least one user's top k."""
  top = ranked_items[:, :k]
  return len(np.unique(top[top >= 0])) / num_items


def invalid_rate(ranked_items: np.ndarray, k: int) -> float:
  """Fraction of the top-k slots that hold no valid item (-1), over users."""
  return float((ranked_items[:, :k] < 0).mean())


def bootstrap_interval(per_user: np.ndarray, *, num_resamples: int = 1000,
                       seed: int = 0, confidence: float = 0.95,
                       chunk: int = 100) -> tuple[float, float]:
  """Percentile bootstrap interval of the mean of per-user values [num_users].

  Users are resampled with replacement `num_resamples` times from a fixed
  seed, so the interval is reproducible.
  """
  per_user = np.asarray(per_user, np.float64)
  rng = np.random.default_rng(seed)
  means = []
  for start in range(0, num_resamples, chunk):
    rows = rng.integers(0, len(per_user),
                        size=(min(chunk, num_resamples - start), len(per_user)))
    means.append(per_user[rows].mean(axis=1))
  tail = 100 * (1 - confidence) / 2
  low, high = np.percentile(np.concatenate(means), [tail, 100 - tail])
  return float(low), float(high)
