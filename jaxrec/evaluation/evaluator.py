"""Ranking users' next items with constrained beam search, sharded over devices.

Users are processed in global batches split over the mesh's batch axes; the
last batch is padded with copies of a real user whose results are dropped, so
every number is the same whatever the device count.
"""

import dataclasses
import functools

import jax
import numpy as np
from jax.experimental import multihost_utils

from jaxrec.decoding import beam_search as beam_search_lib
from jaxrec.decoding import trie as trie_lib
from jaxrec.evaluation import metrics as metrics_lib
from jaxrec.train import input_pipeline
from jaxrec.train import sharding as sharding_lib


@dataclasses.dataclass(frozen=True)
class EvalSet:
  """One split's evaluation examples.

  histories: [num_users, max_history] item indices, left-padded with -1.
  targets: [num_users] the held-out item of each user.
  seen_items: per user, every item interacted with before the target.
  """
  histories: np.ndarray
  targets: np.ndarray
  seen_items: list[np.ndarray]

  @property
  def num_users(self) -> int:
    return len(self.targets)


def _round_up(value: int, multiple: int) -> int:
  return -(-value // multiple) * multiple


class BeamSearchRanker:
  """Top-`beam_size` item lists from a decoder, jit-compiled over a mesh."""

  def __init__(self, model, vocab, mesh, rules, param_sharding, *,
               beam_size: int, batch_size: int, mask_history: bool):
    self.num_items = vocab.num_items
    self._item_tokens = vocab.encode(np.arange(vocab.num_items))
    self._batch_size = batch_size
    self._mask_history = mask_history
    trie = trie_lib.build_trie(vocab.item_codes, vocab.codebook_sizes)
    self._trie = jax.device_put(
        beam_search_lib.DeviceTrie.create(trie, vocab.token_offsets),
        sharding_lib.replicated(mesh))
    self._rows_sharding = sharding_lib.logical_sharding(mesh, rules, "batch", None)
    search = functools.partial(beam_search_lib.beam_search, model,
                               beam_size=beam_size)
    self._search = jax.jit(
        lambda params, trie, history, seen: search(params, trie, history, seen),
        in_shardings=(param_sharding, sharding_lib.replicated(mesh),
                      self._rows_sharding, self._rows_sharding),
        out_shardings=(self._rows_sharding, self._rows_sharding))

  def _global_array(self, rows: np.ndarray) -> jax.Array:
    """This process's share of `rows` (all processes pass the same rows)."""
    per_process = rows.shape[0] // jax.process_count()
    start = jax.process_index() * per_process
    return jax.make_array_from_process_local_data(
        self._rows_sharding, rows[start:start + per_process], rows.shape)

  def rank(self, params, eval_set: EvalSet) -> np.ndarray:
    """Ranked item lists [num_users, beam_size] (best first, -1 = none)."""
    history_tokens = input_pipeline.item_sequences_to_tokens(
        eval_set.histories, self._item_tokens)
    seen_width = 1
    if self._mask_history:
      seen_width = _round_up(max(len(s) for s in eval_set.seen_items), 64)
    seen = beam_search_lib.pad_seen_items(
        eval_set.seen_items if self._mask_history
        else [np.zeros(0, np.int32)] * eval_set.num_users, seen_width)

    num_users = eval_set.num_users
    padded_users = _round_up(num_users, self._batch_size)
    fill = np.zeros(padded_users - num_users, dtype=np.int64)  # copies of user 0
    history_tokens = np.concatenate([history_tokens, history_tokens[fill]])
    seen = np.concatenate([seen, seen[fill]])

    ranked = []
    for start in range(0, padded_users, self._batch_size):
      rows = slice(start, start + self._batch_size)
      items, _ = self._search(params, self._trie,
                              self._global_array(history_tokens[rows]),
                              self._global_array(seen[rows]))
      ranked.append(np.asarray(multihost_utils.process_allgather(items,
                                                                 tiled=True)))
    return np.concatenate(ranked)[:num_users]


def evaluate(ranker: BeamSearchRanker, params, eval_set: EvalSet
             ) -> dict[str, float]:
  """Recall/NDCG@{5,10,20}, MRR@10 and catalogue coverage@10 of the model."""
  ranked = ranker.rank(params, eval_set)
  metrics = metrics_lib.ranking_metrics(ranked, eval_set.targets)
  metrics["coverage@10"] = metrics_lib.coverage(ranked, ranker.num_items)
  # Beam search only returns real, distinct items; -1 marks a list that came
  # up short, which should never happen while the catalogue is large enough.
  metrics["missing_items"] = int((ranked < 0).sum())
  return metrics
