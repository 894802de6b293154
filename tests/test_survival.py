"""Training survives: SIGKILL and resume, corrupt checkpoints, NaN, new meshes.

The runs are real `python -m jaxrec.main` subprocesses on a fixture dataset.
"""

import json
import os
import shutil
import signal
import subprocess
import time
import warnings

import grain
import jax
import numpy as np
import orbax.checkpoint as ocp
import pytest

from jaxrec import recipes
from jaxrec.models import generator
from jaxrec.semantic_ids import vocab as vocab_lib
from jaxrec.train import checkpoints as checkpoints_lib
from jaxrec.train import trainer
from tests import tiny_runs

REPO = tiny_runs.REPO
# The reference job (tests/tiny_runs.py): a checkpoint every 5 steps,
# validations at 20 and 40, dropout.
NUM_STEPS = tiny_runs.REFERENCE_STEPS
# The killed run dies once its checkpoint at step 15 exists: the third one
# (orbax keeps the latest 2, older ones are deleted), without metrics, and
# before the first validation, whose beam search still has to be traced and
# run (seconds, while the kill follows in milliseconds).
KILL_AFTER_STEP = 15


def _command(workdir, manual_dir, family, *extra):
  return tiny_runs.reference_command(workdir, manual_dir, family, *extra)


def _run(workdir, manual_dir, family, *extra):
  return subprocess.run(_command(workdir, manual_dir, family, *extra),
                        cwd=REPO, capture_output=True, text=True, timeout=600)


def _checkpoint_steps(workdir):
  directory = os.path.join(workdir, "checkpoints")
  if not os.path.isdir(directory):
    return []
  return sorted(int(name) for name in os.listdir(directory) if name.isdigit())


def _final_params(workdir):
  """The parameters of the last checkpoint, as numpy (no mesh needed)."""
  with ocp.CheckpointManager(os.path.join(workdir, "checkpoints"),
                             item_names=("state", "data_iter")) as manager:
    step = manager.latest_step()
    with warnings.catch_warnings():
      # Without targets orbax places the arrays as they were saved, on this
      # process's devices, and warns so; only their values are compared.
      warnings.filterwarnings("ignore", "Sharding info not provided")
      restored = manager.restore(step, args=ocp.args.Composite(
          state=ocp.args.PyTreeRestore()))
  return step, restored.state["params"]


def _metrics_lines(workdir):
  """metrics.jsonl without the wall-clock figures."""
  with open(os.path.join(workdir, "metrics.jsonl")) as f:
    records = [json.loads(line) for line in f]
  for record in records:
    record.pop("train/steps_per_sec", None)
  return records


@pytest.fixture(scope="module")
def manual_dir(fixture_files):
  return fixture_files


@pytest.fixture(scope="module")
def uninterrupted(reference_runs):
  return reference_runs("decoder_only")


def _assert_same_run(workdir, reference):
  step, params = _final_params(workdir)
  reference_step, reference_params = _final_params(reference)
  assert step == reference_step == NUM_STEPS
  jax.tree.map(np.testing.assert_array_equal, params, reference_params)
  assert tiny_runs.read_report(workdir) == tiny_runs.read_report(reference)
  assert _metrics_lines(workdir) == _metrics_lines(reference)


@pytest.mark.parametrize("family", generator.FAMILIES)
def test_sigkill_and_restart_ends_bitwise_like_an_uninterrupted_run(
    tmp_path, manual_dir, reference_runs, family):
  # The uninterrupted run first: the killed run then finds every program it
  # compiles in the session's compilation cache, and writes none there.
  reference = reference_runs(family)
  workdir = str(tmp_path / "killed")
  process = subprocess.Popen(_command(workdir, manual_dir, family), cwd=REPO,
                             stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
  deadline = time.time() + 600  # only against a hang
  while not any(step >= KILL_AFTER_STEP
                for step in _checkpoint_steps(workdir)):
    assert process.poll() is None, "the run ended before it could be killed"
    assert time.time() < deadline
    time.sleep(0.01)
  process.send_signal(signal.SIGKILL)
  process.wait()
  killed_at = max(_checkpoint_steps(workdir))
  assert killed_at < NUM_STEPS

  result = _run(workdir, manual_dir, family)
  assert result.returncode == 0, result.stderr[-5000:]
  assert "resuming from the checkpoint at step" in result.stderr
  _assert_same_run(workdir, reference)


def test_corrupt_latest_checkpoint_falls_back_to_the_previous_one(
    tmp_path, manual_dir, uninterrupted):
  workdir = str(tmp_path / "corrupt")
  shutil.copytree(uninterrupted, workdir)
  latest = os.path.join(workdir, "checkpoints", str(NUM_STEPS), "state")
  for root, _, files in os.walk(latest):
    for name in files:  # truncate every array and metadata file
      with open(os.path.join(root, name), "r+b") as f:
        f.truncate(max(os.path.getsize(f.name) // 2, 1))

  result = _run(workdir, manual_dir, "decoder_only")
  assert result.returncode == 0, result.stderr[-5000:]
  assert f"checkpoint at step {NUM_STEPS}" in result.stderr
  assert "cannot be restored" in result.stderr
  assert os.path.isdir(os.path.join(workdir, "checkpoints_corrupt",
                                    str(NUM_STEPS)))
  # Training resumed from the previous checkpoint and reproduced the run.
  _assert_same_run(workdir, uninterrupted)


def test_nan_loss_stops_the_run_naming_the_step(tmp_path, manual_dir):
  workdir = str(tmp_path / "nan")
  result = _run(workdir, manual_dir, "decoder_only",
                "--config.optimizer.learning_rate=1e38",
                "--config.optimizer.warmup_steps=0")
  assert result.returncode != 0
  assert "NonFiniteLossError" in result.stderr
  assert "at step 5" in result.stderr  # the first logging and checkpoint step
  assert _checkpoint_steps(workdir) == []  # nothing diverged was saved


def test_restore_onto_a_different_mesh(tmp_path, uninterrupted):
  """Train on a (2, 4, 1) mesh, restore on 1 device: the same values."""
  config = recipes.load_recipe(os.path.join(REPO, "configs/tiny.py"))
  vocab = vocab_lib.SemanticIdVocab.load(
      os.path.join(uninterrupted, "vocab", "vocab.json"))
  config.mesh.data, config.mesh.fsdp, config.mesh.tensor = 2, 4, 1
  _, state = trainer.build_experiment(config, vocab)
  iterator = iter(grain.MapDataset.range(4).to_iter_dataset())
  saver = checkpoints_lib.Checkpointer(str(tmp_path), async_save=False)
  saver.save(3, state, iterator)
  saver.close()

  config.mesh.data = config.mesh.fsdp = config.mesh.tensor = 1
  single, _ = trainer.build_experiment(config, vocab,
                                       devices=jax.devices()[:1])
  loader = checkpoints_lib.Checkpointer(str(tmp_path), read_only=True)
  restored = loader.restore(3, single.abstract_state)
  for leaf, original in zip(jax.tree.leaves(restored),
                            jax.tree.leaves(state)):
    assert leaf.sharding.device_set == {jax.devices()[0]}
    assert original.sharding.num_devices == 8
    np.testing.assert_array_equal(np.asarray(leaf), np.asarray(original))
