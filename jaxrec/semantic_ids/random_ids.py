"""Random IDs: the semantic-ID ablation (codes that carry no item content).

Every item gets an independent, uniformly random code at each level, so item
similarity plays no part in which items share a prefix. Host-side numpy; a
seeded `numpy.random.Generator` makes the codes reproducible.
"""

from collections.abc import Sequence

import numpy as np

from jaxrec.semantic_ids import residual_kmeans

__all__ = ["random_codes"]


def random_codes(num_items: int, codebook_sizes: Sequence[int],
                 seed: int) -> np.ndarray:
  """Uniformly random codes.

  Args:
    num_items: N >= 1.
    codebook_sizes: [L] codes per level, each in [1, N] (as for the learnt
      quantizers, so that the recipes stay interchangeable).
    seed: Seed of the numpy Generator; same arguments, same codes.

  Returns:
    codes [N, L] int32, codes[:, l] uniform and independent in
    [0, codebook_sizes[l]).
  """
  if num_items < 1:
    raise ValueError(f"num_items must be >= 1, got {num_items}")
  sizes = residual_kmeans.check_codebook_sizes(codebook_sizes, num_items)
  rng = np.random.default_rng(seed)
  return np.stack([rng.integers(0, k, size=num_items) for k in sizes],
                  axis=1).astype(np.int32)
