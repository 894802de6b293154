"""Semantic IDs for items the tokenizer never saw, without retraining it.

A vocabulary's tokenizer state (`TokenizerState`, saved as
DIR/vocab/tokenizer_state.npz when the vocabulary is built) holds what places
a new item in the fitted space:

  * the quantizer's codebooks (RQ-KMeans: L levels [K_l, D]);
  * the fitted lexical encoder (`lexical_encoder.LexicalModel`: token
    vocabulary, idf and LSA components), for the `lexical` encoder, the
    lexical text half of `hybrid`, and the `collaborative` fallback;
  * for `collaborative`, the fallback map: ridge regression from an item's
    lexical text embedding to its collaborative embedding, fitted on the warm
    items (those with a collaborative row) with the penalty chosen on a
    held-out tenth of them, whose scores the state's `report` keeps.

`embed` turns new items into embeddings [m, D] by the recipe's encoder kind:
lexical -> folded-in TF-IDF rows; sentence_transformer -> the same sentence
model on the same item sentence; precomputed -> the vectors given with the
items; collaborative -> the fallback's prediction from text (an item without
interactions has no co-occurrences); hybrid -> the text half, and a zero
collaborative half, exactly as the tokenizer treated catalogue items never
seen in training. `assign_codes` then gives each new item the nearest code
tuple that still has a free collision index (see there), leaving every
existing item's codes unchanged.
"""

import collections
from collections.abc import Sequence
import dataclasses
import io
import json
import math
from typing import Any

from etils import epath
import ml_collections
import numpy as np

from jaxrec import workdir as workdir_lib
from jaxrec.data import item_text
from jaxrec.semantic_ids import encoders
from jaxrec.semantic_ids import hybrid_encoder
from jaxrec.semantic_ids import lexical_encoder

STATE_FILENAME = "tokenizer_state.npz"  # In DIR/vocab.
STATE_FORMAT_VERSION = 1
QUANTIZERS = ("rqkmeans",)  # Quantizers whose new items can be placed.
FALLBACK_TEXT_DIM = 64
RIDGE_PENALTIES = (0.01, 0.1, 1.0, 10.0, 100.0)
HELDOUT_FRACTION = 0.1
MIN_WARM_ITEMS = 10  # Below this, a collaborative state has no fallback.
_LEXICAL_TEXT = ("lexical", "collaborative")  # Kinds whose text is lexical.


class CodebooksFullError(ValueError):
  """No free code tuple is left for a new item."""


@dataclasses.dataclass(frozen=True)
class NewItems(item_text.ItemColumns):
  """Items to add: m items, their text columns [m] (`item_text.ItemColumns`).

  embeddings: [m, D] float32 vectors for the precomputed encoder, else None.
  """
  embeddings: np.ndarray | None = None


@dataclasses.dataclass(frozen=True)
class TokenizerState:
  """What places new items (see the module docstring).

  encoder: the recipe's `encoder` block, as plain data.
  codebooks: L arrays [K_l, D] float32.
  lexical: the fitted lexical text encoder, or None (sentence or
    precomputed text).
  fallback: [text_dim + 1, collab_dim] float32 ridge weights (last row: bias)
    for `collaborative`, else None.
  report: the fallback's held-out scores ({} without a fallback).
  """
  encoder: dict[str, Any]
  codebooks: tuple[np.ndarray, ...]
  lexical: lexical_encoder.LexicalModel | None = None
  fallback: np.ndarray | None = None
  report: dict[str, Any] = dataclasses.field(default_factory=dict)

  @property
  def kind(self) -> str:
    return self.encoder["kind"]

  @property
  def dim(self) -> int:
    return int(self.codebooks[0].shape[1])

  def uses_lexical_text(self) -> bool:
    """Whether new items are placed from their lexical tokens."""
    return self.kind in _LEXICAL_TEXT or (
        self.kind == "hybrid" and self.encoder["text_kind"] == "lexical")


# ------------------------------------------------------------ the fallback --


def _with_bias(x: np.ndarray) -> np.ndarray:
  return np.concatenate([x, np.ones((x.shape[0], 1), x.dtype)], axis=1)


def fit_ridge(x: np.ndarray, y: np.ndarray, penalty: float) -> np.ndarray:
  """Ridge weights [d + 1, k] from x [n, d] to y [n, k]; the bias (last row)
  is not penalised."""
  xb = _with_bias(np.asarray(x, np.float64))
  reg = penalty * np.eye(xb.shape[1])
  reg[-1, -1] = 0.0
  return np.linalg.solve(xb.T @ xb + reg, xb.T @ np.asarray(y, np.float64))


