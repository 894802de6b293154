"""The `encoder_decoder` family: TIGER's own layout (a T5-style Transformer).

A bidirectional encoder reads the history's code tokens; a small decoder
cross-attends to it and emits the next item's L codes after a BOS position:

  decoder input   [BOS, c_0, ..., c_{L-2}]  -> predicts [c_0, ..., c_{L-1}]

Decoding (`prefill`) encodes the history once and caches every decoder
layer's cross-attention keys and values of it, plus the self-attention keys
and values of the BOS position; `extend` then runs Q continuations per user
by one code each, attending to the BOS position, their own earlier codes and
the cached encoder output. Encoder positions count back from the latest token
(0 = the last code of the latest item), so recency means the same for every
history length, with left or right padding.

A bidirectional encoder cannot share work between prefixes, so training takes
one target per window: each step draws, per window, a cut point uniformly
among its items (from the step's dropout key, so a resumed run draws the same
cuts); the items before it are the history and the item at it the target.
Over the epochs every prefix is trained.
"""

import dataclasses

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import optax

from jaxrec.models import continuation_cache
from jaxrec.models import decoder as decoder_lib
from jaxrec.models import dropout as dropout_lib
from jaxrec.models import generator

Array = jax.Array
LayerKV = decoder_lib.LayerKV
_partitioned = decoder_lib._partitioned  # pylint: disable=protected-access
_layer_norm = decoder_lib._layer_norm  # pylint: disable=protected-access
_EMBED_INIT = decoder_lib._EMBED_INIT  # pylint: disable=protected-access


def _projection(num_heads, head_dim, dtype, name):
  return nn.DenseGeneral(
      (num_heads, head_dim), dtype=dtype, name=name,
      kernel_init=_partitioned(nn.initializers.lecun_normal(),
                               ("embed", "heads", "kv")),
      bias_init=_partitioned(nn.initializers.zeros, ("heads", "kv")))


class CrossAttention(nn.Module):
  """Attention from decoder positions to the (cached) encoder output."""

  num_heads: int
  head_dim: int
  dropout_rate: float
  dtype: jnp.dtype

  def setup(self):
    self.query = _projection(self.num_heads, self.head_dim, self.dtype,
                             "query")
    self.key = _projection(self.num_heads, self.head_dim, self.dtype, "key")
    self.value = _projection(self.num_heads, self.head_dim, self.dtype,
                             "value")
    self.out = nn.DenseGeneral(
        self.num_heads * self.head_dim, axis=(-2, -1), dtype=self.dtype,
        name="out",
        kernel_init=_partitioned(nn.initializers.lecun_normal(),
                                 ("heads", "kv", "embed")),
        bias_init=_partitioned(nn.initializers.zeros, ("embed",)))
    self.dropout = dropout_lib.Dropout(self.dropout_rate)

  def memory_kv(self, memory: Array) -> LayerKV:
    """Encoder output [batch, T, embed] -> keys, values [batch, T, h, d]."""
    return self.key(memory), self.value(memory)

  def __call__(self, x: Array, memory_kv: LayerKV, memory_valid: Array,
               deterministic: bool) -> Array:
    """x: [batch, len, embed]; memory_valid: [batch, T] -> [batch, len, embed]."""
    query = self.query(x)
    logits = jnp.einsum("bqhd,bkhd->bhqk", query, memory_kv[0]) / jnp.sqrt(
        self.head_dim).astype(self.dtype)
    logits = jnp.where(memory_valid[:, None, None], logits.astype(jnp.float32),
                       jnp.finfo(jnp.float32).min)
    weights = self.dropout(jax.nn.softmax(logits, axis=-1).astype(self.dtype),
                           deterministic=deterministic)
    return self.out(jnp.einsum("bhqk,bkhd->bqhd", weights, memory_kv[1]))


