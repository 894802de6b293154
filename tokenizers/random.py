"""Random-ID tokenizer recipe (ablation): random codes, no item encoder.

Each item gets uniformly random codes at every level
(`jaxrec.semantic_ids.random_ids`), so shared prefixes carry no content.

    python -m jaxrec.tokenize --config=tokenizers/random.py \
        --dataset=movielens_100k --workdir=DIR
"""

import ml_collections


def get_config() -> ml_collections.ConfigDict:
  """Returns the random-ID recipe, sized for MovieLens-100K."""
  config = ml_collections.ConfigDict()
  config.quantizer = "random"
  # The same shape as tokenizers/rqkmeans.py (see there): MovieLens-100K has
  # 1,682 items and 32**3 = 32,768 tuples, so the comparison with the learnt
  # quantizers changes only how codes are chosen. Must be <= the number of
  # items.
  config.codebook_sizes = (32, 32, 32)
  config.seed = 0  # Seeds the random codes.
  return config