def predict_fallback(weights: np.ndarray, text: np.ndarray) -> np.ndarray:
  """Collaborative rows [m, k] float32 of text rows [m, d], unit norm."""
  predicted = _with_bias(np.asarray(text, np.float64)) @ weights
  return hybrid_encoder.l2_normalize_rows(predicted).astype(np.float32)


def _mean_cosine(a: np.ndarray, b: np.ndarray) -> float:
  return float(np.mean(np.sum(hybrid_encoder.l2_normalize_rows(a) *
                              hybrid_encoder.l2_normalize_rows(b), axis=1)))


def _nearest_first_codes(x: np.ndarray, codebook: np.ndarray) -> np.ndarray:
  d2 = (np.sum(x * x, 1, keepdims=True) - 2 * x @ codebook.T +
        np.sum(codebook * codebook, 1))
  return np.argmin(d2, axis=1)


def fit_fallback(text: np.ndarray, collaborative: np.ndarray,
                 first_codebook: np.ndarray, seed: int
                 ) -> tuple[np.ndarray, dict[str, Any]]:
  """The text -> collaborative ridge map, fitted on the warm items.

  Args:
    text: [N, d] text embeddings of every catalogue item.
    collaborative: [N, k] their collaborative rows (all-zero: cold item).
    first_codebook: [K_0, k] the quantizer's first level, for the report.
    seed: Picks the held-out tenth of the warm items.

  Returns:
    (weights [d + 1, k] float32, report), from at least `MIN_WARM_ITEMS`
    warm items: the penalty is the one of
    `RIDGE_PENALTIES` with the best mean cosine on held-out warm items; the
    report gives it, that cosine, the cosine of the mean warm row (a
    text-blind baseline), and how often a held-out item's predicted row gets
    its real first code (and the chance rate 1 / K_0). The weights are then
    refitted on every warm item.
  """
  warm = np.flatnonzero(np.linalg.norm(collaborative, axis=1) > 0)
  order = np.random.default_rng(seed).permutation(warm)
  num_held = max(1, int(HELDOUT_FRACTION * len(warm)))
  held, fitted = order[:num_held], order[num_held:]
  cosines = {}
  for penalty in RIDGE_PENALTIES:
    weights = fit_ridge(text[fitted], collaborative[fitted], penalty)
    cosines[penalty] = _mean_cosine(
        predict_fallback(weights, text[held]), collaborative[held])
  best = max(RIDGE_PENALTIES, key=lambda p: cosines[p])
  predicted = predict_fallback(
      fit_ridge(text[fitted], collaborative[fitted], best), text[held])
  mean_row = np.broadcast_to(collaborative[fitted].mean(0),
                             collaborative[held].shape)
  agreement = np.mean(_nearest_first_codes(predicted, first_codebook) ==
                      _nearest_first_codes(collaborative[held],
                                           first_codebook))
  report = {
      "ridge_penalty": best,
      "heldout_cosine": round(cosines[best], 4),
      "mean_row_cosine": round(_mean_cosine(mean_row, collaborative[held]),
                               4),
      "heldout_first_code_agreement": round(float(agreement), 4),
      "first_code_chance": round(1.0 / first_codebook.shape[0], 4),
      "heldout_items": int(num_held),
      "warm_items": int(len(warm)),
      "cold_items": int(len(text) - len(warm)),
      "text_dim": int(text.shape[1]),
  }
  weights = fit_ridge(text[warm], collaborative[warm], best)
  return weights.astype(np.float32), report


# ------------------------------------------------------------- fit / embed --


def _fallback_text_model(items: encoders.ItemTable, seed: int
                         ) -> lexical_encoder.LexicalModel | None:
  """A lexical encoder of the catalogue's text with the default weights;
  None when the catalogue has too little text for one dimension."""
  config = encoders.default_config("lexical")
  brands = getattr(items, "brands", None)
  vocab_size = lexical_encoder.vocab_size(items.titles, items.genres,
                                          items.years, brands)
  dim = min(FALLBACK_TEXT_DIM, len(items.item_ids) - 1, vocab_size - 1)
  return _fit_lexical(config, items, seed, dim) if dim >= 1 else None


