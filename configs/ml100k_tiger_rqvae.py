"""configs/ml100k_tiger.py with RQ-VAE semantic IDs (tokenizers/rqvae.py).

  python -m jaxrec.main --config=configs/ml100k_tiger_rqvae.py[:ENCODER] \
      --workdir=DIR

Everything but the quantizer is the default recipe's: the same item encoder
and codebook sizes, so the two differ only in how codes are learned.
"""

import os

import ml_collections

from jaxrec import recipes


def get_config(encoder: str = "collaborative") -> ml_collections.ConfigDict:
  config = recipes.load_recipe(
      os.path.join(os.path.dirname(__file__), "ml100k_tiger.py"), encoder)
  item_encoder = config.tokenizer.encoder
  sizes = config.tokenizer.codebook_sizes
  config.tokenizer = recipes.tokenizer_recipe("rqvae")
  config.tokenizer.encoder = item_encoder
  config.tokenizer.codebook_sizes = sizes
  return config
