"""Tests of the semantic-ID pipeline: encoder, residual k-means, collisions.

The vocabulary itself is tested in test_semantic_id_vocab.py.
"""

import importlib.util
import json
import pathlib

import jax
import numpy as np
import pytest

from jaxrec.data import registry
from jaxrec.semantic_ids import collisions
from jaxrec.semantic_ids import lexical_encoder
from jaxrec.semantic_ids import residual_kmeans as rk
from jaxrec.semantic_ids import tokenizer

_RECIPE = pathlib.Path(__file__).parents[1] / "tokenizers" / "rqkmeans.py"


def _blobs(num_clusters=5, per_cluster=20, dim=6, seed=0):
  """Well-separated Gaussian clusters: points [N, dim], true labels [N]."""
  rng = np.random.default_rng(seed)
  centers = 10.0 * rng.normal(size=(num_clusters, dim))
  labels = rng.permutation(np.repeat(np.arange(num_clusters), per_cluster))
  x = centers[labels] + 0.05 * rng.normal(size=(len(labels), dim))
  return x.astype(np.float32), labels


def _same_partition(a, b):
  """Whether labelings a and b are equal up to a permutation of labels."""
  pairs = set(zip(np.asarray(a).tolist(), np.asarray(b).tolist()))
  return len(pairs) == len(set(np.asarray(a).tolist())) == len(
      set(np.asarray(b).tolist()))


def _num_unique_rows(codes):
  return len(np.unique(codes, axis=0))


# ----------------------------------------------------------------- k-means --


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_kmeans_recovers_separated_clusters(seed):
  x, labels = _blobs(seed=seed)
  codes, codebooks = rk.residual_kmeans(x, (5,), num_iters=10, seed=seed)
  assert codes.shape == (100, 1) and codes.dtype == np.int32
  assert codebooks[0].shape == (5, 6) and codebooks[0].dtype == np.float32
  assert _same_partition(codes[:, 0], labels)


def test_kmeans_plus_plus_picks_distinct_data_points():
  x, labels = _blobs()
  init = np.asarray(rk.kmeans_plus_plus_init(x, 5, jax.random.key(0)))
  rows = [np.flatnonzero((x == c).all(axis=1)) for c in init]
  assert all(len(r) == 1 for r in rows)
  # Far-apart clusters: D^2 sampling takes one seed from each cluster.
  assert sorted(labels[np.concatenate(rows)]) == [0, 1, 2, 3, 4]


def test_kmeans_plus_plus_is_jittable():
  x, _ = _blobs()
  init = jax.jit(rk.kmeans_plus_plus_init, static_argnums=1)(
      x, 5, jax.random.key(0))
  np.testing.assert_array_equal(
      init, rk.kmeans_plus_plus_init(x, 5, jax.random.key(0)))


def test_empty_cluster_is_reseeded_to_worst_fitted_point():
  x = np.array([[0.0], [0.1], [10.0], [10.1], [20.0]], np.float32)
  init = np.array([[0.05], [10.05], [1000.0]], np.float32)  # 2 gets nothing.
  centroids, labels = rk.kmeans(x, init, num_iters=1)
  # Centroid 2 moved onto 20.0, the point with the largest error (99.0).
  np.testing.assert_allclose(centroids[:, 0], [0.05, 40.1 / 3, 20.0], rtol=1e-6)
  centroids, labels = rk.kmeans(x, init, num_iters=2)
  np.testing.assert_allclose(centroids[:, 0], [0.05, 10.05, 20.0], rtol=1e-6)
  np.testing.assert_array_equal(labels, [0, 0, 1, 1, 2])


def test_several_empty_clusters_get_distinct_points():
  x = np.array([[0.0], [1.0], [5.0], [9.0]], np.float32)
  init = np.array([[0.5], [100.0], [200.0]], np.float32)
  centroids, _ = rk.kmeans(x, init, num_iters=1)
  # Errors: 9 -> 72.25, 5 -> 20.25; empty clusters 1 and 2 take them in order.
  np.testing.assert_allclose(centroids[:, 0], [3.75, 9.0, 5.0])


def test_chunked_assignment_matches_unchunked():
  rng = np.random.default_rng(0)
  x = rng.normal(size=(53, 4)).astype(np.float32)
  centroids = rng.normal(size=(6, 4)).astype(np.float32)
  labels, d2 = rk.assign_to_centroids(x, centroids, chunk_size=7)
  full = ((x[:, None] - centroids[None]) ** 2).sum(-1)
  np.testing.assert_array_equal(labels, full.argmin(1))
  np.testing.assert_allclose(d2, full.min(1), rtol=1e-4, atol=1e-5)


