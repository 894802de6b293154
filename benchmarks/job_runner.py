"""Runs whole `python -m jaxrec.main` jobs for the benchmark scripts.

A finished job leaves WORKDIR/metrics.json (the test report) and, from here,
WORKDIR/job_time.json: its wall time and the machine it ran on, so a table
assembled later says where its figures came from.
"""

import json
import os
import platform
import subprocess
import sys
import time

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
JOB_TIME = "job_time.json"


def machine(parallel: int) -> str:
  """Where jobs run now, e.g. "1 x NVIDIA H200 (x86_64, 16 CPU cores, ...)"."""
  import jax  # pylint: disable=g-import-not-at-top  (optional until called)
  device = jax.local_devices()[0]
  kind = ("CPU" if device.platform == "cpu"
          else f"{jax.local_device_count()} x {device.device_kind}")
  return (f"{kind} ({platform.machine()}, {os.cpu_count()} CPU cores, "
          f"Python {platform.python_version()}, jax {jax.__version__}, "
          f"{parallel} job{'s' if parallel > 1 else ''} at a time)")


def run_main_job(config: str, workdir: str, overrides: list[str], *,
                 log_path: str, machine_name: str,
                 deadline: float = float("inf")) -> bool:
  """Runs one jaxrec.main job unless it has finished; True once it has.

  Args:
    config: the --config argument (a recipe file, optionally with `:ARG`).
    workdir: the job's --workdir.
    overrides: `key=value` strings, passed as --config.key=value.
    log_path: the job's stderr (absl logs) goes here.
    machine_name: recorded in WORKDIR/job_time.json (see `machine`).
    deadline: a time.time() at which the job is stopped (then False).

  Raises:
    subprocess.CalledProcessError: the job failed (its log says why).
  """
  if os.path.exists(os.path.join(workdir, "metrics.json")):
    return True
  if time.time() >= deadline:
    return False
  command = [sys.executable, "-m", "jaxrec.main", f"--config={config}",
             f"--workdir={workdir}",
             *[f"--config.{override}" for override in overrides]]
  print(f"[jobs] {' '.join(command[1:])}", flush=True)
  start = time.time()
  with open(log_path, "w") as log:
    job = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL,
                           stderr=log)
    try:
      job.wait(timeout=None if deadline == float("inf")
               else max(deadline - time.time(), 1.0))
    except subprocess.TimeoutExpired:
      job.kill()
      job.wait()
      print(f"[jobs] stopped at the deadline: {workdir}", flush=True)
      return False
  if job.returncode:
    raise subprocess.CalledProcessError(job.returncode, command)
  with open(os.path.join(workdir, JOB_TIME), "w") as f:
    json.dump({"job_minutes": (time.time() - start) / 60,
               "machine": machine_name}, f)
  return True


def job_time(workdir: str) -> dict:
  """WORKDIR/job_time.json, or NaN minutes and no machine if it is missing."""
  path = os.path.join(workdir, JOB_TIME)
  if not os.path.exists(path):
    return {"job_minutes": float("nan"), "machine": None}
  with open(path) as f:
    return json.load(f)


def mean_std(values) -> str:
  """"0.1234 ± 0.0056" over the non-NaN values ("n/a" if none; one: as is)."""
  values = np.asarray(values, np.float64)
  if np.isnan(values).all():
    return "n/a"
  if len(values) == 1:
    return f"{values[0]:.4f}"
  return f"{np.nanmean(values):.4f} ± {np.nanstd(values):.4f}"