class DecoderLayer(nn.Module):
  """Pre-norm: causal self-attention, cross-attention, MLP."""

  num_heads: int
  mlp_dim: int
  embed_dim: int
  dropout_rate: float
  dtype: jnp.dtype

  def setup(self):
    head_dim = self.embed_dim // self.num_heads
    self.self_attention = decoder_lib.Attention(
        self.num_heads, head_dim, self.dropout_rate, self.dtype)
    self.cross_attention = CrossAttention(self.num_heads, head_dim,
                                          self.dropout_rate, self.dtype)
    self.mlp = decoder_lib.MlpBlock(self.mlp_dim, self.dropout_rate,
                                    self.dtype)
    self.norms = [_layer_norm(self.dtype, f"norm_{i}") for i in range(3)]
    self.dropout = dropout_lib.Dropout(self.dropout_rate)

  def memory_kv(self, memory: Array) -> LayerKV:
    return self.cross_attention.memory_kv(memory)

  def __call__(self, x, self_mask, prefix_kv, memory_kv, memory_valid,
               deterministic):
    attended, new_kv = self.self_attention(self.norms[0](x), self_mask,
                                           prefix_kv, deterministic)
    x = x + self.dropout(attended, deterministic=deterministic)
    crossed = self.cross_attention(self.norms[1](x), memory_kv, memory_valid,
                                   deterministic)
    x = x + self.dropout(crossed, deterministic=deterministic)
    x = x + self.dropout(self.mlp(self.norms[2](x), deterministic),
                         deterministic=deterministic)
    return x, new_kv


def recency_positions(valid: Array) -> Array:
  """[batch, len] bool -> positions counted back from the last real token."""
  count = valid.sum(axis=-1, keepdims=True)
  return jnp.maximum(count - jnp.cumsum(valid.astype(jnp.int32), axis=-1), 0)


