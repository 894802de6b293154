"""Hybrid item embeddings: item text next to collaborative signal.

Collaborative (PPMI-SVD) embeddings give the best semantic IDs on dense data
such as MovieLens-100K, but on sparse data most items co-occur too rarely for
their rows to mean much, and text (lexical or sentence) IDs win. The hybrid
row of item i is the concatenation

    [sqrt(w) * text_i,  sqrt(1 - w) * s_i * collab_i],   s_i = c_i / (c_i + k)

of the L2-normalised text row [text_dim] and the L2-normalised collaborative
row [collab_dim], where w = `text_weight`, c_i is how often item i occurs in
the training sequences and k = `shrinkage`. Rare items thus lean on their
text: an item never seen in training has an all-zero collaborative half, and
one seen k times keeps half of its collaborative length. The row's squared
norm is w + (1 - w) * s_i**2 (not renormalised, so shrunk items sit nearer
the text subspace). Pure numpy; the two parts are computed by `encoders`.
"""

from collections.abc import Sequence

import numpy as np


def check_text_weight(text_weight: float) -> float:
  """`text_weight` as a float in [0, 1], else a ValueError naming it."""
  weight = float(text_weight)
  if not 0.0 <= weight <= 1.0:
    raise ValueError(f"encoder.text_weight={text_weight!r} must be in [0, 1]")
  return weight


def check_shrinkage(shrinkage: float) -> float:
  """`shrinkage` as a float >= 0, else a ValueError naming it."""
  value = float(shrinkage)
  if not value >= 0.0:  # Also refuses NaN.
    raise ValueError(f"encoder.shrinkage={shrinkage!r} must be >= 0")
  return value


def item_counts(train_sequences: Sequence[np.ndarray],
                num_items: int) -> np.ndarray:
  """Occurrences of each item in the training sequences: [num_items] int64."""
  counts = np.zeros(num_items, np.int64)
  for sequence in train_sequences:
    counts += np.bincount(np.asarray(sequence, np.int64), minlength=num_items)
  return counts


def collaborative_scale(counts: np.ndarray, shrinkage: float) -> np.ndarray:
  """s = c / (c + k) per item [num_items] float64; 0 where c = 0 (any k)."""
  counts = np.asarray(counts, np.float64)
  shrinkage = check_shrinkage(shrinkage)
  return np.divide(counts, counts + shrinkage, out=np.zeros_like(counts),
                   where=counts > 0)


def l2_normalize_rows(x: np.ndarray) -> np.ndarray:
  """Rows of [n, d] scaled to unit L2 norm; all-zero rows stay zero."""
  x = np.asarray(x, np.float64)
  norms = np.linalg.norm(x, axis=1, keepdims=True)
  return np.divide(x, norms, out=np.zeros_like(x), where=norms > 0)


def combine(text: np.ndarray, collaborative: np.ndarray,
            collab_scale: np.ndarray, text_weight: float) -> np.ndarray:
  """The hybrid rows (see the module docstring).

  Args:
    text: [num_items, text_dim] text embeddings (any scale).
    collaborative: [num_items, collab_dim] collaborative embeddings.
    collab_scale: [num_items] per-item factor s_i on the collaborative half.
    text_weight: w in [0, 1].

  Returns:
    [num_items, text_dim + collab_dim] float32.
  """
  weight = check_text_weight(text_weight)
  text, collaborative = np.asarray(text), np.asarray(collaborative)
  collab_scale = np.asarray(collab_scale, np.float64)
  if (text.ndim != 2 or collaborative.ndim != 2 or
      text.shape[0] != collaborative.shape[0] or
      collab_scale.shape != (text.shape[0],)):
    raise ValueError(
        f"text {text.shape}, collaborative {collaborative.shape} and "
        f"collab_scale {collab_scale.shape} must describe the same items")
  return np.concatenate([
      np.sqrt(weight) * l2_normalize_rows(text),
      np.sqrt(1.0 - weight) * collab_scale[:, None]
      * l2_normalize_rows(collaborative),
  ], axis=1).astype(np.float32)
