"""grain pipeline of training windows, turned into code-token sequences."""

import grain
import numpy as np


def item_sequences_to_tokens(item_indices: np.ndarray, item_tokens: np.ndarray
                             ) -> np.ndarray:
  """Item indices [..., num_items_in_seq] (-1 = padding) -> flat code tokens.

  item_tokens: [num_items, num_levels] token ids of every item.
  Returns [..., num_items_in_seq * num_levels] int32, padding -> token 0.
  """
  tokens = np.where(item_indices[..., None] >= 0,
                    item_tokens[np.maximum(item_indices, 0)], 0)
  return tokens.reshape(*item_indices.shape[:-1], -1).astype(np.int32)


def training_iterator(windows: np.ndarray, item_tokens: np.ndarray, *,
                      global_batch_size: int, seed: int, process_index: int,
                      process_count: int) -> grain.DatasetIterator:
  """Endless, reshuffled-every-epoch batches: this process's share of each.

  Every process shuffles all windows with the same seed and takes its own
  consecutive rows of each global batch, so the global batches are the same
  whatever the number of processes (and so is training).

  windows: [num_windows, window] item indices, right-padded with -1.
  Yields {"tokens": [global_batch_size // process_count, window * levels]}.
  Deterministic for a seed; the iterator's state is checkpointable.
  """
  if global_batch_size % process_count:
    raise ValueError(f"batch size {global_batch_size} is not divisible by "
                     f"{process_count} processes")
  if len(windows) < global_batch_size:
    raise ValueError(f"only {len(windows)} training windows for a global "
                     f"batch of {global_batch_size}")
  local_batch_size = global_batch_size // process_count
  dataset = (
      grain.MapDataset.source(windows)
      .shuffle(seed=seed)
      .repeat(None)
      .batch(local_batch_size, drop_remainder=True)
      [process_index::process_count]
      .map(lambda batch: {"tokens": item_sequences_to_tokens(batch, item_tokens)}))
  return iter(dataset.to_iter_dataset())
