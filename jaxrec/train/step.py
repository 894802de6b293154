"""The training step: the generator's window loss, one optimizer update."""

from typing import Any

import jax
import optax

from jaxrec.models import generator as generator_lib
from jaxrec.train.state import TrainState


def train_step(state: TrainState, tokens: jax.Array, *,
               model: generator_lib.Generator, tx: optax.GradientTransformation,
               label_smoothing: float, dropout_seed: int
               ) -> tuple[TrainState, dict[str, Any]]:
  """One optimizer step on a global batch of windows [batch, window_tokens]."""
  dropout_rng = jax.random.fold_in(jax.random.key(dropout_seed), state.step)
  loss_fn = lambda params: model.window_loss(
      params, tokens, label_smoothing=label_smoothing, dropout_rng=dropout_rng)
  (loss, num_targets), grads = jax.value_and_grad(loss_fn, has_aux=True)(
      state.params)
  updates, opt_state = tx.update(grads, state.opt_state, state.params)
  params = optax.apply_updates(state.params, updates)
  metrics = {"loss": loss, "grad_norm": optax.tree.norm(grads),
             "num_targets": num_targets}
  return TrainState(step=state.step + 1, params=params,
                    opt_state=opt_state), metrics
