"""Content-only baseline: rank items by text similarity to the user's latest.

A user's profile is the mean of the L2-normalised text embeddings of her
latest `recent` history items (default `DEFAULT_RECENT_ITEMS` = 5: the
recent taste, as the generative model weighs its latest items most; a
whole-history mean blurs it). Every catalogue item is scored by the cosine
between its text embedding and that profile, and the best come first; ties
go to the smaller item index. An item with an all-zero embedding (no known
text) scores 0, and so does every item for an empty history. As in the
model's evaluation, items of the user's history can be masked.

The baseline needs no training, so it ranks items that arrived after
training (cold-start items) like any other: it is the yardstick of the
cold-start protocol (`jaxrec.data.cold_items`).

`text_embeddings` picks the embeddings: the run's fitted text encoder when
its tokenizer state has one (lexical, the collaborative recipe's lexical
fallback, or the sentence model), else a lexical encoder fitted on the warm
items' text.
"""

from collections.abc import Sequence

import numpy as np

from jaxrec.data import item_text
from jaxrec.semantic_ids import cold_start
from jaxrec.semantic_ids import lexical_encoder

DEFAULT_RECENT_ITEMS = 5
FALLBACK_DIM = 64


def _normalise_rows(x: np.ndarray) -> np.ndarray:
  norms = np.linalg.norm(x, axis=1, keepdims=True)
  return np.where(norms > 0, x / np.where(norms > 0, norms, 1.0), 0.0)


def user_profiles(item_embeddings: np.ndarray, histories: np.ndarray,
                  recent: int = DEFAULT_RECENT_ITEMS) -> np.ndarray:
  """Mean normalised embedding of each user's latest `recent` items.

  Args:
    item_embeddings: [num_items, d].
    histories: [num_users, max_history] item indices, LEFT-padded with -1,
      the latest item in the last column (as `split.history_matrix`).
    recent: how many of the latest items to average, >= 1.

  Returns:
    [num_users, d] float64; all zero for an empty history.
  """
  if recent < 1:
    raise ValueError(f"recent must be >= 1, got {recent}")
  items = _normalise_rows(np.asarray(item_embeddings, np.float64))
  latest = np.asarray(histories)[:, -recent:]
  valid = latest >= 0
  summed = (items[np.where(valid, latest, 0)] * valid[..., None]).sum(axis=1)
  counts = valid.sum(axis=1, keepdims=True)
  return summed / np.maximum(counts, 1)


def rank(item_embeddings: np.ndarray, histories: np.ndarray,
         seen_items: Sequence[np.ndarray], *,
         recent: int = DEFAULT_RECENT_ITEMS, list_size: int = 20,
         mask_history: bool = True, chunk_size: int = 1024
         ) -> tuple[np.ndarray, np.ndarray]:
  """The top `list_size` catalogue items of every user by cosine.

  Args:
    item_embeddings: [num_items, d] text embeddings of every catalogue item.
    histories: [num_users, max_history] left-padded with -1 (see
      `user_profiles`).
    seen_items: per user, item indices [m_u] to leave out when masking.
    recent: latest history items in the profile.
    list_size: length of the lists.
    mask_history: leave each user's `seen_items` out.
    chunk_size: users scored at once (bounds memory to chunk x num_items).

  Returns:
    (items [num_users, list_size] int32, best first, -1 where fewer items
    are left; scores [num_users, list_size] float32, their cosines, -inf
    at -1 slots).
  """
  embeddings = np.asarray(item_embeddings, np.float64)
  num_users, num_items = len(histories), len(embeddings)
  unit_items = _normalise_rows(embeddings)
  profiles = _normalise_rows(user_profiles(embeddings, histories, recent))
  top_items = np.full((num_users, list_size), -1, np.int32)
  top_scores = np.full((num_users, list_size), -np.inf, np.float32)
  width = min(list_size, num_items)
  for start in range(0, num_users, chunk_size):
    stop = min(start + chunk_size, num_users)
    scores = profiles[start:stop] @ unit_items.T
    if mask_history:
      for row, user in enumerate(range(start, stop)):
        seen = np.asarray(seen_items[user], np.int64)
        scores[row, seen[(seen >= 0) & (seen < num_items)]] = -np.inf
    order = np.argsort(-scores, axis=1, kind="stable")[:, :width]
    chosen = np.take_along_axis(scores, order, axis=1)
    kept = np.isfinite(chosen)
    top_items[start:stop, :width] = np.where(kept, order, -1)
    top_scores[start:stop, :width] = np.where(kept, chosen, -np.inf)
  return top_items, top_scores


def _sentence_embeddings(encoder: dict, texts: list[str]) -> np.ndarray:
  # Imported here: it needs the model's packages only when used.
  from jaxrec.semantic_ids import sentence_encoder  # pylint: disable=g-import-not-at-top
  model = sentence_encoder.SentenceEncoder.load(encoder.get("model_dir")
                                                or None)
  return model.encode(texts, batch_size=encoder.get("batch_size", 256))


def text_embeddings(state: cold_start.TokenizerState | None,
                    items: item_text.ItemColumns, num_warm: int,
                    seed: int = 0
                    ) -> tuple[np.ndarray, str]:
  """Text embeddings [num_items, d] float32 of a catalogue, and their name.

  Args:
    state: the run's tokenizer state, or None (a quantizer that saves none).
    items: every catalogue item's text, the warm items first.
    num_warm: how many of `items` the run's tokenizer saw (the first ones);
      a fallback lexical encoder is fitted on them only.
    seed: the fallback's SVD seed.

  Returns:
    The embeddings (rows of unit norm, or zero for an item without known
    text) and which encoder made them: "lexical" (the state's),
    "sentence_transformer" (the state's sentence model), or
    "lexical (fitted on the warm items)".
  """
  if state is not None and state.uses_lexical_text() and (
      state.lexical is not None):
    return state.lexical.encode(items.titles, items.genres, items.years,
                                items.brands), "lexical"
  if state is not None and "sentence_transformer" in (
      state.kind, state.encoder.get("text_kind")):
    return np.asarray(_sentence_embeddings(state.encoder, items.item_texts),
                      np.float32), "sentence_transformer"
  warm = slice(0, num_warm)
  vocab_size = lexical_encoder.vocab_size(
      items.titles[warm], items.genres[warm], items.years[warm],
      items.brands[warm])
  dim = min(FALLBACK_DIM, num_warm - 1, vocab_size - 1)
  if dim < 1:
    raise ValueError(f"the {num_warm} warm items have too little text "
                     f"({vocab_size} tokens) for a lexical encoder")
  _, model = lexical_encoder.fit(
      items.titles[warm], items.genres[warm], items.years[warm], dim, seed,
      brands=items.brands[warm])
  return (model.encode(items.titles, items.genres, items.years, items.brands),
          "lexical (fitted on the warm items)")
