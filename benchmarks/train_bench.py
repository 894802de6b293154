r"""Training throughput and model-FLOPs utilisation (MFU) on this machine.

  python benchmarks/train_bench.py [--steps=20] \
      [--models=tiger,large,decoder_only_h50,item_level_h50,item_level_default]

For each model: milliseconds per step, sequence positions per second, target
items per second (every item of a window but the first is a target, as in
training), GFLOP/s and MFU. `decoder_only_h50` and `item_level_h50` are the
two model families at equal width and depth (the default ML-100K recipe's:
2 layers, d_model 128) on windows of history 50: the decoder-only family runs
one position per code token (51 items x 4 codes), the item-level family one
per item.

The peak is measured in the same run: the best float32 matmul rate of
`jnp.dot` on square matrices. Model FLOPs count the matmuls of a training step
(forward + backward = 3 x forward): the dense layers, the attention scores and
values over the full (masked) sequence, and the output projection (the tied
token projection; for the item-level family its code head: a residual MLP
and the level's codes per level; the item score's catalogue softmax is not
counted).

`item_level_default` is the default ML-100K recipe's step
(configs/ml100k_item_level.py: width 64, batch 128, history 50, dropout 0.2,
the item score over a catalogue of 1,682 items). `--flax_dropout` adds a row
per model with flax's own `nn.Dropout` in place of jaxrec's
(jaxrec/models/dropout.py), the same model otherwise.
"""

import contextlib
import functools
import time

import jax
import jax.numpy as jnp
import ml_collections
import flax.linen as nn
import numpy as np
from absl import app
from absl import flags

from jaxrec import sharding as sharding_lib
from jaxrec.models import dropout as dropout_lib
from jaxrec.models import generator as generator_lib
from jaxrec.train import state as state_lib
from jaxrec.train import step as step_lib

_STEPS = flags.DEFINE_integer("steps", 20, "Timed steps per model.")
_MODELS = flags.DEFINE_list(
    "models", ["tiger", "large", "decoder_only_h50", "item_level_h50",
               "item_level_default"],
    "Models to time.")
_FLAX_DROPOUT = flags.DEFINE_bool(
    "flax_dropout", False,
    "Also time each model with flax's nn.Dropout instead of jaxrec's.")
_PROFILE_DIR = flags.DEFINE_string(
    "profile_dir", "", "If set, a jax.profiler trace of 3 steps per model.")

LAYOUT = generator_lib.CodeLayout(  # 3 x 256 codes plus a collision level
    codebook_sizes=(256, 256, 256, 8), token_offsets=(1, 257, 513, 769),
    vocab_size=1 + 3 * 256 + 8)
NUM_LEVELS = LAYOUT.num_levels
MODELS = {
    # name: (family, layers, embed, mlp, heads, batch, window items)
    "tiger": ("decoder_only", 4, 128, 512, 4, 64, 21),  # TIGER size
    "large": ("decoder_only", 8, 512, 2048, 8, 16, 32),
    "decoder_only_h50": ("decoder_only", 2, 128, 512, 4, 64, 51),
    "item_level_h50": ("item_level", 2, 128, 512, 4, 64, 51),
    "item_level_default": ("item_level", 2, 64, 256, 2, 128, 51),
}
DROPOUT_RATE = {"item_level_default": 0.2}  # else 0.1
# Model options besides MODELS' shape (the default recipe's item score).
OPTIONS = {"item_level_default": dict(item_score_weight=1.0,
                                      tuple_buckets=8192)}
CATALOGUE_SIZE = 1682  # ML-100K's items, for the item score's softmax


@contextlib.contextmanager
def flax_dropout():
  """Within: the models use flax's nn.Dropout (same call signature)."""
  jaxrec_dropout = dropout_lib.Dropout
  dropout_lib.Dropout = nn.Dropout
  try:
    yield
  finally:
    dropout_lib.Dropout = jaxrec_dropout


def random_catalogue(num_items: int, seed: int = 0) -> np.ndarray:
  """`num_items` distinct code tuples of LAYOUT: [num_items, NUM_LEVELS]."""
  codes = np.random.default_rng(seed).integers(
      0, LAYOUT.codebook_sizes, (2 * num_items, NUM_LEVELS))
  return np.unique(codes, axis=0)[:num_items]


def measured_matmul_peak(sizes=(1024, 2048, 3072), repeats=5) -> float:
  """Best float32 FLOP/s of a jitted square matmul."""
  best = 0.0
  for size in sizes:
    a = jnp.asarray(np.random.default_rng(0).standard_normal((size, size)),
                    jnp.float32)
    matmul = jax.jit(jnp.dot)
    matmul(a, a).block_until_ready()
    start = time.perf_counter()
    for _ in range(repeats):
      out = matmul(a, a)
    out.block_until_ready()
    seconds = (time.perf_counter() - start) / repeats
    best = max(best, 2 * size**3 / seconds)
  return best


