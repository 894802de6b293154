r"""Training throughput and model-FLOPs utilisation (MFU) on this machine.

  python benchmarks/train_bench.py [--steps=20] [--models=tiger,large]

The peak is measured in the same run: the best float32 matmul rate of
`jnp.dot` on square matrices. Model FLOPs count the matmuls of a training step
(forward + backward = 3 x forward): the dense layers, the attention scores and
values over the full (masked) sequence, and the tied output projection.
"""

import functools
import time

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from absl import app
from absl import flags

from jaxrec.models import decoder as decoder_lib
from jaxrec.train import sharding as sharding_lib
from jaxrec.train import state as state_lib
from jaxrec.train import step as step_lib

_STEPS = flags.DEFINE_integer("steps", 20, "Timed steps per model.")
_MODELS = flags.DEFINE_list("models", ["tiger", "large"], "Models to time.")
_PROFILE_DIR = flags.DEFINE_string(
    "profile_dir", "", "If set, a jax.profiler trace of 3 steps per model.")

VOCAB_SIZE = 1 + 3 * 256 + 8   # 3 x 256 codes plus a collision level
MODELS = {
    # name: (layers, embed, mlp, heads, batch, sequence length)
    "tiger": (4, 128, 512, 4, 64, 84),     # TIGER size, 21 items x 4 codes
    "large": (8, 512, 2048, 8, 16, 128),
}


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


def train_flops_per_step(layers, embed, mlp, batch, length) -> float:
  dense = layers * (4 * embed * embed + 2 * embed * mlp) + VOCAB_SIZE * embed
  attention = layers * 2 * length * embed     # q.k and weights.v per token
  forward = 2 * (dense + attention) * batch * length
  return 3 * forward


def time_model(name: str) -> dict:
  layers, embed, mlp, heads, batch, length = MODELS[name]
  model_config = ml_collections.ConfigDict(dict(
      num_layers=layers, num_heads=heads, embed_dim=embed, mlp_dim=mlp,
      dropout_rate=0.1, dtype="float32"))
  optimizer_config = ml_collections.ConfigDict(dict(
      learning_rate=1e-3, warmup_steps=10, end_lr_ratio=0.01, b1=0.9, b2=0.98,
      weight_decay=0.1, grad_clip_norm=1.0))
  mesh = sharding_lib.make_mesh(ml_collections.ConfigDict(
      dict(data=-1, fsdp=1, tensor=1)))
  rules = sharding_lib.logical_rules([("batch", "data")])
  model = decoder_lib.build_decoder(model_config, VOCAB_SIZE, length + 1)
  tx = state_lib.make_optimizer(optimizer_config, 1000)
  example = (jnp.zeros((1, length), jnp.int32), jnp.zeros((1, length), jnp.int32),
             jnp.ones((1, length, length), bool))
  state, state_sharding = state_lib.create_train_state(
      model, tx, mesh, rules, example, jax.random.key(0))
  tokens_sharding = sharding_lib.logical_sharding(mesh, rules, "batch", None)
  train_step = jax.jit(
      functools.partial(step_lib.train_step, model=model, tx=tx, num_levels=4,
                        label_smoothing=0.0, dropout_seed=0),
      in_shardings=(state_sharding, tokens_sharding), donate_argnums=0)
  tokens = jax.device_put(np.random.default_rng(0).integers(
      1, VOCAB_SIZE, (batch, length + 1)).astype(np.int32), tokens_sharding)
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
  return dict(name=name, params=num_params, seconds=seconds,
              tokens_per_sec=batch * length / seconds,
              flops_per_sec=train_flops_per_step(layers, embed, mlp, batch,
                                                 length) / seconds,
              shape=f"{layers} layers, d_model {embed}, batch {batch} x "
                    f"{length} tokens")


def main(argv):
  del argv
  print(f"devices: {jax.device_count()} x {jax.devices()[0].platform} "
        f"({jax.devices()[0].device_kind})")
  peak = measured_matmul_peak()
  print(f"measured float32 matmul peak: {peak / 1e9:.1f} GFLOP/s")
  print("| model | shape | params | ms/step | tokens/s | GFLOP/s | MFU |")
  print("|---|---|---|---|---|---|---|")
  for name in _MODELS.value:
    r = time_model(name)
    print(f"| {r['name']} | {r['shape']} | {r['params'] / 1e6:.2f}M | "
          f"{r['seconds'] * 1e3:.1f} | {r['tokens_per_sec']:.0f} | "
          f"{r['flops_per_sec'] / 1e9:.1f} | "
          f"{100 * r['flops_per_sec'] / peak:.0f}% |")


if __name__ == "__main__":
  app.run(main)
