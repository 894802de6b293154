"""Device mesh and the logical-axis rules that place arrays on it.

The mesh has three axes, `data`, `fsdp` and `tensor`, sized by `config.mesh`
(-1 fills the remaining devices). Parameters name their dimensions logically
(`embed`, `mlp`, `heads`, `kv`, `vocab`, `position`) and batches use `batch`;
`config.sharding_rules` maps logical names to mesh axes, as in T5X/MaxText.
"""

from typing import Any, Sequence

import flax.linen as nn
import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

MESH_AXES = ("data", "fsdp", "tensor")
LogicalRules = Sequence[tuple[str, Any]]


def mesh_shape(axis_sizes: Sequence[int], num_devices: int) -> tuple[int, ...]:
  """Resolves one -1 in `axis_sizes` so that the product is `num_devices`."""
  sizes = [int(size) for size in axis_sizes]
  if sizes.count(-1) > 1:
    raise ValueError(f"mesh {sizes}: at most one axis may be -1")
  known = int(np.prod([size for size in sizes if size != -1]))
  if -1 in sizes:
    if num_devices % known:
      raise ValueError(f"mesh {sizes} does not divide {num_devices} devices")
    sizes[sizes.index(-1)] = num_devices // known
  if int(np.prod(sizes)) != num_devices:
    raise ValueError(f"mesh {sizes} needs {int(np.prod(sizes))} devices, "
                     f"{num_devices} are available")
  return tuple(sizes)


def make_mesh(mesh_config, devices: Sequence[jax.Device] | None = None) -> Mesh:
  """A mesh with axes (data, fsdp, tensor) from `config.mesh`.

  On CPU the mesh takes `devices` in the order given; on TPU and GPU
  `jax.make_mesh` orders them by topology, which need not be process-major
  (so place host data with `global_array`).
  """
  devices = jax.devices() if devices is None else list(devices)
  shape = mesh_shape((mesh_config.data, mesh_config.fsdp, mesh_config.tensor),
                     len(devices))
  return jax.make_mesh(shape, MESH_AXES, devices=devices,
                       axis_types=(jax.sharding.AxisType.Auto,) * len(shape))


def logical_rules(config_rules) -> tuple[tuple[str, Any], ...]:
  """Config rules (lists from JSON or tuples) -> hashable flax rules."""
  def mesh_axes(target):
    if target is None or isinstance(target, str):
      return target
    return tuple(target)
  return tuple((name, mesh_axes(target)) for name, target in config_rules)


def logical_sharding(mesh: Mesh, rules: LogicalRules, *names: str | None
                     ) -> NamedSharding:
  """The sharding of an array whose dimensions have these logical names."""
  spec = nn.logical_to_mesh_axes(names, rules)
  return NamedSharding(mesh, spec)


def tree_shardings(mesh: Mesh, rules: LogicalRules, logical_specs):
  """PartitionSpecs of logical names (a pytree) -> NamedShardings."""
  return nn.logical_to_mesh_sharding(logical_specs, mesh, rules)


def replicated(mesh: Mesh) -> NamedSharding:
  return NamedSharding(mesh, PartitionSpec())


def global_array(rows: np.ndarray, sharding: jax.sharding.Sharding
                 ) -> jax.Array:
  """A global array of `rows`, which every process holds in full.

  Each device gets the slice of `rows` that its place in the sharding's mesh
  calls for, whatever the order of the mesh's devices over processes.
  rows: [batch, ...] -> a jax.Array of the same shape, laid out by `sharding`.
  """
  return jax.make_array_from_callback(rows.shape, sharding,
                                      lambda index: rows[index])
