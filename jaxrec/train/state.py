"""Train state, optimizer, and sharded initialisation."""

from typing import Any, Callable

import flax
import flax.linen as nn
import jax
import jax.numpy as jnp
import optax
from jax.sharding import Mesh, PartitionSpec

from jaxrec import sharding as sharding_lib


@flax.struct.dataclass
class TrainState:
  step: jax.Array      # [] int32, completed optimizer steps
  params: Any
  opt_state: Any


def make_optimizer(optimizer_config, num_train_steps: int
                   ) -> optax.GradientTransformation:
  """AdamW with linear warmup, cosine decay and global-norm clipping.

  Weight decay applies to matrices only (not to biases or norm scales).
  """
  schedule = optax.warmup_cosine_decay_schedule(
      init_value=0.0,
      peak_value=optimizer_config.learning_rate,
      warmup_steps=optimizer_config.warmup_steps,
      decay_steps=max(num_train_steps, optimizer_config.warmup_steps + 1),
      end_value=optimizer_config.learning_rate * optimizer_config.end_lr_ratio)
  decay_mask = lambda params: jax.tree.map(lambda p: p.ndim >= 2, params)
  return optax.chain(
      optax.clip_by_global_norm(optimizer_config.grad_clip_norm),
      optax.adamw(schedule, b1=optimizer_config.b1, b2=optimizer_config.b2,
                  weight_decay=optimizer_config.weight_decay, mask=decay_mask))


def create_train_state(init_params: Callable[[jax.Array], Any],
                       tx: optax.GradientTransformation, mesh: Mesh, rules,
                       rng: jax.Array) -> tuple[TrainState, Any]:
  """Initialises the state directly in its sharded layout.

  Args:
    init_params: key -> parameters boxed with logical axis names (e.g. a
      generator's `init`).
    tx: the optimizer.
    mesh, rules: where the logical names go.
    rng: the parameter initialisation key.

  Returns:
    The state, and its sharding (a TrainState of NamedShardings).
  """
  def init_state(key):
    params = nn.meta.unbox(init_params(key))
    return TrainState(step=jnp.zeros((), jnp.int32), params=params,
                      opt_state=tx.init(params))

  param_specs = nn.get_partition_spec(jax.eval_shape(init_params, rng))
  abstract_state = jax.eval_shape(init_state, rng)
  is_spec = lambda x: isinstance(x, PartitionSpec)
  opt_specs = optax.tree_map_params(
      tx, lambda _, spec: spec, abstract_state.opt_state, param_specs,
      transform_non_params=lambda _: PartitionSpec(), is_leaf=is_spec)
  state_specs = TrainState(step=PartitionSpec(), params=param_specs,
                           opt_state=opt_specs)
  state_sharding = sharding_lib.tree_shardings(mesh, rules, state_specs)
  state = jax.jit(init_state, out_shardings=state_sharding)(rng)
  return state, state_sharding
