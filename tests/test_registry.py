"""Dataset names and the config-driven loading (k-core, truncation)."""

import pathlib

import numpy as np
import pytest

from jaxrec import recipes
from jaxrec.data import amazon_reviews_2014
from jaxrec.data import movielens_100k
from jaxrec.data import movielens_1m
from jaxrec.data import recbole_atomic
from jaxrec.data import registry

CONFIGS = pathlib.Path(__file__).parents[1] / "configs"
# A 3x3 biclique (users a-c, items x-z), then d on x and w, e on w: with a
# 2-core, e goes, so w (left with d) goes, so d (left with x) goes.
INTER = "user_id:token\titem_id:token\ttimestamp:float\n" + "".join(
    f"{user}\t{item}\t{time}\n" for time, (user, item) in enumerate(
        [(u, i) for u in "abc" for i in "xyz"] +
        [("d", "x"), ("d", "w"), ("e", "w")]))


@pytest.mark.parametrize("name, builder, subset", [
    ("movielens_100k", movielens_100k.MovieLens100K, None),
    ("movielens_1m", movielens_1m.MovieLens1M, None),
    ("amazon_reviews_2014/beauty", amazon_reviews_2014.AmazonReviews2014,
     "beauty"),
    ("amazon_reviews_2014/sports", amazon_reviews_2014.AmazonReviews2014,
     "sports"),
    ("amazon_reviews_2014/toys", amazon_reviews_2014.AmazonReviews2014,
     "toys"),
    ("recbole_atomic/Amazon_Beauty", recbole_atomic.RecBoleAtomic,
     "Amazon_Beauty"),
])
def test_resolve(name, builder, subset):
  assert registry.resolve(name) == (builder, subset)


@pytest.mark.parametrize("name", [
    "movielens", "movielens_100k/x", "amazon_reviews_2014",
    "amazon_reviews_2014/books", "recbole_atomic", "recbole_atomic/a/b"])
def test_unknown_names(name):
  with pytest.raises(ValueError, match="known"):
    registry.resolve(name)


def _config(tmp_path, min_core):
  manual = tmp_path / "manual"
  manual.mkdir(exist_ok=True)
  (manual / "toy.inter").write_text(INTER)
  config = recipes.load_recipe(str(CONFIGS / "ml100k_tiger.py"))
  config.data.name = "recbole_atomic/toy"
  config.data.manual_dir = str(manual)
  config.data.min_user_interactions = min_core
  config.data.min_item_interactions = min_core
  return config.data


def test_default_recipe_keeps_everything(tmp_path):
  data = registry.load(_config(tmp_path, 0), str(tmp_path))
  assert data.user_ids == ["a", "b", "c", "d", "e"]
  assert data.item_ids == ["w", "x", "y", "z"]


def test_kcore_from_the_config_cascades(tmp_path, caplog):
  caplog.set_level("INFO")
  data = registry.load(_config(tmp_path, 2), str(tmp_path))
  assert data.user_ids == ["a", "b", "c"]
  assert data.item_ids == ["x", "y", "z"]
  assert data.num_interactions == 9
  assert "removed 3 interaction(s) and 2 user(s) in 3 round(s)" in caplog.text
  assert "Dropped 1 of 4 item(s)" in caplog.text


# a: times 5 3 3 1 9 in file order (a tie at 3); b: all tied at 2. Item v is
# only a's latest row.
SPARSE_INTER = "user_id:token\titem_id:token\ttimestamp:float\n" + "".join(
    f"{user}\t{item}\t{time}\n" for user, item, time in [
        ("a", "x", 5), ("a", "y", 3), ("a", "z", 3), ("a", "w", 1),
        ("a", "v", 9), ("b", "z", 2), ("b", "y", 2), ("b", "x", 2),
        ("b", "w", 2)])