def test_residual_kmeans_does_not_depend_on_chunk_size():
  x, _ = _blobs()
  a, _ = rk.residual_kmeans(x, (5, 4), num_iters=5, seed=0, chunk_size=7)
  b, _ = rk.residual_kmeans(x, (5, 4), num_iters=5, seed=0)
  np.testing.assert_array_equal(a, b)


def test_residual_kmeans_is_deterministic_and_reduces_error():
  rng = np.random.default_rng(1)
  x = rng.normal(size=(200, 8)).astype(np.float32)
  codes, books = rk.residual_kmeans(x, (8, 8, 8), num_iters=10, seed=3)
  again, _ = rk.residual_kmeans(x, (8, 8, 8), num_iters=10, seed=3)
  np.testing.assert_array_equal(codes, again)
  errors, recon = [], np.zeros_like(x)
  for level, book in enumerate(books):
    recon = recon + book[codes[:, level]]
    errors.append(((x - recon) ** 2).sum())
  assert errors[0] > errors[1] > errors[2]


@pytest.mark.parametrize("sizes", [(101,), (4, 101)])
def test_codebook_larger_than_items_is_an_error(sizes):
  x = np.zeros((100, 3), np.float32)
  with pytest.raises(ValueError, match=r"codebook_sizes\[\d\]=101 .*100"):
    rk.residual_kmeans(x, sizes, num_iters=1, seed=0)


def test_non_finite_embeddings_are_an_error():
  x = np.zeros((10, 3), np.float32)
  x[3, 1] = np.nan
  with pytest.raises(ValueError, match="NaN"):
    rk.residual_kmeans(x, (2,), num_iters=1, seed=0)


# -------------------------------------------------------------- collisions --


def test_collision_level_on_hand_made_codes():
  codes = np.array([[1, 2], [0, 0], [1, 2], [3, 3], [1, 2], [0, 0]])
  new, extra = collisions.add_collision_level(codes)
  np.testing.assert_array_equal(new[:, :2], codes)
  np.testing.assert_array_equal(new[:, 2], [0, 0, 1, 0, 2, 1])
  assert extra == 3 and new.dtype == np.int32


def test_collision_level_without_collisions():
  new, extra = collisions.add_collision_level(np.array([[0, 1], [1, 0]]))
  np.testing.assert_array_equal(new[:, 2], [0, 0])
  assert extra == 1


def test_residual_kmeans_with_forced_collisions_gives_unique_ids():
  rng = np.random.default_rng(0)
  distinct = rng.normal(size=(30, 5)).astype(np.float32)
  x = np.repeat(distinct, [1, 2, 3] * 10, axis=0)  # Exact duplicates.
  codes, _ = rk.residual_kmeans(x, (4, 4), num_iters=5, seed=0)
  new, extra = collisions.add_collision_level(codes)
  assert _num_unique_rows(new) == len(x)
  assert extra >= 3
  stats = collisions.quantization_stats(codes, (4, 4))
  assert stats["collision_rate"] >= 50 / 60  # Every duplicated item collides.


def test_quantization_stats_on_hand_made_codes():
  codes = np.array([[0, 1], [0, 1], [1, 0], [0, 0]])
  stats = collisions.quantization_stats(codes, (4, 2))
  assert stats["utilisation"] == [0.5, 1.0]
  np.testing.assert_allclose(
      stats["perplexity"],
      [np.exp(-(0.75 * np.log(0.75) + 0.25 * np.log(0.25))), 2.0])
  assert stats["num_unique_tuples"] == 3
  assert stats["collision_rate"] == 0.5
  assert stats["max_bucket_size"] == 2


def test_quantization_stats_per_depth_on_hand_made_codes():
  # Sorted: (0,0,1) x2, (0,0,2), (0,1,0), (1,0,0).
  codes = np.array([[0, 0, 1], [0, 0, 1], [0, 1, 0], [1, 0, 0], [0, 0, 2]])
  stats = collisions.quantization_stats(codes, (2, 3, 4))
  json.dumps(stats)  # Serialisable.
  assert stats["utilisation"] == [1.0, 2 / 3, 0.75]
  p = [np.array([0.8, 0.2]), np.array([0.8, 0.2]), np.array([0.4, 0.4, 0.2])]
  np.testing.assert_allclose(stats["perplexity"],
                             [np.exp(-np.sum(q * np.log(q))) for q in p])
  assert stats["num_unique_prefixes"] == [2, 3, 4]
  assert stats["collision_rate_per_level"] == [0.8, 0.6, 0.4]
  assert stats["max_bucket_size_per_level"] == [4, 3, 2]
  assert stats["num_unique_tuples"] == 4
  assert stats["collision_rate"] == 0.4
  assert stats["max_bucket_size"] == 2
  buckets = collisions.prefix_bucket_sizes(codes)
  assert [b.tolist() for b in buckets] == [[4, 1], [3, 1, 1], [2, 1, 1, 1]]


