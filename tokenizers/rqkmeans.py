"""Semantic-ID tokenizer recipe: item encoder + residual k-means (RQ-KMeans).

    python -m jaxrec.tokenize --config=tokenizers/rqkmeans.py[:ENCODER] \
        --dataset=movielens_100k --workdir=DIR

ENCODER is an item encoder kind (`jaxrec.semantic_ids.encoders`): lexical
(default), sentence_transformer, collaborative, hybrid (text + collaborative)
or precomputed (then set --config.encoder.embeddings_path and
--config.encoder.item_ids_path).
"""

import ml_collections

from jaxrec.semantic_ids import encoders


def get_config(encoder: str = "lexical") -> ml_collections.ConfigDict:
  """Returns the RQ-KMeans recipe, sized for MovieLens-100K."""
  config = ml_collections.ConfigDict()
  config.quantizer = "rqkmeans"
  # MovieLens-100K has 1,682 items. Three levels of 32 give 32**3 = 32,768
  # tuples (~19 per item): the first code puts ~53 items behind each prefix,
  # so prefixes are shared and the model can generalise across items, while
  # the second and third levels separate most items, keeping the collision
  # level small. DESIGN's 3 x 256 suits catalogues of 10k+ items; here it
  # would leave ~7 items per first code (sparse training signal per token).
  # Each size must be <= the number of items.
  config.codebook_sizes = (32, 32, 32)
  config.num_iters = 50  # Lloyd iterations per level.
  # Balanced clusters (at most ceil(N / K) items per code at each level):
  # fewer items share a full tuple, so the collision level stays short.
  config.balanced = False
  config.seed = 0  # Seeds the encoder and k-means++.
  config.chunk_size = 8192  # Points per distance block (bounds memory).
  config.encoder = encoders.default_config(encoder)
  return config