def train_flops_per_step(family, layers, embed, mlp, batch, length) -> float:
  """Matmul FLOPs of one step; `length` = positions per window."""
  dense = layers * (4 * embed * embed + 2 * embed * mlp)
  if family == "item_level":  # per level: residual MLP (embed wide) + codes
    dense += sum(2 * embed * embed + size * embed
                 for size in LAYOUT.codebook_sizes)
  else:
    dense += LAYOUT.vocab_size * embed
  attention = layers * 2 * length * embed     # q.k and weights.v per position
  forward = 2 * (dense + attention) * batch * length
  return 3 * forward


def time_model(name: str) -> dict:
  family, layers, embed, mlp, heads, batch, window_items = MODELS[name]
  model_config = ml_collections.ConfigDict(dict(
      family=family, num_layers=layers, num_heads=heads, embed_dim=embed,
      mlp_dim=mlp, dropout_rate=DROPOUT_RATE.get(name, 0.1), dtype="float32",
      **OPTIONS.get(name, {})))
  catalogue = random_catalogue(CATALOGUE_SIZE)
  optimizer_config = ml_collections.ConfigDict(dict(
      learning_rate=1e-3, warmup_steps=10, end_lr_ratio=0.01, b1=0.9, b2=0.98,
      weight_decay=0.1, grad_clip_norm=1.0))
  mesh = sharding_lib.make_mesh(ml_collections.ConfigDict(
      dict(data=-1, fsdp=1, tensor=1)))
  rules = sharding_lib.logical_rules([("batch", "data")])
  model = generator_lib.build_generator(model_config, LAYOUT, window_items,
                                        item_codes=catalogue)
  tx = state_lib.make_optimizer(optimizer_config, 1000)
  state, state_sharding = state_lib.create_train_state(
      model.init, tx, mesh, rules, jax.random.key(0))
  tokens_sharding = sharding_lib.logical_sharding(mesh, rules, "batch", None)
  train_step = jax.jit(
      functools.partial(step_lib.train_step, model=model, tx=tx,
                        label_smoothing=0.0, dropout_seed=0),
      in_shardings=(state_sharding, tokens_sharding), donate_argnums=0)
  codes = catalogue[np.random.default_rng(0).integers(
      0, len(catalogue), (batch, window_items))]
  tokens = jax.device_put(
      (codes + np.asarray(LAYOUT.token_offsets)).reshape(batch, -1).astype(
          np.int32), tokens_sharding)
  for _ in range(3):  # compile and warm up
    state, metrics = train_step(state, tokens)
  jax.block_until_ready(metrics)
  if _PROFILE_DIR.value:
    with jax.profiler.trace(f"{_PROFILE_DIR.value}/{name}"):
      for _ in range(3):
        state, metrics = train_step(state, tokens)
      jax.block_until_ready(metrics)
  start = time.perf_counter()
  for _ in range(_STEPS.value):
    state, metrics = train_step(state, tokens)
  jax.block_until_ready(metrics)
  seconds = (time.perf_counter() - start) / _STEPS.value
  num_params = sum(x.size for x in jax.tree.leaves(state.params))
  length = window_items * (1 if family == "item_level" else NUM_LEVELS)
  unit = "items" if family == "item_level" else "tokens"
  return dict(name=name, params=num_params, seconds=seconds,
              positions_per_sec=batch * length / seconds,
              targets_per_sec=batch * (window_items - 1) / seconds,
              flops_per_sec=train_flops_per_step(family, layers, embed, mlp,
                                                 batch, length) / seconds,
              shape=f"{family}, {layers} layers, d_model {embed}, batch "
                    f"{batch} x {length} {unit}")


def main(argv):
  del argv
  print(f"devices: {jax.device_count()} x {jax.devices()[0].platform} "
        f"({jax.devices()[0].device_kind})")
  peak = measured_matmul_peak()
  print(f"measured float32 matmul peak: {peak / 1e9:.1f} GFLOP/s")
  print("| model | shape | params | ms/step | positions/s | target items/s "
        "| GFLOP/s | MFU |")
  print("|---|---|---|---|---|---|---|---|")
  runs = [(name, contextlib.nullcontext) for name in _MODELS.value]
  if _FLAX_DROPOUT.value:
    runs += [(name, flax_dropout) for name in _MODELS.value]
  for name, dropout_context in runs:
    with dropout_context():
      r = time_model(name)
    if dropout_context is flax_dropout:
      r["name"] += " (flax nn.Dropout)"
    print(f"| {r['name']} | {r['shape']} | {r['params'] / 1e6:.2f}M | "
          f"{r['seconds'] * 1e3:.1f} | {r['positions_per_sec']:.0f} | "
          f"{r['targets_per_sec']:.0f} | {r['flops_per_sec'] / 1e9:.1f} | "
          f"{100 * r['flops_per_sec'] / peak:.0f}% |")


if __name__ == "__main__":
  app.run(main)
