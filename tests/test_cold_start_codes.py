"""Codes for items the tokenizer never saw (`cold_start`), no retraining."""

import numpy as np
import pytest

from jaxrec import recipes
from jaxrec.semantic_ids import cold_start
from jaxrec.semantic_ids import encoders
from jaxrec.semantic_ids import hybrid_encoder
from jaxrec.semantic_ids import lexical_encoder
from jaxrec.semantic_ids import tokenizer

GENRE_WORDS = {"Action": ("fight", "chase", "hero", "explosion", "agent"),
               "Comedy": ("laugh", "wedding", "party", "funny", "holiday"),
               "Drama": ("family", "war", "love", "tears", "letter"),
               "Horror": ("ghost", "night", "blood", "house", "curse")}
GENRES = tuple(GENRE_WORDS)


class Catalogue:
  """A small `encoders.ItemTable` whose titles and genres go together."""

  def __init__(self, num_items: int = 120, seed: int = 0):
    rng = np.random.default_rng(seed)
    genre = np.arange(num_items) % len(GENRES)
    self.item_ids = [str(i + 1) for i in range(num_items)]
    self.genres = [[GENRES[g]] for g in genre]
    self.titles = [" ".join(rng.choice(GENRE_WORDS[GENRES[g]], 2,
                                       replace=False)) + f" {i}"
                   for i, g in enumerate(genre)]
    self.years = (1970 + 5 * (np.arange(num_items) % 6)).astype(np.int32)
    self.brands = [""] * num_items
    self.prices = np.full(num_items, np.nan, np.float32)
    self.fingerprint = "catalogue"
    # Users watch one genre; the last 20 items are never watched (cold).
    self.train = [rng.choice(np.flatnonzero(genre[:num_items - 20] == u % 4),
                             12, replace=False) for u in range(80)]


def new_items(table, rows) -> cold_start.NewItems:
  """Catalogue rows as new items (same text, new ids)."""
  return cold_start.NewItems(
      [f"new{r}" for r in rows], [table.titles[r] for r in rows],
      [table.genres[r] for r in rows], table.years[rows],
      [table.brands[r] for r in rows], table.prices[rows])


def recipe(encoder: str):
  config = recipes.tokenizer_recipe("rqkmeans", encoder)
  config.codebook_sizes = (4, 4)
  config.num_iters = 5
  if encoder == "hybrid":
    config.encoder.text_dim = config.encoder.collab_dim = 8
  else:
    config.encoder.dim = 8
  return config


# ---------------------------------------------------------- assign_codes --


def _one_hot_codebooks():
  """Two levels of 3 codes on the axes of R^3: level 1 is 10x smaller."""
  return [np.eye(3, dtype=np.float32), 0.1 * np.eye(3, dtype=np.float32)]


def test_new_item_gets_its_nearest_tuple_and_a_free_collision_index():
  taken = np.array([[0, 1, 0], [2, 2, 0]])
  x = np.array([[1.0, 0.1, 0.0], [0.0, 0.0, 1.1]])
  codes = cold_start.assign_codes(_one_hot_codebooks(), x, taken, (3, 3, 2))
  np.testing.assert_array_equal(codes, [[0, 1, 1], [2, 2, 1]])


def test_full_bucket_falls_back_to_the_next_nearest_last_level_code():
  taken = np.array([[0, 1, 0], [0, 1, 1]])  # Bucket (0, 1) holds 2 of 2.
  x = np.array([[1.0, 0.1, 0.02]])  # Residual nearest code 1, then code 2.
  codes = cold_start.assign_codes(_one_hot_codebooks(), x, taken, (3, 3, 2))
  np.testing.assert_array_equal(codes, [[0, 2, 0]])


def test_full_prefix_moves_the_upper_level():
  taken = np.array([[0, c, k] for c in range(3) for k in range(2)])
  x = np.array([[1.0, 0.5, 0.0]])  # First-level code 0 is full; 1 is next.
  codes = cold_start.assign_codes(_one_hot_codebooks(), x, taken, (3, 3, 2))
  assert codes[0, 0] == 1


def test_new_items_of_one_batch_get_distinct_tuples():
  x = np.tile([[1.0, 0.1, 0.0]], (5, 1))
  codes = cold_start.assign_codes(_one_hot_codebooks(), x,
                                  np.zeros((0, 3), np.int32), (3, 3, 2))
  assert len({tuple(row) for row in codes}) == 5
  np.testing.assert_array_equal(codes[:2], [[0, 1, 0], [0, 1, 1]])


def test_no_room_is_an_error():
  taken = np.array([[a, b, 0] for a in range(3) for b in range(3)])
  with pytest.raises(cold_start.CodebooksFullError, match="9 code tuples"):
    cold_start.assign_codes(_one_hot_codebooks(), np.ones((1, 3)), taken,
                            (3, 3, 1))


# ---------------------------------------------------------------- encoders --


