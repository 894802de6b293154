"""Exact lookup of code tuples among a fixed set, inside jit.

The item-level model uses it to find which history items were added to the
catalogue after training (`item_level`): their code tuples are known when
the model is built, the histories only at run time, as tokens.

A query's first l + 1 codes are ranked among the set's distinct prefixes of
that length by binary search on the key

  key_l = rank(first l codes) * K_l + c_l        (rank(empty prefix) = 0)

so every key is below (number of tuples) * K_l, an int32, and a lookup costs
L binary searches; no hashing, so no false matches.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

_INT32_LIMIT = 2**31


@dataclasses.dataclass(frozen=True, eq=False)
class TupleIndex:
  """Row of each query tuple in a set of distinct code tuples.

  Attributes:
    codebook_sizes: K_l per level; the set's codes lie in [0, K_l).
    level_keys: per level l, the sorted distinct key_l of the set [n_l].
    row_of_rank: [num_tuples] the set's row with each full-tuple rank.
  """

  codebook_sizes: tuple[int, ...]
  level_keys: tuple[np.ndarray, ...]
  row_of_rank: np.ndarray

  @classmethod
  def build(cls, tuples: np.ndarray, codebook_sizes: tuple[int, ...]
            ) -> "TupleIndex":
    """tuples: [num_tuples, L] distinct codes, level l in [0, K_l)."""
    tuples = np.asarray(tuples, np.int64)
    sizes = tuple(int(size) for size in codebook_sizes)
    if tuples.ndim != 2 or tuples.shape[1] != len(sizes):
      raise ValueError(f"tuples of shape {tuples.shape} do not have the "
                       f"{len(sizes)} levels of codebook sizes {sizes}")
    if tuples.size and ((tuples < 0).any() or
                        (tuples >= np.asarray(sizes)).any()):
      raise ValueError(f"tuple codes outside codebook sizes {sizes}")
    if len(tuples) * max(sizes, default=1) >= _INT32_LIMIT:
      raise ValueError(f"{len(tuples)} tuples with codebooks up to "
                       f"{max(sizes)} overflow int32 keys")
    ranks = np.zeros(len(tuples), np.int64)
    level_keys = []
    for level, size in enumerate(sizes):
      distinct, ranks = np.unique(ranks * size + tuples[:, level],
                                  return_inverse=True)
      ranks = ranks.reshape(-1)
      level_keys.append(distinct.astype(np.int32))
    if len(tuples) and len(level_keys[-1]) != len(tuples):
      raise ValueError("the tuples are not distinct")
    row_of_rank = np.zeros(len(tuples), np.int32)
    row_of_rank[ranks] = np.arange(len(tuples), dtype=np.int32)
    return cls(sizes, tuple(level_keys), row_of_rank)

  def find(self, codes: jax.Array) -> jax.Array:
    """Codes [..., L] (any ints) -> [...] int32: the row of each in the set,
    -1 where it is not in the set (codes outside [0, K_l) included)."""
    codes = jnp.asarray(codes, jnp.int32)
    if not len(self.row_of_rank):
      return jnp.full(codes.shape[:-1], -1, jnp.int32)
    rank = jnp.zeros(codes.shape[:-1], jnp.int32)
    found = jnp.ones(codes.shape[:-1], bool)
    for level, (size, keys) in enumerate(zip(self.codebook_sizes,
                                             self.level_keys)):
      code = codes[..., level]
      found &= (code >= 0) & (code < size)
      key = rank * size + jnp.clip(code, 0, size - 1)
      keys = jnp.asarray(keys)
      position = jnp.minimum(jnp.searchsorted(keys, key), len(keys) - 1)
      found &= keys[position] == key
      rank = position
    return jnp.where(found, jnp.asarray(self.row_of_rank)[rank], -1)
