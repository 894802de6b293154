"""Datasets by name, as `config.data.name` selects them."""

import os

import ml_collections

from jaxrec.data import dataset
from jaxrec.data import movielens_100k

BUILDERS = {
    "movielens_100k": movielens_100k.MovieLens100K,
}


def load(data_config: ml_collections.ConfigDict, workdir: str
         ) -> dataset.InteractionData:
  """Prepares (once) and loads `data_config.name`.

  The tfds data directory is `data_config.data_dir`, or WORKDIR/data.
  """
  if data_config.name not in BUILDERS:
    raise ValueError(f"unknown dataset {data_config.name!r}; known: "
                     f"{sorted(BUILDERS)}")
  return dataset.load_interactions(
      BUILDERS[data_config.name],
      data_dir=data_config.data_dir or os.path.join(workdir, "data"),
      manual_dir=data_config.manual_dir or None,
      verify_checksums=data_config.verify_checksums)
