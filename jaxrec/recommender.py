"""A trained work directory as a Python object: recommend, look up, evaluate.

  import jaxrec
  recommender = jaxrec.Recommender.load("runs/ml100k")   # best checkpoint
  [top] = recommender.recommend([["50", "172", "133"]], k=10)
  top.items, top.scores        # raw item ids, best first, and their scores
  recommender.item_codes(["50", "172"])                # [2, num_levels]
  report = recommender.evaluate("test", mode="exact")  # writes eval_*.json

The catalogue is the newest version of the run's (`jaxrec.catalog`: items
added or removed after training), or the one given to `load`: histories may
hold any item it has ever known; removed items are never recommended.

Everything runs on the run's own mesh (all devices of all processes), with
the generator, vocabulary and decoding that evaluation uses. Item ids are the
dataset's raw ids (strings).
"""

import dataclasses
import time
from collections.abc import Sequence

import jax
import ml_collections
import numpy as np
from etils import epath

from jaxrec import distributed
from jaxrec import workdir as workdir_lib
from jaxrec.data import registry
from jaxrec.evaluation import evaluator as evaluator_lib
from jaxrec.evaluation import popularity
from jaxrec.evaluation import report as report_lib
from jaxrec.semantic_ids import catalog_versions
from jaxrec.train import checkpoints as checkpoints_lib
from jaxrec.train import trainer

BOOTSTRAP_SEED = 0
BOOTSTRAP_RESAMPLES = 1000


class UnknownItemError(KeyError):
  """An item id that is not in the run's catalogue."""


@dataclasses.dataclass(frozen=True)
class Recommendation:
  """One user's list: raw item ids, best first, and their scores (the
  model's log-likelihood of each item; higher is better)."""
  items: list[str]
  scores: list[float]


def _saved_steps(directory: epath.Path) -> list[int]:
  if not directory.is_dir():
    return []
  return sorted(int(path.name) for path in directory.iterdir()
                if path.name.isdigit())


def resolve_checkpoint(checkpointer: checkpoints_lib.Checkpointer,
                       directory: epath.PathLike, which: str | int) -> int:
  """A saved step from "best" (by validation NDCG@10), "latest" or a step."""
  available = _saved_steps(epath.Path(directory))
  which = str(which)
  if which == "best":
    step = checkpointer.best_step()
  elif which == "latest":
    step = checkpointer.latest_step()
  elif which.isdigit():
    step = int(which)
  else:
    raise ValueError(f"checkpoint {which!r}: expected best, latest or a step")
  if step is None or step not in available:
    raise ValueError(f"no checkpoint {which!r} in {directory}; saved steps: "
                     f"{available}")
  return step


