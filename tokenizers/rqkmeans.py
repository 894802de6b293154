"""Semantic-ID tokenizer recipe: lexical item encoder + residual k-means.

    python -m jaxrec.tokenize --config=tokenizers/rqkmeans.py \
        --dataset=movielens_100k --workdir=DIR
"""

import ml_collections


def get_config() -> ml_collections.ConfigDict:
  """Returns the RQ-KMeans recipe, sized for MovieLens-100K."""
  config = ml_collections.ConfigDict()
  config.quantizer = "rqkmeans"
  # MovieLens-100K has 1,682 items. Three levels of 32 give 32**3 = 32,768
  # tuples (~19 per item): the first code puts ~53 items behind each prefix,
  # so prefixes are shared and the model can generalise across items, while
  # the second and third levels separate nearly all items, keeping the
  # collision level small. DESIGN's 3 x 256 suits catalogues of 10k+ items;
  # here it would leave ~7 items per first code (sparse training signal per
  # token) and ~10,000 unique tuples per item. Must be <= the number of items.
  config.codebook_sizes = (32, 32, 32)
  config.num_iters = 50  # Lloyd iterations per level.
  config.seed = 0  # Seeds both the encoder's SVD and k-means++.
  config.chunk_size = 8192  # Points per distance block (bounds memory).

  config.encoder = ml_collections.ConfigDict()
  config.encoder.kind = "lexical"
  config.encoder.dim = 64  # Must be < min(num_items, token vocabulary size).
  # Genres are the strongest MovieLens signal, but their idf is low (frequent
  # tokens), so without a boost rare title words would dominate the vectors.
  config.encoder.genre_weight = 3.0
  config.encoder.year_weight = 1.0
  return config