def test_quantization_stats_after_the_collision_level():
  codes = np.array([[1, 2], [0, 0], [1, 2], [3, 3], [1, 2], [0, 0]])
  new, extra = collisions.add_collision_level(codes)
  stats = collisions.quantization_stats(new, (4, 4, extra))
  assert stats["collision_rate_per_level"] == [5 / 6, 5 / 6, 0.0]
  assert stats["max_bucket_size_per_level"] == [3, 3, 1]
  assert stats["collision_rate"] == 0.0 and stats["max_bucket_size"] == 1


def test_quantization_stats_of_no_items():
  stats = collisions.quantization_stats(np.zeros((0, 2), np.int32), (2, 2))
  assert stats["num_unique_prefixes"] == [0, 0]
  assert stats["collision_rate_per_level"] == [0.0, 0.0]
  assert stats["max_bucket_size_per_level"] == [0, 0]


def test_quantization_stats_rejects_out_of_range_codes():
  with pytest.raises(ValueError, match="out of range"):
    collisions.quantization_stats(np.array([[0, 2]]), (1, 2))


# -------------------------------------------------------- lexical encoder --


def _catalogue(num_items=30, seed=0):
  rng = np.random.default_rng(seed)
  genre_names = ["Comedy", "Horror", "Drama"]
  titles = [f"w{rng.integers(500)} w{rng.integers(500)} (19{i % 10}5)"
            for i in range(num_items)]
  genres = [[genre_names[i % 3]] for i in range(num_items)]
  years = np.array([1990 + i % 7 for i in range(num_items)])
  return titles, genres, years


def test_item_tokens():
  assert lexical_encoder.item_tokens(
      "The Lord of the Rings (1978)", ["Fantasy", "Children's"], 1978) == [
          "lord", "rings", "genre:fantasy", "genre:children's", "year:1978",
          "decade:1970s"]
  tokens = lexical_encoder.item_tokens("Amélie, Das!", [], 0)
  assert tokens == ["amélie", "das"]


def test_encoder_shape_norm_and_determinism():
  titles, genres, years = _catalogue()
  a = lexical_encoder.encode_items(titles, genres, years, 8, 0)
  b = lexical_encoder.encode_items(titles, genres, years, 8, 0)
  assert a.shape == (30, 8) and a.dtype == np.float32
  np.testing.assert_array_equal(a, b)
  np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1.0, rtol=1e-5)


def test_encoder_identical_text_gives_identical_vectors():
  titles, genres, years = _catalogue()
  titles[7], genres[7], years[7] = titles[2], genres[2], years[2]
  e = lexical_encoder.encode_items(titles, genres, years, 8, 0)
  np.testing.assert_allclose(e[7], e[2], atol=1e-5)


def test_encoder_items_sharing_genres_are_closer():
  titles, genres, years = _catalogue()
  e = lexical_encoder.encode_items(titles, genres, years, 8, 0)
  sim = e @ e.T
  same = np.equal.outer(np.arange(30) % 3, np.arange(30) % 3)
  np.fill_diagonal(sim, -np.inf)
  # Every item's nearest neighbour shares its genre.
  assert same[np.arange(30), sim.argmax(1)].all()
  np.fill_diagonal(sim, np.nan)
  assert np.nanmean(np.where(same, sim, np.nan)) > np.nanmean(
      np.where(~same, sim, np.nan)) + 0.5


def test_encoder_rejects_too_large_dim():
  titles, genres, years = _catalogue(num_items=6)
  with pytest.raises(ValueError, match=r"dim=6 .*num_items=6"):
    lexical_encoder.encode_items(titles, genres, years, 6, 0)


def test_randomized_svd_matches_exact_singular_values():
  titles, genres, years = _catalogue()
  matrix, vocab = lexical_encoder.tfidf_matrix(titles, genres, years)
  assert matrix.shape == (30, len(vocab))
  _, s = lexical_encoder.randomized_svd(matrix, jax.random.key(0), rank=3)
  exact = np.linalg.svd(np.asarray(matrix.todense()), compute_uv=False)
  np.testing.assert_allclose(s, exact[:3], rtol=1e-4)


