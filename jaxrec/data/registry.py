"""Datasets by name, as `config.data.name` selects them.

A name is `<builder>` or `<builder>/<subset>`:

  movielens_100k                MovieLens-100K (the embedded default)
  movielens_1m                  MovieLens-1M
  amazon_reviews_2014/beauty    Amazon 2014 5-core Beauty (also /sports, /toys)
  recbole_atomic/<dataset>      <dataset>.inter (+ .item) from data.manual_dir
"""

from __future__ import annotations

import os
from typing import Any

import ml_collections

from jaxrec.data import amazon_reviews_2014
from jaxrec.data import dataset
from jaxrec.data import movielens_100k
from jaxrec.data import movielens_1m
from jaxrec.data import recbole_atomic

BUILDERS = {
    "movielens_100k": movielens_100k.MovieLens100K,
    "movielens_1m": movielens_1m.MovieLens1M,
    "amazon_reviews_2014": amazon_reviews_2014.AmazonReviews2014,
    "recbole_atomic": recbole_atomic.RecBoleAtomic,
}
# Every name with a fixed subset; recbole_atomic takes any dataset name.
DATASETS = (
    "movielens_100k",
    "movielens_1m",
    *(f"amazon_reviews_2014/{subset}"
      for subset in amazon_reviews_2014.CATEGORIES),
    "recbole_atomic/<dataset>",
)


def resolve(name: str) -> tuple[type[Any], str | None]:
  """(builder class, subset or None) of a dataset name.

  Raises:
    ValueError: the builder is unknown or the subset is not one of its own.
  """
  builder_name, _, subset = name.partition("/")
  if builder_name not in BUILDERS:
    raise ValueError(f"unknown dataset {name!r}; known: {list(DATASETS)}")
  builder_cls = BUILDERS[builder_name]
  subset = subset or None
  try:
    builder_cls.check_subset(subset)
  except ValueError as err:
    raise ValueError(f"dataset {name!r}: {err}; known: {list(DATASETS)}"
                     ) from None
  return builder_cls, subset


def load(data_config: ml_collections.ConfigDict, workdir: str
         ) -> dataset.InteractionData:
  """Prepares (once) and loads `data_config.name`, then k-core filters it.

  The tfds data directory is `data_config.data_dir`, or WORKDIR/data. The
  k-core thresholds are `data_config.min_user_interactions` and
  `min_item_interactions` (0 = off).
  """
  builder_cls, subset = resolve(data_config.name)
  return dataset.load_interactions(
      builder_cls,
      data_dir=data_config.data_dir or os.path.join(workdir, "data"),
      manual_dir=data_config.manual_dir or None,
      verify_checksums=data_config.verify_checksums,
      subset=subset,
      register_checksums=data_config.register_checksums,
      min_user_interactions=data_config.min_user_interactions,
      min_item_interactions=data_config.min_item_interactions)


def data_config(name: str, data_dir: str = "", manual_dir: str = "",
                min_user_interactions: int = 0, min_item_interactions: int = 0
                ) -> ml_collections.ConfigDict:
  """A `config.data` block for `name` with the run recipes' defaults."""
  resolve(name)  # Fails early on an unknown name.
  return ml_collections.ConfigDict({
      "name": name,
      "data_dir": data_dir,
      "manual_dir": manual_dir,
      "verify_checksums": True,
      "register_checksums": False,
      "min_user_interactions": min_user_interactions,
      "min_item_interactions": min_item_interactions,
  })