def _fit_lexical(config: ml_collections.ConfigDict, items: encoders.ItemTable,
                 seed: int, dim: int) -> lexical_encoder.LexicalModel:
  """The `LexicalModel` `encoders` fits for a lexical block `config`."""
  return lexical_encoder.fit(
      items.titles, items.genres, items.years, dim, seed,
      genre_weight=config.genre_weight, year_weight=config.year_weight,
      brands=getattr(items, "brands", None),
      brand_weight=config.get("brand_weight",
                              lexical_encoder.DEFAULT_BRAND_WEIGHT))[1]


def fit_state(recipe: ml_collections.ConfigDict, items: encoders.ItemTable,
              embeddings: np.ndarray, codebooks: Sequence[np.ndarray]
              ) -> TokenizerState:
  """The state of a vocabulary built by `recipe` (rqkmeans) on `items`.

  Args:
    recipe: The tokenizer recipe.
    items: The catalogue it was built on.
    embeddings: [N, D] the item embeddings it quantized.
    codebooks: L arrays [K_l, D], the fitted quantizer.
  """
  if recipe.quantizer not in QUANTIZERS:
    raise ValueError(f"new items can be placed only by the {QUANTIZERS} "
                     f"quantizers, not {recipe.quantizer!r}")
  config, seed = recipe.encoder, recipe.seed
  lexical = fallback = None
  report = {}
  if config.kind == "lexical":
    lexical = _fit_lexical(config, items, seed, config.dim)
  elif config.kind == "hybrid" and config.text_kind == "lexical":
    lexical = _fit_lexical(encoders.hybrid_text_config(config), items, seed,
                           config.text_dim)
  elif config.kind == "collaborative":
    lexical = _fallback_text_model(items, seed)
    num_warm = int(np.sum(np.linalg.norm(embeddings, axis=1) > 0))
    if lexical is None or num_warm < MIN_WARM_ITEMS:
      report = {"no_fallback": f"{num_warm} warm items, text model: "
                               f"{lexical is not None}"}
    else:
      text = lexical.encode(items.titles, items.genres, items.years,
                            getattr(items, "brands", None))
      fallback, report = fit_fallback(text, embeddings, codebooks[0], seed)
  return TokenizerState(workdir_lib.config_to_dict(config),
                        tuple(np.asarray(c, np.float32) for c in codebooks),
                        lexical, fallback, report)


def _sentence_embeddings(config: dict[str, Any], texts: list[str]
                         ) -> np.ndarray:
  # Imported here: it needs the model's packages only when used.
  from jaxrec.semantic_ids import sentence_encoder  # pylint: disable=g-import-not-at-top
  encoder = sentence_encoder.SentenceEncoder.load(config.get("model_dir")
                                                  or None)
  return encoder.encode(texts, batch_size=config.get("batch_size", 256))


def _text_embeddings(state: TokenizerState, new: NewItems) -> np.ndarray:
  if state.uses_lexical_text():
    return state.lexical.encode(new.titles, new.genres, new.years,
                                new.brands)
  return _sentence_embeddings(state.encoder, new.item_texts)


def embed(state: TokenizerState, new: NewItems) -> np.ndarray:
  """Embeddings [m, D] float32 of new items in the quantizer's space."""
  kind = state.kind
  if kind == "precomputed":
    if new.embeddings is None or new.embeddings.shape[1:] != (state.dim,):
      raise ValueError(f"the precomputed encoder needs an embedding of "
                       f"dimension {state.dim} for every new item")
    return np.asarray(new.embeddings, np.float32)
  if kind == "collaborative" and state.fallback is None:
    raise ValueError("this collaborative tokenizer has no text fallback (it "
                     f"needs item text and {MIN_WARM_ITEMS} warm items: "
                     f"{state.report['no_fallback']}), so it cannot place "
                     "new items")
  text = _text_embeddings(state, new)
  if kind == "collaborative":
    return predict_fallback(state.fallback, text)
  if kind == "hybrid":
    collab_dim = state.dim - text.shape[1]
    zeros = np.zeros((len(new.item_ids), collab_dim), np.float32)
    return hybrid_encoder.combine(text, zeros, np.zeros(len(zeros)),
                                  state.encoder["text_weight"])
  return np.asarray(text, np.float32)


# ------------------------------------------------------------------ codes --


def _capacities(codebook_sizes: Sequence[int]) -> list[int]:
  """Code tuples below a prefix of each length 0..L: [L + 1]."""
  return [math.prod(codebook_sizes[depth:])
          for depth in range(len(codebook_sizes))]


