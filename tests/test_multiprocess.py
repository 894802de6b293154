"""Two processes on 127.0.0.1 (4 fake CPU devices each) behave as one host.

The 2-process run of the whole job must give the same report as a single
process with 8 devices: same global batches, same sharded evaluation. On a
mesh whose devices interleave the processes (not process-major), rankings,
global batches and a trained model must match a single process too.
"""

import os
import socket
import subprocess
import sys

import numpy as np
import pytest

from tests import tiny_runs

REPO = tiny_runs.REPO
FAMILY = "decoder_only"


def _command(workdir, manual_dir, *extra):
  return tiny_runs.reference_command(workdir, manual_dir, FAMILY, *extra)


def _worker_command(output, *extra):
  return [sys.executable, "-m", "tests.multihost_worker", f"--output={output}",
          *extra]


def _env(devices_per_process):
  env = dict(os.environ, JAX_PLATFORMS="cpu")
  env["XLA_FLAGS"] = (
      f"--xla_force_host_platform_device_count={devices_per_process}")
  return env


def _free_port():
  with socket.socket() as sock:
    sock.bind(("127.0.0.1", 0))
    return sock.getsockname()[1]


def _run_single(command):
  """Runs `command` as one process with 8 devices."""
  result = subprocess.run(command, cwd=REPO, env=_env(8), capture_output=True,
                          text=True, timeout=300)
  assert result.returncode == 0, result.stderr[-5000:]


def _run_two_processes(command_of):
  """Runs command_of(extra_flags) as processes 0 and 1 with 4 devices each.

  Returns each process's stderr.
  """
  address = f"127.0.0.1:{_free_port()}"
  processes = [
      subprocess.Popen(
          command_of(f"--coordinator_address={address}", "--num_processes=2",
                     f"--process_id={process_id}"),
          cwd=REPO, env=_env(4), stdout=subprocess.PIPE,
          stderr=subprocess.PIPE, text=True)
      for process_id in (0, 1)]
  outputs = [process.communicate(timeout=300) for process in processes]
  for process, (_, stderr) in zip(processes, outputs):
    assert process.returncode == 0, stderr[-5000:]
  return [stderr for _, stderr in outputs]


@pytest.fixture(scope="module")
def manual_dir(fixture_files):
  return fixture_files


def test_two_processes_match_one_process_with_eight_devices(
    tmp_path, manual_dir, reference_runs):
  # The one-process run with 8 devices is the session's reference job
  # (tests/tiny_runs.py; test_survival resumes runs against the same one).
  single_dir = reference_runs(FAMILY)
  multi_dir = str(tmp_path / "multi")
  stderrs = _run_two_processes(
      lambda *flags: _command(multi_dir, manual_dir, *flags))
  assert "process 1 of 2, 4 local of 8 devices" in stderrs[1]

  assert tiny_runs.read_report(multi_dir) == tiny_runs.read_report(single_dir)


def test_interleaved_mesh_matches_one_process(tmp_path):
  single, multi = tmp_path / "single.npz", tmp_path / "multi.npz"
  _run_single(_worker_command(single))
  _run_two_processes(lambda *flags: _worker_command(multi, *flags))
  expected, actual = np.load(single), np.load(multi)

  np.testing.assert_array_equal(actual["mesh_processes"], [0, 1] * 4)
  np.testing.assert_array_equal(actual["items"], expected["items"])
  np.testing.assert_allclose(actual["scores"], expected["scores"], rtol=1e-6)
  np.testing.assert_array_equal(actual["tokens"], expected["tokens"])
  params = [name for name in expected.files if name.startswith("params")]
  assert params and sorted(actual.files) == sorted(expected.files)
  for name in params:
    np.testing.assert_allclose(actual[name], expected[name], atol=1e-6,
                               err_msg=name)
