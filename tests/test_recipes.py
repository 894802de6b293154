"""Recipes resolve by name or path; the paper recipes carry the cited values
and train for one step."""

import functools
import os
import pathlib

import jax
import numpy as np
import pytest

from jaxrec import recipes
from jaxrec import workdir as workdir_lib
from jaxrec.data import registry
from jaxrec.data import split as split_lib
from jaxrec.semantic_ids import tokenizer
from jaxrec.train import input_pipeline
from jaxrec import sharding as sharding_lib
from jaxrec.train import step as step_lib
from jaxrec.train import trainer
from tests import synthetic_amazon
from tests import test_movielens_1m

CONFIGS = pathlib.Path(__file__).parents[1] / "configs"
# Recipe file: (data.name, tiger steps, grid steps, Amazon file stem).
RECIPES = {
    "amazon_beauty_tiger": ("amazon_reviews_2014/beauty", 200_000, 20_000,
                            "Beauty"),
    "amazon_sports_tiger": ("amazon_reviews_2014/sports", 200_000, 20_000,
                            "Sports_and_Outdoors"),
    "amazon_toys_tiger": ("amazon_reviews_2014/toys", 100_000, 10_000,
                          "Toys_and_Games"),
    "ml1m_tiger": ("movielens_1m", 100_000, 10_000, None),
}


def load(name, variant=None):
  return recipes.load(name, variant)


def flat_keys(config):
  return set(workdir_lib._flatten(workdir_lib.config_to_dict(config)))  # pylint: disable=protected-access


def test_run_recipes_are_the_files_in_configs():
  assert recipes.run_recipes() == sorted(
      path.stem for path in CONFIGS.glob("*.py"))
  assert {"tiny", "ml100k_tiger", *RECIPES} <= set(recipes.run_recipes())


@pytest.mark.parametrize("name", ["tiny", "tiny.py"])
def test_recipe_path_of_a_name(name):
  assert os.path.samefile(recipes.recipe_path(name), CONFIGS / "tiny.py")


def test_recipe_path_keeps_an_existing_file(tmp_path, monkeypatch):
  own = tmp_path / "tiny.py"  # same name as a shipped recipe: the file wins
  own.touch()
  assert recipes.recipe_path(str(own)) == str(own)
  monkeypatch.chdir(CONFIGS.parent)
  assert recipes.recipe_path("configs/tiny.py") == "configs/tiny.py"


@pytest.mark.parametrize("name", ["no_such_recipe", "configs/no_such.py"])
def test_unknown_recipe_lists_the_shipped_names(name):
  with pytest.raises(ValueError, match=name) as error:
    recipes.recipe_path(name)
  assert ", ".join(recipes.run_recipes()) in str(error.value)


def test_load_by_name_equals_load_by_path():
  assert recipes.load("tiny") == recipes.load_recipe(str(CONFIGS / "tiny.py"))
  assert load("ml100k_tiger", "lexical").tokenizer.encoder.kind == "lexical"


def test_tokenizer_recipe_by_name():
  config = recipes.tokenizer_recipe("rqkmeans", "lexical")
  assert (config.recipe, config.encoder.kind) == ("rqkmeans", "lexical")


@pytest.mark.parametrize("variant", [None, "grid"])
@pytest.mark.parametrize("name", RECIPES)
def test_recipe_values(name, variant):
  config = load(name, variant)
  data_name, tiger_steps, grid_steps, stem = RECIPES[name]
  assert config.data.name == data_name
  assert (config.data.min_user_interactions,
          config.data.min_item_interactions) == (5, 5)
  assert config.data.max_history == 20
  assert config.tokenizer.recipe == ("rqkmeans" if variant else "rqvae")
  assert config.tokenizer.encoder.kind == "sentence_transformer"
  assert tuple(config.tokenizer.codebook_sizes) == (256, 256, 256)
  assert (config.model.family, config.model.num_layers,
          config.model.num_decoder_layers, config.model.embed_dim,
          config.model.num_heads, config.model.mlp_dim,
          config.model.dropout_rate) == ("encoder_decoder", 4, 4, 128, 2,
                                         1024, 0.1)
  assert config.train.batch_size == 256
  assert config.train.num_steps == (grid_steps if variant else tiger_steps)
  # Same keys as the default recipe (so every stage reads what it expects)
  # outside the tokenizer recipe.
  def outside_tokenizer(keys):
    return {key for key in keys if not key.startswith("tokenizer.")}
  assert outside_tokenizer(flat_keys(config)) == outside_tokenizer(
      flat_keys(load("ml100k_tiger")))


