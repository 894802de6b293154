"""One process of a multi-host check on a mesh that is not process-major.

Run as one process (reference) or as several on CPU, e.g. 2 processes with
4 fake devices each (XLA_FLAGS=--xla_force_host_platform_device_count=4,
JAX_PLATFORMS=cpu), with the same --coordinator_address. The mesh interleaves
the processes' devices (p0d0, p1d0, p0d1, p1d1, ...). A tiny random model of
configs/tiny.py ranks a synthetic EvalSet, then trains two steps; process 0
writes the rankings, the global batches and the trained parameters to
--output (.npz), which must match the single-process run.

  python -m tests.multihost_worker --output=/tmp/out.npz \
      [--coordinator_address=127.0.0.1:PORT --num_processes=2 --process_id=P]
"""

import argparse
import os

import jax
import numpy as np

from jaxrec import distributed
from jaxrec import recipes
from jaxrec import sharding as sharding_lib
from jaxrec.evaluation import evaluator
from jaxrec.semantic_ids import vocab as vocab_lib
from jaxrec.train import input_pipeline
from jaxrec.train import trainer

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NUM_ITEMS = 40
NUM_USERS = 37       # not a multiple of the eval batch: the last one is padded
NUM_WINDOWS = 50
TRAIN_STEPS = 2


def interleaved_devices() -> list[jax.Device]:
  """All devices, local index major: p0d0, p1d0, ..., p0d1, p1d1, ..."""
  local_index = {}
  for process in range(jax.process_count()):
    for index, device in enumerate(
        d for d in jax.devices() if d.process_index == process):
      local_index[device] = index
  return sorted(jax.devices(),
                key=lambda d: (local_index[d], d.process_index))


def random_vocab(codebook_sizes: tuple[int, ...], rng: np.random.Generator
                 ) -> vocab_lib.SemanticIdVocab:
  """NUM_ITEMS items with distinct random code tuples."""
  flat = rng.permutation(int(np.prod(codebook_sizes)))[:NUM_ITEMS]
  codes = np.stack(np.unravel_index(np.sort(flat), codebook_sizes), axis=1)
  return vocab_lib.SemanticIdVocab.from_codes(
      [str(i) for i in range(NUM_ITEMS)], codes, codebook_sizes, "random")


def random_eval_set(max_history: int, rng: np.random.Generator
                    ) -> evaluator.EvalSet:
  """NUM_USERS users: histories [NUM_USERS, max_history], left-padded -1."""
  histories = np.full((NUM_USERS, max_history), -1, np.int32)
  seen = []
  for user in range(NUM_USERS):
    items = rng.permutation(NUM_ITEMS)[:rng.integers(1, 12)]
    histories[user, -len(items):] = items
    seen.append(np.sort(items).astype(np.int32))
  return evaluator.EvalSet(histories=histories,
                           targets=rng.integers(0, NUM_ITEMS, NUM_USERS),
                           seen_items=seen)


def random_windows(window: int, rng: np.random.Generator) -> np.ndarray:
  """[NUM_WINDOWS, window] item indices, right-padded with -1."""
  windows = rng.integers(0, NUM_ITEMS, (NUM_WINDOWS, window)).astype(np.int32)
  for row, length in enumerate(rng.integers(2, window + 1, NUM_WINDOWS)):
    windows[row, length:] = -1
  return windows


def to_host(tree, mesh: jax.sharding.Mesh):
  """A pytree of global arrays -> numpy arrays, on every process (one jit)."""
  replicated = jax.jit(lambda x: x,
                       out_shardings=sharding_lib.replicated(mesh))(tree)
  return jax.tree.map(lambda x: np.asarray(x.addressable_data(0)), replicated)


def run() -> dict[str, np.ndarray]:
  """Rankings, global batches and trained params (on every process)."""
  config = recipes.load_recipe(os.path.join(REPO, "configs", "tiny.py"))
  config.model.dropout_rate = 0.1   # training then depends on row placement
  rng = np.random.default_rng(0)
  vocab = random_vocab(tuple(config.tokenizer.codebook_sizes), rng)
  experiment, state = trainer.build_experiment(config, vocab,
                                               interleaved_devices())
  rankings = experiment.ranker.rankings(
      state.params, random_eval_set(config.data.max_history, rng))
  train_step, tokens_sharding = trainer._compile_train_step(config,
                                                            experiment)
  batches = input_pipeline.training_iterator(
      random_windows(config.data.max_history + 1, rng),
      vocab.encode(np.arange(NUM_ITEMS)),
      global_batch_size=config.train.batch_size, seed=config.seed)
  tokens = []
  for _ in range(TRAIN_STEPS):
    tokens.append(sharding_lib.global_array(next(batches)["tokens"],
                                            tokens_sharding))
    state, _ = train_step(state, tokens[-1])
  tokens, params = to_host((tokens, state.params), experiment.mesh)
  mesh_processes = [d.process_index for d in experiment.mesh.devices.flat]
  return {"mesh_processes": np.array(mesh_processes),
          "items": rankings.items, "scores": rankings.scores,
          "tokens": np.stack(tokens),
          **{f"params{jax.tree_util.keystr(path)}": leaf
             for path, leaf in jax.tree_util.tree_leaves_with_path(params)}}


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__)
  parser.add_argument("--output", required=True)
  parser.add_argument("--coordinator_address", default="")
  parser.add_argument("--num_processes", type=int, default=1)
  parser.add_argument("--process_id", type=int, default=0)
  args = parser.parse_args()
  # Compiling dominates this check; the numbers need not be fast.
  jax.config.update("jax_disable_most_optimizations", True)
  distributed.initialize(coordinator_address=args.coordinator_address,
                         num_processes=args.num_processes,
                         process_id=args.process_id)
  results = run()
  if jax.process_index() == 0:
    np.savez(args.output, **results)


if __name__ == "__main__":
  main()
