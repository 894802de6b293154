"""Decoder-only Transformer over the stream of semantic-ID code tokens.

A user's history is the concatenation of its items' code tuples,
`[a_17 b_3 c_200 d_0 | a_4 b_9 ...]`; the model predicts every next token.

The call takes an explicit attention mask and an optional key/value prefix, so
one module serves three uses:
  * training: causal mask over a right-padded window, no prefix;
  * prefill: the left-padded history, returning every layer's keys and values;
  * decoding: the tokens generated so far for all beams of a user, attending to
    the history prefix and, block-causally, to their own beam's tokens. The
    history is encoded once and shared by all beams without copying it.

Every parameter carries logical axis names (`vocab`, `embed`, `mlp`, `heads`,
`kv`, `position`), mapped to mesh axes by the rules in the config.
"""

from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

Array = jax.Array
# Keys and values of one layer, each [batch, prefix_len, num_heads, head_dim].
LayerKV = tuple[Array, Array]

_EMBED_INIT = nn.initializers.normal(stddev=0.02)


def _partitioned(init, names: Sequence[str | None]):
  return nn.with_logical_partitioning(init, tuple(names))


class Attention(nn.Module):
  """Multi-head attention with an optional key/value prefix."""

  num_heads: int
  head_dim: int
  dropout_rate: float
  dtype: jnp.dtype

  @nn.compact
  def __call__(self, x: Array, attention_mask: Array,
               prefix_kv: LayerKV | None, deterministic: bool
               ) -> tuple[Array, LayerKV]:
    """x: [batch, len, embed]; attention_mask: [batch, len, prefix_len + len]."""
    def projection(name):
      return nn.DenseGeneral(
          (self.num_heads, self.head_dim), dtype=self.dtype, name=name,
          kernel_init=_partitioned(nn.initializers.lecun_normal(),
                                   ("embed", "heads", "kv")),
          bias_init=_partitioned(nn.initializers.zeros, ("heads", "kv")))

    query = projection("query")(x)
    key = projection("key")(x)
    value = projection("value")(x)
    new_kv = (key, value)
    if prefix_kv is not None:
      key = jnp.concatenate([prefix_kv[0].astype(key.dtype), key], axis=1)
      value = jnp.concatenate([prefix_kv[1].astype(value.dtype), value], axis=1)

    logits = jnp.einsum("bqhd,bkhd->bhqk", query, key) / jnp.sqrt(
        self.head_dim).astype(self.dtype)
    logits = jnp.where(attention_mask[:, None], logits.astype(jnp.float32),
                       jnp.finfo(jnp.float32).min)
    weights = jax.nn.softmax(logits, axis=-1).astype(self.dtype)
    weights = nn.Dropout(self.dropout_rate)(weights, deterministic=deterministic)
    attended = jnp.einsum("bhqk,bkhd->bqhd", weights, value)
    out = nn.DenseGeneral(
        x.shape[-1], axis=(-2, -1), dtype=self.dtype, name="out",
        kernel_init=_partitioned(nn.initializers.lecun_normal(),
                                 ("heads", "kv", "embed")),
        bias_init=_partitioned(nn.initializers.zeros, ("embed",)))(attended)
    return out, new_kv


class MlpBlock(nn.Module):
  mlp_dim: int
  dropout_rate: float
  dtype: jnp.dtype

  @nn.compact
  def __call__(self, x: Array, deterministic: bool) -> Array:
    embed_dim = x.shape[-1]
    hidden = nn.Dense(
        self.mlp_dim, dtype=self.dtype,
        kernel_init=_partitioned(nn.initializers.lecun_normal(), ("embed", "mlp")),
        bias_init=_partitioned(nn.initializers.zeros, ("mlp",)))(x)
    hidden = nn.Dropout(self.dropout_rate)(nn.gelu(hidden),
                                           deterministic=deterministic)
    return nn.Dense(
        embed_dim, dtype=self.dtype,
        kernel_init=_partitioned(nn.initializers.lecun_normal(), ("mlp", "embed")),
        bias_init=_partitioned(nn.initializers.zeros, ("embed",)))(hidden)


def _layer_norm(dtype, name):
  return nn.LayerNorm(
      dtype=dtype, name=name,
      scale_init=_partitioned(nn.initializers.ones, ("embed",)),
      bias_init=_partitioned(nn.initializers.zeros, ("embed",)))


