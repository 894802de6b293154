"""Two processes on 127.0.0.1 (4 fake CPU devices each) behave as one host.

The 2-process run of the whole job must give the same report as a single
process with 8 devices: same global batches, same sharded evaluation.
"""

import os
import socket
import subprocess

import pytest

from tests import tiny_runs

REPO = tiny_runs.REPO
OVERRIDES = ("--config.train.num_steps=30",
             "--config.train.checkpoint_every_steps=10",
             "--config.train.eval_every_steps=10",
             "--config.model.dropout_rate=0.1")


def _command(workdir, manual_dir, *extra):
  return tiny_runs.tiny_main_command(workdir, manual_dir, *OVERRIDES, *extra)


def _env(devices_per_process):
  env = dict(os.environ, JAX_PLATFORMS="cpu")
  env["XLA_FLAGS"] = (
      f"--xla_force_host_platform_device_count={devices_per_process}")
  return env


def _free_port():
  with socket.socket() as sock:
    sock.bind(("127.0.0.1", 0))
    return sock.getsockname()[1]


@pytest.fixture(scope="module")
def manual_dir(fixture_files):
  return fixture_files


def test_two_processes_match_one_process_with_eight_devices(tmp_path,
                                                            manual_dir):
  single_dir = str(tmp_path / "single")
  single = subprocess.run(_command(single_dir, manual_dir), cwd=REPO,
                          env=_env(8), capture_output=True, text=True,
                          timeout=300)
  assert single.returncode == 0, single.stderr[-5000:]

  multi_dir = str(tmp_path / "multi")
  address = f"127.0.0.1:{_free_port()}"
  processes = [
      subprocess.Popen(
          _command(multi_dir, manual_dir, f"--coordinator_address={address}",
                   "--num_processes=2", f"--process_id={process_id}"),
          cwd=REPO, env=_env(4), stdout=subprocess.PIPE,
          stderr=subprocess.PIPE, text=True)
      for process_id in (0, 1)]
  outputs = [process.communicate(timeout=300) for process in processes]
  for process, (_, stderr) in zip(processes, outputs):
    assert process.returncode == 0, stderr[-5000:]
  assert "process 1 of 2, 4 local of 8 devices" in outputs[1][1]

  assert tiny_runs.read_report(multi_dir) == tiny_runs.read_report(single_dir)
