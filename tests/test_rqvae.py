"""Tests of the RQ-VAE quantizer (jaxrec.semantic_ids.rqvae).

Every training run uses the same small shapes, so they share one compilation.
"""

import jax
import numpy as np
import pytest

from jaxrec.semantic_ids import rqvae

_SIZES = (8, 4)
# TIGER's architecture (the defaults): far smaller MLPs are still reshaping
# their latents after 20 epochs and may merge blobs.
_TRAIN = {"num_epochs": 20, "batch_size": 64, "restart_every": 5, "seed": 0}


def _blobs(num_blobs=8, per_blob=32, dim=16, seed=0):
  """Tight Gaussian blobs around unit vectors: [N, dim] float32, labels [N].

  Tight enough (noise 0.01 vs distances ~1.4) that k-means++ seeds one
  centroid per blob.
  """
  rng = np.random.default_rng(seed)
  centers = rng.normal(size=(num_blobs, dim))
  centers /= np.linalg.norm(centers, axis=1, keepdims=True)
  labels = rng.permutation(np.repeat(np.arange(num_blobs), per_blob))
  x = centers[labels] + 0.01 * rng.normal(size=(len(labels), dim))
  return x.astype(np.float32), labels


def _same_partition(a, b):
  """Whether labelings a and b are equal up to a permutation of labels."""
  pairs = set(zip(np.asarray(a).tolist(), np.asarray(b).tolist()))
  return len(pairs) == len(set(a.tolist())) == len(set(b.tolist()))


@pytest.fixture(scope="module")
def trained():
  x, labels = _blobs()
  codes, info = rqvae.train_rqvae(x, _SIZES, **_TRAIN)
  return x, labels, codes, info


def test_codes_shape_and_info(trained):
  x, _, codes, info = trained
  assert codes.shape == (len(x), 2) and codes.dtype == np.int32
  assert (codes >= 0).all() and (codes < np.array(_SIZES)).all()
  history = info["history"]
  assert all(len(history[k]) == _TRAIN["num_epochs"] for k in
             ("loss", "reconstruction_loss", "epoch_seconds", "num_dead_codes"))
  assert info["seconds_per_epoch"] > 0 and len(info["utilisation"]) == 2
  assert info["reconstruction_loss"] <= info["loss"]


def test_same_seed_gives_identical_codes(trained):
  x, _, codes, info = trained
  again, info_again = rqvae.train_rqvae(x, _SIZES, **_TRAIN)
  np.testing.assert_array_equal(codes, again)
  assert info_again["history"]["loss"] == info["history"]["loss"]
  other, _ = rqvae.train_rqvae(x, _SIZES, **{**_TRAIN, "seed": 1})
  assert not np.array_equal(codes[:, 1], other[:, 1])


def test_blobs_get_one_first_level_code_each(trained):
  _, labels, codes, info = trained
  assert info["utilisation"][0] == 1.0
  assert _same_partition(codes[:, 0], labels)


def test_loss_decreases(trained):
  history = trained[3]["history"]
  assert history["loss"][-1] < 0.2 * history["loss"][0]
  assert history["reconstruction_loss"][-1] < history["reconstruction_loss"][0]
  assert trained[3]["reconstruction_loss"] < history["reconstruction_loss"][0]


def _numpy_codes(params, x):
  """Reference quantization: dense layers, then nearest code per level."""
  z = x
  layers = params["encoder"]
  for i in range(len(layers)):
    z = z @ np.asarray(layers[f"layer_{i}"]["kernel"]) + np.asarray(
        layers[f"layer_{i}"]["bias"])
    if i < len(layers) - 1:
      z = np.maximum(z, 0.0)
  codes = []
  for book in params["codebooks"]:
    book = np.asarray(book)
    code = ((z[:, None] - book[None]) ** 2).sum(-1).argmin(1)
    codes.append(code)
    z = z - book[code]
  return np.stack(codes, 1)


def test_train_codes_are_quantize_of_fitted_params(trained):
  x, _, codes, _ = trained
  params, _ = rqvae.fit_rqvae(x, _SIZES, **_TRAIN)
  np.testing.assert_array_equal(rqvae.quantize(params, x), codes)
  np.testing.assert_array_equal(rqvae.quantize(params, x, chunk_size=50), codes)
  np.testing.assert_array_equal(_numpy_codes(params, x), codes)


