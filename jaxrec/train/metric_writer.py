"""Run logging: metrics.jsonl, TensorBoard event files and a progress line.

Only process 0 writes. TensorBoard events are written with tensorboardX, so no
TensorFlow is needed. Cloud Storage has no appends: there metrics.jsonl is
rewritten whole at each write.
"""

import json
import os
import re
import time

import jax
from absl import logging
from etils import epath
from tensorboardX import SummaryWriter


class MetricWriter:
  """Appends `{"step": s, name: value, ...}` lines and TensorBoard scalars.

  A run resumed from the checkpoint at `resume_step` first drops the lines it
  logged after that step, so the file ends up as an uninterrupted run's;
  TensorBoard is told to hide the scalars logged after it.
  """

  def __init__(self, workdir: str, resume_step: int = 0):
    self._enabled = jax.process_index() == 0
    if not self._enabled:
      return
    self._jsonl_path = epath.Path(workdir) / "metrics.jsonl"
    self._lines = _lines_up_to(self._jsonl_path, resume_step)
    self._jsonl_path.write_text("".join(self._lines))
    # Its own event file (tensorboardX names files by the second, and a
    # writer started in the same second as the last would truncate its
    # file); a resumed run tells TensorBoard to hide the old file's events
    # after resume_step, as metrics.jsonl drops them.
    self._tensorboard = SummaryWriter(
        os.path.join(workdir, "tensorboard"),
        purge_step=resume_step + 1 if resume_step else None,
        filename_suffix=f".{os.getpid()}.{time.time_ns()}")

  def write(self, step: int, metrics: dict[str, float]) -> None:
    if not self._enabled:
      return
    scalars = {name: float(value) for name, value in metrics.items()}
    line = json.dumps({"step": int(step), **scalars}) + "\n"
    self._lines.append(line)
    if "://" not in os.fspath(self._jsonl_path):  # a local file: append
      with self._jsonl_path.open("a") as f:
        f.write(line)
    else:
      self._jsonl_path.write_text("".join(self._lines))
    for name, value in scalars.items():
      self._tensorboard.add_scalar(tensorboard_tag(name), value, step)

  def close(self) -> None:
    if self._enabled:
      self._tensorboard.close()


def tensorboard_tag(name: str) -> str:
  """`name` as a TensorBoard tag: characters other than [A-Za-z0-9_./-]
  become "_" ("valid/ndcg@10" -> "valid/ndcg_10"), as tensorboardX would
  do itself, with a log line per scalar written."""
  return re.sub(r"[^A-Za-z0-9_./-]", "_", name)


def _lines_up_to(jsonl_path: epath.Path, step: int) -> list[str]:
  """The lines of an earlier attempt up to `step` (a resumed run's start)."""
  if not jsonl_path.exists():
    return []
  kept = []
  for line in jsonl_path.read_text().splitlines(keepends=True):
    try:  # a kill can leave a half-written last line: it is dropped
      if line.endswith("\n") and json.loads(line)["step"] <= step:
        kept.append(line)
    except (json.JSONDecodeError, KeyError):
      continue
  return kept


def format_duration(seconds: float) -> str:
  seconds = int(round(seconds))
  hours, rest = divmod(seconds, 3600)
  minutes, seconds = divmod(rest, 60)
  return f"{hours}h{minutes:02d}m{seconds:02d}s" if hours else f"{minutes}m{seconds:02d}s"


class Progress:
  """Steps/s, tokens/s and ETA over the steps since the last report."""

  def __init__(self, first_step: int, total_steps: int, tokens_per_step: int):
    self._total_steps = total_steps
    self._tokens_per_step = tokens_per_step
    self._last_step = first_step
    self._last_time = time.perf_counter()

  def report(self, step: int, loss: float) -> dict[str, float]:
    now = time.perf_counter()
    steps_per_sec = (step - self._last_step) / max(now - self._last_time, 1e-9)
    self._last_step, self._last_time = step, now
    eta = (self._total_steps - step) / max(steps_per_sec, 1e-9)
    logging.info("[train] step %d/%d  loss %.4f  %.2f steps/s  %.0f tokens/s  "
                 "ETA %s", step, self._total_steps, loss, steps_per_sec,
                 steps_per_sec * self._tokens_per_step, format_duration(eta))
    return {"steps_per_sec": steps_per_sec}
