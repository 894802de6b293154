"""The decoder's tuple embedding: which tokens carry it, and its ids."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from jaxrec.models import decoder as decoder_lib


def _reference_id(codes, num_buckets):
  hashed = 0
  for code in codes:
    hashed = (hashed * 1_000_003 + code) % 2**32
  return hashed % num_buckets


def test_tuple_ids_at_the_last_token_of_whole_items():
  # Two users, items of 3 codes: a full row, and a left-padded one.
  tokens = np.array([[1, 5, 9, 2, 6, 10, 1, 5, 9],
                     [0, 0, 0, 3, 7, 11, 2, 6, 10]], np.int32)
  positions = decoder_lib.positions_from_valid(jnp.asarray(tokens) != 0)
  ids = np.asarray(decoder_lib.tuple_ids(jnp.asarray(tokens), positions,
                                         num_levels=3, num_buckets=1000))
  expected = np.full(tokens.shape, -1)
  for row, col, codes in [(0, 2, (1, 5, 9)), (0, 5, (2, 6, 10)),
                          (0, 8, (1, 5, 9)), (1, 5, (3, 7, 11)),
                          (1, 8, (2, 6, 10))]:
    expected[row, col] = _reference_id(codes, 1000)
  np.testing.assert_array_equal(ids, expected)
  # The same tuple gets the same id wherever it is.
  assert ids[0, 2] == ids[0, 8] and ids[0, 5] == ids[1, 8]


def test_tuples_that_differ_in_one_code_get_different_ids():
  tokens = jnp.array([[1, 5, 9, 1, 5, 10, 1, 6, 9, 2, 5, 9]], jnp.int32)
  positions = jnp.arange(12)[None]
  ids = np.asarray(decoder_lib.tuple_ids(tokens, positions, 3, 2**20))
  assert len(set(ids[0, 2::3].tolist())) == 4


def test_a_partial_item_gets_no_tuple_id():
  # A training window that ends inside an item (inputs drop the last token).
  tokens = jnp.array([[1, 5, 9, 2, 6]], jnp.int32)
  ids = np.asarray(decoder_lib.tuple_ids(tokens, jnp.arange(5)[None], 3, 97))
  assert (ids >= 0).tolist() == [[False, False, True, False, False]]


def test_the_tuple_embedding_reaches_only_later_tokens():
  model = decoder_lib.Decoder(vocab_size=12, max_len=16, num_layers=1,
                              num_heads=2, embed_dim=8, mlp_dim=16,
                              num_levels=3, tuple_buckets=64)
  tokens = jnp.array([[1, 5, 9, 2, 6, 10]], jnp.int32)
  positions = jnp.arange(6)[None]
  mask = decoder_lib.causal_mask(tokens != 0)
  params = nn.unbox(model.init(jax.random.key(0), tokens, positions,
                               mask)["params"])
  assert params["tuple_embed"]["embedding"].shape == (64, 8)
  logits, _ = model.apply({"params": params}, tokens, positions, mask)
  zeroed = {**params, "tuple_embed": {"embedding": jnp.zeros((64, 8))}}
  plain, _ = model.apply({"params": zeroed}, tokens, positions, mask)
  # Positions 0-1 come before the first item's last token: unchanged.
  np.testing.assert_allclose(logits[0, :2], plain[0, :2], rtol=1e-6)
  assert not np.allclose(logits[0, 2:], plain[0, 2:])
