r"""The whole job: data -> semantic IDs -> train -> evaluate.

  python -m jaxrec.main --config=configs/ml100k_tiger.py --workdir=DIR \
      [--config.model.num_layers=4 ...]

Re-running the same command on the same DIR resumes where it stopped: the
prepared dataset, the vocabulary and the checkpoints are reused, and a config
that differs from DIR/config.json is an error naming the keys.
"""

import json
import logging as std_logging
import os

import tensorflow_datasets as tfds
from absl import app
from absl import flags
from absl import logging
from ml_collections import config_flags

from jaxrec import distributed
from jaxrec import workdir as workdir_lib
from jaxrec.data import registry
from jaxrec.data import split as split_lib
from jaxrec.evaluation import evaluator as evaluator_lib
from jaxrec.evaluation import metrics as metrics_lib
from jaxrec.evaluation import popularity
from jaxrec.semantic_ids import tokenizer
from jaxrec.train import trainer

_CONFIG = config_flags.DEFINE_config_file(
    "config", None, "Run recipe (an ml_collections file with get_config()).",
    lock_config=True)
_WORKDIR = flags.DEFINE_string("workdir", None, "Directory of this run.")
flags.mark_flags_as_required(["config", "workdir"])


# Libraries whose INFO lines would drown the job's own progress lines; their
# warnings and errors still show.
_QUIET_LIBRARIES = ("/orbax/", "/tensorflow_datasets/", "/grain/", "/jax/")


class _QuietLibraries(std_logging.Filter):

  def filter(self, record: std_logging.LogRecord) -> bool:
    return (record.levelno >= std_logging.WARNING or
            not any(part in record.pathname for part in _QUIET_LIBRARIES))


def _quiet_library_logs() -> None:
  logging.get_absl_handler().addFilter(_QuietLibraries())
  tfds.disable_progress_bar()


def _stage(name: str) -> None:
  logging.info("==== stage: %s ====", name)


def popularity_metrics(split, for_split: str, num_items: int,
                       mask_history: bool) -> dict[str, float]:
  """The most-popular baseline on `for_split`, counting what came before it."""
  sequences = list(split.train)
  if for_split == "test":
    sequences.append(split.valid_target)
  counts = popularity.item_counts(sequences, num_items)
  examples = evaluator_lib.EvalSet.from_split(split, for_split, max_history=1)
  ranked = popularity.most_popular(counts, examples.seen_items,
                                   max(metrics_lib.DEFAULT_CUTOFFS),
                                   exclude_seen=mask_history)
  return metrics_lib.ranking_metrics(ranked, examples.targets)


def _primary_first(name: str, stage_fn):
  """Runs `stage_fn` on process 0, then on the others (which reuse its files)."""
  if distributed.is_primary():
    result = stage_fn()
  distributed.barrier(name)
  if not distributed.is_primary():
    result = stage_fn()
  return result


def write_report(path: str, report: dict) -> None:
  if distributed.is_primary():
    workdir_lib.write_json_atomically(path, report)


def run(config, workdir: str) -> dict:
  """Runs (or resumes) the job in `workdir`; returns the final report."""
  _primary_first("config", lambda: workdir_lib.write_or_check_config(
      config, workdir))

  _stage("data")
  data = _primary_first("data", lambda: registry.load(config.data, workdir))
  split = split_lib.leave_one_out(data.user_items, data.user_timestamps,
                                  data.user_ids)

  _stage("semantic ids")
  vocab = _primary_first("vocab", lambda: tokenizer.build_or_load_vocab(
      config.tokenizer, data, workdir, dataset_name=config.data.name,
      train_sequences=split.train))

  _stage("train")
  max_history = config.data.max_history
  windows = split_lib.training_windows(split.train, max_history + 1)
  valid_set = evaluator_lib.EvalSet.from_split(split, "valid", max_history)
  experiment, checkpointer = trainer.train_and_evaluate(
      config, workdir, windows, valid_set, vocab)

  _stage("evaluate")
  split_name = config.eval.split
  best_step = checkpointer.best_step()
  state = checkpointer.restore(best_step, experiment.abstract_state)
  test_set = evaluator_lib.EvalSet.from_split(split, split_name, max_history)
  model_metrics = evaluator_lib.evaluate(experiment.ranker, state.params,
                                         test_set)
  report = {
      "split": split_name,
      "num_users": test_set.num_users,
      "checkpoint_step": int(best_step),
      "mask_history": bool(config.eval.mask_history),
      **model_metrics,
      "popularity": popularity_metrics(split, split_name, data.num_items,
                                       config.eval.mask_history),
  }
  write_report(os.path.join(workdir, "metrics.json"), report)
  checkpointer.close()
  logging.info("[evaluate] %s (checkpoint %d): %s", split_name, best_step,
               json.dumps({k: v for k, v in report.items()
                           if k.startswith(("recall", "ndcg", "mrr"))}))
  logging.info("[evaluate] most-popular: ndcg@10 %.4f  recall@10 %.4f",
               report["popularity"]["ndcg@10"],
               report["popularity"]["recall@10"])
  return report


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
  _quiet_library_logs()
  distributed.initialize_from_flags()
  run(_CONFIG.value, _WORKDIR.value)


def entry_point():
  app.run(main)


if __name__ == "__main__":
  entry_point()