def _sparse_config(tmp_path, max_user_interactions):
  manual = tmp_path / "manual"
  manual.mkdir(exist_ok=True)
  (manual / "tie.inter").write_text(SPARSE_INTER)
  config = registry.data_config("recbole_atomic/tie", manual_dir=str(manual),
                                max_user_interactions=max_user_interactions)
  return config


def test_max_user_interactions_keeps_each_users_first(tmp_path, caplog):
  caplog.set_level("INFO")
  data = registry.load(_sparse_config(tmp_path, 3), str(tmp_path))
  assert data.item_ids == ["v", "w", "x", "y", "z"]  # v stays, unused.
  assert data.user_ids == ["a", "b"]
  # a in time order: w (1), y (3), z (3), x (5), v (9) -> w, y, z, kept in
  # file order; b all tied: the first three rows of the file.
  for got, want in zip(data.user_items, [[3, 4, 1], [4, 3, 2]]):
    np.testing.assert_array_equal(got, want)
  for got, want in zip(data.user_timestamps, [[3, 3, 1], [2, 2, 2]]):
    np.testing.assert_array_equal(got, want)
  assert "kept 6 of 9 interactions" in caplog.text
  assert "1 of 5 items have none left and stay in the catalogue" in caplog.text


def test_max_user_interactions_off_or_absent_keeps_everything(tmp_path):
  config = _sparse_config(tmp_path, 0)
  full = registry.load(config, str(tmp_path))
  assert full.num_interactions == 9
  del config["max_user_interactions"]  # An older config.
  assert registry.load(config, str(tmp_path)).num_interactions == 9


@pytest.mark.parametrize("value", [-1, 1, 2])
def test_max_user_interactions_bad_value_is_named(tmp_path, value):
  with pytest.raises(ValueError,
                     match=rf"data.max_user_interactions={value} must be 0"):
    registry.load(_sparse_config(tmp_path, value), str(tmp_path))


def test_drop_last_interactions_is_the_validation_variant(tmp_path, caplog):
  caplog.set_level("INFO")
  config = _sparse_config(tmp_path, 0)
  full = registry.load_split(config, str(tmp_path))[1]
  config.drop_last_interactions = 1
  data, shifted = registry.load_split(config, str(tmp_path))
  assert data.num_interactions == 7 and data.num_items == 5
  # a in time order: w y z x v; b (all tied) in file order: z y x w.
  np.testing.assert_array_equal(full.test_target, [0, 1])  # v, w
  np.testing.assert_array_equal(full.valid_target, [2, 2])  # x, x
  np.testing.assert_array_equal(shifted.test_target, full.valid_target)
  np.testing.assert_array_equal(shifted.valid_target, [4, 3])  # z, y
  assert "data.drop_last_interactions=1: kept 7 of 9 interactions" in (
      caplog.text)
  # After max_user_interactions: a keeps w y z, then drops z (y and z tie;
  # z is later in the file); the rest stays in file order: y, w.
  config.max_user_interactions = 3
  data = registry.load(config, str(tmp_path))
  np.testing.assert_array_equal(data.user_items[0], [3, 1])


def test_drop_last_interactions_bad_value_is_named(tmp_path):
  config = _sparse_config(tmp_path, 0)
  config.drop_last_interactions = -1
  with pytest.raises(ValueError,
                     match=r"data.drop_last_interactions=-1 must be 0"):
    registry.load(config, str(tmp_path))


def test_sparse_ml100k_recipe():
  default = recipes.load_recipe(str(CONFIGS / "ml100k_item_level.py"),
                                "hybrid")
  sparse = recipes.load_recipe(str(CONFIGS / "ml100k_sparse.py"))
  assert sparse.data.max_user_interactions == 20
  assert sparse.tokenizer.encoder.kind == "hybrid"
  sparse.data.max_user_interactions = 0
  assert sparse.to_dict() == default.to_dict()
  lexical = recipes.load_recipe(str(CONFIGS / "ml100k_sparse.py"), "lexical")
  assert lexical.tokenizer.encoder.kind == "lexical"