def assign_codes(codebooks: Sequence[np.ndarray], embeddings: np.ndarray,
                 taken_codes: np.ndarray, codebook_sizes: Sequence[int]
                 ) -> np.ndarray:
  """Code tuples [m, L + 1] int32 for new items, unique among all items.

  Item by item (in order), level by level: the nearest code (to the residual
  left by the levels above, as in residual k-means) among those whose
  subtree still has a free code tuple, then the smallest collision index not
  taken in that bucket. So an item gets its nearest tuple if that bucket has
  room below the collision level's size; else the next-nearest last-level
  code with room; only when the whole prefix is full does an upper level
  move. Existing codes are never changed.

  Args:
    codebooks: L arrays [K_l, D].
    embeddings: [m, D] the new items.
    taken_codes: [N, L + 1] every existing item's codes (removed ones too:
      histories may hold them, so their tuples stay reserved).
    codebook_sizes: [L + 1] the vocabulary's sizes, collision level last.

  Raises:
    CodebooksFullError: fewer free tuples than new items.
  """
  num_levels = len(codebooks)
  sizes = tuple(int(k) for k in codebook_sizes)
  capacity = _capacities(sizes)
  if len(taken_codes) + len(embeddings) > capacity[0]:
    raise CodebooksFullError(
        f"{len(embeddings)} new items do not fit: the codebooks {list(sizes)} "
        f"hold {capacity[0]} code tuples and {len(taken_codes)} are taken")
  below = collections.Counter()  # Items below each prefix (length 1..L).
  used = collections.defaultdict(set)  # Collision indices of each bucket.
  for row in np.asarray(taken_codes).tolist():
    for depth in range(1, num_levels + 1):
      below[tuple(row[:depth])] += 1
    used[tuple(row[:num_levels])].add(row[num_levels])
  codes = np.empty((len(embeddings), num_levels + 1), np.int32)
  for item, x in enumerate(np.asarray(embeddings, np.float64)):
    prefix, residual = (), x
    for level, codebook in enumerate(codebooks):
      d2 = np.sum((codebook - residual) ** 2, axis=1)
      code = next(int(c) for c in np.argsort(d2, kind="stable")
                  if below[prefix + (int(c),)] < capacity[level + 1])
      prefix += (code,)
      residual = residual - codebook[code]
    collision = min(set(range(sizes[-1])) - used[prefix])
    codes[item] = prefix + (collision,)
    for depth in range(1, num_levels + 1):
      below[prefix[:depth]] += 1
    used[prefix].add(collision)
  return codes


# ------------------------------------------------------------------ files --


def save(state: TokenizerState, path: epath.PathLike) -> None:
  """Writes the state as one .npz (no pickles), whole or not at all."""
  meta = {"format_version": STATE_FORMAT_VERSION, "encoder": state.encoder,
          "num_levels": len(state.codebooks), "report": state.report}
  arrays = {"meta": np.asarray(json.dumps(meta))}
  for level, codebook in enumerate(state.codebooks):
    arrays[f"codebook_{level}"] = codebook
  if state.lexical is not None:
    arrays.update(lexical_tokens=np.asarray(state.lexical.tokens, np.str_),
                  lexical_idf=state.lexical.idf,
                  lexical_kind_weights=state.lexical.kind_weights,
                  lexical_components=state.lexical.components)
  if state.fallback is not None:
    arrays["fallback"] = state.fallback
  buffer = io.BytesIO()
  np.savez(buffer, **arrays)
  workdir_lib.write_bytes_atomically(path, buffer.getvalue())


def load(path: epath.PathLike) -> TokenizerState:
  """Reads a state written by `save`."""
  with epath.Path(path).open("rb") as f:
    arrays = dict(np.load(f, allow_pickle=False))
  meta = json.loads(str(arrays["meta"]))
  if meta.get("format_version") != STATE_FORMAT_VERSION:
    raise ValueError(f"{path}: unsupported tokenizer state format "
                     f"{meta.get('format_version')!r}")
  lexical = None
  if "lexical_tokens" in arrays:
    lexical = lexical_encoder.LexicalModel(
        tuple(str(t) for t in arrays["lexical_tokens"]),
        arrays["lexical_idf"], arrays["lexical_kind_weights"],
        arrays["lexical_components"])
  return TokenizerState(
      meta["encoder"],
      tuple(arrays[f"codebook_{l}"] for l in range(meta["num_levels"])),
      lexical, arrays.get("fallback"), meta["report"])
