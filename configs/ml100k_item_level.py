"""MovieLens-100K with the item-level model family: the default recipe.

  python -m jaxrec.main --config=configs/ml100k_item_level.py[:ENCODER] \
      --workdir=DIR

One Transformer position per history item (its codes' embeddings summed,
plus a hashed embedding of its whole code tuple), and a light head that
emits the next item's codes level by level (jaxrec/models/item_level.py).
Histories of 50 items cost less here than 20 do in the decoder-only recipe,
whose sequence is four tokens per item. The model is SASRec-sized (2 layers,
width 64, batch 128) and the recipe keeps configs/ml100k_tiger.py's values
unless set here.

The same user state also scores whole items (`model.item_score_weight`, as
in LIGER), and every item is ranked exactly by log p(codes) + 8 * item score
(`eval.mode="exact"`, `model.item_score_scale`): chosen on validation NDCG@10
(docs/tuning.md, section 7). Without the item score (`item_score_weight=0`,
`tuple_buckets=0`, `eval.mode="beam"`, 2000 steps) it is the earlier
item-level recipe.
"""

import os

import ml_collections

from jaxrec import recipes


def get_config(encoder: str = "collaborative") -> ml_collections.ConfigDict:
  config = recipes.load_recipe(
      os.path.join(os.path.dirname(__file__), "ml100k_tiger.py"), encoder)
  config.data.max_history = 50
  config.model.family = "item_level"
  config.model.num_layers = 2
  config.model.num_heads = 2
  config.model.embed_dim = 64
  config.model.mlp_dim = 256
  config.model.tuple_buckets = 8192
  config.model.item_score_weight = 1.0
  config.model.item_score_scale = 8.0
  config.eval.mode = "exact"
  config.train.batch_size = 128
  config.train.num_steps = 1500
  return config