class EncoderDecoderNet(nn.Module):
  """Encoder over history tokens, decoder over one item's codes.

  Attributes:
    codebook_sizes, token_offsets, vocab_size: the code layout.
    max_tokens: longest history in tokens (encoder positions).
    num_layers, num_decoder_layers, num_heads, embed_dim, mlp_dim,
    dropout_rate, dtype: encoder depth, decoder depth and the usual.
  """

  codebook_sizes: tuple[int, ...]
  token_offsets: tuple[int, ...]
  vocab_size: int
  max_tokens: int
  num_layers: int
  num_decoder_layers: int
  num_heads: int
  embed_dim: int
  mlp_dim: int
  dropout_rate: float = 0.0
  dtype: jnp.dtype = jnp.float32

  def setup(self):
    if self.embed_dim % self.num_heads:
      raise ValueError(f"embed_dim {self.embed_dim} is not divisible by "
                       f"num_heads {self.num_heads}")
    self.token_embed = nn.Embed(
        self.vocab_size, self.embed_dim,
        embedding_init=_partitioned(_EMBED_INIT, ("vocab", "embed")))
    self.encoder_position = nn.Embed(
        self.max_tokens, self.embed_dim,
        embedding_init=_partitioned(_EMBED_INIT, ("position", "embed")))
    self.decoder_position = nn.Embed(
        len(self.codebook_sizes), self.embed_dim,
        embedding_init=_partitioned(_EMBED_INIT, ("position", "embed")))
    self.bos = self.param("bos", _partitioned(_EMBED_INIT, ("embed",)),
                          (self.embed_dim,))
    self.encoder_blocks = [decoder_lib.DecoderBlock(
        self.num_heads, self.mlp_dim, self.dropout_rate, self.dtype,
        name=f"encoder_{layer}") for layer in range(self.num_layers)]
    self.encoder_norm = _layer_norm(self.dtype, "encoder_norm")
    self.decoder_layers = [DecoderLayer(
        self.num_heads, self.mlp_dim, self.embed_dim, self.dropout_rate,
        self.dtype, name=f"decoder_{layer}")
                           for layer in range(self.num_decoder_layers)]
    self.decoder_norm = _layer_norm(self.dtype, "decoder_norm")
    self.dropout = dropout_lib.Dropout(self.dropout_rate)

  def encode(self, history_tokens: Array, deterministic: bool = True
             ) -> tuple[list[LayerKV], Array]:
    """History [batch, T] (PAD = 0) -> per decoder layer the cross-attention
    keys and values of the encoder output, and which tokens are real."""
    valid = history_tokens != 0
    x = (self.token_embed(history_tokens) +
         self.encoder_position(recency_positions(valid)))
    x = self.dropout(x.astype(self.dtype), deterministic=deterministic)
    mask = valid[:, None, :] & valid[:, :, None]
    mask |= jnp.eye(valid.shape[1], dtype=bool)[None]  # padding sees itself
    for block in self.encoder_blocks:
      x, _ = block(x, mask, None, deterministic)
    memory = self.encoder_norm(x)
    return [layer.memory_kv(memory) for layer in self.decoder_layers], valid

  def embed_codes(self, codes: Array | None, step: int, shape) -> Array:
    """Decoder input at `step`: BOS (step 0) or the level step-1 code."""
    if step == 0:
      x = jnp.broadcast_to(self.bos, shape + (self.embed_dim,))
    else:
      x = self.token_embed(codes + self.token_offsets[step - 1])
    return x + self.decoder_position(jnp.full(shape, step, jnp.int32))

  def decode(self, x: Array, self_mask: Array, prefix_kv, memory_kvs,
             memory_valid: Array, deterministic: bool = True
             ) -> tuple[Array, list[LayerKV]]:
    """Decoder stack: x [batch, len, embed] -> states and self-attention KV."""
    x = self.dropout(x.astype(self.dtype), deterministic=deterministic)
    new_kvs = []
    for layer, block in enumerate(self.decoder_layers):
      x, kv = block(x, self_mask, None if prefix_kv is None else
                    prefix_kv[layer], memory_kvs[layer], memory_valid,
                    deterministic)
      new_kvs.append(kv)
    return self.decoder_norm(x), new_kvs

  def logits(self, state: Array, level: int) -> Array:
    """Decoder state [..., embed] -> level logits [..., K_level] (tied)."""
    offset, size = self.token_offsets[level], self.codebook_sizes[level]
    table = self.token_embed.embedding[offset:offset + size]
    return state.astype(jnp.float32) @ table.T.astype(jnp.float32)

  def __call__(self, history_tokens: Array, target_codes: Array,
               deterministic: bool = True) -> list[Array]:
    """Teacher-forced logits of each level [batch, K_l] of `target_codes`
    [batch, L] after the history [batch, T]."""
    memory_kvs, memory_valid = self.encode(history_tokens, deterministic)
    batch, num_levels = target_codes.shape
    x = jnp.concatenate(
        [self.embed_codes(None, 0, (batch, 1))] +
        [self.embed_codes(target_codes[:, step - 1:step], step, (batch, 1))
         for step in range(1, num_levels)], axis=1)
    mask = decoder_lib.causal_mask(jnp.ones((batch, num_levels), bool))
    states, _ = self.decode(x, mask, None, memory_kvs, memory_valid,
                            deterministic)
    return [self.logits(states[:, level], level)
            for level in range(num_levels)]


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class EncodedHistory:
  """Per decoder layer: cross-attention keys and values of the encoder output
  [batch, T, h, d] and the BOS position's self-attention keys and values
  [batch, 1, h, d]; which history tokens are real [batch, T]."""

  memory_kvs: list[LayerKV]
  memory_valid: Array
  bos_kvs: list[LayerKV]


def _windows_to_examples(tokens: Array, num_levels: int, rng: Array
                         ) -> tuple[Array, Array, Array]:
  """Right-padded windows [batch, n * L] -> one (history, target) each.

  Returns the history tokens [batch, n * L] (items from the cut on are PAD),
  the target's codes-as-tokens [batch, L] and whether the window has a
  target (at least two items) [batch].
  """
  batch = tokens.shape[0]
  items = tokens.reshape(batch, -1, num_levels)
  count = (items[..., 0] != 0).sum(axis=-1)
  cut = jax.random.randint(rng, (batch,), 1, jnp.maximum(count, 2))
  keep = jnp.arange(items.shape[1])[None] < cut[:, None]
  history = jnp.where(keep[..., None], items, 0).reshape(batch, -1)
  target = jnp.take_along_axis(items, cut[:, None, None], axis=1)[:, 0]
  return history, target, count >= 2


