"""The training step: next-token cross-entropy over windows of code tokens."""

from typing import Any

import jax
import jax.numpy as jnp
import optax

from jaxrec.models import decoder as decoder_lib
from jaxrec.train.state import TrainState


def target_weights(targets: jax.Array, num_levels: int) -> jax.Array:
  """Which next-token targets count in the loss: [batch, len - 1] float32.

  A window's first item has no history inside the window, so only the codes of
  the second item onwards are targets; padding (token 0) never is.
  """
  target_position = jnp.arange(1, targets.shape[1] + 1)
  return ((targets != 0) & (target_position >= num_levels)[None]).astype(
      jnp.float32)


def loss_fn(params, model: decoder_lib.Decoder, tokens: jax.Array,
            num_levels: int, label_smoothing: float, dropout_rng: jax.Array):
  """Mean cross-entropy of the targets in `tokens` [batch, window_tokens]."""
  inputs, targets = tokens[:, :-1], tokens[:, 1:]
  positions = jnp.broadcast_to(jnp.arange(inputs.shape[1]), inputs.shape)
  logits, _ = model.apply(
      {"params": params}, inputs, positions,
      decoder_lib.causal_mask(inputs != 0), deterministic=False,
      rngs={"dropout": dropout_rng})
  labels = optax.smooth_labels(
      jax.nn.one_hot(targets, logits.shape[-1]), label_smoothing)
  token_loss = optax.softmax_cross_entropy(logits, labels)
  weights = target_weights(targets, num_levels)
  num_targets = weights.sum()
  return (token_loss * weights).sum() / jnp.maximum(num_targets, 1.0), num_targets


def train_step(state: TrainState, tokens: jax.Array, *,
               model: decoder_lib.Decoder, tx: optax.GradientTransformation,
               num_levels: int, label_smoothing: float, dropout_seed: int
               ) -> tuple[TrainState, dict[str, Any]]:
  """One optimizer step on a global batch of windows [batch, window_tokens]."""
  dropout_rng = jax.random.fold_in(jax.random.key(dropout_seed), state.step)
  grad_fn = jax.value_and_grad(loss_fn, has_aux=True)
  (loss, num_targets), grads = grad_fn(
      state.params, model, tokens, num_levels, label_smoothing, dropout_rng)
  updates, opt_state = tx.update(grads, state.opt_state, state.params)
  params = optax.apply_updates(state.params, updates)
  metrics = {"loss": loss, "grad_norm": optax.tree.norm(grads),
             "num_targets": num_targets}
  return TrainState(step=state.step + 1, params=params,
                    opt_state=opt_state), metrics