class Recommender:
  """The model of a work directory at one checkpoint. Build with `load`."""

  def __init__(self, workdir: str, config: ml_collections.ConfigDict,
               catalog: catalog_versions.CatalogVersion,
               experiment: trainer.Experiment, params, checkpoint_step: int):
    self.workdir = str(workdir)
    self.config = config
    self.catalog = catalog
    self.vocab = catalog.vocab
    self.checkpoint_step = checkpoint_step
    self._experiment = experiment
    self._params = params
    self._rankers = {}
    self._index_of = {item_id: index
                      for index, item_id in enumerate(self.vocab.item_ids)}

  @classmethod
  def load(cls, workdir: str, checkpoint: str | int = "best",
           catalog_version: int | None = None, *,
           item_score_scale: float | None = None) -> "Recommender":
    """Restores `checkpoint` ("best", "latest" or a step) of `workdir`, with
    catalogue version `catalog_version` (None: the newest).

    item_score_scale: decode with this weight on the item score instead of
      the run's `model.item_score_scale` (item-level models trained with
      `model.item_score_weight` > 0; see jaxrec/models/item_level.py).

    Raises:
      FileNotFoundError: `workdir` has no config, vocabulary or checkpoints.
      ValueError: no such checkpoint or catalogue version (the message lists
        the saved ones), or an item_score_scale for a run without an item
        score.
    """
    config = workdir_lib.load_config(workdir)
    if item_score_scale is not None:
      if not config.model.get("item_score_weight", 0.0):
        raise ValueError(
            f"item_score_scale={item_score_scale}: {workdir} has no item "
            "score (its model.item_score_weight is 0)")
      with config.unlocked():
        config.model.item_score_scale = float(item_score_scale)
    catalog = catalog_versions.load(workdir, catalog_version)
    trained_vocab = (catalog if catalog.number == 0 else
                     catalog_versions.load(workdir, 0)).vocab
    experiment, _ = trainer.build_experiment(
        config, catalog.vocab, num_trained_items=trained_vocab.num_items)
    directory = epath.Path(workdir) / "checkpoints"
    checkpointer = checkpoints_lib.Checkpointer(str(directory), read_only=True)
    try:
      step = resolve_checkpoint(checkpointer, directory, checkpoint)
      params = checkpointer.restore(step, experiment.abstract_state).params
    finally:
      checkpointer.close()
    return cls(workdir, config, catalog, experiment, params, step)

  @property
  def item_ids(self) -> tuple[str, ...]:
    """Every item the catalogue has known (removed ones too: histories may
    hold them), in index order."""
    return self.vocab.item_ids

  @property
  def removed_item_ids(self) -> frozenset[str]:
    """Items of `item_ids` that are never recommended."""
    return self.catalog.removed

  @property
  def params(self):
    """The restored model parameters (sharded over the mesh), for
    `ranker(...).rankings(params, eval_set)` on custom evaluation sets."""
    return self._params

  @property
  def default_mode(self) -> str:
    """How the run ranks unless told: its config.eval.mode ("beam" or
    "exact")."""
    return self.config.eval.get("mode", "beam")

  @property
  def max_history(self) -> int:
    """How many of a history's latest items the model reads."""
    return int(self.config.data.max_history)

  def item_indices(self, item_ids: Sequence[str]) -> np.ndarray:
    """Raw ids -> dense indices [n] int32.

    Raises:
      UnknownItemError: naming the first id that is not in the catalogue.
    """
    indices = np.empty(len(item_ids), np.int32)
    for position, item_id in enumerate(item_ids):
      index = self._index_of.get(str(item_id))
      if index is None:
        raise UnknownItemError(f"unknown item id {item_id!r} (position "
                               f"{position}); the catalogue has "
                               f"{self.vocab.num_items} items")
      indices[position] = index
    return indices

  def item_codes(self, item_ids: Sequence[str]) -> np.ndarray:
    """Raw ids -> their semantic IDs [n, num_levels] int32 (codes, not
    tokens; the last level is the collision level)."""
    return np.asarray(self.vocab.item_codes[self.item_indices(item_ids)])

  def ranker(self, *, mode: str | None = None, beam_size: int | None = None,
             batch_size: int | None = None, mask_history: bool | None = None,
             layout: str = "csr") -> evaluator_lib.Ranker:
    """A compiled `Ranker` for these settings (cached; defaults: config.eval).
    """
    eval_config = self.config.eval
    mode = mode or self.default_mode
    key = (mode, beam_size or eval_config.beam_size,
           batch_size or eval_config.batch_size,
           eval_config.mask_history if mask_history is None else mask_history,
           layout)
    if key not in self._rankers:
      experiment = self._experiment
      self._rankers[key] = evaluator_lib.Ranker(
          experiment.model, self.vocab, experiment.mesh, experiment.rules,
          experiment.state_sharding.params, beam_size=key[1],
          batch_size=key[2], mask_history=key[3], mode=mode, layout=layout,
          active_items=self.catalog.active_indices)
    return self._rankers[key]

  def recommend(self, histories: Sequence[Sequence[str]], k: int = 10, *,
                exclude_seen: bool = True, mode: str | None = None,
                batch_size: int | None = None) -> list[Recommendation]:
    """The top-`k` items after each history.

    Args:
      histories: per user, raw item ids, oldest first (at least one); the
        model reads the latest `max_history` of them.
      k: list length, at most the beam size (config.eval.beam_size, or k if
        larger).
      exclude_seen: leave out items of the history.
      mode: "beam" (constrained beam search) or "exact" (every item scored);
        default: the run's config.eval.mode.
      batch_size: users per device batch (default: config.eval.batch_size).

    Returns:
      One `Recommendation` per history, in order. A list is shorter than k
      only when fewer than k items can be recommended.

    Raises:
      UnknownItemError: an id is not in the catalogue.
      ValueError: an empty history, k < 1, or an unknown mode.
    """
    if k < 1:
      raise ValueError(f"k must be >= 1, got {k}")
    mode = mode or self.default_mode
    if mode not in ("beam", "exact"):
      raise ValueError(f"mode must be 'beam' or 'exact', got {mode!r}")
    sequences = []
    for user, history in enumerate(histories):
      if not len(history):
        raise ValueError(f"history {user} is empty")
      try:
        sequences.append(self.item_indices(history))
      except UnknownItemError as error:
        raise UnknownItemError(f"history {user}: {error.args[0]}") from None
    if not sequences:
      return []
    ranker = self.ranker(
        mode=mode, beam_size=max(k, self.config.eval.beam_size),
        batch_size=batch_size, mask_history=exclude_seen)
    rankings = ranker.rankings(
        self._params,
        evaluator_lib.EvalSet.from_sequences(sequences, self.max_history))
    results = []
    for items, scores in zip(rankings.items[:, :k], rankings.scores[:, :k]):
      kept = items >= 0
      results.append(Recommendation(
          [self.vocab.item_ids[i] for i in items[kept]],
          [float(s) for s in scores[kept]]))
    return results

  def evaluate(self, split: str | None = None, mode: str | None = None, *,
               beam_size: int | None = None, batch_size: int | None = None,
               mask_history: bool | None = None, layout: str = "csr",
               drop_recent: int = 0, export_path: str | None = None,
               write: bool = True) -> dict:
    """Ranks every user of `split` (default config.eval.split) and scores it.

    Returns the report: Recall/NDCG/MRR@{5,10,20}, coverage@10, bootstrap
    95% intervals of Recall@10 and NDCG@10, example counts (repeat_targets,
    empty_histories), the invalid-ID rate (unconstrained) and timing. With
    `write`, it also goes to DIR/eval_<split>_<mode>[_drop<N>].json, and with
    `export_path` every user's list to a TSV (`report.export_topk`).

    mode: one of `evaluator.MODES` (default: the run's config.eval.mode).
    drop_recent: an ablation; each history's N latest items are left out of
      the model's input (they stay masked).
    """
    split_name = split or self.config.eval.split
    mode = mode or self.default_mode
    data, users = registry.load_split(self.config.data, self.workdir)
    self.vocab.check_fingerprint(data.fingerprint,
                                 str(workdir_lib.vocab_path(self.workdir)))
    eval_set = evaluator_lib.EvalSet.from_split(
        users, split_name, self.max_history, drop_recent)
    ranker = self.ranker(mode=mode, beam_size=beam_size,
                         batch_size=batch_size, mask_history=mask_history,
                         layout=layout)
    start = time.perf_counter()
    rankings = ranker.rankings(self._params, eval_set)
    seconds = time.perf_counter() - start
    report = {
        "split": split_name,
        "mode": mode,
        "checkpoint_step": int(self.checkpoint_step),
        "catalog_version": self.catalog.number,
        "num_users": eval_set.num_users,
        "num_items": self.catalog.num_active,
        "beam_size": rankings.items.shape[1],
        "mask_history": ranker.mask_history,
        "drop_recent": drop_recent,
        **({"item_score_scale": float(
            self.config.model.get("item_score_scale", 1.0))}
           if self.config.model.get("item_score_weight", 0.0) else {}),
        **evaluator_lib.metrics_of(
            rankings.items, eval_set.targets, self.catalog.num_active, mode,
            popularity.item_counts(users.train, self.vocab.num_items)),
        **evaluator_lib.example_counts(eval_set),
        **evaluator_lib.bootstrap_intervals(
            rankings.items, eval_set.targets, seed=BOOTSTRAP_SEED,
            num_resamples=BOOTSTRAP_RESAMPLES),
        "bootstrap": {"seed": BOOTSTRAP_SEED,
                      "resamples": BOOTSTRAP_RESAMPLES},
        "trie_bytes": ranker.trie_nbytes,
        "trie_bytes_per_item": ranker.trie_nbytes / self.catalog.num_active,
        "seconds": seconds,
        "num_devices": jax.device_count(),
    }
    if write and distributed.is_primary():
      workdir_lib.write_json_atomically(
          epath.Path(self.workdir) / report_lib.report_filename(
              split_name, mode, drop_recent), report)
      if export_path:
        report_lib.export_topk(export_path, rankings, users.user_ids,
                               self.vocab.item_ids)
    return report
