"""Ranking users' next items, sharded over devices, and the metrics of it.

Modes (`MODES`):
  beam           constrained beam search over the catalogue trie;
  exact          every item's exact log-likelihood, top-K (beam search error);
  unconstrained  beam search over each level's whole codebook, no trie.

Users are processed in global batches split over the mesh's batch axes:
every process holds every user, and each device takes the rows of its place
in the mesh (`sharding.global_array`). The last batch is padded with copies
of a real user whose results are dropped. Every process gets every user's
list, and metrics are means of per-user values over all users, so every
number is the same whatever the device or host count.
"""

import dataclasses
import functools

import jax
import numpy as np
from jax.experimental import multihost_utils

from jaxrec import sharding as sharding_lib
from jaxrec.data import split as split_lib
from jaxrec.decoding import active_trie
from jaxrec.decoding import beam_search as beam_search_lib
from jaxrec.decoding import exact as exact_lib
from jaxrec.decoding import masking
from jaxrec.decoding import trie as trie_lib
from jaxrec.evaluation import long_tail
from jaxrec.evaluation import metrics as metrics_lib
from jaxrec.semantic_ids import vocab as vocab_lib

MODES = ("beam", "exact", "unconstrained")
LIST_SIZE = max(metrics_lib.DEFAULT_CUTOFFS)


@dataclasses.dataclass(frozen=True)
class EvalSet:
  """One split's evaluation examples (or histories to recommend for).

  histories: [num_users, max_history] item indices, left-padded with -1.
  targets: [num_users] the held-out item of each user (-1: none, when only
    recommending).
  seen_items: per user, every item interacted with before the target.
  """
  histories: np.ndarray
  targets: np.ndarray
  seen_items: list[np.ndarray]

  @property
  def num_users(self) -> int:
    return len(self.targets)

  @classmethod
  def from_split(cls, split, for_split: str, max_history: int,
                 drop_recent: int = 0) -> "EvalSet":
    """The examples of `for_split` ("valid" or "test") of a SplitData.

    drop_recent: an ablation, how much do the latest items carry? Each
      history's N latest items are left out of the model's input (the
      `max_history` items before them are used instead); they stay in
      `seen_items`, so masking is unchanged.
    """
    return cls(*split_lib.eval_examples(split, for_split, max_history,
                                        drop_recent))

  @classmethod
  def from_sequences(cls, sequences, max_history: int) -> "EvalSet":
    """Histories to recommend for: per user, item indices [n_u], oldest
    first; no targets."""
    histories, seen_items = split_lib.history_matrix(sequences, max_history)
    return cls(histories, np.full(len(sequences), -1, np.int32), seen_items)

  def repeat_targets(self) -> np.ndarray:
    """[num_users] bool: the target is an item the user has already seen.

    With history masking such a target can never be recommended, so the user
    counts as a miss (0) in every metric; reports give their number.
    """
    return np.array([target in seen for target, seen in
                     zip(self.targets, self.seen_items)], dtype=bool)

  def empty_histories(self) -> np.ndarray:
    """[num_users] bool: no item in the model's input (all padding)."""
    return (self.histories < 0).all(axis=1)


@dataclasses.dataclass(frozen=True)
class Rankings:
  """items [num_users, list_size] int32, best first (-1: no item or an
  invalid generated ID) and their scores [num_users, list_size] float32."""
  items: np.ndarray
  scores: np.ndarray


