"""Dropout whose mask costs a quarter of the random bits.

`flax.linen.Dropout` draws a 32-bit random word per element
(`jax.random.bernoulli`). On CPU those threefry words are a large share of a
small model's training step: about a third of the default ML-100K recipe's
(`benchmarks/train_bench.py --models=item_level_default --flax_dropout`
compares the two). Here each word gives four elements one random byte each,
so the mask needs a quarter of the words; the price is that the rate is
rounded to a multiple of 1/256 (0.2 becomes 51/256 = 0.1992). Kept values
are scaled by 1 / (1 - rounded rate), so the layer stays unbiased.

The words are drawn in the input's shape but its last axis (divided by four,
rounded up), so a batch-sharded input gets batch-sharded random bits, as with
flax's Dropout.
"""

import flax.linen as nn
import jax
import jax.numpy as jnp

Array = jax.Array

_LEVELS = 256  # one random byte per element


def rounded_rate(rate: float) -> float:
  """The rate this layer applies for `rate`: the nearest multiple of 1/256."""
  return round(rate * _LEVELS) / _LEVELS


def keep_mask(rng: Array, shape: tuple[int, ...], rate: float) -> Array:
  """Bernoulli(1 - rounded_rate(rate)) booleans of `shape` (rank >= 1)."""
  *leading, last = shape
  words = jax.random.bits(rng, (*leading, -(-last // 4)), jnp.uint32)
  random_bytes = jax.lax.bitcast_convert_type(words, jnp.uint8)
  random_bytes = random_bytes.reshape(*leading, -1)[..., :last]
  return random_bytes >= round(rate * _LEVELS)


class Dropout(nn.Module):
  """Inverted dropout at `rounded_rate(rate)`; a drop-in for nn.Dropout.

  Draws from the "dropout" rng collection, as nn.Dropout does.
  """

  rate: float

  @nn.compact
  def __call__(self, x: Array, deterministic: bool) -> Array:
    """x: any shape of rank >= 1; returned unchanged when deterministic."""
    dropped = round(self.rate * _LEVELS)
    if deterministic or dropped == 0:
      return x
    if dropped >= _LEVELS:
      return jnp.zeros_like(x)
    keep = keep_mask(self.make_rng("dropout"), x.shape, self.rate)
    scale = _LEVELS / (_LEVELS - dropped)
    return jnp.where(keep, x * jnp.asarray(scale, x.dtype), jnp.zeros_like(x))