class DecoderBlock(nn.Module):
  """Pre-norm Transformer block."""

  num_heads: int
  mlp_dim: int
  dropout_rate: float
  dtype: jnp.dtype

  @nn.compact
  def __call__(self, x, attention_mask, prefix_kv, deterministic):
    head_dim = x.shape[-1] // self.num_heads
    attended, new_kv = Attention(
        self.num_heads, head_dim, self.dropout_rate, self.dtype,
        name="attention")(_layer_norm(self.dtype, "attention_norm")(x),
                          attention_mask, prefix_kv, deterministic)
    x = x + nn.Dropout(self.dropout_rate)(attended, deterministic=deterministic)
    mlp_out = MlpBlock(self.mlp_dim, self.dropout_rate, self.dtype, name="mlp")(
        _layer_norm(self.dtype, "mlp_norm")(x), deterministic)
    x = x + nn.Dropout(self.dropout_rate)(mlp_out, deterministic=deterministic)
    return x, new_kv


class Decoder(nn.Module):
  """Decoder-only Transformer with tied input/output token embeddings.

  Attributes:
    vocab_size: number of tokens (special tokens plus every level's codes).
    max_len: largest position index + 1.
    num_layers, num_heads, embed_dim, mlp_dim, dropout_rate: the usual.
    dtype: compute dtype (parameters stay float32).
  """

  vocab_size: int
  max_len: int
  num_layers: int
  num_heads: int
  embed_dim: int
  mlp_dim: int
  dropout_rate: float = 0.0
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, tokens: Array, positions: Array, attention_mask: Array,
               prefix_kv: Sequence[LayerKV] | None = None,
               deterministic: bool = True
               ) -> tuple[Array, list[LayerKV]]:
    """Runs the decoder.

    Args:
      tokens: [batch, len] int32 token ids.
      positions: [batch, len] int32 position of each token in its sequence.
      attention_mask: [batch, len, prefix_len + len] bool, True where a query
        may attend to a key (keys are the prefix first, then `tokens`).
      prefix_kv: per layer, keys and values [batch, prefix_len, heads, head_dim]
        computed by an earlier call, or None.
      deterministic: disables dropout.

    Returns:
      logits [batch, len, vocab_size] float32 and, per layer, the keys and
      values of `tokens` (to serve as a later call's prefix).
    """
    if self.embed_dim % self.num_heads:
      raise ValueError(f"embed_dim {self.embed_dim} is not divisible by "
                       f"num_heads {self.num_heads}")
    token_embed = nn.Embed(
        self.vocab_size, self.embed_dim, name="token_embed",
        embedding_init=_partitioned(_EMBED_INIT, ("vocab", "embed")))
    position_embed = nn.Embed(
        self.max_len, self.embed_dim, name="position_embed",
        embedding_init=_partitioned(_EMBED_INIT, ("position", "embed")))
    x = (token_embed(tokens) + position_embed(positions)).astype(self.dtype)
    x = nn.Dropout(self.dropout_rate)(x, deterministic=deterministic)

    layer_kvs = []
    for layer in range(self.num_layers):
      x, kv = DecoderBlock(self.num_heads, self.mlp_dim, self.dropout_rate,
                           self.dtype, name=f"block_{layer}")(
                               x, attention_mask,
                               None if prefix_kv is None else prefix_kv[layer],
                               deterministic)
      layer_kvs.append(kv)
    x = _layer_norm(self.dtype, "final_norm")(x)
    logits = token_embed.attend(x.astype(jnp.float32))
    return logits, layer_kvs


def causal_mask(valid: Array) -> Array:
  """[batch, len] bool of real tokens -> [batch, len, len] causal mask."""
  length = valid.shape[-1]
  lower = jnp.tril(jnp.ones((length, length), dtype=bool))
  return lower[None] & valid[:, None, :]


def positions_from_valid(valid: Array) -> Array:
  """Positions counted from each row's first real token: [batch, len] int32.

  Works for left padding (padding gets position 0, and is masked anyway).
  """
  return jnp.maximum(jnp.cumsum(valid.astype(jnp.int32), axis=-1) - 1, 0)


def build_decoder(model_config, vocab_size: int, max_len: int) -> Decoder:
  """The decoder described by `config.model`."""
  return Decoder(
      vocab_size=vocab_size,
      max_len=max_len,
      num_layers=model_config.num_layers,
      num_heads=model_config.num_heads,
      embed_dim=model_config.embed_dim,
      mlp_dim=model_config.mlp_dim,
      dropout_rate=model_config.dropout_rate,
      dtype=jnp.dtype(model_config.dtype))
