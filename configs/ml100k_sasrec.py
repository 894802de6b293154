"""SASRec on MovieLens-100K, in the same harness as the generative model.

  python -m jaxrec.main --config=configs/ml100k_sasrec.py --workdir=DIR

Item-ID embeddings, causal self-attention, full-softmax cross-entropy over
all items (Kang & McAuley 2018, with the cross-entropy loss of later work);
same data, split, windows, checkpointing and evaluation as
configs/ml100k_tiger.py, whose values it keeps unless set here. Not tuned yet.
"""

import os

import ml_collections

from jaxrec import recipes


def get_config() -> ml_collections.ConfigDict:
  config = recipes.load_recipe(
      os.path.join(os.path.dirname(__file__), "ml100k_tiger.py"))
  config.tokenizer = recipes.tokenizer_recipe("item_id")
  config.data.max_history = 50       # SASRec's ML-1M setting uses 200
  config.model.num_layers = 2        # SASRec: 2 self-attention blocks
  config.model.num_heads = 1         # SASRec: 1 head
  config.model.embed_dim = 64
  config.model.mlp_dim = 64          # SASRec's point-wise FFN keeps the width
  config.model.dropout_rate = 0.2
  config.model.tuple_buckets = 0     # one token per item: it is the item ID
  config.train.batch_size = 128
  config.train.num_steps = 3000
  return config