def _round_up(value: int, multiple: int) -> int:
  return -(-value // multiple) * multiple


def _search_fn(model, mode: str, list_size: int, mask_history: bool,
               exact_chunk_size: int):
  """(params, trie, history_tokens, seen) -> (items, scores) for `mode`."""
  if mode == "exact":
    search = functools.partial(exact_lib.exact_top_k, model, k=list_size,
                               chunk_size=exact_chunk_size)
  else:
    search = functools.partial(beam_search_lib.beam_search, model,
                               beam_size=list_size,
                               constrained=mode == "beam")
  if mask_history:
    return lambda params, trie, history, seen: search(params, trie, history,
                                                      seen)
  return lambda params, trie, history: search(params, trie, history, None)


class Ranker:
  """Top-`beam_size` item lists from a decoder, jit-compiled over a mesh.

  Args:
    model, vocab: the decoder and the SemanticIdVocab.
    mesh, rules, param_sharding: where users and parameters live.
    beam_size: beams, and length of the returned lists (>= 20, the largest
      metric cutoff).
    batch_size: users per global batch (a multiple of the batch-axis devices).
    mask_history: leave out items the user has seen (beam and exact modes;
      unconstrained decoding knows no items, so nothing is masked there).
    mode: one of `MODES`.
    layout: trie layout, "csr", "dense" or "auto" (see `trie.DeviceTrie`).
    exact_chunk_size: trie nodes per decoder call in exact mode.
    active_items: [num_active] the vocabulary items that may be returned
      (a catalogue version's); None: all.
  """

  def __init__(self, model, vocab, mesh, rules, param_sharding, *,
               beam_size: int, batch_size: int, mask_history: bool,
               mode: str = "beam", layout: str = "csr",
               exact_chunk_size: int = 256,
               active_items: np.ndarray | None = None):
    if mode not in MODES:
      raise ValueError(f"unknown mode {mode!r}; expected one of {MODES}")
    if beam_size < LIST_SIZE:
      raise ValueError(f"beam_size {beam_size} is below the largest metric "
                       f"cutoff {LIST_SIZE}")
    self.num_items = vocab.num_items
    self.mode = mode
    self.mask_history = mask_history and mode != "unconstrained"
    self._item_tokens = vocab.encode(np.arange(vocab.num_items))
    self._batch_size = batch_size
    if active_items is None:
      trie = trie_lib.build_trie(vocab.item_codes, vocab.codebook_sizes)
    else:
      trie = active_trie.build_active_trie(
          vocab.item_codes, vocab.codebook_sizes, active_items)
    self.trie_nbytes = trie.nbytes
    replicated = sharding_lib.replicated(mesh)
    self._trie = jax.device_put(
        trie_lib.DeviceTrie.create(trie, vocab.token_offsets, layout),
        replicated)
    self._rows_sharding = sharding_lib.logical_sharding(mesh, rules, "batch",
                                                        None)
    search = _search_fn(model, mode, beam_size, self.mask_history,
                        exact_chunk_size)
    row_inputs = (self._rows_sharding,) * (2 if self.mask_history else 1)
    self._search = jax.jit(
        search, in_shardings=(param_sharding, replicated) + row_inputs,
        out_shardings=(self._rows_sharding, self._rows_sharding))

  def _inputs(self, eval_set: EvalSet) -> list[np.ndarray]:
    """History tokens and (when masking) padded seen items, one row a user."""
    inputs = [vocab_lib.item_sequences_to_tokens(eval_set.histories,
                                                      self._item_tokens)]
    if self.mask_history:
      width = _round_up(max([len(s) for s in eval_set.seen_items] + [1]), 64)
      inputs.append(masking.pad_seen_items(eval_set.seen_items, width))
    return inputs

  def rankings(self, params, eval_set: EvalSet) -> Rankings:
    """Every user's ranked items and scores (on every process)."""
    num_users = eval_set.num_users
    padded_users = _round_up(num_users, self._batch_size)
    fill = np.zeros(padded_users - num_users, dtype=np.int64)  # user 0 copies
    inputs = [np.concatenate([rows, rows[fill]])
              for rows in self._inputs(eval_set)]
    items, scores = [], []
    for start in range(0, padded_users, self._batch_size):
      batch = [sharding_lib.global_array(rows[start:start + self._batch_size],
                                         self._rows_sharding)
               for rows in inputs]
      batch_items, batch_scores = self._search(params, self._trie, *batch)
      items.append(np.asarray(multihost_utils.process_allgather(
          batch_items, tiled=True)))
      scores.append(np.asarray(multihost_utils.process_allgather(
          batch_scores, tiled=True)))
    return Rankings(np.concatenate(items)[:num_users],
                    np.concatenate(scores)[:num_users])

  def rank(self, params, eval_set: EvalSet) -> np.ndarray:
    """Ranked item lists [num_users, beam_size] (best first, -1 = none)."""
    return self.rankings(params, eval_set).items


def metrics_of(ranked: np.ndarray, targets: np.ndarray, num_items: int,
               mode: str = "beam", train_counts: np.ndarray | None = None
               ) -> dict:
  """Metrics of ranked lists [num_users, >= 20] against targets [num_users].

  Recall/NDCG/MRR@{5,10,20}, coverage@10, and either the invalid-ID rate at
  5/10/20 (unconstrained) or the number of empty slots (`missing_items`: beam
  search and exact scoring only return real, distinct items; -1 marks a list
  that came up short, which only happens when too few items are allowed).
  With `train_counts` ([num_items] training interactions per item), also the
  long-tail metrics (`long_tail.report`: gini@10 and per-bucket
  Recall/NDCG@10).
  """
  values = metrics_lib.ranking_metrics(ranked, targets)
  values["coverage@10"] = metrics_lib.coverage(ranked, num_items)
  if mode == "unconstrained":
    for k in metrics_lib.DEFAULT_CUTOFFS:
      values[f"invalid_rate@{k}"] = metrics_lib.invalid_rate(ranked, k)
  else:
    values["missing_items"] = int((ranked < 0).sum())
  if train_counts is not None:
    values.update(long_tail.report(ranked, targets, train_counts))
  return values


def example_counts(eval_set: EvalSet) -> dict[str, int]:
  """Users whose example is special, for reports.

  repeat_targets: the target was already seen; with history masking it can
    never be recommended, so these users count as misses.
  empty_histories: nothing left in the model's input (e.g. with drop_recent).
  """
  return {"repeat_targets": int(eval_set.repeat_targets().sum()),
          "empty_histories": int(eval_set.empty_histories().sum())}


def evaluate(ranker: Ranker, params, eval_set: EvalSet,
             train_counts: np.ndarray | None = None) -> dict:
  """The metrics (`metrics_of`) of the ranker on `eval_set`, and
  `example_counts`."""
  ranked = ranker.rank(params, eval_set)
  return {**metrics_of(ranked, eval_set.targets, ranker.num_items,
                       ranker.mode, train_counts),
          **example_counts(eval_set)}


def bootstrap_intervals(ranked: np.ndarray, targets: np.ndarray,
                        names=("recall@10", "ndcg@10"), *, seed: int = 0,
                        num_resamples: int = 1000) -> dict[str, list[float]]:
  """95% bootstrap intervals over users: {"<name>_ci95": [low, high]}."""
  per_user = metrics_lib.per_user_metrics(ranked, targets)
  return {f"{name}_ci95": list(metrics_lib.bootstrap_interval(
      per_user[name], seed=seed, num_resamples=num_resamples))
          for name in names}
