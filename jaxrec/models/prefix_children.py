"""Which codes can follow a code prefix in the catalogue.

For a catalogue-normalised softmax: each level's softmax runs over the codes
that, after the prefix so far, still lead to an item, so the product of the
levels' probabilities is a distribution over the catalogue's items (the one
constrained decoding searches).

Per level l the catalogue's distinct length-l prefixes are kept as sorted
int32 keys (mixed radix of their codes), each with a [K_l] mask of the codes
that follow it: memory is the number of distinct prefixes times K_l bits per
level (the trie's dense child tables), looked up with one binary search.
"""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

Array = jax.Array


def _keys(prefixes: np.ndarray | Array, sizes) -> np.ndarray | Array:
  """Mixed-radix key of prefixes [..., l] under codebook sizes [l]."""
  xp = jnp if isinstance(prefixes, jax.Array) else np
  key = xp.zeros(prefixes.shape[:-1], xp.int32)
  for level, size in enumerate(sizes):
    key = key * size + prefixes[..., level].astype(xp.int32)
  return key


@dataclasses.dataclass(frozen=True, eq=False)  # hashed by identity
class PrefixChildren:
  """keys[l]: sorted keys of the length-l prefixes [P_l] int32;
  allowed[l]: their following codes [P_l, K_l] bool."""

  keys: tuple[np.ndarray, ...]
  allowed: tuple[np.ndarray, ...]
  codebook_sizes: tuple[int, ...]

  @classmethod
  def build(cls, item_codes: np.ndarray, codebook_sizes) -> "PrefixChildren":
    """From the catalogue's code tuples [num_items, L]."""
    codebook_sizes = tuple(int(s) for s in codebook_sizes)
    if np.prod(codebook_sizes[:-1], dtype=np.float64) >= 2**31:
      raise ValueError(f"codebook sizes {codebook_sizes}: prefix keys do "
                       "not fit in int32")
    item_codes = np.asarray(item_codes, np.int64)
    keys, allowed = [], []
    for level, size in enumerate(codebook_sizes):
      item_keys = _keys(item_codes[:, :level], codebook_sizes[:level])
      unique, rows = np.unique(item_keys, return_inverse=True)
      mask = np.zeros((len(unique), size), bool)
      mask[rows, item_codes[:, level]] = True
      keys.append(unique.astype(np.int32))
      allowed.append(mask)
    return cls(tuple(keys), tuple(allowed), codebook_sizes)

  def mask(self, prefixes: Array, level: int) -> Array:
    """Codes that can follow each prefix [..., level] -> [..., K_level] bool.

    A prefix that no item has allows nothing.
    """
    keys = jnp.asarray(self.keys[level])
    query = _keys(jnp.asarray(prefixes), self.codebook_sizes[:level])
    row = jnp.clip(jnp.searchsorted(keys, query), 0, len(self.keys[level]) - 1)
    found = keys[row] == query
    return jnp.asarray(self.allowed[level])[row] & found[..., None]
