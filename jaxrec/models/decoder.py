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

from jaxrec.models import dropout as dropout_lib

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
    weights = dropout_lib.Dropout(self.dropout_rate)(weights, deterministic=deterministic)
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
    hidden = dropout_lib.Dropout(self.dropout_rate)(nn.gelu(hidden),
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
    x = x + dropout_lib.Dropout(self.dropout_rate)(attended, deterministic=deterministic)
    mlp_out = MlpBlock(self.mlp_dim, self.dropout_rate, self.dtype, name="mlp")(
        _layer_norm(self.dtype, "mlp_norm")(x), deterministic)
    x = x + dropout_lib.Dropout(self.dropout_rate)(mlp_out, deterministic=deterministic)
    return x, new_kv


class Decoder(nn.Module):
  """Decoder-only Transformer with tied input/output token embeddings.

  Attributes:
    vocab_size: number of tokens (special tokens plus every level's codes).
    max_len: largest position index + 1.
    num_layers, num_heads, embed_dim, mlp_dim, dropout_rate: the usual.
    dtype: compute dtype (parameters stay float32).
    num_levels: tokens per item (its code tuple's length).
    tuple_buckets: > 0 adds a tuple embedding (see `tuple_ids`) with this
      many hashed rows to the last token of every whole item of the input;
      0 (default) leaves it out.
  """

  vocab_size: int
  max_len: int
  num_layers: int
  num_heads: int
  embed_dim: int
  mlp_dim: int
  dropout_rate: float = 0.0
  dtype: jnp.dtype = jnp.float32
  num_levels: int = 1
  tuple_buckets: int = 0

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
    x = token_embed(tokens) + position_embed(positions)
    if self.tuple_buckets and prefix_kv is None:
      # Whole items (training windows, prefilled histories): the last token of
      # each also carries its item's tuple. Decoding steps (prefix_kv given)
      # only ever feed the codes of the item being generated.
      ids = tuple_ids(tokens, positions, self.num_levels, self.tuple_buckets)
      tuple_embed = nn.Embed(
          self.tuple_buckets, self.embed_dim, name="tuple_embed",
          embedding_init=_partitioned(_EMBED_INIT, ("vocab", "embed")))
      x = x + jnp.where((ids >= 0)[..., None],
                        tuple_embed(jnp.maximum(ids, 0)), 0.0)
    x = x.astype(self.dtype)
    x = dropout_lib.Dropout(self.dropout_rate)(x, deterministic=deterministic)

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


def tuple_ids(tokens: Array, positions: Array, num_levels: int,
              num_buckets: int) -> Array:
  """Hashed id of each item's whole code tuple, at the item's last token.

  An item-level feature built from its semantic ID alone (the "n-gram" of
  Singh et al., RecSys 2024): items that share every code but the last still
  get their own row (up to hash collisions), which lets the model tell apart
  the exact items of a history, as an item-ID model (SASRec) can.

  Args:
    tokens: [batch, len] int32, whole items laid out so that the token at
      position p is code p % num_levels of its item (PAD = 0).
    positions: [batch, len] int32 (see `positions_from_valid`).
    num_levels: tokens per item.
    num_buckets: hash range.

  Returns:
    [batch, len] int32 in [0, num_buckets) at each complete item's last
    token, -1 elsewhere.
  """
  is_last = positions % num_levels == num_levels - 1
  complete = is_last & (positions >= num_levels - 1)
  hashed = jnp.zeros(tokens.shape, jnp.uint32)
  for back in range(num_levels - 1, -1, -1):  # the first code first
    code = jnp.pad(tokens, ((0, 0), (back, 0)))[:, :tokens.shape[1]]
    complete &= code != 0
    hashed = hashed * jnp.uint32(1_000_003) + code.astype(jnp.uint32)
  bucket = (hashed % jnp.uint32(num_buckets)).astype(jnp.int32)
  return jnp.where(complete, bucket, -1)


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


def build_decoder(model_config, vocab_size: int, max_len: int,
                  num_levels: int = 1) -> Decoder:
  """The decoder described by `config.model`."""
  return Decoder(
      vocab_size=vocab_size,
      max_len=max_len,
      num_layers=model_config.num_layers,
      num_heads=model_config.num_heads,
      embed_dim=model_config.embed_dim,
      mlp_dim=model_config.mlp_dim,
      dropout_rate=model_config.dropout_rate,
      dtype=jnp.dtype(model_config.dtype),
      num_levels=num_levels,
      # Absent from configs written before the option existed.
      tuple_buckets=model_config.get("tuple_buckets", 0))
