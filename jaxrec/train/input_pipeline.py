"""grain pipeline of training windows, turned into code-token sequences."""

import grain
import numpy as np

from jaxrec.semantic_ids.vocab import item_sequences_to_tokens


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
