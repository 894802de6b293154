"""Semantic-ID tokenizer recipe: item encoder + RQ-VAE (TIGER).

    python -m jaxrec.tokenize --config=tokenizers/rqvae.py[:ENCODER] \
        --dataset=movielens_100k --workdir=DIR
"""

import ml_collections

from jaxrec.semantic_ids import encoders


def get_config(encoder: str = "lexical") -> ml_collections.ConfigDict:
  """Returns the RQ-VAE recipe, sized for MovieLens-100K."""
  config = ml_collections.ConfigDict()
  config.quantizer = "rqvae"
  # The same shape as tokenizers/rqkmeans.py (see there for why): MovieLens-
  # 100K has 1,682 items; 3 x 32 codes keep ~53 items behind each first code.
  # DESIGN's 3 x 256 suits catalogues of 10k+ items. Must be <= the number of
  # items (the codebooks start from k-means).
  config.codebook_sizes = (32, 32, 32)
  config.seed = 0  # Seeds the encoder's SVD and all of the RQ-VAE's draws.

  config.encoder = encoders.default_config(encoder)

  config.rqvae = ml_collections.ConfigDict()
  config.rqvae.hidden_dims = (512, 256, 128)  # TIGER's encoder; mirrored.
  config.rqvae.latent_dim = 32
  config.rqvae.commitment_weight = 0.25  # beta in ||r - sg(e)||^2.
  # Adam, not TIGER's Adagrad at lr 0.4 for 20k epochs: on ML-100K's 1,682
  # lexical vectors, lr 1e-3 with batches of 256 brings the reconstruction
  # error from ~0.9 to ~0.06 (inputs have unit norm) in 200 epochs, ~15 s on
  # 2 CPU cores, with every code in use.
  config.rqvae.learning_rate = 1e-3
  config.rqvae.num_epochs = 200
  config.rqvae.batch_size = 256
  config.rqvae.restart_every = 10  # Epochs between dead-code restarts; 0: off.
  return config
