"""jaxrec's Dropout: a byte of randomness per element, unbiased, shardable."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from jaxrec.models import dropout as dropout_lib


def _apply(rate, x, deterministic=False, seed=0):
  layer = dropout_lib.Dropout(rate)
  return layer.apply({}, x, deterministic,
                     rngs={"dropout": jax.random.key(seed)})


def test_rate_is_rounded_to_a_byte():
  assert dropout_lib.rounded_rate(0.2) == 51 / 256
  assert dropout_lib.rounded_rate(0.1) == 26 / 256
  assert dropout_lib.rounded_rate(0.5) == 0.5
  assert dropout_lib.rounded_rate(0.001) == 0.0


def test_drops_at_the_rounded_rate_and_stays_unbiased():
  x = jnp.ones((64, 50, 66))  # last axis not a multiple of 4
  out = np.asarray(_apply(0.2, x))
  dropped = out == 0
  assert abs(dropped.mean() - 51 / 256) < 0.005
  np.testing.assert_allclose(out[~dropped], 256 / 205, rtol=1e-6)
  assert abs(out.mean() - 1.0) < 0.01


def test_each_byte_of_a_word_is_its_own_element():
  """Four neighbours share a random word but not a decision: their masks
  agree no more often than independent draws would."""
  keep = np.asarray(dropout_lib.keep_mask(jax.random.key(1), (4096, 8), 0.5))
  agree = (keep[:, 0] == keep[:, 1]).mean()
  assert abs(agree - 0.5) < 0.03
  assert abs(keep[:, 4:].mean() - 0.5) < 0.03


def test_deterministic_and_edge_rates():
  x = jnp.arange(12.0).reshape(3, 4) + 1
  np.testing.assert_array_equal(_apply(0.2, x, deterministic=True), x)
  np.testing.assert_array_equal(_apply(0.0, x), x)
  np.testing.assert_array_equal(_apply(1.0, x), jnp.zeros_like(x))


def test_different_rngs_give_different_masks():
  x = jnp.ones((8, 32))
  assert not np.array_equal(_apply(0.3, x, seed=0), _apply(0.3, x, seed=1))


def test_batch_sharded_input_gives_the_same_mask():
  """8 devices, batch split over them: the mask equals the 1-device one."""
  devices = np.asarray(jax.devices())
  if devices.size < 8:
    pytest.skip("needs 8 devices (tests/conftest.py)")
  mesh = Mesh(devices[:8], ("data",))
  x = jnp.ones((16, 10, 7))
  apply = jax.jit(lambda x: _apply(0.2, x))
  single = apply(x)
  sharded = apply(jax.device_put(
      x, NamedSharding(mesh, PartitionSpec("data"))))
  np.testing.assert_array_equal(np.asarray(sharded), np.asarray(single))
