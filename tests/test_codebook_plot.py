"""Tests of the codebook picture (codebooks.png)."""

import struct

import numpy as np
import pytest

from jaxrec.semantic_ids import codebook_plot
from jaxrec.semantic_ids import collisions

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _png_size(data: bytes) -> tuple[int, int]:
  """(width, height) from the IHDR chunk, which follows the signature."""
  assert data[12:16] == b"IHDR"
  return struct.unpack(">II", data[16:24])


def _movielens_like_codes(num_items=1682, seed=0):
  """3 skewed levels of 256 codes plus the collision level: ([N, 4], sizes)."""
  rng = np.random.default_rng(seed)
  codes = np.stack([rng.zipf(1.5, num_items) % 256,
                    rng.integers(0, 256, num_items),
                    rng.integers(0, 16, num_items)], axis=1)
  codes, extra = collisions.add_collision_level(codes)
  return codes, (256, 256, 16, extra)


def test_writes_a_png(tmp_path):
  codes, sizes = _movielens_like_codes()
  stats = collisions.quantization_stats(codes, sizes)
  path = codebook_plot.write_codebook_plot(
      codes, sizes, stats, tmp_path / "vocab" / codebook_plot.PLOT_FILENAME)
  data = path.read_bytes()
  assert path.name == "codebooks.png"
  assert data.startswith(_PNG_SIGNATURE)
  assert 10_000 < len(data) < 2_000_000
  width, height = _png_size(data)
  assert 800 <= width <= 2000 and 400 <= height <= 1500  # 2 rows of 3 panels.
  assert [p.name for p in path.parent.iterdir()] == ["codebooks.png"]


def test_one_level_and_computed_stats(tmp_path):
  codes = np.arange(500)[:, None]
  path = codebook_plot.write_codebook_plot(codes, (500,), None,
                                           tmp_path / "one.png")
  data = path.read_bytes()
  assert data.startswith(_PNG_SIGNATURE)
  width, height = _png_size(data)
  assert width > height  # One row: the level and the bucket panel.


def test_rejects_inconsistent_inputs(tmp_path):
  codes, sizes = _movielens_like_codes(num_items=50)
  stats = collisions.quantization_stats(codes[:, :3], sizes[:3])
  with pytest.raises(ValueError, match="3 entries for 4 levels"):
    codebook_plot.write_codebook_plot(codes, sizes, stats, tmp_path / "a.png")
  with pytest.raises(ValueError, match="lack 'collision_rate_per_level'"):
    codebook_plot.write_codebook_plot(
        codes, sizes, {"utilisation": [1.0] * 4, "perplexity": [1.0] * 4},
        tmp_path / "a.png")
  with pytest.raises(ValueError, match="out of range"):
    codebook_plot.write_codebook_plot(codes, (2, 2, 2, 2), None,
                                      tmp_path / "a.png")
  with pytest.raises(ValueError, match="num_levels=3"):
    codebook_plot.write_codebook_plot(codes, sizes[:3], None,
                                      tmp_path / "a.png")
  assert not (tmp_path / "a.png").exists()
