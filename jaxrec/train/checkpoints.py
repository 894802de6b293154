"""orbax checkpoints of the train state and the data iterator.

Keeps the latest `keep` checkpoints plus the best one by a validation metric;
saves are asynchronous. A checkpoint that cannot be restored (truncated or
corrupt files) is reported, moved aside to `<directory>_corrupt/<step>` and
the previous one is used. Restoring onto an abstract state that carries target
shardings places the arrays directly where the current mesh wants them.
"""

import os

import grain
import orbax.checkpoint as ocp
from absl import logging
from etils import epath

from jaxrec import distributed

BEST_METRIC = "valid/ndcg@10"


def _best_metric(metrics) -> float:
  return metrics[BEST_METRIC]


class Checkpointer:
  """A CheckpointManager with items `state` and `data_iter`."""

  def __init__(self, directory: str, keep: int = 2, async_save: bool = True,
               read_only: bool = False):
    policy = ocp.checkpoint_managers.AnyPreservationPolicy([
        ocp.checkpoint_managers.LatestN(n=keep),
        ocp.checkpoint_managers.BestN(
            get_metric_fn=_best_metric, n=1,
            keep_checkpoints_without_metrics=False),
    ])
    options = ocp.CheckpointManagerOptions(
        best_fn=_best_metric, best_mode="max", preservation_policy=policy,
        enable_async_checkpointing=async_save, read_only=read_only,
        create=not read_only)
    if "://" not in directory:  # orbax wants absolute local paths
      directory = os.path.abspath(directory)
    self._directory = epath.Path(directory)
    self._manager = ocp.CheckpointManager(
        self._directory, options=options, item_names=("state", "data_iter"))

  def latest_step(self) -> int | None:
    return self._manager.latest_step()

  def best_step(self) -> int | None:
    """The step with the best validation metric (the latest if none has one)."""
    return self._manager.best_step()

  def save(self, step: int, state, data_iter: grain.DatasetIterator,
           metrics: dict[str, float] | None = None) -> None:
    self._manager.save(
        step,
        args=ocp.args.Composite(
            state=ocp.args.StandardSave(state),
            data_iter=grain.checkpoint.CheckpointSave(data_iter)),
        metrics=metrics)

  def restore(self, step: int, abstract_state,
              data_iter: grain.DatasetIterator | None = None):
    """Restores `state` (and the iterator in place, when given)."""
    items = {"state": ocp.args.StandardRestore(abstract_state)}
    if data_iter is not None:
      items["data_iter"] = grain.checkpoint.CheckpointRestore(data_iter)
    return self._manager.restore(step, args=ocp.args.Composite(**items)).state

  def restore_latest(self, abstract_state,
                     data_iter: grain.DatasetIterator | None = None):
    """Restores the latest readable checkpoint: (step, state), or (0, None).

    Unreadable checkpoints are logged and moved aside, newest first, until one
    restores.
    """
    for step in sorted(self._manager.all_steps(), reverse=True):
      try:
        return step, self.restore(step, abstract_state, data_iter)
      except Exception as error:  # pylint: disable=broad-except
        # orbax raises many types for damaged files; all mean "unusable".
        self._set_aside(step, error)
    return 0, None

  def _set_aside(self, step: int, error: Exception) -> None:
    corrupt_dir = self._directory.parent / (self._directory.name + "_corrupt")
    target = corrupt_dir / str(step)
    logging.error("checkpoint at step %d in %s cannot be restored (%s: %s); "
                  "moving it to %s and using the previous one", step,
                  self._directory, type(error).__name__, error, target)
    if distributed.is_primary():
      corrupt_dir.mkdir(parents=True, exist_ok=True)
      if target.exists():
        target.rmtree()
      (self._directory / str(step)).rename(target)
    distributed.barrier(f"checkpoint_set_aside_{step}")
    self._manager.reload()

  def reached_preemption(self, step: int) -> bool:
    """True when the cluster announced a preemption (all hosts agree)."""
    return self._manager.reached_preemption(step)

  def wait_until_finished(self) -> None:
    self._manager.wait_until_finished()

  def close(self) -> None:
    self._manager.close()
