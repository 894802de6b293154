"""Item metadata for text encoders: sentences and brand/category tokens."""

import math

import numpy as np
import pytest

from jaxrec.data import item_text
from jaxrec.semantic_ids import lexical_encoder


@pytest.mark.parametrize("args, expected", [
    (("Cream.", ["Beauty", " ", "Skin Care"], 0, "Nivea", 7.0),
     "Cream. Brand: Nivea. Categories: Beauty, Skin Care. Price: $7.00."),
    (("Toy Story", ["Animation"], 1995), "Toy Story. Categories: Animation. "
     "Year: 1995."),
    (("", [], 0, "", math.nan), ""),
    (("", [], 0, "Acme", 0.0), "Brand: Acme. Price: $0.00."),
])
def test_item_sentence(args, expected):
  assert item_text.item_sentence(*args) == expected


def test_item_sentences_checks_lengths():
  with pytest.raises(ValueError):
    item_text.item_sentences(["a", "b"], [[]], [0], [""], [math.nan])


def test_brand_token():
  assert lexical_encoder.item_tokens("Lip Balm", ["Beauty"], 0, "Burt's") == [
      "lip", "balm", "genre:beauty", "brand:burt's"]
  assert lexical_encoder.item_tokens("Lip Balm", ["Beauty"], 0) == [
      "lip", "balm", "genre:beauty"]


def _catalogue():
  titles = ["Red Lip Balm", "Red Lip Balm", "Blue Hat", "Green Sock",
            "Blue Sock"]
  genres = [["Beauty"], ["Beauty"], ["Hats"], ["Socks"], ["Socks"]]
  return titles, genres, np.zeros(5, np.int32)


def test_without_brands_the_matrix_is_unchanged():
  titles, genres, years = _catalogue()
  plain, plain_vocab = lexical_encoder.tfidf_matrix(titles, genres, years)
  empty, empty_vocab = lexical_encoder.tfidf_matrix(
      titles, genres, years, brands=[""] * 5, brand_weight=5.0)
  assert plain_vocab == empty_vocab
  np.testing.assert_array_equal(plain.todense(), empty.todense())


def test_brands_separate_otherwise_identical_items():
  titles, genres, years = _catalogue()
  brands = ["Acme", "Glow", "", "", ""]
  matrix, vocab = lexical_encoder.tfidf_matrix(
      titles, genres, years, brands=brands, brand_weight=2.0)
  assert {"brand:acme", "brand:glow"} <= set(vocab)
  dense = np.asarray(matrix.todense())
  assert not np.allclose(dense[0], dense[1])
  embeddings = lexical_encoder.encode_items(titles, genres, years, 3, 0,
                                            brands=brands)
  assert not np.allclose(embeddings[0], embeddings[1])
  with pytest.raises(ValueError, match="brands"):
    lexical_encoder.tfidf_matrix(titles, genres, years, brands=["x"])
