"""Prefix tree of the catalogue's code tuples, as CSR tensors for decoding.

A node at depth `d` is a code prefix of length `d` that some item has. Nodes of
one depth are numbered in lexicographic order of their prefixes, so the root is
node 0 of depth 0 and the nodes of depth `num_levels` (the leaves) are the
items in lexicographic order of their code tuples: leaf `r` is the item of rank
`r`. Because of that order, the children of a node are a contiguous range of
the next depth's nodes (compressed sparse rows). Per depth d < num_levels:

  child_start[d]: [num_nodes[d] + 1] int32, the children of node v are the
                  depth-(d + 1) nodes child_start[d][v] ... [v + 1] - 1;
  child_code[d]:  [num_nodes[d + 1]] the level-d code of each depth-(d + 1)
                  node (ascending within each parent), the smallest dtype that
                  holds codebook_sizes[d] - 1;
  leaf_start[d]:  [num_nodes[d] + 1] int32, the leaves (item ranks) below node
                  v are leaf_start[d][v] ... leaf_start[d][v+1]-1 (at depth
                  num_levels a leaf is its own range, so it is not stored).

Plus `leaf_items` [num_items] (item index of each leaf) and `item_leaves`
[num_items] (its inverse). That is about 4 int32 and 4 small codes per item;
dense tables [num_nodes[d], codebook_sizes[d]] cost num_nodes * K instead (see
`dense_children`, kept for comparison and for the dense layout).

Built from the item codes in O(N log N) by one lexicographic sort.
"""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

Array = jax.Array
LAYOUTS = ("csr", "dense", "auto")


def _code_dtype(codebook_size: int) -> np.dtype:
  return np.min_scalar_type(max(codebook_size - 1, 0))


@dataclasses.dataclass(frozen=True)
class Trie:
  """The catalogue trie on the host (numpy), CSR layout."""

  child_start: tuple[np.ndarray, ...]
  child_code: tuple[np.ndarray, ...]
  leaf_start: tuple[np.ndarray, ...]
  leaf_items: np.ndarray
  item_leaves: np.ndarray
  codebook_sizes: tuple[int, ...]

  @property
  def num_levels(self) -> int:
    return len(self.codebook_sizes)

  @property
  def num_items(self) -> int:
    return self.leaf_items.shape[0]

  def num_nodes(self, depth: int) -> int:
    """Nodes at `depth` (0 ... num_levels)."""
    if depth == self.num_levels:
      return self.num_items
    return self.child_start[depth].shape[0] - 1

  def max_fanout(self, depth: int) -> int:
    """Most children of any node at `depth` (< num_levels)."""
    return int(np.diff(self.child_start[depth]).max(initial=0))

  @property
  def nbytes(self) -> int:
    """Bytes of the CSR tensors (what `DeviceTrie` puts on each device)."""
    arrays = (self.child_start + self.child_code + self.leaf_start +
              (self.leaf_items, self.item_leaves))
    return sum(array.nbytes for array in arrays)

  def dense_children(self, depth: int) -> np.ndarray:
    """Dense table [num_nodes[depth], codebook_sizes[depth]] int32.

    Entry [v, c] is the depth-(depth + 1) node reached from v by code c, or -1.
    """
    starts = self.child_start[depth]
    parents = np.repeat(np.arange(len(starts) - 1), np.diff(starts))
    table = np.full((len(starts) - 1, self.codebook_sizes[depth]), -1, np.int32)
    table[parents, self.child_code[depth]] = np.arange(len(parents))
    return table

  def dense_nbytes(self) -> int:
    """Bytes that dense child tables of every depth would take (int32)."""
    return sum(4 * self.num_nodes(d) * self.codebook_sizes[d]
               for d in range(self.num_levels))


