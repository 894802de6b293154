"""Training survives: SIGKILL and resume, corrupt checkpoints, NaN, new meshes.

The runs are real `python -m jaxrec.main` subprocesses on a fixture dataset.
"""

import json
import os
import shutil
import signal
import subprocess
import time

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
NUM_STEPS = 240
OVERRIDES = (f"--config.train.num_steps={NUM_STEPS}",
             "--config.train.checkpoint_every_steps=20",
             "--config.train.eval_every_steps=80",
             "--config.train.log_every_steps=20",
             "--config.model.dropout_rate=0.1")


def _command(workdir, manual_dir, *extra):
  return tiny_runs.tiny_main_command(workdir, manual_dir, *OVERRIDES, *extra)


def _family_flag(family):
  return (f"--config.model.family={family}",)


def _run(workdir, manual_dir, *extra):
  return subprocess.run(_command(workdir, manual_dir, *extra), cwd=REPO,
                        capture_output=True, text=True, timeout=300)


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
def uninterrupted_runs(tmp_path_factory, manual_dir):
  """family -> the work directory of its uninterrupted run (made once)."""
  runs = {}

  def run(family):
    if family not in runs:
      workdir = str(tmp_path_factory.mktemp(f"uninterrupted_{family}"))
      result = _run(workdir, manual_dir, *_family_flag(family))
      assert result.returncode == 0, result.stderr[-5000:]
      runs[family] = workdir
    return runs[family]
  return run


@pytest.fixture(scope="module")
def uninterrupted(uninterrupted_runs):
  return uninterrupted_runs("decoder_only")


def _assert_same_run(workdir, reference):
  step, params = _final_params(workdir)
  reference_step, reference_params = _final_params(reference)
  assert step == reference_step == NUM_STEPS
  jax.tree.map(np.testing.assert_array_equal, params, reference_params)
  assert tiny_runs.read_report(workdir) == tiny_runs.read_report(reference)
  assert _metrics_lines(workdir) == _metrics_lines(reference)


@pytest.mark.parametrize("family", generator.FAMILIES)
def test_sigkill_and_restart_ends_bitwise_like_an_uninterrupted_run(
    tmp_path, manual_dir, uninterrupted_runs, family):
  workdir = str(tmp_path / "killed")
  flags = _family_flag(family)
  process = subprocess.Popen(_command(workdir, manual_dir, *flags), cwd=REPO,
                             stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
  deadline = time.time() + 240
  while not any(step >= 60 for step in _checkpoint_steps(workdir)):
    assert process.poll() is None, "the run ended before it could be killed"
    assert time.time() < deadline
    time.sleep(0.01)
  process.send_signal(signal.SIGKILL)
  process.wait()
  killed_at = max(_checkpoint_steps(workdir))
  assert killed_at < NUM_STEPS

  result = _run(workdir, manual_dir, *flags)
  assert result.returncode == 0, result.stderr[-5000:]
  assert "resuming from the checkpoint at step" in result.stderr
  _assert_same_run(workdir, uninterrupted_runs(family))


def test_corrupt_latest_checkpoint_falls_back_to_the_previous_one(
    tmp_path, manual_dir, uninterrupted):
  workdir = str(tmp_path / "corrupt")
  shutil.copytree(uninterrupted, workdir)
  latest = os.path.join(workdir, "checkpoints", str(NUM_STEPS), "state")
  for root, _, files in os.walk(latest):
    for name in files:  # truncate every array and metadata file
      with open(os.path.join(root, name), "r+b") as f:
        f.truncate(max(os.path.getsize(f.name) // 2, 1))

  result = _run(workdir, manual_dir)
  assert result.returncode == 0, result.stderr[-5000:]
  assert f"checkpoint at step {NUM_STEPS}" in result.stderr
  assert "cannot be restored" in result.stderr
  assert os.path.isdir(os.path.join(workdir, "checkpoints_corrupt",
                                    str(NUM_STEPS)))
  # Training resumed from the previous checkpoint and reproduced the run.
  _assert_same_run(workdir, uninterrupted)


def test_nan_loss_stops_the_run_naming_the_step(tmp_path, manual_dir):
  workdir = str(tmp_path / "nan")
  result = _run(workdir, manual_dir, "--config.optimizer.learning_rate=1e38",
                "--config.optimizer.warmup_steps=0")
  assert result.returncode != 0
  assert "NonFiniteLossError" in result.stderr
  assert "at step 20" in result.stderr
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
