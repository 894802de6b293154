"""A lexical item encoder that needs no model weights.

Each item becomes a bag of tokens (title words, genres or product categories,
brand, year and decade), the bags are weighted by TF-IDF, and the sparse
[num_items, vocab_size] matrix is reduced to `dim` dense features by a
randomized truncated SVD (latent semantic analysis) written in JAX on a
`jax.experimental.sparse.BCOO` matrix, so memory grows with the number of
non-zeros rather than with num_items * vocab_size.

Output rows are L2-normalised rather than standardised per feature: the
quantizers downstream use Euclidean distance, which on unit vectors orders
neighbours exactly as cosine similarity, the natural similarity of TF-IDF/LSA
vectors. Standardising each SVD component would instead give the weak, noisy
trailing components as much weight as the leading ones.
"""

from collections.abc import Sequence
import dataclasses
import functools
import re

from absl import logging
import jax
from jax import lax
from jax.experimental import sparse
import jax.numpy as jnp
import numpy as np

STOP_WORDS = frozenset({
    "a", "an", "and", "as", "at", "by", "for", "from", "in", "into", "is",
    "it", "of", "on", "or", "the", "to", "with",
})
DEFAULT_GENRE_WEIGHT = 3.0
DEFAULT_YEAR_WEIGHT = 1.0
DEFAULT_BRAND_WEIGHT = 1.0

_WORD_RE = re.compile(r"[^\W_]+")  # Unicode letters and digits.
_TITLE_YEAR_RE = re.compile(r"\s*\(\d{4}\)\s*$")  # MovieLens "Title (1995)".
_GENRE_PREFIX = "genre:"
_BRAND_PREFIX = "brand:"
_YEAR_PREFIXES = ("year:", "decade:")


def item_tokens(title: str, genres: Sequence[str], year: int,
                brand: str = "") -> list[str]:
  """Returns the tokens of one item, repeated tokens kept (they count as tf).

  Args:
    title: Free text. A trailing "(yyyy)" is dropped (the year has its own
      tokens); the rest is lower-cased and split into alphanumeric words, minus
      `STOP_WORDS`.
    genres: Genre (or product category) names, each becoming one
      `genre:<name>` token.
    year: Release year; 0 means unknown and gives no year/decade tokens.
    brand: Brand name, one `brand:<name>` token; "" (unknown) gives none.
  """
  if year < 0:
    raise ValueError(f"year must be >= 0 (0 = unknown), got {year}")
  words = _WORD_RE.findall(_TITLE_YEAR_RE.sub("", title).lower())
  tokens = [w for w in words if w not in STOP_WORDS]
  tokens += [_GENRE_PREFIX + g.strip().lower() for g in genres if g.strip()]
  if year:
    tokens += [f"year:{year:04d}", f"decade:{year // 10 * 10:04d}s"]
  if brand.strip():
    tokens.append(_BRAND_PREFIX + brand.strip().lower())
  return tokens


def _token_kind_weights(vocab: Sequence[str], genre_weight: float,
                        year_weight: float,
                        brand_weight: float = DEFAULT_BRAND_WEIGHT
                       ) -> np.ndarray:
  """Per-token multiplier by kind: [vocab_size] float64."""
  weights = np.ones(len(vocab))
  for j, token in enumerate(vocab):
    if token.startswith(_GENRE_PREFIX):
      weights[j] = genre_weight
    elif token.startswith(_YEAR_PREFIXES):
      weights[j] = year_weight
    elif token.startswith(_BRAND_PREFIX):
      weights[j] = brand_weight
  return weights


def _documents(titles: Sequence[str], genres: Sequence[Sequence[str]],
               years: np.ndarray, brands: Sequence[str] | None
               ) -> list[list[str]]:
  """Each item's tokens (`item_tokens`); the four inputs are [num_items]."""
  years = np.asarray(years)
  num_items = len(titles)
  brands = [""] * num_items if brands is None else list(brands)
  if (len(genres) != num_items or years.shape != (num_items,) or
      len(brands) != num_items):
    raise ValueError(
        f"titles, genres, years and brands must describe the same items: got "
        f"{num_items} titles, {len(genres)} genre lists, years {years.shape}, "
        f"{len(brands)} brands")
  return [item_tokens(t, g, int(y), b)
          for t, g, y, b in zip(titles, genres, years, brands)]