def build_trie(item_codes: np.ndarray, codebook_sizes: tuple[int, ...]) -> Trie:
  """Builds the trie of `item_codes` [num_items, num_levels] (unique rows)."""
  item_codes = np.asarray(item_codes, dtype=np.int64)
  num_items, num_levels = item_codes.shape
  if num_levels != len(codebook_sizes):
    raise ValueError(f"item_codes has {num_levels} levels but "
                     f"{len(codebook_sizes)} codebook sizes were given")
  if num_items == 0:
    raise ValueError("the catalogue has no items")
  if (item_codes < 0).any() or (item_codes >= np.asarray(codebook_sizes)).any():
    raise ValueError("item codes out of their codebook's range")
  leaf_items = np.lexsort(item_codes.T[::-1])
  sorted_codes = item_codes[leaf_items]
  changes = np.ones((num_items, num_levels), bool)  # [r, l]: code l differs
  changes[1:] = np.diff(sorted_codes, axis=0) != 0
  new_prefix = np.logical_or.accumulate(changes, axis=1)  # [r, d-1]: depth d
  if num_items > 1 and not new_prefix[1:, -1].all():
    raise ValueError("two items share a code tuple; add the collision level")

  child_start, child_code, leaf_start = [], [], []
  starts = np.zeros(1, np.int64)  # first leaf of each depth-0 node: the root
  for depth in range(num_levels):
    child_starts = np.flatnonzero(new_prefix[:, depth])  # depth + 1 nodes
    # The first child of a node is the child node holding its first leaf.
    child_start.append(np.append(np.searchsorted(child_starts, starts),
                                 len(child_starts)).astype(np.int32))
    child_code.append(sorted_codes[child_starts, depth].astype(
        _code_dtype(codebook_sizes[depth])))
    leaf_start.append(np.append(starts, num_items).astype(np.int32))
    starts = child_starts
  item_leaves = np.empty(num_items, np.int32)
  item_leaves[leaf_items] = np.arange(num_items, dtype=np.int32)
  return Trie(tuple(child_start), tuple(child_code), tuple(leaf_start),
              leaf_items.astype(np.int32), item_leaves,
              tuple(int(size) for size in codebook_sizes))


def _dense_levels(trie: Trie, layout: str) -> tuple[bool, ...]:
  """Which depths get a dense child table under `layout`."""
  if layout not in LAYOUTS:
    raise ValueError(f"unknown trie layout {layout!r}; expected one of "
                     f"{LAYOUTS}")
  if layout == "auto":  # dense where at least half the table is filled
    return tuple(2 * trie.num_nodes(d + 1) >=
                 trie.num_nodes(d) * trie.codebook_sizes[d]
                 for d in range(trie.num_levels))
  return (layout == "dense",) * trie.num_levels


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class DeviceTrie:
  """The trie's tensors as jax arrays, plus the static shapes and token layout.

  `dense[d]` is the dense child table of depth d (`Trie.dense_children`) for
  depths decoded with the dense layout, else None. `widths[d]` is how many
  candidate children a node of depth d offers: its codebook size (dense) or
  the largest fan-out (CSR).
  """

  child_start: tuple[Array, ...]
  child_code: tuple[Array, ...]
  leaf_start: tuple[Array, ...]
  leaf_items: Array
  item_leaves: Array
  dense: tuple[Array | None, ...]
  codebook_sizes: tuple[int, ...] = dataclasses.field(metadata={"static": True})
  token_offsets: tuple[int, ...] = dataclasses.field(metadata={"static": True})
  widths: tuple[int, ...] = dataclasses.field(metadata={"static": True})

  @classmethod
  def create(cls, trie: Trie, token_offsets, layout: str = "csr"
             ) -> "DeviceTrie":
    """The device copy of `trie`; `layout` is "csr", "dense" or "auto"."""
    dense_levels = _dense_levels(trie, layout)
    as_jax = lambda arrays: tuple(jnp.asarray(a) for a in arrays)
    dense = tuple(jnp.asarray(trie.dense_children(d)) if is_dense else None
                  for d, is_dense in enumerate(dense_levels))
    widths = tuple(trie.codebook_sizes[d] if is_dense else
                   max(trie.max_fanout(d), 1)
                   for d, is_dense in enumerate(dense_levels))
    return cls(as_jax(trie.child_start), as_jax(trie.child_code),
               as_jax(trie.leaf_start), jnp.asarray(trie.leaf_items),
               jnp.asarray(trie.item_leaves), dense,
               tuple(trie.codebook_sizes),
               tuple(int(o) for o in token_offsets), widths)

  @property
  def num_levels(self) -> int:
    return len(self.codebook_sizes)

  @property
  def num_items(self) -> int:
    return self.leaf_items.shape[0]

  @property
  def nbytes(self) -> int:
    arrays = [a for a in jax.tree.leaves(self)]
    return sum(a.size * a.dtype.itemsize for a in arrays)


