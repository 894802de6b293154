"""The decoding trie of part of a catalogue (items removed from it left out).

Item indices stay those of the whole vocabulary, so histories may still
hold the left-out items: `item_leaves` maps each of them past every leaf,
which history masking never counts (`masking.seen_leaf_ranks`).
"""

import dataclasses

import numpy as np

from jaxrec.decoding import trie as trie_lib


def build_active_trie(item_codes: np.ndarray, codebook_sizes: tuple[int, ...],
                      active_items: np.ndarray) -> trie_lib.Trie:
  """The trie of items `active_items` of `item_codes`.

  Args:
    item_codes: [num_items, num_levels] every item's codes (unique rows).
    codebook_sizes: [num_levels].
    active_items: [num_active] distinct indices into item_codes.

  Returns:
    A `Trie` with num_active leaves, whose `leaf_items` [num_active] are
    indices into item_codes, and `item_leaves` [num_items] (num_active for
    an item left out).
  """
  active_items = np.asarray(active_items, np.int32)
  trie = trie_lib.build_trie(np.asarray(item_codes)[active_items],
                             codebook_sizes)
  leaf_items = active_items[trie.leaf_items]
  item_leaves = np.full(len(item_codes), len(active_items), np.int32)
  item_leaves[leaf_items] = np.arange(len(active_items), dtype=np.int32)
  return dataclasses.replace(trie, leaf_items=leaf_items,
                             item_leaves=item_leaves)
