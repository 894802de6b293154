r"""Constrained decoding speed and trie memory from 10k to 1M items.

  python benchmarks/decode_bench.py [--sizes=10000,100000,1000000] \
      [--batch_size=64] [--num_batches=3] [--layouts=csr,dense] [--naive]

Synthetic catalogues: random code tuples of 3 levels x 256 codes plus the
collision level. Model: random decoder, d_model 128, 4 layers, 4 heads;
histories of 20 random items; beam 20; the 20 history items are masked.

For each size it prints the trie's shape and memory (CSR, and what dense
tables would take), then users/s of constrained beam search per layout, and
users/s of the naive validity check used by several public implementations,
implemented here as the reference: at each step every beam's prefix is
compared with the full [N, L] table of item codes, and the codes that extend
a matching row are the allowed candidates (the same check as comparing every
prefix + candidate with every row, done once per prefix instead of once per
candidate, so the reference is K times cheaper than the literal version).
The naive search uses the same model and KV cache and no history masking.
Compile time is excluded (ahead-of-time compilation, then timed calls). All
configurations are timed in --repeats interleaved rounds and each batch's best
time is kept, so that other work on a shared machine slows none more than
another. The `decoder` column is the model alone (prefill plus one step per
level, no trie): the floor of any search.
"""

import dataclasses
import functools
import time

import jax
import jax.numpy as jnp
import numpy as np
from absl import app
from absl import flags

from jaxrec.decoding import beam_search as beam_search_lib
from jaxrec.decoding import trie as trie_lib
from jaxrec.models import decoder as decoder_lib
from jaxrec.models import decoder_only
from jaxrec.models import generator as generator_lib
from jaxrec.semantic_ids import collisions

_SIZES = flags.DEFINE_list("sizes", ["10000", "100000", "1000000"],
                           "Catalogue sizes.")
_BATCH_SIZE = flags.DEFINE_integer("batch_size", 64, "Users per call.")
_NUM_BATCHES = flags.DEFINE_integer("num_batches", 3,
                                    "Batches of different users per run.")
_REPEATS = flags.DEFINE_integer("repeats", 5, "Timed rounds.")
_BEAM_SIZE = flags.DEFINE_integer("beam_size", 20, "Beams (and list length).")
_LAYOUTS = flags.DEFINE_list("layouts", ["csr", "dense"], "Trie layouts.")
_NAIVE = flags.DEFINE_bool("naive", True, "Also time the naive reference.")
_NAIVE_BATCH_SIZE = flags.DEFINE_integer("naive_batch_size", 8,
                                         "Users per naive call.")
_HISTORY = flags.DEFINE_integer("history", 20, "History length in items.")
_SEED = flags.DEFINE_integer("seed", 0, "Catalogue, model and user seed.")

CODEBOOK = 256
LEVELS = 3


def synthetic_codes(num_items: int, rng: np.random.Generator
                    ) -> tuple[np.ndarray, tuple[int, ...]]:
  """Random [N, 3] codes in [0, 256) plus the collision level: [N, 4]."""
  codes = rng.integers(0, CODEBOOK, (num_items, LEVELS))
  codes, extra = collisions.add_collision_level(codes)
  return codes, (CODEBOOK,) * LEVELS + (extra,)


def make_model(layout: generator_lib.CodeLayout, max_len: int, seed: int):
  """A random decoder-only generator and its parameters."""
  model = decoder_only.DecoderOnly(decoder_lib.Decoder(
      vocab_size=layout.vocab_size, max_len=max_len, num_layers=4,
      num_heads=4, embed_dim=128, mlp_dim=512), layout)
  params = jax.jit(model.init)(jax.random.key(seed))
  return model, params


def naive_beam_search(model, params, item_codes: jax.Array,
                      history_tokens: jax.Array, *, codebook_sizes,
                      beam_size: int) -> tuple[jax.Array, jax.Array]:
  """Beam search whose validity check scans the whole [N, L] code table."""
  log_probs, history = model.prefill(params, history_tokens)
  batch = history_tokens.shape[0]
  scores = jnp.zeros((batch, 1))
  paths = jnp.zeros((batch, 1, 0), jnp.int32)
  continuation, log_probs = None, log_probs[:, None]
  for depth, size in enumerate(codebook_sizes):
    if depth:
      log_probs, continuation = model.extend(
          params, history, continuation, paths[:, :, -1], depth - 1)
    # [batch, beams, N]: rows of the table that extend each beam's prefix.
    match = jnp.all(item_codes[None, None, :, :depth] == paths[:, :, None],
                    axis=-1)
    allowed = jax.vmap(jax.vmap(
        lambda row: jnp.zeros(size, bool).at[item_codes[:, depth]].max(row)
    ))(match)
    totals = jnp.where(allowed, scores[..., None] + log_probs, -jnp.inf)
    beams = totals.shape[1]
    scores, index = jax.lax.top_k(totals.reshape(batch, -1), beam_size)
    parent, code = index // size, index % size
    paths = jnp.concatenate([jnp.take_along_axis(paths, parent[..., None], 1),
                             code[..., None]], axis=-1)
    if continuation is not None:
      continuation = generator_lib.gather(continuation,
                                          jnp.minimum(parent, beams - 1))
  return paths, scores


@dataclasses.dataclass
class Run:
  """One timed configuration: a compiled function and its calls' arguments."""
  size: int
  name: str
  compiled: object
  calls: list[tuple]
  users_per_call: int
  best: list[float] = dataclasses.field(default_factory=list)

  def time_round(self) -> None:
    """Times every call once, keeping each call's best time so far."""
    times = []
    for args in self.calls:
      start = time.perf_counter()
      jax.block_until_ready(self.compiled(*args))
      times.append(time.perf_counter() - start)
    self.best = times if not self.best else list(np.minimum(self.best, times))

  @property
  def users_per_second(self) -> float:
    return self.users_per_call / float(np.mean(self.best))