def candidates(trie: DeviceTrie, depth: int, nodes: Array
               ) -> tuple[Array, Array, Array]:
  """The children that nodes of `depth` offer as the next code.

  Args:
    trie: the device trie.
    depth: depth of `nodes`, 0 <= depth < num_levels.
    nodes: [...] int32 node ids (any valid id where unused).

  Returns:
    children [..., width] int32 node ids at depth + 1 (leaf ranks at the last
    depth), codes [..., width] int32 their level-`depth` codes, and valid
    [..., width] bool. Along the last axis, children come in increasing node
    id, which is lexicographic order.
  """
  width = trie.widths[depth]
  if trie.dense[depth] is not None:
    children = trie.dense[depth][nodes]
    codes = jnp.broadcast_to(jnp.arange(width, dtype=jnp.int32), children.shape)
    return children, codes, children >= 0
  start = trie.child_start[depth][nodes]
  end = trie.child_start[depth][nodes + 1]
  children = start[..., None] + jnp.arange(width, dtype=jnp.int32)
  valid = children < end[..., None]
  children = jnp.where(valid, children, 0)
  codes = trie.child_code[depth][children].astype(jnp.int32)
  return children, codes, valid


def leaf_range(trie: DeviceTrie, depth: int, nodes: Array
               ) -> tuple[Array, Array]:
  """First and one-past-last leaf rank below each node of `depth`: 2 x [...]."""
  if depth == trie.num_levels:
    return nodes, nodes + 1
  return trie.leaf_start[depth][nodes], trie.leaf_start[depth][nodes + 1]


def parents(trie: DeviceTrie, depth: int, nodes: Array) -> Array:
  """The depth-(depth - 1) parent of each node of `depth` >= 1: [...] int32."""
  starts = trie.child_start[depth - 1]
  return (jnp.searchsorted(starts, nodes, side="right") - 1).astype(jnp.int32)


def find_leaves(trie: DeviceTrie, codes: Array) -> Array:
  """Leaf rank of each code tuple [..., num_levels], or -1 if no item has it."""
  nodes = jnp.zeros(codes.shape[:-1], jnp.int32)
  found = jnp.ones(codes.shape[:-1], bool)
  for depth in range(trie.num_levels):
    children, child_codes, valid = candidates(trie, depth, nodes)
    match = valid & (child_codes == codes[..., depth, None])
    found &= match.any(axis=-1)
    nodes = jnp.max(jnp.where(match, children, 0), axis=-1)
  return jnp.where(found, nodes, -1)


def leaf_codes(trie: DeviceTrie) -> Array:
  """The code tuple of every leaf, in leaf-rank order: [num_items, L] int32."""
  nodes = jnp.arange(trie.num_items, dtype=jnp.int32)
  codes = []
  for depth in range(trie.num_levels, 0, -1):
    codes.insert(0, trie.child_code[depth - 1][nodes].astype(jnp.int32))
    nodes = parents(trie, depth, nodes)
  return jnp.stack(codes, axis=-1)
