"""Prefix tree of the catalogue's code tuples, as dense tensors for decoding.

A node at depth `d` is a code prefix of length `d` that some item has; the root
is the only node at depth 0 and the nodes at depth `num_levels` are the items
themselves (their ids are item indices). Per depth the tensors are:

  children[d]:          [num_nodes[d], codebook_sizes[d]] int32, the node at
                        depth d + 1 reached by code c, or -1 if no item has
                        that prefix (at the last depth: the item index);
  item_nodes[d]:        [num_items] int32, each item's ancestor at depth d;
  node_item_counts[d]:  [num_nodes[d]] int32, items below each node.

Built from the item codes in O(N log N) by one lexicographic sort.
"""

import dataclasses

import numpy as np


@dataclasses.dataclass(frozen=True)
class Trie:
  children: tuple[np.ndarray, ...]
  item_nodes: tuple[np.ndarray, ...]
  node_item_counts: tuple[np.ndarray, ...]
  codebook_sizes: tuple[int, ...]

  @property
  def num_levels(self) -> int:
    return len(self.codebook_sizes)

  @property
  def num_items(self) -> int:
    return self.item_nodes[0].shape[0]

  @property
  def nbytes(self) -> int:
    arrays = self.children + self.item_nodes + self.node_item_counts
    return sum(array.nbytes for array in arrays)


def build_trie(item_codes: np.ndarray, codebook_sizes: tuple[int, ...]) -> Trie:
  """Builds the trie of `item_codes` [num_items, num_levels] (unique rows)."""
  item_codes = np.asarray(item_codes, dtype=np.int64)
  num_items, num_levels = item_codes.shape
  if num_levels != len(codebook_sizes):
    raise ValueError(f"item_codes has {num_levels} levels but "
                     f"{len(codebook_sizes)} codebook sizes were given")
  if (item_codes < 0).any() or (item_codes >= np.asarray(codebook_sizes)).any():
    raise ValueError("item codes out of their codebook's range")
  order = np.lexsort(item_codes.T[::-1])
  sorted_codes = item_codes[order]
  if num_items > 1 and not np.any(np.diff(sorted_codes, axis=0), axis=1).all():
    raise ValueError("two items share a code tuple; add the collision level")

  children, item_nodes, node_counts = [], [], []
  # Node id at depth d of each sorted item: a new node starts wherever the
  # length-d prefix changes from the previous item's.
  parent_of_sorted = np.zeros(num_items, dtype=np.int64)  # depth 0: the root
  for depth in range(num_levels):
    prefix_changes = np.any(
        np.diff(sorted_codes[:, :depth + 1], axis=0) != 0, axis=1)
    if depth + 1 < num_levels:
      child_of_sorted = np.concatenate([[0], np.cumsum(prefix_changes)])
    else:
      child_of_sorted = order  # leaves are items
    num_nodes = int(parent_of_sorted.max()) + 1 if num_items else 1
    table = np.full((num_nodes, codebook_sizes[depth]), -1, dtype=np.int32)
    table[parent_of_sorted, sorted_codes[:, depth]] = child_of_sorted
    children.append(table)
    nodes = np.empty(num_items, dtype=np.int32)
    nodes[order] = parent_of_sorted
    item_nodes.append(nodes)
    node_counts.append(np.bincount(parent_of_sorted, minlength=num_nodes
                                   ).astype(np.int32))
    parent_of_sorted = child_of_sorted
  return Trie(tuple(children), tuple(item_nodes), tuple(node_counts),
              tuple(int(size) for size in codebook_sizes))