def model_alone(model, params, trie, history_tokens, seen_items, beam_size):
  """The model work of a beam search alone (prefill and one step per level
  after the first), with no trie: the floor any search pays."""
  del seen_items
  log_probs, history = model.prefill(params, history_tokens)
  codes = jnp.zeros((history_tokens.shape[0], beam_size), jnp.int32)
  continuation, total = None, log_probs.sum()
  for depth in range(trie.num_levels - 1):
    log_probs, continuation = model.extend(params, history, continuation,
                                           codes, depth)
    total += log_probs.sum()
  return total


def user_batches(rng, item_tokens, num_items, batch_size, num_batches):
  """[(history_tokens [B, hist * L], seen_items [B, hist])] of random users."""
  batches = []
  for _ in range(num_batches):
    items = rng.integers(0, num_items, (batch_size, _HISTORY.value))
    tokens = item_tokens[items].reshape(batch_size, -1)
    batches.append((jnp.asarray(tokens), jnp.asarray(items, jnp.int32)))
  return batches


def trie_report(trie: trie_lib.Trie, build_seconds: float) -> str:
  nodes = [trie.num_nodes(d) for d in range(trie.num_levels + 1)]
  fanout = [trie.max_fanout(d) for d in range(trie.num_levels)]
  n = trie.num_items
  leaf_maps = trie.leaf_items.nbytes + trie.item_leaves.nbytes
  return (f"  trie: built in {build_seconds:.2f}s; nodes per depth {nodes}; "
          f"max fan-out {fanout}\n"
          f"  memory: CSR {trie.nbytes:,} B = {trie.nbytes / n:.1f} B/item | "
          f"dense child tables {trie.dense_nbytes():,} B + item maps "
          f"{leaf_maps:,} B = {(trie.dense_nbytes() + leaf_maps) / n:.1f} "
          "B/item")


def _compiled(fn, calls):
  return jax.jit(fn).lower(*calls[0]).compile()


def prepare_size(num_items: int, rng: np.random.Generator) -> list[Run]:
  """Builds the catalogue, prints its trie, and compiles every configuration."""
  codes, sizes = synthetic_codes(num_items, rng)
  offsets = tuple(1 + int(s) for s in np.cumsum((0,) + sizes)[:-1])
  start = time.perf_counter()
  trie = trie_lib.build_trie(codes, sizes)
  print(f"\n== {num_items:,} items, codebooks {list(sizes)} ==")
  print(trie_report(trie, time.perf_counter() - start))
  layout = generator_lib.CodeLayout(sizes, offsets, 1 + sum(sizes))
  model, params = make_model(layout, (_HISTORY.value + 1) * len(sizes),
                             _SEED.value)
  batches = user_batches(rng, codes + np.asarray(offsets), num_items,
                         _BATCH_SIZE.value, _NUM_BATCHES.value)
  beam = _BEAM_SIZE.value
  runs = []
  for layout in ["decoder"] + _LAYOUTS.value:
    device_trie = trie_lib.DeviceTrie.create(
        trie, offsets, "csr" if layout == "decoder" else layout)
    if layout != "decoder":
      print(f"  {layout} trie on device: {device_trie.nbytes / 2**20:.1f} MiB")
    fn = model_alone if layout == "decoder" else beam_search_lib.beam_search
    calls = [(params, device_trie) + b for b in batches]
    runs.append(Run(num_items, layout, _compiled(
        functools.partial(fn, model, beam_size=beam), calls), calls,
                    _BATCH_SIZE.value))
  if _NAIVE.value:
    table = jnp.asarray(codes)
    calls = [(params, table, h[:_NAIVE_BATCH_SIZE.value])
             for h, _ in batches[:1]]
    naive = functools.partial(naive_beam_search, model, codebook_sizes=sizes,
                              beam_size=beam)
    runs.append(Run(num_items, "naive", _compiled(naive, calls), calls,
                    _NAIVE_BATCH_SIZE.value))
  return runs


def main(argv):
  del argv
  print(f"jax {jax.__version__} on {jax.devices()[0].platform}; beam "
        f"{_BEAM_SIZE.value}, batch {_BATCH_SIZE.value} users (naive: "
        f"{_NAIVE_BATCH_SIZE.value}), history {_HISTORY.value} items, "
        "d_model 128, 4 layers, history masked (naive: not masked)")
  rng = np.random.default_rng(_SEED.value)
  sizes = [int(s) for s in _SIZES.value]
  runs = [run for n in sizes for run in prepare_size(n, rng)]
  # Rounds over every configuration, keeping each call's best time, so that
  # other work on a shared machine slows no configuration more than another.
  for run in runs:
    run.time_round()  # warm-up
  for _ in range(_REPEATS.value):
    for run in runs:
      run.time_round()
  table = {(run.size, run.name): run.users_per_second for run in runs}
  names = list(dict.fromkeys(run.name for run in runs))
  print("\n== users/s (decoder: the model alone, no search) ==")
  print("items       " + "  ".join(f"{name:>8s}" for name in names))
  for n in sizes:
    print(f"{n:<11,d} " + "  ".join(f"{table[n, name]:8.1f}" for name in names))
  smallest, largest = min(sizes), max(sizes)
  for name in _LAYOUTS.value:
    line = (f"{name}: time per user at {largest:,} items = "
            f"{table[smallest, name] / table[largest, name]:.2f}x that at "
            f"{smallest:,}")
    if _NAIVE.value:
      line += (f"; {table[largest, name] / table[largest, 'naive']:.1f}x "
               f"faster than naive at {largest:,}")
    print(line)


if __name__ == "__main__":
  app.run(main)