def _token_counts(docs: Sequence[Sequence[str]], column: dict[str, int]
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """Counts of the known tokens (`column`) of each doc; others are dropped.

  Returns (rows [nnz], cols [nnz], counts [nnz]), sorted by row then column,
  each (row, col) once.
  """
  vocab_size = max(len(column), 1)
  known = [[column[t] for t in doc if t in column] for doc in docs]
  rows = np.repeat(np.arange(len(docs)), [len(d) for d in known])
  cols = np.fromiter((j for d in known for j in d), np.int64, len(rows))
  pairs, counts = np.unique(rows * vocab_size + cols, return_counts=True)
  rows, cols = np.divmod(pairs, vocab_size)
  return rows, cols, counts


def _tfidf_values(rows: np.ndarray, cols: np.ndarray, counts: np.ndarray,
                  idf: np.ndarray, kind: np.ndarray, num_docs: int
                  ) -> np.ndarray:
  """(1 + log count) * idf[col] * kind[col], rows scaled to unit norm: [nnz].
  """
  values = (1.0 + np.log(counts)) * idf[cols] * kind[cols]
  norms = np.sqrt(np.bincount(rows, values**2, minlength=num_docs))
  return values / norms[rows]


def tfidf_matrix(
    titles: Sequence[str],
    genres: Sequence[Sequence[str]],
    years: np.ndarray,
    *,
    genre_weight: float = DEFAULT_GENRE_WEIGHT,
    year_weight: float = DEFAULT_YEAR_WEIGHT,
    brands: Sequence[str] | None = None,
    brand_weight: float = DEFAULT_BRAND_WEIGHT,
) -> tuple[sparse.BCOO, tuple[str, ...]]:
  """Builds the row-normalised TF-IDF matrix of the items.

  `brands` ([num_items], "" = unknown; None = no brands) add `brand:` tokens.

  Weight of token t in item i: (1 + log count) * idf(t) * kind_weight(t), with
  the smoothed idf(t) = log((1 + num_items) / (1 + df(t))) + 1; each row is
  then scaled to unit L2 norm (items without any token stay all-zero).

  Returns:
    (matrix, vocab): a BCOO [num_items, vocab_size] float32 matrix with sorted
    indices, and the sorted token strings naming its columns.
  """
  matrix, vocab, _, _ = _fit_tfidf(
      _documents(titles, genres, years, brands), genre_weight, year_weight,
      brand_weight)
  return matrix, vocab


def _fit_tfidf(docs: Sequence[Sequence[str]], genre_weight: float,
               year_weight: float, brand_weight: float
               ) -> tuple[sparse.BCOO, tuple[str, ...], np.ndarray,
                          np.ndarray]:
  """`tfidf_matrix` of token lists, with its idf [V] and kind weights [V]."""
  num_items = len(docs)
  vocab = tuple(sorted({tok for doc in docs for tok in doc}))
  rows, cols, counts = _token_counts(
      docs, {tok: j for j, tok in enumerate(vocab)})
  df = np.bincount(cols, minlength=len(vocab))
  idf = np.log((1.0 + num_items) / (1.0 + df)) + 1.0
  kind = _token_kind_weights(vocab, genre_weight, year_weight, brand_weight)
  values = _tfidf_values(rows, cols, counts, idf, kind, num_items)
  indices = np.stack([rows, cols], axis=1).astype(np.int32)
  matrix = sparse.BCOO(
      (jnp.asarray(values, jnp.float32), jnp.asarray(indices)),
      shape=(num_items, len(vocab)), indices_sorted=True, unique_indices=True)
  return matrix, vocab, idf, kind


@functools.partial(
    jax.jit, static_argnames=("rank", "num_oversamples", "num_power_iters"))
def randomized_svd(
    matrix: sparse.BCOO,
    key: jax.Array,
    *,
    rank: int,
    num_oversamples: int = 10,
    num_power_iters: int = 4,
) -> tuple[jax.Array, jax.Array]:
  """Randomized truncated SVD (Halko et al. 2011) of a sparse matrix.

  Args:
    matrix: BCOO [n, m].
    key: PRNG key for the Gaussian test matrix.
    rank: Number of singular triplets kept; < min(n, m).
    num_oversamples: Extra sketch columns, improving accuracy.
    num_power_iters: Subspace iterations, sharpening a slowly decaying spectrum.

  Returns:
    (u, s): left singular vectors [n, rank] float32, each column's sign fixed
    so that its largest-magnitude entry is positive, and singular values
    [rank] float32 in decreasing order.
  """
  n, m = matrix.shape
  width = min(rank + num_oversamples, n, m)
  omega = jax.random.normal(key, (m, width), jnp.float32)
  q, _ = jnp.linalg.qr(matrix @ omega)

  def power_iter(_, q):
    z, _ = jnp.linalg.qr(matrix.T @ q)
    return jnp.linalg.qr(matrix @ z)[0]

  q = lax.fori_loop(0, num_power_iters, power_iter, q)
  # Small factor B = Q^T A [width, m]; its SVD via the tall B^T = W S Z^T.
  _, s, z_t = jnp.linalg.svd(matrix.T @ q, full_matrices=False)
  u = (q @ z_t.T)[:, :rank]
  pivot = jnp.take_along_axis(u, jnp.argmax(jnp.abs(u), axis=0)[None], axis=0)
  return u * jnp.where(pivot < 0, -1.0, 1.0), s[:rank]


def _l2_normalize_rows(x: jax.Array) -> jax.Array:
  """Scales each row of [n, d] to unit norm; all-zero rows stay zero."""
  norms = jnp.linalg.norm(x, axis=1, keepdims=True)
  return x / jnp.maximum(norms, jnp.finfo(x.dtype).tiny)


@dataclasses.dataclass(frozen=True)
class LexicalModel:
  """A fitted lexical encoder, which places new items in its space.

  New items are "folded in" (LSA): their TF-IDF rows, with the fitted token
  vocabulary and idf (unknown tokens dropped), times `components`, then L2
  normalised. components = A^T U S^-1 [vocab_size, dim] for the fitted
  TF-IDF matrix A ~ U S V^T, so an item of the fitted catalogue folds in to
  (about) its own embedding U S.

  Attributes:
    tokens: [vocab_size] sorted token strings.
    idf: [vocab_size] float64 smoothed idf of each token.
    kind_weights: [vocab_size] float64 genre/year/brand multipliers.
    components: [vocab_size, dim] float32.
  """
  tokens: tuple[str, ...]
  idf: np.ndarray
  kind_weights: np.ndarray
  components: np.ndarray

  @functools.cached_property
  def _column(self) -> dict[str, int]:
    return {tok: j for j, tok in enumerate(self.tokens)}

  def known_token_counts(self, titles: Sequence[str],
                         genres: Sequence[Sequence[str]], years: np.ndarray,
                         brands: Sequence[str] | None = None) -> np.ndarray:
    """How many of each item's tokens the fitted vocabulary knows: [m]."""
    docs = _documents(titles, genres, years, brands)
    return np.asarray([sum(t in self._column for t in d) for d in docs])

  def encode(self, titles: Sequence[str], genres: Sequence[Sequence[str]],
             years: np.ndarray, brands: Sequence[str] | None = None
             ) -> np.ndarray:
    """Embeddings [m, dim] float32 of m items (all [m]); rows of unit norm,
    all-zero for an item none of whose tokens is known."""
    docs = _documents(titles, genres, years, brands)
    rows, cols, counts = _token_counts(docs, self._column)
    values = _tfidf_values(rows, cols, counts, self.idf, self.kind_weights,
                           len(docs))
    out = np.zeros((len(docs), self.components.shape[1]), np.float64)
    np.add.at(out, rows, values[:, None] * self.components[cols])
    return np.asarray(_l2_normalize_rows(jnp.asarray(out, jnp.float32)),
                      np.float32)


def encode_items(
    titles: Sequence[str],
    genres: Sequence[Sequence[str]],
    years: np.ndarray,
    dim: int,
    seed: int,
    **options,
) -> np.ndarray:
  """`fit`'s embeddings [num_items, dim] float32 (same arguments)."""
  return fit(titles, genres, years, dim, seed, **options)[0]


def fit(
    titles: Sequence[str],
    genres: Sequence[Sequence[str]],
    years: np.ndarray,
    dim: int,
    seed: int,
    *,
    genre_weight: float = DEFAULT_GENRE_WEIGHT,
    year_weight: float = DEFAULT_YEAR_WEIGHT,
    brands: Sequence[str] | None = None,
    brand_weight: float = DEFAULT_BRAND_WEIGHT,
    num_oversamples: int = 10,
    num_power_iters: int = 4,
) -> tuple[np.ndarray, LexicalModel]:
  """Encodes items as L2-normalised LSA vectors of their TF-IDF token bags.

  Args:
    titles: [num_items] titles.
    genres: [num_items] lists of genre names.
    years: [num_items] int release years, 0 = unknown.
    dim: Output dimension; must be < min(num_items, vocab_size).
    seed: Seed of the randomized SVD; equal inputs and seed give equal outputs.
    genre_weight: Multiplier on `genre:` tokens (genre is the strongest signal
      in MovieLens, while idf alone would favour rare title words).
    year_weight: Multiplier on `year:` and `decade:` tokens.
    brands: [num_items] brand names ("" = unknown), or None (no brand
      tokens; the same as all "").
    brand_weight: Multiplier on `brand:` tokens.
    num_oversamples: See `randomized_svd`.
    num_power_iters: See `randomized_svd`.

  Returns:
    (embeddings, model): [num_items, dim] float32 rows of unit L2 norm
    (all-zero for an item with no tokens at all), and the `LexicalModel`
    that folds new items into the same space.
  """
  matrix, vocab, idf, kind = _fit_tfidf(
      _documents(titles, genres, years, brands), genre_weight, year_weight,
      brand_weight)
  num_items, vocab_size = matrix.shape
  available = min(num_items, vocab_size)
  if not 0 < dim < available:
    raise ValueError(
        f"dim={dim} must be in [1, {available}): the TF-IDF matrix has "
        f"num_items={num_items} and vocab_size={vocab_size}, so at most "
        f"min(num_items, vocab_size)={available} dimensions exist; choose a "
        "smaller dim")
  u, s = randomized_svd(
      matrix, jax.random.key(seed), rank=dim,
      num_oversamples=num_oversamples, num_power_iters=num_power_iters)
  empty = num_items - len(np.unique(np.asarray(matrix.indices[:, 0])))
  if empty:
    logging.warning("%d of %d items have no tokens; their vectors are zero.",
                    empty, num_items)
  logging.info("Lexical encoder: %d items, %d tokens, %d nnz -> dim %d.",
               num_items, len(vocab), matrix.nse, dim)
  components = np.asarray(matrix.T @ u, np.float64) / np.maximum(
      np.asarray(s, np.float64), np.finfo(np.float32).tiny)
  model = LexicalModel(vocab, idf, kind, components.astype(np.float32))
  return np.asarray(_l2_normalize_rows(u * s), np.float32), model


def vocab_size(titles: Sequence[str], genres: Sequence[Sequence[str]],
               years: np.ndarray, brands: Sequence[str] | None = None) -> int:
  """Distinct tokens of the items (`fit` needs dim < this)."""
  docs = _documents(titles, genres, years, brands)
  return len({tok for doc in docs for tok in doc})
