"""train_and_evaluate: the training loop, with validation-selected checkpoints."""

import dataclasses
import functools
import os

import jax
import ml_collections
import numpy as np
from absl import logging

from jaxrec.evaluation import evaluator as evaluator_lib
from jaxrec.models import generator as generator_lib
from jaxrec.train import checkpoints as checkpoints_lib
from jaxrec.train import input_pipeline
from jaxrec.train import metric_writer as metric_writer_lib
from jaxrec import sharding as sharding_lib
from jaxrec.train import state as state_lib
from jaxrec.train import step as step_lib


class NonFiniteLossError(FloatingPointError):
  """The loss became NaN or Inf; no checkpoint of that state was written."""


class PreemptedError(RuntimeError):
  """The cluster preempted the run after its checkpoint was saved."""


@dataclasses.dataclass
class Experiment:
  """What training and evaluation share: the model and where it lives."""
  model: generator_lib.Generator
  mesh: jax.sharding.Mesh
  rules: tuple
  tx: object
  abstract_state: object        # ShapeDtypeStructs carrying the shardings
  state_sharding: object
  ranker: evaluator_lib.Ranker


def window_tokens(config: ml_collections.ConfigDict, num_levels: int) -> int:
  """Tokens in a training window: max_history + 1 items of num_levels codes."""
  return (config.data.max_history + 1) * num_levels


def build_experiment(config: ml_collections.ConfigDict, vocab,
                     devices: list[jax.Device] | None = None, *,
                     num_trained_items: int | None = None) -> tuple[
                         Experiment, state_lib.TrainState]:
  """Builds the model, mesh and a freshly initialised sharded state.

  The mesh spans `devices` (default: all devices of all processes).
  num_trained_items: when `vocab` is a later catalogue version, how many of
    its items (the first ones) the run was trained with (None: all).
  """
  mesh = sharding_lib.make_mesh(config.mesh, devices=devices)
  rules = sharding_lib.logical_rules(config.sharding_rules)
  model = generator_lib.build_generator(
      config.model, generator_lib.CodeLayout.of(vocab),
      max_items=config.data.max_history + 1, item_codes=vocab.item_codes,
      num_trained_items=num_trained_items)
  tx = state_lib.make_optimizer(config.optimizer, config.train.num_steps)
  state, state_sharding = state_lib.create_train_state(
      model.init, tx, mesh, rules, jax.random.key(config.seed))
  abstract_state = jax.tree.map(
      lambda x, s: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=s),
      state, state_sharding)
  ranker = evaluator_lib.Ranker(
      model, vocab, mesh, rules, state_sharding.params,
      beam_size=config.eval.beam_size, batch_size=config.eval.batch_size,
      mask_history=config.eval.mask_history,
      mode=config.eval.get("mode", "beam"))
  experiment = Experiment(model, mesh, rules, tx, abstract_state,
                          state_sharding, ranker)
  return experiment, state


