"""Code-tuple collisions: the extra disambiguating level, and quality stats.

Both work on any quantizer's output (residual k-means, RQ-VAE, random IDs)
and are host-side numpy: sorting N code tuples costs O(N log N) and no Python
loop runs over items.
"""

from collections.abc import Sequence

import numpy as np


def _check_codes(codes: np.ndarray) -> np.ndarray:
  codes = np.asarray(codes)
  if codes.ndim != 2 or codes.shape[1] < 1:
    raise ValueError(
        f"codes must be [num_items, num_levels >= 1], got {codes.shape}")
  if not np.issubdtype(codes.dtype, np.integer):
    raise ValueError(f"codes must be integers, got {codes.dtype}")
  return codes


def _sort_rows(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """Sorts code tuples lexicographically, ties kept in item order.

  Args:
    codes: [N, L] integer codes.

  Returns:
    (order, is_new): order [N] such that codes[order] is sorted, and is_new
    [N] bool, True where codes[order][i] starts a new run of equal tuples.
  """
  n = codes.shape[0]
  columns = tuple(codes[:, l] for l in reversed(range(codes.shape[1])))
  order = np.lexsort((np.arange(n),) + columns)  # Last key is the primary.
  ordered = codes[order]
  is_new = np.ones(n, bool)
  is_new[1:] = np.any(ordered[1:] != ordered[:-1], axis=1)
  return order, is_new


def add_collision_level(codes: np.ndarray) -> tuple[np.ndarray, int]:
  """Appends a level that makes every code tuple unique (as in TIGER).

  The items sharing one L-tuple get extra codes 0, 1, ..., c-1 in increasing
  item index; an item whose tuple is unique gets 0.

  Args:
    codes: [N, L] integer codes.

  Returns:
    (new_codes, extra_size): new_codes [N, L+1] int32 whose rows are pairwise
    distinct, and extra_size, the size of the new level's codebook (the largest
    bucket, at least 1).
  """
  codes = _check_codes(codes)
  order, is_new = _sort_rows(codes)
  position = np.arange(codes.shape[0])
  run_start = np.maximum.accumulate(np.where(is_new, position, 0))
  extra = np.empty(codes.shape[0], np.int32)
  extra[order] = position - run_start
  extra_size = int(extra.max()) + 1 if extra.size else 1
  new_codes = np.concatenate([codes.astype(np.int32), extra[:, None]], axis=1)
  return new_codes, extra_size


def quantization_stats(codes: np.ndarray,
                       codebook_sizes: Sequence[int]) -> dict[str, object]:
  """Summarises how well a set of code tuples uses its codebooks.

  Args:
    codes: [N, L] integer codes, codes[:, l] in [0, codebook_sizes[l]).
    codebook_sizes: [L] codebook sizes.

  Returns:
    A JSON-serialisable dict: `utilisation` and `perplexity` (lists over
    levels: fraction of the level's codes used, and exp of the entropy of its
    code distribution), `num_unique_tuples`, `collision_rate` (fraction of
    items whose full L-tuple is shared with another item), `max_bucket_size`
    (most items sharing one tuple), `num_items` and `codebook_sizes`.
  """
  codes = _check_codes(codes)
  sizes = [int(k) for k in codebook_sizes]
  n, num_levels = codes.shape
  if len(sizes) != num_levels:
    raise ValueError(f"{len(sizes)} codebook sizes for {num_levels} levels")
  if n and ((codes.min(axis=0) < 0).any() or
            (codes.max(axis=0) >= np.asarray(sizes)).any()):
    raise ValueError(f"codes out of range for codebook sizes {sizes}")
  utilisation, perplexity = [], []
  for level, size in enumerate(sizes):
    counts = np.bincount(codes[:, level], minlength=size)
    p = counts[counts > 0] / max(n, 1)
    utilisation.append(float(np.count_nonzero(counts)) / size)
    perplexity.append(float(np.exp(-np.sum(p * np.log(p)))))
  _, is_new = _sort_rows(codes)
  buckets = np.diff(np.append(np.flatnonzero(is_new), n))
  return {
      "num_items": n,
      "codebook_sizes": sizes,
      "utilisation": utilisation,
      "perplexity": perplexity,
      "num_unique_tuples": int(buckets.size),
      "collision_rate": float(buckets[buckets > 1].sum()) / max(n, 1),
      "max_bucket_size": int(buckets.max(initial=0)),
  }
