"""Item-ID "tokenizer": every item is one token of its own (no semantic IDs).

With it the decoder is SASRec: causal self-attention over item-ID embeddings
and a full softmax over all items; beam search over its single level is the
exact top-K of that softmax. Used by configs/ml100k_sasrec.py.
"""

import ml_collections


def get_config() -> ml_collections.ConfigDict:
  config = ml_collections.ConfigDict()
  config.quantizer = "item_id"
  return config
