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


def prefix_bucket_sizes(codes: np.ndarray) -> list[np.ndarray]:
  """Sizes of the groups of items sharing each prefix, at every depth.

  Args:
    codes: [N, L] integer codes.

  Returns:
    L int64 arrays; entry l holds, for each distinct prefix codes[:, :l+1]
    (in lexicographic order), the number of items that share it. Each array
    sums to N.
  """
  codes = _check_codes(codes)
  n, num_levels = codes.shape
  ordered = codes[_sort_rows(codes)[0]]
  starts_bucket = np.zeros(n, bool)  # Prefixes of a sorted table stay grouped.
  starts_bucket[:1] = True
  sizes = []
  for level in range(num_levels):
    starts_bucket[1:] |= ordered[1:, level] != ordered[:-1, level]
    sizes.append(np.diff(np.append(np.flatnonzero(starts_bucket), n)))
  return sizes


def _collision_rate(bucket_sizes: np.ndarray, n: int) -> float:
  """Fraction of the n items that share their bucket with another item."""
  return float(bucket_sizes[bucket_sizes > 1].sum()) / max(n, 1)


def quantization_stats(codes: np.ndarray,
                       codebook_sizes: Sequence[int]) -> dict[str, object]:
  """Summarises how well a set of code tuples uses its codebooks.

  Args:
    codes: [N, L] integer codes, codes[:, l] in [0, codebook_sizes[l]).
    codebook_sizes: [L] codebook sizes.

  Returns:
    A JSON-serialisable dict with `num_items`, `codebook_sizes` and
    - per level (lists of L values): `utilisation` (fraction of the level's
      codes used), `perplexity` (exp of the entropy of its code distribution,
      between 1 and the number of codes used);
    - per depth (lists of L values; entry l is about the prefixes
      codes[:, :l+1]): `num_unique_prefixes`, `collision_rate_per_level`
      (fraction of items whose prefix is shared with another item) and
      `max_bucket_size_per_level` (most items sharing one prefix);
    - for the full L-tuple (the last entries of the per-depth lists):
      `num_unique_tuples`, `collision_rate` and `max_bucket_size`.
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
  buckets = prefix_bucket_sizes(codes)
  rates = [_collision_rate(b, n) for b in buckets]
  largest = [int(b.max(initial=0)) for b in buckets]
  return {
      "num_items": n,
      "codebook_sizes": sizes,
      "utilisation": utilisation,
      "perplexity": perplexity,
      "num_unique_prefixes": [int(b.size) for b in buckets],
      "collision_rate_per_level": rates,
      "max_bucket_size_per_level": largest,
      "num_unique_tuples": int(buckets[-1].size),
      "collision_rate": rates[-1],
      "max_bucket_size": largest[-1],
  }
