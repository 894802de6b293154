"""Multi-host set-up: one process per host, started with the same command.

`initialize` calls `jax.distributed.initialize()` when the run spans several
processes: with `--multihost` (what launch_tpu.sh passes) or on a TPU VM whose
environment lists several workers, JAX's own cluster detection finds the
coordinator (Cloud TPU, SLURM, ...); elsewhere (CPU clusters, tests) the
coordinator address, process count and id come from flags. Single-process
runs skip it.
"""

import os

import jax
from absl import flags
from absl import logging
from jax.experimental import multihost_utils

def _tpu_pod_worker_count() -> int:
  """Workers of this TPU slice, from the TPU VM's environment (1 if none)."""
  hostnames = os.environ.get("TPU_WORKER_HOSTNAMES", "")
  return len([name for name in hostnames.split(",") if name])


def initialize(coordinator_address: str = "", num_processes: int = 1,
               process_id: int = 0, multihost: bool = False) -> None:
  """Joins the processes of a multi-host run (no-op for a single process)."""
  if coordinator_address:
    if num_processes < 2:
      raise ValueError("--coordinator_address needs --num_processes >= 2")
    if jax.config.jax_platforms in ("cpu",) or os.environ.get(
        "JAX_PLATFORMS") == "cpu":
      # Cross-process collectives on CPU need an explicit implementation.
      jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(coordinator_address=coordinator_address,
                               num_processes=num_processes,
                               process_id=process_id)
  elif multihost or _tpu_pod_worker_count() > 1:
    jax.distributed.initialize()
  else:
    return
  logging.info("process %d of %d, %d local of %d devices",
               jax.process_index(), jax.process_count(),
               jax.local_device_count(), jax.device_count())


def define_flags(flag_values: flags.FlagValues = flags.FLAGS) -> None:
  """The multi-process flags of the commands that run models (main, evaluate,
  recommend); called by the command, never at import."""
  flags.DEFINE_string(
      "coordinator_address", "",
      "host:port of process 0, for multi-process runs outside a TPU pod "
      "(on a pod slice the TPU runtime provides it).", flag_values=flag_values)
  flags.DEFINE_integer("num_processes", 1, "Processes of a multi-process run.",
                       flag_values=flag_values)
  flags.DEFINE_integer("process_id", 0, "This process's index.",
                       flag_values=flag_values)
  flags.DEFINE_bool(
      "multihost", False, "Join a multi-host run found by JAX's cluster "
      "detection (Cloud TPU pod slices); launch_tpu.sh sets it.",
      flag_values=flag_values)


def initialize_from_flags() -> None:
  """`initialize` with the flags of `define_flags`."""
  values = flags.FLAGS
  initialize(values.coordinator_address, values.num_processes,
             values.process_id, values.multihost)


def is_primary() -> bool:
  """True on the process that writes files shared by all (process 0)."""
  return jax.process_index() == 0


def barrier(name: str) -> None:
  """Waits until every process reaches the barrier `name`."""
  if jax.process_count() > 1:
    multihost_utils.sync_global_devices(name)


def primary_first(name: str, stage_fn):
  """Runs `stage_fn` on process 0, then on the others (which reuse its
  files); returns its result on every process."""
  if is_primary():
    result = stage_fn()
  barrier(name)
  if not is_primary():
    result = stage_fn()
  return result
