"""A seconds-long end-to-end run on MovieLens-100K-shaped data, for tests."""

import os

import ml_collections

from jaxrec import recipes


def get_config() -> ml_collections.ConfigDict:
  config = recipes.load_recipe(
      os.path.join(os.path.dirname(__file__), "ml100k_tiger.py"))
  config.tokenizer.codebook_sizes = (8, 8)
  config.tokenizer.num_iters = 10
  config.tokenizer.encoder.dim = 16
  config.model.num_layers = 1
  config.model.num_heads = 2
  config.model.embed_dim = 32
  config.model.mlp_dim = 64
  config.model.dropout_rate = 0.0
  config.model.tuple_buckets = 64   # exercised end to end by the tests
  config.optimizer.warmup_steps = 5
  config.train.batch_size = 16
  config.train.num_steps = 20
  config.train.log_every_steps = 5
  config.train.checkpoint_every_steps = 10
  config.train.eval_every_steps = 10
  config.eval.batch_size = 16
  return config
