"""Mesh rules place every parameter as configured, and sharding changes nothing.

Runs on the 8 fake CPU devices of tests/conftest.py.
"""

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import PartitionSpec as P

from jaxrec import recipes
from jaxrec import sharding as sharding_lib
from jaxrec.train import state as state_lib
from jaxrec.train import step as step_lib
from jaxrec.models import generator as generator_lib

NUM_LEVELS = 3
WINDOW_ITEMS = 4
WINDOW_TOKENS = WINDOW_ITEMS * NUM_LEVELS
# 24 tokens: PAD, then codebooks of 8, 8 and 7 codes.
LAYOUT = generator_lib.CodeLayout((8, 8, 7), (1, 9, 17), 24)
MESHES = [(8, 1, 1), (2, 4, 1), (2, 2, 2)]


def _config(mesh_shape, family="decoder_only"):
  config = recipes.load_recipe("configs/tiny.py")
  config.model.family = family
  config.mesh.data, config.mesh.fsdp, config.mesh.tensor = mesh_shape
  config.model.num_heads = 4
  config.model.dropout_rate = 0.1
  return config


def _setup(config, devices):
  mesh = sharding_lib.make_mesh(config.mesh, devices=devices)
  rules = sharding_lib.logical_rules(config.sharding_rules)
  model = generator_lib.build_generator(config.model, LAYOUT, WINDOW_ITEMS)
  tx = state_lib.make_optimizer(config.optimizer, num_train_steps=10)
  state, state_sharding = state_lib.create_train_state(
      model.init, tx, mesh, rules, jax.random.key(0))
  return mesh, rules, model, tx, state, state_sharding


def _tokens(batch_size=16, seed=0):
  rng = np.random.default_rng(seed)
  codes = rng.integers(0, LAYOUT.codebook_sizes,
                       size=(batch_size, WINDOW_ITEMS, NUM_LEVELS))
  tokens = (codes + np.asarray(LAYOUT.token_offsets)).reshape(batch_size, -1)
  tokens[::3, -NUM_LEVELS:] = 0  # some right padding
  return tokens.astype(np.int32)


def _one_step(config, devices):
  mesh, rules, model, tx, state, state_sharding = _setup(config, devices)
  tokens_sharding = sharding_lib.logical_sharding(mesh, rules, "batch", None)
  step = jax.jit(
      functools.partial(step_lib.train_step, model=model, tx=tx,
                        label_smoothing=0.1, dropout_seed=1),
      in_shardings=(state_sharding, tokens_sharding),
      out_shardings=(state_sharding, sharding_lib.replicated(mesh)),
      donate_argnums=0)
  tokens = jax.device_put(_tokens(), tokens_sharding)
  state, metrics = step(state, tokens)
  return state, metrics


@pytest.mark.parametrize("mesh_shape", MESHES)
def test_parameters_carry_the_sharding_their_rules_say(mesh_shape):
  config = _config(mesh_shape)
  _, _, _, _, state, _ = _setup(config, jax.devices())
  params = state.params
  # A few parameters spelled out: logical names -> mesh axes.
  expected = {
      ("token_embed", "embedding"): P(None, "fsdp"),            # vocab, embed
      ("position_embed", "embedding"): P(None, "fsdp"),         # position, embed
      ("block_0", "attention", "query", "kernel"): P("fsdp", "tensor", None),
      ("block_0", "attention", "out", "kernel"): P("tensor", None, "fsdp"),
      ("block_0", "mlp", "Dense_0", "kernel"): P("fsdp", "tensor"),
      ("block_0", "mlp", "Dense_1", "kernel"): P("tensor", "fsdp"),
      ("final_norm", "scale"): P("fsdp"),
  }
  for path, spec in expected.items():
    leaf = functools.reduce(lambda tree, key: tree[key], path, params)
    assert leaf.sharding.spec == spec, path
  # Every parameter has a logical name for each dimension, and its sharding
  # is what the rules make of those names.
  model = generator_lib.build_generator(config.model, LAYOUT, WINDOW_ITEMS)
  boxed = jax.eval_shape(model.init, jax.random.key(0))
  names = jax.tree.leaves(nn.get_partition_spec(boxed),
                          is_leaf=lambda x: isinstance(x, P))
  leaves = jax.tree.leaves(params)
  assert len(names) == len(leaves)
  rules = sharding_lib.logical_rules(config.sharding_rules)
  for logical, leaf in zip(names, leaves):
    assert len(logical) == leaf.ndim
    assert leaf.sharding.spec == nn.logical_to_mesh_axes(logical, rules)
    assert leaf.sharding.mesh.shape_tuple == tuple(
        zip(sharding_lib.MESH_AXES, mesh_shape))


@pytest.fixture(scope="module")
def single_device_steps():
  """family -> (params, loss) after one step on 1 device, as numpy (made
  once per family: the meshes of a family compare with the same step)."""
  results = {}

  def step(family):
    if family not in results:
      state, metrics = _one_step(_config((1, 1, 1), family),
                                 jax.devices()[:1])
      results[family] = (jax.tree.map(np.asarray, state.params),
                         np.asarray(metrics["loss"]))
    return results[family]
  return step


# Every mesh with the default family, every family on the mixed mesh.
@pytest.mark.parametrize(
    "mesh_shape,family",
    [(mesh, "decoder_only") for mesh in MESHES] +
    [((2, 2, 2), family) for family in generator_lib.FAMILIES
     if family != "decoder_only"])
def test_one_step_matches_a_single_device(mesh_shape, family,
                                          single_device_steps):
  reference_params, reference_loss = single_device_steps(family)
  state, metrics = _one_step(_config(mesh_shape, family), jax.devices())
  np.testing.assert_allclose(metrics["loss"], reference_loss,
                             rtol=1e-5, atol=1e-5)
  jax.tree.map(
      lambda a, b: np.testing.assert_allclose(np.asarray(a), b,
                                              rtol=1e-5, atol=1e-5),
      state.params, reference_params)


def test_mesh_shape_fills_one_axis_and_rejects_bad_shapes():
  assert sharding_lib.mesh_shape((-1, 2, 1), 8) == (4, 2, 1)
  assert sharding_lib.mesh_shape((2, 2, 2), 8) == (2, 2, 2)
  with pytest.raises(ValueError, match="at most one axis"):
    sharding_lib.mesh_shape((-1, -1, 1), 8)
  with pytest.raises(ValueError, match="does not divide"):
    sharding_lib.mesh_shape((-1, 3, 1), 8)
  with pytest.raises(ValueError, match="needs 4 devices"):
    sharding_lib.mesh_shape((2, 2, 1), 8)


def test_bfloat16_compute_keeps_float32_parameters():
  config = _config((8, 1, 1))
  config.model.dtype = "bfloat16"
  state, metrics = _one_step(config, jax.devices())
  assert np.isfinite(float(metrics["loss"]))
  assert all(leaf.dtype == jnp.float32 for leaf in jax.tree.leaves(state.params))
