"""The whole job, data -> semantic IDs -> train -> evaluate, as one function.

`run(config, workdir)` is what `python -m jaxrec.main` calls and what
`jaxrec.run` exports. Re-running it on the same work directory resumes: the
prepared dataset, the vocabulary and the checkpoints are reused, and a config
that differs from DIR/config.json is an error naming the keys.

With `config.data.cold_items` > 0 the job follows the cold-start protocol
(docs/cold_start.md): the latest items by first appearance are held out of
the tokenizer, training and validation, and `jaxrec.cold_start_eval` adds
them to the catalogue after training and reports on them.
"""

import json
import os

import ml_collections
from absl import logging

from jaxrec import cold_start_eval
from jaxrec import distributed
from jaxrec import workdir as workdir_lib
from jaxrec.data import registry
from jaxrec.data import split as split_lib
from jaxrec.evaluation import evaluator as evaluator_lib
from jaxrec.evaluation import popularity
from jaxrec.semantic_ids import tokenizer
from jaxrec.train import trainer


def _stage(name: str) -> None:
  logging.info("==== stage: %s ====", name)


def run(config: ml_collections.ConfigDict, workdir: str) -> dict:
  """Runs (or resumes) the job in `workdir`; returns the final report.

  The report (also written to DIR/metrics.json) holds the `config.eval.split`
  metrics of the checkpoint with the best validation NDCG@10, and those of
  the most-popular baseline under `popularity`.
  """
  distributed.primary_first(
      "config", lambda: workdir_lib.write_or_check_config(config, workdir))

  _stage("data")
  data, split, cold = distributed.primary_first(
      "data", lambda: registry.load_split_and_cold_items(config.data,
                                                         workdir))

  _stage("semantic ids")
  vocab = distributed.primary_first(
      "vocab", lambda: tokenizer.build_or_load_vocab(
          config.tokenizer, data, workdir, dataset_name=config.data.name,
          train_sequences=split.train, data_config=config.data))

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
  if cold is None:
    metrics = {
        **evaluator_lib.evaluate(
            experiment.ranker, state.params, test_set,
            popularity.item_counts(split.train, data.num_items)),
        "popularity": popularity.split_metrics(
            split, split_name, data.num_items, config.eval.mask_history)}
  else:
    metrics = cold_start_eval.evaluate(config, workdir, experiment,
                                       state.params, test_set, cold)
  report = {
      "split": split_name,
      "num_users": test_set.num_users,
      "checkpoint_step": int(best_step),
      "mode": experiment.ranker.mode,
      "mask_history": bool(config.eval.mask_history),
      **metrics,
  }
  if distributed.is_primary():
    workdir_lib.write_json_atomically(os.path.join(workdir, "metrics.json"),
                                      report)
  checkpointer.close()
  logging.info("[evaluate] %s (checkpoint %d): %s", split_name, best_step,
               json.dumps({k: v for k, v in report.items()
                           if k.startswith(("recall", "ndcg", "mrr"))}))
  logging.info("[evaluate] most-popular: ndcg@10 %.4f  recall@10 %.4f",
               report["popularity"]["ndcg@10"],
               report["popularity"]["recall@10"])
  return report