def test_lexical_fold_in_reproduces_the_fitted_embeddings():
  table = Catalogue()
  embeddings, model = lexical_encoder.fit(table.titles, table.genres,
                                          table.years, 8, 0)
  folded = model.encode(table.titles, table.genres, table.years)
  cosines = np.sum(folded * embeddings, axis=1)
  assert cosines.mean() > 0.97 and cosines.min() > 0.8
  assert model.known_token_counts(["unheard of"], [[]], np.zeros(1))[0] == 0


@pytest.mark.parametrize("encoder", ["lexical", "collaborative", "hybrid"])
def test_new_copies_of_catalogue_items_get_their_first_codes(encoder):
  table = Catalogue()
  vocab, embeddings, _, state = tokenizer.build_vocab_and_state(
      recipe(encoder), table, table.train)
  # A copy of a cold item is placed like it; collaborative items are
  # compared with warm ones (cold rows are all-zero there).
  rows = np.arange(0, 20) if encoder == "collaborative" else np.arange(100,
                                                                       120)
  placed = cold_start.embed(state, new_items(table, rows))
  assert placed.shape == (20, embeddings.shape[1])
  codes = cold_start.assign_codes(state.codebooks, placed, vocab.item_codes,
                                  vocab.codebook_sizes)
  same_first_code = np.mean(codes[:, 0] == vocab.item_codes[rows, 0])
  assert same_first_code >= (0.5 if encoder == "collaborative" else 0.9)


def test_hybrid_new_items_are_embedded_like_unwatched_catalogue_items():
  table = Catalogue()
  _, embeddings, _, state = tokenizer.build_vocab_and_state(
      recipe("hybrid"), table, table.train)
  rows = np.arange(100, 120)
  placed = cold_start.embed(state, new_items(table, rows))
  assert np.allclose(placed[:, 8:], 0.0)  # No collaborative half.
  cosines = np.sum(hybrid_encoder.l2_normalize_rows(placed) *
                   hybrid_encoder.l2_normalize_rows(embeddings[rows]), 1)
  assert cosines.min() > 0.9


def test_collaborative_fallback_beats_the_mean_row_on_held_out_items():
  table = Catalogue()
  _, _, _, state = tokenizer.build_vocab_and_state(
      recipe("collaborative"), table, table.train)
  report = state.report
  assert report["warm_items"] == 100 and report["cold_items"] == 20
  assert report["ridge_penalty"] in cold_start.RIDGE_PENALTIES
  assert report["heldout_cosine"] > report["mean_row_cosine"]
  assert (report["heldout_first_code_agreement"] >
          report["first_code_chance"])


def test_ridge_recovers_a_linear_map():
  rng = np.random.default_rng(0)
  x = rng.normal(size=(200, 5))
  w = rng.normal(size=(6, 3))
  y = np.concatenate([x, np.ones((200, 1))], 1) @ w
  np.testing.assert_allclose(cold_start.fit_ridge(x, y, 1e-9), w, atol=1e-6)


@pytest.mark.parametrize("encoder", ["lexical", "collaborative"])
def test_state_round_trips_through_its_file(tmp_path, encoder):
  table = Catalogue()
  _, _, _, state = tokenizer.build_vocab_and_state(recipe(encoder), table,
                                                   table.train)
  path = tmp_path / cold_start.STATE_FILENAME
  cold_start.save(state, path)
  loaded = cold_start.load(path)
  assert loaded.encoder == state.encoder and loaded.report == state.report
  items = new_items(table, np.arange(5))
  np.testing.assert_array_equal(cold_start.embed(loaded, items),
                                cold_start.embed(state, items))
  assert not list(tmp_path.glob("*.tmp"))


def test_build_or_load_vocab_writes_the_state(tmp_path):
  table = Catalogue()
  tokenizer.build_or_load_vocab(recipe("lexical"), table, str(tmp_path))
  state = cold_start.load(tmp_path / "vocab" / cold_start.STATE_FILENAME)
  assert [c.shape for c in state.codebooks] == [(4, 8), (4, 8)]
  assert state.kind == "lexical" and state.lexical is not None


def test_random_ids_have_no_state():
  config = recipes.tokenizer_recipe("random")
  config.codebook_sizes = (4, 4)
  assert tokenizer.build_vocab_and_state(config, Catalogue())[3] is None
  with pytest.raises(ValueError, match="rqkmeans"):
    cold_start.fit_state(config, Catalogue(), np.zeros((120, 0)), [])


def test_precomputed_new_items_need_vectors_of_the_right_size():
  state = cold_start.TokenizerState(
      encoders.default_config("precomputed").to_dict(),
      (np.zeros((2, 3), np.float32),))
  items = new_items(Catalogue(), np.arange(2))
  with pytest.raises(ValueError, match="dimension 3"):
    cold_start.embed(state, items)


def test_collaborative_catalogue_without_text_builds_without_fallback():
  table = Catalogue()
  table.titles = [""] * 120
  table.genres = [[] for _ in range(120)]
  table.years = np.zeros(120, np.int32)
  _, _, _, state = tokenizer.build_vocab_and_state(
      recipe("collaborative"), table, table.train)
  assert state.fallback is None and state.lexical is None
  with pytest.raises(ValueError, match="no text fallback"):
    cold_start.embed(state, new_items(Catalogue(), np.arange(2)))
