"""Dataset names and the config-driven loading (k-core, catalogue cut)."""

import pathlib

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
