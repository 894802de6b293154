"""Test set-up: 8 fake CPU devices, so that sharding is really exercised.

XLA reads the flag when the backend starts, so it is set before anything
imports jax.
"""

import os

os.environ["XLA_FLAGS"] = (
    os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=8"
).strip()
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax  # noqa: E402  (after the flag, on purpose)


def pytest_report_header(config):
  del config
  return f"jax {jax.__version__}, devices: {jax.device_count()} x {jax.devices()[0].platform}"
