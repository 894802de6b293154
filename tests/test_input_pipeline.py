"""The grain training pipeline: deterministic, resumable, placed by device."""

import jax
import ml_collections
import numpy as np

from jaxrec import sharding
from jaxrec.semantic_ids import vocab as vocab_lib
from jaxrec.train import input_pipeline

ITEM_TOKENS = np.array([[1, 5], [2, 6], [3, 7], [4, 8]], dtype=np.int32)


def _windows(num_windows=10):
  windows = np.arange(num_windows * 3).reshape(num_windows, 3) % 4
  windows[0, 2] = -1
  return windows.astype(np.int32)


def _iterator(seed=0):
  return input_pipeline.training_iterator(
      _windows(), ITEM_TOKENS, global_batch_size=4, seed=seed)


def test_item_sequences_to_tokens_pads_with_zero():
  tokens = vocab_lib.item_sequences_to_tokens(
      np.array([[3, 0, -1]]), ITEM_TOKENS)
  np.testing.assert_array_equal(tokens, [[4, 8, 1, 5, 0, 0]])


def test_same_seed_same_batches_and_new_order_each_epoch():
  first, second = _iterator(), _iterator()
  batches = [next(first)["tokens"] for _ in range(5)]
  for batch in batches:
    np.testing.assert_array_equal(batch, next(second)["tokens"])
  assert batches[0].shape == (4, 6)
  # 10 windows, batches of 4: the epochs' orders differ.
  epoch_rows = np.concatenate(batches)[:20]
  assert not np.array_equal(epoch_rows[:10], epoch_rows[10:20])
  other_seed = _iterator(seed=1)
  assert not np.array_equal(next(other_seed)["tokens"], batches[0])


def test_restored_state_continues_identically():
  iterator = _iterator()
  next(iterator)
  state = iterator.get_state()
  expected = [next(iterator)["tokens"] for _ in range(3)]
  resumed = _iterator()
  resumed.set_state(state)
  for batch in expected:
    np.testing.assert_array_equal(next(resumed)["tokens"], batch)


def test_global_batch_rows_follow_the_mesh_device_order():
  # Devices in reverse order: each holds the rows of its place in the mesh.
  mesh = sharding.make_mesh(
      ml_collections.ConfigDict(dict(data=-1, fsdp=1, tensor=1)),
      devices=jax.devices()[::-1])
  rules = sharding.logical_rules([("batch", ("data", "fsdp"))])
  rows = np.arange(16 * 6, dtype=np.int32).reshape(16, 6)
  batch = sharding.global_array(
      rows, sharding.logical_sharding(mesh, rules, "batch", None))
  np.testing.assert_array_equal(np.asarray(batch), rows)
  shards = {shard.device: shard.data for shard in batch.addressable_shards}
  per_device = np.split(rows, mesh.size)
  for place, device in enumerate(mesh.devices.flat):
    np.testing.assert_array_equal(shards[device], per_device[place])
