"""The `decoder_only` family: one decoder position per code token.

Training predicts every next token of a window (`decoder.Decoder`). Decoding
encodes the history once (`prefill`) and keeps every layer's keys and values;
`extend` then runs Q continuations per user by one token each: every new token
attends to the history, to the cached keys and values of its own earlier
tokens, and to itself. All continuations of a user share the history's cache
without copying it, and only the new tokens go through the model.

Continuations cache their tokens' keys and values (`continuation_cache`).
The decoder uses learned absolute positions, so the order of keys does not
matter, only the mask.

Log-probabilities are those of the full softmax over every token, restricted
to the level's codes (an item's score is the log-likelihood of its tokens).
"""

import dataclasses

import jax
import jax.numpy as jnp
import ml_collections
import optax

from jaxrec.models import continuation_cache
from jaxrec.models import decoder as decoder_lib
from jaxrec.models import generator

Array = jax.Array
StepKV = continuation_cache.StepKV


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class HistoryCache:
  """The encoded history: per-layer keys and values [batch, hist_len, h, d],
  which history tokens are real [batch, hist_len], and the position of the
  first generated token [batch]."""

  kv: list[tuple[Array, Array]]
  valid: Array
  next_position: Array


def target_weights(targets: Array, num_levels: int) -> Array:
  """Which next-token targets count in the loss: [batch, len - 1] float32.

  A window's first item has no history inside the window, so only the codes of
  the second item onwards are targets; padding (token 0) never is.
  """
  target_position = jnp.arange(1, targets.shape[1] + 1)
  return ((targets != 0) & (target_position >= num_levels)[None]).astype(
      jnp.float32)


@dataclasses.dataclass(frozen=True)
class DecoderOnly(generator.Generator):
  """A `generator.Generator` over `decoder.Decoder`."""

  model: decoder_lib.Decoder
  layout: generator.CodeLayout

  @classmethod
  def from_config(cls, model_config: ml_collections.ConfigDict,
                  layout: generator.CodeLayout, max_items: int
                  ) -> "DecoderOnly":
    model = decoder_lib.build_decoder(model_config, layout.vocab_size,
                                      max_items * layout.num_levels,
                                      layout.num_levels)
    return cls(model, layout)

  def init(self, rng: Array):
    tokens = jnp.zeros((1, self.model.max_len), jnp.int32)
    return self.model.init(rng, tokens, tokens,
                           decoder_lib.causal_mask(tokens >= 0))["params"]

  def window_loss(self, params, tokens: Array, *, label_smoothing: float,
                  dropout_rng: Array) -> tuple[Array, Array]:
    inputs, targets = tokens[:, :-1], tokens[:, 1:]
    positions = jnp.broadcast_to(jnp.arange(inputs.shape[1]), inputs.shape)
    logits, _ = self.model.apply(
        {"params": params}, inputs, positions,
        decoder_lib.causal_mask(inputs != 0), deterministic=False,
        rngs={"dropout": dropout_rng})
    labels = optax.smooth_labels(
        jax.nn.one_hot(targets, logits.shape[-1]), label_smoothing)
    token_loss = optax.softmax_cross_entropy(logits, labels)
    weights = target_weights(targets, self.num_levels)
    num_targets = weights.sum()
    return ((token_loss * weights).sum() / jnp.maximum(num_targets, 1.0),
            num_targets)

  def _level(self, log_probs: Array, depth: int) -> Array:
    offset = self.layout.token_offsets[depth]
    return log_probs[..., offset:offset + self.layout.codebook_sizes[depth]]

  def prefill(self, params, history_tokens: Array
              ) -> tuple[Array, HistoryCache]:
    valid = history_tokens != 0
    positions = decoder_lib.positions_from_valid(valid)
    logits, kv = self.model.apply({"params": params}, history_tokens,
                                  positions, decoder_lib.causal_mask(valid))
    next_position = valid.sum(axis=-1).astype(jnp.int32)
    log_probs = jax.nn.log_softmax(logits[:, -1])
    return self._level(log_probs, 0), HistoryCache(kv, valid, next_position)

  def extend(self, params, history: HistoryCache, continuation: StepKV | None,
             codes: Array, depth: int) -> tuple[Array, StepKV]:
    tokens = codes + self.layout.token_offsets[depth]
    batch, width = tokens.shape
    steps = continuation_cache.num_steps(continuation)
    positions = jnp.broadcast_to((history.next_position + steps)[:, None],
                                 (batch, width))
    logits, new_kv = self.model.apply(
        {"params": params}, tokens, positions,
        continuation_cache.attention_mask(history.valid, steps, width),
        prefix_kv=continuation_cache.attention_prefix(history.kv,
                                                      continuation))
    return (self._level(jax.nn.log_softmax(logits), depth + 1),
            continuation_cache.append(continuation, new_kv))