def _compile_train_step(config, experiment: Experiment):
  tokens_sharding = sharding_lib.logical_sharding(
      experiment.mesh, experiment.rules, "batch", None)
  step_fn = functools.partial(
      step_lib.train_step, model=experiment.model, tx=experiment.tx,
      label_smoothing=config.train.label_smoothing,
      dropout_seed=config.seed + 1)
  jitted = jax.jit(step_fn,
                   in_shardings=(experiment.state_sharding, tokens_sharding),
                   out_shardings=(experiment.state_sharding,
                                  sharding_lib.replicated(experiment.mesh)),
                   donate_argnums=0)
  return jitted, tokens_sharding


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str,
                       training_windows: np.ndarray, valid_set, vocab
                       ) -> tuple[Experiment, checkpoints_lib.Checkpointer]:
  """Trains (or resumes) until `config.train.num_steps`.

  Args:
    config: the run config.
    workdir: checkpoints go to WORKDIR/checkpoints, logs beside them.
    training_windows: [num_windows, max_history + 1] item indices (-1 pad).
    valid_set: the validation EvalSet; its NDCG@10 selects the best step.
    vocab: the SemanticIdVocab.

  Returns:
    The experiment and the checkpointer (its best step is the one to test).
  """
  train_config = config.train
  experiment, state = build_experiment(config, vocab)
  item_tokens = vocab.encode(np.arange(vocab.num_items))
  data_iter = input_pipeline.training_iterator(
      training_windows, item_tokens, global_batch_size=train_config.batch_size,
      seed=config.seed)
  checkpointer = checkpoints_lib.Checkpointer(
      os.path.join(workdir, "checkpoints"), keep=train_config.keep_checkpoints)
  start_step, restored = checkpointer.restore_latest(experiment.abstract_state,
                                                    data_iter)
  if start_step:
    logging.info("[train] resuming from the checkpoint at step %d", start_step)
    state = restored
  train_step, tokens_sharding = _compile_train_step(config, experiment)
  writer = metric_writer_lib.MetricWriter(workdir, resume_step=start_step)
  profiler = _StepProfiler(train_config, workdir)
  num_steps = train_config.num_steps
  progress = metric_writer_lib.Progress(
      start_step, num_steps,
      train_config.batch_size * window_tokens(config, vocab.num_levels))
  logging.info("[train] %d windows, %d steps of %d windows, mesh %s",
               len(training_windows), num_steps, train_config.batch_size,
               dict(experiment.mesh.shape))

  for step in range(start_step + 1, num_steps + 1):
    profiler.before_step(step)
    tokens = sharding_lib.global_array(next(data_iter)["tokens"],
                                       tokens_sharding)
    state, step_metrics = train_step(state, tokens)
    profiler.after_step(step, step_metrics["loss"])
    preempted = checkpointer.reached_preemption(step)
    last = step == num_steps or preempted
    log_now = step % train_config.log_every_steps == 0 or last
    evaluate_now = step % train_config.eval_every_steps == 0 or last
    save_now = evaluate_now or step % train_config.checkpoint_every_steps == 0
    if not (log_now or save_now):
      continue
    loss = float(step_metrics["loss"])
    if not np.isfinite(loss):  # never checkpoint a diverged state
      raise NonFiniteLossError(
          f"loss is {loss} at step {step}; the last good checkpoint is at "
          f"step {checkpointer.latest_step()}")
    if log_now:
      speed = progress.report(step, loss)
      writer.write(step, {"train/loss": loss,
                          "train/grad_norm": float(step_metrics["grad_norm"]),
                          "train/steps_per_sec": speed["steps_per_sec"]})
    if save_now:
      metrics = None
      if evaluate_now:
        valid = evaluator_lib.evaluate(experiment.ranker, state.params, valid_set)
        metrics = {f"valid/{name}": value for name, value in valid.items()}
        writer.write(step, metrics)
        logging.info("[train] step %d  valid recall@10 %.4f  ndcg@10 %.4f",
                     step, valid["recall@10"], valid["ndcg@10"])
      checkpointer.save(step, state, data_iter, metrics)
    if preempted:
      checkpointer.wait_until_finished()
      raise PreemptedError(f"preempted at step {step}; the checkpoint is "
                           "saved, run the same command again to resume")
  checkpointer.wait_until_finished()
  writer.close()
  return experiment, checkpointer


class _StepProfiler:
  """A jax.profiler trace of `profile_num_steps` steps, when the config asks.

  The trace goes to WORKDIR/profile (open it with TensorBoard's profile
  plugin or Perfetto).
  """

  def __init__(self, train_config, workdir: str):
    self._first = train_config.profile_start_step
    self._last = self._first + train_config.profile_num_steps - 1
    self._directory = os.path.join(workdir, "profile")

  def before_step(self, step: int) -> None:
    if self._first > 0 and step == self._first:
      jax.profiler.start_trace(self._directory)

  def after_step(self, step: int, result: jax.Array) -> None:
    if self._first > 0 and step == self._last:
      jax.block_until_ready(result)
      jax.profiler.stop_trace()
      logging.info("[train] profile of steps %d-%d written to %s",
                   self._first, self._last, self._directory)
