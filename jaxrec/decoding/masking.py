"""History masking that scales with the catalogue: no [batch, num_nodes] table.

A user's seen items become their sorted leaf ranks [batch, max_seen]. Since
the leaves below any trie node are one contiguous range of ranks, the number
of seen items below a node is the difference of two `searchsorted`s, and the
node still leads to an unseen item iff that number is below the node's item
count. Cost: O(candidates * log(max_seen)) per step, whatever the catalogue.
"""

import jax
import jax.numpy as jnp
import numpy as np

from jaxrec.decoding import trie as trie_lib

Array = jax.Array


def seen_leaf_ranks(trie: trie_lib.DeviceTrie, seen_items: Array) -> Array:
  """Sorted leaf ranks of the seen items: [batch, max_seen] int32.

  seen_items: [batch, max_seen] item indices, -1 for padding. Padding and
  repeats become `num_items`, past every real rank, so they are never counted.
  """
  ranks = jnp.where(seen_items >= 0,
                    trie.item_leaves[jnp.maximum(seen_items, 0)],
                    trie.num_items)
  ranks = jnp.sort(ranks, axis=-1)
  repeat = jnp.zeros_like(ranks, bool).at[:, 1:].set(
      ranks[:, 1:] == ranks[:, :-1])
  return jnp.sort(jnp.where(repeat, trie.num_items, ranks), axis=-1)


def has_unseen(trie: trie_lib.DeviceTrie, depth: int, nodes: Array,
               seen_ranks: Array) -> Array:
  """Whether each node of `depth` has an item the user has not seen.

  Args:
    trie: the device trie.
    depth: depth of `nodes` (1 ... num_levels).
    nodes: [batch, ...] node ids.
    seen_ranks: [batch, max_seen] from `seen_leaf_ranks`.

  Returns:
    [batch, ...] bool.
  """
  first, end = trie_lib.leaf_range(trie, depth, nodes)
  flat_first = first.reshape(first.shape[0], -1)
  flat_end = end.reshape(end.shape[0], -1)
  count = jax.vmap(
      lambda ranks, lo, hi: jnp.searchsorted(ranks, hi) -
      jnp.searchsorted(ranks, lo))(seen_ranks, flat_first, flat_end)
  return (count < flat_end - flat_first).reshape(nodes.shape)


def pad_seen_items(seen_items: list[np.ndarray], width: int) -> np.ndarray:
  """Ragged per-user item lists -> [num_users, width] int32, -1 padded."""
  padded = np.full((len(seen_items), width), -1, dtype=np.int32)
  for row, items in enumerate(seen_items):
    if len(items) > width:
      raise ValueError(f"user {row} has {len(items)} seen items > {width}")
    padded[row, :len(items)] = items
  return padded
