"""Collaborative item embeddings from the users' training sequences.

Items that users interact with close together in time get similar vectors:
co-occurrence counts within `window` steps of each other (weighted 1 /
distance), turned into positive pointwise mutual information (PPMI), then
reduced to `dim` features by the randomized truncated SVD of the lexical
encoder (Levy & Goldberg 2014: PPMI-SVD ~ item2vec / word2vec). Memory grows
with the number of distinct co-occurring pairs, not with num_items ** 2.

Only the training part of each sequence may be used: the validation and test
targets must not leak into the semantic IDs.
"""

from collections.abc import Sequence

import jax
from jax.experimental import sparse
import jax.numpy as jnp
import numpy as np

from jaxrec.semantic_ids import lexical_encoder


def cooccurrence(train_sequences: Sequence[np.ndarray], num_items: int,
                 window: int) -> tuple[np.ndarray, np.ndarray]:
  """Symmetric co-occurrence counts within `window` steps, 1 / distance each.

  Args:
    train_sequences: Per user, chronological dense item indices [n_u].
    num_items: Catalogue size.
    window: Largest distance (in steps) that counts, >= 1.

  Returns:
    (pairs [nnz, 2] int64 (row, col), weights [nnz] float64), each pair once.
  """
  if window < 1:
    raise ValueError(f"window must be >= 1, got {window}")
  keys, weights = [], []
  for sequence in train_sequences:
    sequence = np.asarray(sequence, np.int64)
    for distance in range(1, min(window, len(sequence) - 1) + 1):
      before, after = sequence[:-distance], sequence[distance:]
      keys += [before * num_items + after, after * num_items + before]
      weights += [np.full(2 * len(before), 1.0 / distance)]
  if not keys:
    return np.zeros((0, 2), np.int64), np.zeros((0,), np.float64)
  unique_keys, inverse = np.unique(np.concatenate(keys), return_inverse=True)
  summed = np.bincount(inverse, weights=np.concatenate(weights))
  pairs = np.stack([unique_keys // num_items, unique_keys % num_items], axis=1)
  return pairs, summed


def ppmi(pairs: np.ndarray, weights: np.ndarray, num_items: int
         ) -> tuple[np.ndarray, np.ndarray]:
  """Positive PMI of co-occurrence entries; zero entries are dropped."""
  row_sums = np.bincount(pairs[:, 0], weights=weights, minlength=num_items)
  col_sums = np.bincount(pairs[:, 1], weights=weights, minlength=num_items)
  pmi = np.log(weights * weights.sum() /
               (row_sums[pairs[:, 0]] * col_sums[pairs[:, 1]]))
  keep = pmi > 0
  return pairs[keep], pmi[keep]


def encode_items(train_sequences: Sequence[np.ndarray], num_items: int,
                 dim: int, *, seed: int, window: int = 10) -> np.ndarray:
  """Item embeddings [num_items, dim] float32, rows L2-normalised.

  Items that co-occur with nothing (e.g. never seen in training) get a zero
  row. `dim` must be < num_items.
  """
  if not 0 < dim < num_items:
    raise ValueError(f"encoder.dim={dim} must be in [1, num_items={num_items})")
  pairs, weights = cooccurrence(train_sequences, num_items, window)
  pairs, values = ppmi(pairs, weights, num_items)
  matrix = sparse.BCOO((jnp.asarray(values, jnp.float32),
                        jnp.asarray(pairs, jnp.int32)),
                       shape=(num_items, num_items))
  u, s = lexical_encoder.randomized_svd(matrix, jax.random.key(seed),
                                        rank=dim)
  vectors = np.asarray(u * jnp.sqrt(s)[None], np.float32)
  norms = np.linalg.norm(vectors, axis=1, keepdims=True)
  return np.where(norms > 0, vectors / np.maximum(norms, 1e-12), 0.0
                  ).astype(np.float32)
