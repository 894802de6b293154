"""grain pipeline of training windows, turned into code-token sequences."""

import grain
import numpy as np

from jaxrec.semantic_ids.vocab import item_sequences_to_tokens


def training_iterator(windows: np.ndarray, item_tokens: np.ndarray, *,
                      global_batch_size: int, seed: int
                      ) -> grain.DatasetIterator:
  """Endless, reshuffled-every-epoch global batches.

  Every process runs the same pipeline (all windows, shuffled with the same
  seed) and so holds every global batch in full; `sharding.global_array`
  gives each device its rows. The batches, and so training, are the same
  whatever the number of processes and the order of the mesh's devices.

  windows: [num_windows, window] item indices, right-padded with -1.
  item_tokens: [num_items, levels] each item's code tokens.
  Yields {"tokens": [global_batch_size, window * levels]}.
  Deterministic for a seed; the iterator's state is checkpointable.
  """
  if len(windows) < global_batch_size:
    raise ValueError(f"only {len(windows)} training windows for a global "
                     f"batch of {global_batch_size}")
  dataset = (
      grain.MapDataset.source(windows)
      .shuffle(seed=seed)
      .repeat(None)
      .batch(global_batch_size, drop_remainder=True)
      .map(lambda batch: {
          "tokens": item_sequences_to_tokens(batch, item_tokens)}))
  return iter(dataset.to_iter_dataset())
