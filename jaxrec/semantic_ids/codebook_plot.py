"""`codebooks.png`: how a set of code tuples uses its codebooks, at a glance.

One panel per level shows the level's code-usage histogram (items per code,
codes sorted from most to least used, with the uniform count as a dashed line)
under a title line with the level's utilisation, perplexity, collision rate
and largest bucket (of the prefixes up to that level, see
`collisions.quantization_stats`). A last panel shows, for every depth, how
many prefixes are shared by how many items.

Drawn with `matplotlib.figure.Figure` on the Agg canvas: no pyplot, no global
state, no display needed.
"""

from collections.abc import Mapping, Sequence
import io
import math
import os
from typing import Any

from etils import epath
from matplotlib import figure
from matplotlib import ticker
import numpy as np

from jaxrec import workdir as workdir_lib
from jaxrec.semantic_ids import collisions

PLOT_FILENAME = "codebooks.png"
_PER_LEVEL_KEYS = ("utilisation", "perplexity", "collision_rate_per_level",
                   "max_bucket_size_per_level")
_MAX_COLUMNS = 3
_PANEL_INCHES = (4.2, 3.2)
_DPI = 100


def _check_codes(codes: np.ndarray, sizes: Sequence[int]) -> None:
  if codes.ndim != 2 or codes.shape[1] != len(sizes) or not codes.shape[0]:
    raise ValueError(f"item_codes must be [num_items >= 1, num_levels="
                     f"{len(sizes)}], got {list(codes.shape)}")
  if codes.dtype.kind not in "iu":
    raise ValueError(f"item_codes must be integers, got {codes.dtype}")
  if (codes.min(axis=0) < 0).any() or (codes.max(axis=0) >= sizes).any():
    raise ValueError(f"item_codes out of range for codebook sizes {sizes}")


def _check_stats(stats: Mapping[str, Any], num_levels: int) -> None:
  for key in _PER_LEVEL_KEYS:
    if key not in stats:
      raise ValueError(f"stats lack {key!r}; pass collisions."
                       "quantization_stats(item_codes, codebook_sizes)")
    if len(stats[key]) != num_levels:
      raise ValueError(f"stats[{key!r}] has {len(stats[key])} entries for "
                       f"{num_levels} levels of codes")


def _draw_level(ax, codes: np.ndarray, size: int, level: int,
                stats: Mapping[str, Any]) -> None:
  """The sorted code-usage histogram of one level."""
  counts = np.sort(np.bincount(codes, minlength=size))[::-1]
  ranks = np.arange(size + 1)
  ax.stairs(counts, ranks, fill=True, alpha=0.8)
  ax.axhline(len(codes) / size, color="black", linestyle="--", linewidth=0.8,
             label="uniform")
  ax.set_xlim(0, size)
  ax.xaxis.set_major_locator(ticker.MaxNLocator(integer=True))
  ax.set_xlabel("code rank (most used first)")
  ax.set_ylabel("items")
  ax.legend(loc="upper right", fontsize="small")
  ax.set_title(
      f"level {level} ({size} codes)\n"
      f"util {stats['utilisation'][level]:.1%} | "
      f"ppl {stats['perplexity'][level]:.1f} | "
      f"coll {stats['collision_rate_per_level'][level]:.1%} | "
      f"max bucket {stats['max_bucket_size_per_level'][level]}",
      fontsize="medium")


def _draw_buckets(ax, item_codes: np.ndarray) -> None:
  """For each depth: number of prefixes shared by s items, against s."""
  for level, buckets in enumerate(collisions.prefix_bucket_sizes(item_codes)):
    bucket_sizes, num_prefixes = np.unique(buckets, return_counts=True)
    ax.plot(bucket_sizes, num_prefixes, marker="o", markersize=3,
            label=f"depth {level + 1}")
  ax.set_xscale("log")
  ax.set_yscale("log")
  ax.set_xlabel("bucket size (items sharing a prefix)")
  ax.set_ylabel("prefixes")
  ax.legend(loc="upper right", fontsize="small")
  ax.set_title("prefix buckets", fontsize="medium")


def render_codebook_plot(item_codes: np.ndarray,
                         codebook_sizes: Sequence[int],
                         stats: Mapping[str, Any] | None = None) -> bytes:
  """The PNG bytes of the picture described in the module docstring.

  Args:
    item_codes: [num_items, num_levels] integer codes, level l's in
      [0, codebook_sizes[l]).
    codebook_sizes: [num_levels] codebook sizes.
    stats: `collisions.quantization_stats(item_codes, codebook_sizes)` (extra
      keys are ignored); computed when None.

  Returns:
    The PNG file's content.
  """
  codes = np.asarray(item_codes)
  sizes = [int(k) for k in codebook_sizes]
  _check_codes(codes, sizes)
  if stats is None:
    stats = collisions.quantization_stats(codes, sizes)
  _check_stats(stats, len(sizes))
  num_panels = len(sizes) + 1
  cols = min(num_panels, _MAX_COLUMNS)
  rows = math.ceil(num_panels / cols)
  fig = figure.Figure(figsize=(_PANEL_INCHES[0] * cols,
                               _PANEL_INCHES[1] * rows),
                      dpi=_DPI, layout="constrained")
  axes = fig.subplots(rows, cols, squeeze=False).reshape(-1)
  for level, size in enumerate(sizes):
    _draw_level(axes[level], codes[:, level], size, level, stats)
  _draw_buckets(axes[len(sizes)], codes)
  for ax in axes[num_panels:]:
    ax.set_axis_off()
  fig.suptitle(f"{len(codes)} items, codebooks {sizes}")
  buffer = io.BytesIO()
  fig.savefig(buffer, format="png")
  return buffer.getvalue()


def write_codebook_plot(item_codes: np.ndarray,
                        codebook_sizes: Sequence[int],
                        stats: Mapping[str, Any] | None,
                        path: str | os.PathLike[str]) -> epath.Path:
  """Draws the codebook picture into the PNG file `path`; returns the path.

  Args:
    item_codes: [num_items, num_levels] integer codes.
    codebook_sizes: [num_levels] codebook sizes.
    stats: `collisions.quantization_stats` of the same codes, or None.
    path: The PNG file to write (conventionally WORKDIR/vocab/codebooks.png);
      replaced atomically.
  """
  png = render_codebook_plot(item_codes, codebook_sizes, stats)
  return workdir_lib.write_bytes_atomically(path, png)
