"""Semantic IDs recover planted categories (tests/planted_data.py).

Measured on this dataset (seeds 0-4 of the residual k-means, first level of
8 codes, cluster purity = share of items in their code's majority category):
lexical 1.0 for every seed; hybrid 1.0 with balanced clusters (unbalanced
k-means++ sometimes merges two categories: 0.875); on the sparse variant
(each user's first 4 interactions: 2 training items per user) collaborative
IDs fall to 0.49-0.64 while hybrid ones stay at 1.0 (balanced).
"""

import numpy as np
import pytest

from jaxrec import recipes
from jaxrec.data import registry
from jaxrec.data import split as split_lib
from jaxrec.semantic_ids import tokenizer
from tests import planted_data

NUM_CATEGORIES = 8
CATEGORY = planted_data.item_category(NUM_CATEGORIES, 12)


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
  """(data config, workdir) of the planted dataset, prepared once."""
  workdir = tmp_path_factory.mktemp("planted")
  name = planted_data.write_planted_dataset(str(workdir / "files"),
                                            num_categories=NUM_CATEGORIES)
  return registry.data_config(name, manual_dir=str(workdir / "files")), workdir


def _load(planted, max_user_interactions=0):
  config, workdir = planted
  config = config.copy_and_resolve_references()
  config.max_user_interactions = max_user_interactions
  data = registry.load(config, str(workdir))
  split = split_lib.leave_one_out(data.user_items, data.user_timestamps,
                                  data.user_ids)
  return data, split


def _first_codes(data, split, encoder, balanced=False, **encoder_options):
  recipe = recipes.tokenizer_recipe("rqkmeans", encoder)
  recipe.codebook_sizes = (NUM_CATEGORIES, 4)
  recipe.num_iters = 20
  recipe.balanced = balanced
  recipe.encoder.update(encoder_options)
  vocab, _, _ = tokenizer.build_vocab(recipe, data, split.train)
  return vocab.item_codes[:, 0]


def _purity(codes):
  """Share of items in the majority category of their first code."""
  return sum(np.bincount(CATEGORY[codes == code]).max()
             for code in np.unique(codes)) / len(codes)


def _assert_one_code_per_category(codes):
  code_of = {c: set(codes[CATEGORY == c]) for c in range(NUM_CATEGORIES)}
  assert all(len(used) == 1 for used in code_of.values()), code_of
  assert len(set.union(*code_of.values())) == NUM_CATEGORIES, code_of


def test_planted_dataset_loads(planted):
  data, split = _load(planted)
  assert (data.num_users, data.num_items, data.num_interactions) == (
      300, 96, 3600)
  assert data.titles[10] == "cat2 gadget 11" and data.genres[10] == ["cat2"]
  for items in data.user_items:  # Each next item: the next category.
    np.testing.assert_array_equal(
        (CATEGORY[items[1:]] - CATEGORY[items[:-1]]) % NUM_CATEGORIES, 1)
  assert split.num_users == 300


def test_lexical_ids_put_each_category_under_one_code(planted):
  data, split = _load(planted)
  _assert_one_code_per_category(_first_codes(data, split, "lexical", dim=16))


def test_hybrid_ids_put_each_category_under_one_code(planted):
  data, split = _load(planted)
  _assert_one_code_per_category(_first_codes(
      data, split, "hybrid", balanced=True, text_dim=16, collab_dim=16,
      window=2))


def test_sparse_variant_hybrid_holds_where_collaborative_collapses(planted):
  data, split = _load(planted, max_user_interactions=4)
  assert data.num_items == 96 and data.num_interactions == 1200
  assert sum(len(items) for items in split.train) == 600
  collaborative = _first_codes(data, split, "collaborative", balanced=True,
                               dim=16, window=2)
  assert _purity(collaborative) < 0.75
  _assert_one_code_per_category(_first_codes(
      data, split, "hybrid", balanced=True, text_dim=16, collab_dim=16,
      window=2))