def test_codebooks_start_from_kmeans_of_the_latents():
  x, labels = _blobs()
  params = rqvae.init_params(x, _SIZES, jax.random.key(0))
  assert [b.shape for b in params["codebooks"]] == [(8, 32), (4, 32)]
  # The random encoder keeps the blobs apart; k-means finds them.
  assert _same_partition(rqvae.quantize(params, x)[:, 0], labels)


def test_restart_revives_a_dead_code():
  x, _ = _blobs()
  params = rqvae.init_params(x, _SIZES, jax.random.key(0))
  books = [np.array(b) for b in params["codebooks"]]
  books[0][3] = 1e3  # Far from every latent: code 3 of level 0 dies.
  params = {**params, "codebooks": tuple(books)}
  before = rqvae.quantize(params, x)
  assert not (before[:, 0] == 3).any()
  usage = [np.bincount(before[:, l], minlength=k) for l, k in enumerate(_SIZES)]
  assert [int((u == 0).sum()) for u in usage] == [1, 0]
  restarted = rqvae.restart_dead_codes(params, x, usage, jax.random.key(5))
  new_books = [np.asarray(b) for b in restarted["codebooks"]]
  # Only the dead code moved, onto the latent of some item (level 0's
  # residual is the latent itself).
  np.testing.assert_array_equal(np.delete(new_books[0], 3, 0),
                                np.delete(books[0], 3, 0))
  np.testing.assert_array_equal(new_books[1], books[1])
  z = np.asarray(rqvae._encode(params["encoder"], x, 8192))
  assert np.isclose(z, new_books[0][3], atol=1e-6).all(axis=1).any()
  after = rqvae.quantize(restarted, x)
  assert (after[:, 0] == 3).any()
  again = rqvae.restart_dead_codes(params, x, usage, jax.random.key(5))
  np.testing.assert_array_equal(again["codebooks"][0], new_books[0])


def test_training_restarts_are_counted():
  x, _ = _blobs()
  _, info = rqvae.fit_rqvae(x, _SIZES, **_TRAIN)
  dead = info["history"]["num_dead_codes"]
  every = _TRAIN["restart_every"]
  restarted = sum(dead[e] for e in range(every - 1, len(dead) - 1, every))
  assert info["num_restarts"] == restarted > 0
  _, no_restart = rqvae.fit_rqvae(x, _SIZES, **{**_TRAIN, "restart_every": 0})
  assert no_restart["num_restarts"] == 0


@pytest.mark.parametrize("embeddings, sizes, match", [
    (np.zeros((10,), np.float32), (2,), r"\[num_items > 0, dim\]"),
    (np.zeros((2, 5, 3), np.float32), (2,), r"\[num_items > 0, dim\]"),
    (np.full((10, 3), np.nan, np.float32), (2,), "NaN or infinite"),
    (np.full((10, 3), np.inf, np.float32), (2,), "NaN or infinite"),
    (np.zeros((10, 3), np.float32), (4, 11),
     r"codebook_sizes\[1\]=11 must be in \[1, num_items=10\]"),
    (np.zeros((10, 3), np.float32), (), "codebook_sizes is empty"),
])
def test_bad_inputs_are_errors(embeddings, sizes, match):
  with pytest.raises(ValueError, match=match):
    rqvae.train_rqvae(embeddings, sizes, num_epochs=1)


@pytest.mark.parametrize("kwargs, match", [
    ({"num_epochs": 0}, "num_epochs must be >= 1"),
    ({"batch_size": 0}, "batch_size must be >= 1"),
    ({"latent_dim": 0}, "latent_dim must be >= 1"),
    ({"restart_every": -1}, "restart_every must be >= 0"),
    ({"learning_rate": 0.0}, "learning_rate must be > 0"),
    ({"hidden_dims": (8, 0)}, "hidden_dims must be positive"),
])
def test_bad_settings_are_errors(kwargs, match):
  with pytest.raises(ValueError, match=match):
    rqvae.train_rqvae(np.zeros((10, 3), np.float32), (2,), **kwargs)