@dataclasses.dataclass(frozen=True)
class EncoderDecoder(generator.Generator):
  """A `generator.Generator` over `EncoderDecoderNet`."""

  net: EncoderDecoderNet
  layout: generator.CodeLayout

  @classmethod
  def from_config(cls, model_config: ml_collections.ConfigDict,
                  layout: generator.CodeLayout, max_items: int
                  ) -> "EncoderDecoder":
    net = EncoderDecoderNet(
        codebook_sizes=layout.codebook_sizes,
        token_offsets=layout.token_offsets,
        vocab_size=layout.vocab_size,
        max_tokens=max_items * layout.num_levels,
        num_layers=model_config.num_layers,
        num_decoder_layers=model_config.get("num_decoder_layers", 0) or
        model_config.num_layers,
        num_heads=model_config.num_heads,
        embed_dim=model_config.embed_dim,
        mlp_dim=model_config.mlp_dim,
        dropout_rate=model_config.dropout_rate,
        dtype=jnp.dtype(model_config.dtype))
    return cls(net, layout)

  def init(self, rng: Array):
    history = jnp.zeros((1, self.net.max_tokens), jnp.int32)
    return self.net.init(rng, history,
                         jnp.zeros((1, self.num_levels), jnp.int32))["params"]

  def window_loss(self, params, tokens: Array, *, label_smoothing: float,
                  dropout_rng: Array) -> tuple[Array, Array]:
    cut_rng, dropout_rng = jax.random.split(dropout_rng)
    history, target, has_target = _windows_to_examples(tokens,
                                                       self.num_levels, cut_rng)
    codes = jnp.maximum(target - jnp.asarray(self.layout.token_offsets), 0)
    logits = self.net.apply({"params": params}, history, codes,
                            deterministic=False, rngs={"dropout": dropout_rng})
    weights = has_target.astype(jnp.float32)
    total = 0.0
    for level, level_logits in enumerate(logits):
      labels = optax.smooth_labels(
          jax.nn.one_hot(codes[:, level], level_logits.shape[-1]),
          label_smoothing)
      total += (optax.softmax_cross_entropy(level_logits, labels) *
                weights).sum()
    num_targets = weights.sum() * self.num_levels
    return total / jnp.maximum(num_targets, 1.0), num_targets

  def prefill(self, params, history_tokens: Array
              ) -> tuple[Array, EncodedHistory]:
    batch = history_tokens.shape[0]

    def first_level(net, history_tokens):
      memory_kvs, memory_valid = net.encode(history_tokens)
      x = net.embed_codes(None, 0, (batch, 1))
      states, bos_kvs = net.decode(x, jnp.ones((batch, 1, 1), bool), None,
                                   memory_kvs, memory_valid)
      return net.logits(states[:, 0], 0), EncodedHistory(
          memory_kvs, memory_valid, bos_kvs)

    logits, history = self.net.apply({"params": params}, history_tokens,
                                     method=first_level)
    return jax.nn.log_softmax(logits), history

  def extend(self, params, history: EncodedHistory, continuation,
             codes: Array, depth: int):
    batch, width = codes.shape
    steps = continuation_cache.num_steps(continuation)
    # The BOS position's keys and values are shared by every continuation.
    prefix_kv = continuation_cache.attention_prefix(history.bos_kvs,
                                                    continuation)
    mask = continuation_cache.attention_mask(jnp.ones((batch, 1), bool),
                                             steps, width)

    def next_level(net, codes):
      x = net.embed_codes(codes, depth + 1, (batch, width))
      states, new_kvs = net.decode(x, mask, prefix_kv, history.memory_kvs,
                                   history.memory_valid)
      return net.logits(states, depth + 1), new_kvs

    logits, new_kvs = self.net.apply({"params": params}, codes,
                                     method=next_level)
    return (jax.nn.log_softmax(logits),
            continuation_cache.append(continuation, new_kvs))