# ------------------------------------------------------ recipe and driver --


def _recipe():
  spec = importlib.util.spec_from_file_location("rqkmeans_recipe", _RECIPE)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config()


class _Items:
  """A minimal `tokenizer.ItemTable`."""

  def __init__(self, fingerprint="fp"):
    self.titles, self.genres, self.years = _catalogue()
    self.item_ids = [f"item{i}" for i in range(30)]
    self.fingerprint = fingerprint


def test_build_vocab_end_to_end():
  config = _recipe()
  assert config.quantizer == "rqkmeans" and config.encoder.kind == "lexical"
  config.codebook_sizes = (4, 4)
  config.encoder.dim = 8
  config.num_iters = 5
  items = _Items()
  items.titles[5], items.genres[5] = items.titles[4], items.genres[4]
  items.years[5] = items.years[4]
  ids = items.item_ids
  vocab, emb, stats = tokenizer.build_vocab(config, items)
  assert emb.shape == (30, 8)
  assert vocab.num_levels == 3 and vocab.item_ids == tuple(ids)
  assert vocab.codebook_sizes == (4, 4, stats["collision_level_size"])
  assert stats["collision_level_size"] >= 2  # Items 4 and 5 are identical.
  np.testing.assert_array_equal(vocab.decode(vocab.encode(np.arange(30))),
                                np.arange(30))


def test_build_or_load_vocab_writes_then_reuses(tmp_path):
  config = _recipe()
  config.codebook_sizes = (4, 4)
  config.encoder.dim = 8
  config.num_iters = 5
  vocab = tokenizer.build_or_load_vocab(config, _Items(), str(tmp_path))
  for name in ("vocab/vocab.json", "vocab/stats.json",
               "embeddings/embeddings.npy", "embeddings/item_ids.json"):
    assert (tmp_path / name).exists(), name
  assert np.load(tmp_path / "embeddings/embeddings.npy").shape == (30, 8)
  for name in ("vocab/tokenizer.json", "vocab/codebooks.png"):
    assert (tmp_path / name).exists(), name
  assert tokenizer.build_or_load_vocab(config, _Items(), str(tmp_path)) == vocab
  with pytest.raises(ValueError, match="'fp'.*'other'"):
    tokenizer.build_or_load_vocab(config, _Items("other"), str(tmp_path))
  config.codebook_sizes = (2, 2)  # Never silently reused nor overwritten.
  with pytest.raises(ValueError, match=r"codebook_sizes: \[4, 4\] before"):
    tokenizer.build_or_load_vocab(config, _Items(), str(tmp_path))


def test_build_or_load_vocab_checks_data_settings(tmp_path):
  config = _recipe()
  config.quantizer, config.codebook_sizes = "random", (4, 4)
  data = registry.data_config("movielens_100k", max_user_interactions=20)

  def build():
    return tokenizer.build_or_load_vocab(config, _Items(), str(tmp_path),
                                         "movielens_100k", data_config=data)

  vocab = build()
  recipe_path = tmp_path / "vocab" / "tokenizer.json"
  recipe = json.loads(recipe_path.read_text())
  assert recipe["data"] == {"min_user_interactions": 0,
                            "min_item_interactions": 0,
                            "max_user_interactions": 20,
                            "drop_last_interactions": 0}
  data.data_dir, data.verify_checksums = "/elsewhere", False  # Not compared.
  assert build() == vocab
  data.drop_last_interactions = 1
  with pytest.raises(ValueError, match=r"data.drop_last_interactions: 0 "
                     r"before, 1 now"):
    build()
  data.drop_last_interactions = 0
  # A file written before drop_last_interactions existed: off, the same.
  del recipe["data"]["drop_last_interactions"]
  recipe_path.write_text(json.dumps(recipe))
  assert build() == vocab
  data.max_user_interactions = 0
  with pytest.raises(ValueError, match=r"data.max_user_interactions: 20 "
                     r"before, 0 now"):
    build()
  del recipe["data"]  # A file written before data settings were recorded.
  recipe_path.write_text(json.dumps(recipe))
  assert build() == vocab


def test_build_vocab_rejects_unknown_quantizer():
  config = _recipe()
  config.quantizer = "vqgan"
  with pytest.raises(ValueError, match="vqgan"):
    tokenizer.build_vocab(config, _Items())