def test_ml100k_long_recipe_changes_only_its_settings():
  default = workdir_lib.config_to_dict(load("ml100k_tiger"))
  long = workdir_lib.config_to_dict(load("ml100k_tiger_long"))
  assert workdir_lib.config_differences(default, long) == [
      "data.max_history: 20 before, 50 now",
      "model.dropout_rate: 0.2 before, 0.1 now",
      "train.label_smoothing: 0.0 before, 0.1 now",
      "train.num_steps: 3000 before, 6000 now",
  ]
  assert load("ml100k_tiger_long", "lexical").tokenizer.encoder.kind == (
      "lexical")


def test_unknown_variant():
  with pytest.raises(ValueError, match="VARIANT"):
    load("amazon_toys_tiger", "fast")


def test_recipe_resolves_every_dataset_name():
  for data_name, *_ in RECIPES.values():
    registry.resolve(data_name)


def _fixture(name, directory):
  """Files in the dataset's format; every user and item has >= 5 rows."""
  stem = RECIPES[name][3]
  if stem is not None:
    return synthetic_amazon.write_amazon_fixture(str(directory), stem)
  movies = [(str(m), f"Movie {m} ({1990 + m})", ("Drama", "Comedy")[m % 2])
            for m in range(1, 7)]
  ratings = [(str(u), str(m), "4", str(1000 * u + m))
             for u in range(1, 11) for m in range(1, 7)]
  return test_movielens_1m.write_manual(
      directory, "extracted", test_movielens_1m.ratings_dat(ratings),
      test_movielens_1m.movies_dat(movies))


def _tiny(config, manual_dir, small_model):
  """The recipe on fixture files, with a small batch and codebooks."""
  config.data.manual_dir = str(manual_dir)
  config.data.verify_checksums = False
  config.train.batch_size = 8
  if small_model:  # Every recipe has the same model: compile it once only.
    config.model.num_layers = 1
    config.model.num_decoder_layers = 1
    config.model.embed_dim = 16
    config.model.mlp_dim = 32
  config.tokenizer.codebook_sizes = (2, 2)
  config.tokenizer.encoder.dim = 2
  config.tokenizer.num_iters = 5
  # The recipes' RQ-VAE (test_rqvae tests it in depth): 20 epochs include
  # the check for dead codes to restart (every 10 epochs) like 200 do.
  config.tokenizer.rqvae.num_epochs = 20
  return config


@pytest.mark.parametrize("name", RECIPES)
def test_recipe_trains_one_step(tmp_path, name):
  config = _tiny(load(name), _fixture(name, tmp_path / "manual"),
                 small_model=name != "amazon_beauty_tiger")
  data = registry.load(config.data, str(tmp_path))
  split = split_lib.leave_one_out(data.user_items, data.user_timestamps,
                                  data.user_ids)
  windows = split_lib.training_windows(split.train,
                                       config.data.max_history + 1)
  assert len(windows) >= config.train.batch_size
  vocab, _, _ = tokenizer.build_vocab(config.tokenizer, data, split.train)
  experiment, state = trainer.build_experiment(config, vocab)
  batches = input_pipeline.training_iterator(
      windows, vocab.encode(np.arange(vocab.num_items)),
      global_batch_size=config.train.batch_size, seed=0)
  tokens_sharding = sharding_lib.logical_sharding(
      experiment.mesh, experiment.rules, "batch", None)
  train_step = jax.jit(
      functools.partial(
          step_lib.train_step, model=experiment.model, tx=experiment.tx,
          label_smoothing=0.0, dropout_seed=1),
      in_shardings=(experiment.state_sharding, tokens_sharding))
  tokens = jax.device_put(next(batches)["tokens"], tokens_sharding)
  state, metrics = train_step(state, tokens)
  assert int(state.step) == 1
  assert np.isfinite(float(metrics["loss"])) and float(metrics["loss"]) > 0
