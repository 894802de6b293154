"""The catalogue trie: CSR tensors, dense tables, lookups."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from jaxrec.decoding import trie as trie_lib
from tests import decoding_cases

CODEBOOK_SIZES = (3, 4, 2)


def _catalogue():
  # 11 items: some prefixes shared, some codes never used.
  return np.array([[0, 0, 0], [0, 0, 1], [0, 1, 0], [0, 3, 0], [1, 0, 0],
                   [1, 0, 1], [1, 2, 0], [1, 2, 1], [2, 1, 0], [2, 3, 1],
                   [2, 3, 0]], dtype=np.int32)


def test_csr_tables_are_exact():
  trie = trie_lib.build_trie(_catalogue(), CODEBOOK_SIZES)
  # Depth-1 nodes (0,), (1,), (2,); depth-2 nodes (0,0) (0,1) (0,3) (1,0)
  # (1,2) (2,1) (2,3); leaves in lexicographic order (items 10 and 9 swap).
  np.testing.assert_array_equal(trie.child_start[0], [0, 3])
  np.testing.assert_array_equal(trie.child_code[0], [0, 1, 2])
  np.testing.assert_array_equal(trie.child_start[1], [0, 3, 5, 7])
  np.testing.assert_array_equal(trie.child_code[1], [0, 1, 3, 0, 2, 1, 3])
  np.testing.assert_array_equal(trie.child_start[2],
                                [0, 2, 3, 4, 6, 8, 9, 11])
  np.testing.assert_array_equal(trie.child_code[2],
                                [0, 1, 0, 0, 0, 1, 0, 1, 0, 0, 1])
  np.testing.assert_array_equal(trie.leaf_start[1], [0, 4, 8, 11])
  np.testing.assert_array_equal(trie.leaf_items,
                                [0, 1, 2, 3, 4, 5, 6, 7, 8, 10, 9])
  np.testing.assert_array_equal(trie.item_leaves[trie.leaf_items],
                                np.arange(11))
  assert trie.child_code[1].dtype == np.uint8
  assert [trie.max_fanout(d) for d in range(3)] == [3, 3, 2]


def test_dense_tables_match_csr():
  trie = trie_lib.build_trie(_catalogue(), CODEBOOK_SIZES)
  np.testing.assert_array_equal(trie.dense_children(0), [[0, 1, 2]])
  np.testing.assert_array_equal(
      trie.dense_children(1), [[0, 1, -1, 2], [3, -1, 4, -1], [-1, 5, -1, 6]])
  np.testing.assert_array_equal(
      trie.dense_children(2),
      [[0, 1], [2, -1], [3, -1], [4, 5], [6, 7], [8, -1], [9, 10]])
  assert trie.dense_nbytes() == 4 * (1 * 3 + 3 * 4 + 7 * 2)


def test_trie_rejects_shared_tuples():
  with pytest.raises(ValueError, match="collision level"):
    trie_lib.build_trie(np.array([[0, 1], [0, 1]]), (2, 2))


def test_auto_layout_picks_dense_for_full_levels():
  codes = decoding_cases.all_tuples((3, 4))[::2]  # level 0 full, level 1 half
  trie = trie_lib.build_trie(codes, (3, 4))
  device_trie = trie_lib.DeviceTrie.create(trie, (1, 4), layout="auto")
  assert [d is not None for d in device_trie.dense] == [True, True]
  assert device_trie.widths == (3, 4)
  sparse = trie_lib.build_trie(codes[:1], (3, 4))
  device_trie = trie_lib.DeviceTrie.create(sparse, (1, 4), layout="auto")
  assert [d is not None for d in device_trie.dense] == [False, False]


@settings(max_examples=15, deadline=None, derandomize=True)
@given(decoding_cases.catalogues(max_levels=4, max_code=5, max_items=60),
       st.sampled_from(["csr", "dense"]))
def test_random_tries_match_a_prefix_dictionary(catalogue, layout):
  codes, sizes = catalogue
  trie = trie_lib.build_trie(codes, sizes)
  tuples = [tuple(row) for row in codes.tolist()]
  order = sorted(range(len(tuples)), key=lambda i: tuples[i])
  np.testing.assert_array_equal(trie.leaf_items, order)
  for depth in range(len(sizes)):
    prefixes = sorted({t[:depth] for t in tuples})
    assert trie.num_nodes(depth) == len(prefixes)
    for node, prefix in enumerate(prefixes):
      below = [t for t in tuples if t[:depth] == prefix]
      start, end = trie.child_start[depth][node:node + 2]
      assert trie.child_code[depth][start:end].tolist() == sorted(
          {t[depth] for t in below})
      assert trie.leaf_start[depth][node + 1] - trie.leaf_start[depth][node] \
          == len(below)

  device_trie = trie_lib.DeviceTrie.create(trie, (1,) * len(sizes), layout)
  everything = decoding_cases.all_tuples(sizes)
  leaves = np.asarray(jax.jit(trie_lib.find_leaves)(device_trie,
                                                    jnp.asarray(everything)))
  expected = {t: trie.item_leaves[i] for i, t in enumerate(tuples)}
  np.testing.assert_array_equal(
      leaves, [expected.get(tuple(t), -1) for t in everything.tolist()])
