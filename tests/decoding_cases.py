"""Tiny catalogues, tiny random generators and brute-force scoring for tests."""

import functools
import itertools
import math

import jax
import jax.numpy as jnp
import flax.linen as nn
import numpy as np
from hypothesis import strategies as st

from jaxrec.models import decoder as decoder_lib
from jaxrec.models import decoder_only
from jaxrec.models import encoder_decoder
from jaxrec.models import generator as generator_lib
from jaxrec.models import item_level

# Large enough for up to 3 levels of up to 4 codes, plus PAD.
MODEL_VOCAB = 13


def token_offsets(codebook_sizes) -> tuple[int, ...]:
  return tuple(1 + int(s) for s in np.cumsum((0,) + tuple(codebook_sizes))[:-1])


def tiny_model(seed: int = 0, scale: float = 4.0, num_layers: int = 2,
               vocab_size: int = MODEL_VOCAB, num_levels: int = 1,
               tuple_buckets: int = 0, codebook_sizes=(3, 4, 2),
               family: str = "decoder_only", item_score_weight: float = 0.0,
               item_codes=None, catalogue_loss: bool = False,
               item_score_scale: float = 1.0,
               num_trained_items: int | None = None):
  """A tiny generator of `family` and its parameters.

  `scale` > 1 makes its distributions far from uniform. `codebook_sizes` is
  the code layout its log-probs follow (tokens 1 + cumulative sizes); the
  decoder-only softmax still runs over all `vocab_size` tokens. With
  `tuple_buckets` > 0 it has the tuple embedding (of items of `num_levels`
  codes for the decoder-only family, which needs it told). With
  `num_trained_items`, the item-level model's items from that index on were
  added after training.
  """
  codebook_sizes = tuple(codebook_sizes)
  if family != "decoder_only":
    vocab_size = 1 + sum(codebook_sizes)
  layout = generator_lib.CodeLayout(codebook_sizes,
                                    token_offsets(codebook_sizes), vocab_size)
  if family == "decoder_only":
    model = decoder_only.DecoderOnly(decoder_lib.Decoder(
        vocab_size=vocab_size, max_len=32, num_layers=num_layers, num_heads=2,
        embed_dim=16, mlp_dim=32, num_levels=num_levels,
        tuple_buckets=tuple_buckets), layout)
  elif family == "encoder_decoder":
    model = encoder_decoder.EncoderDecoder(encoder_decoder.EncoderDecoderNet(
        codebook_sizes=codebook_sizes, token_offsets=layout.token_offsets,
        vocab_size=vocab_size, max_tokens=32, num_layers=num_layers,
        num_decoder_layers=num_layers, num_heads=2, embed_dim=16,
        mlp_dim=32), layout)
  else:
    model = item_level.ItemLevel(item_level.ItemLevelNet(
        codebook_sizes=codebook_sizes, token_offsets=layout.token_offsets,
        vocab_size=vocab_size, max_items=8, num_layers=num_layers,
        num_heads=2, embed_dim=16, mlp_dim=32, tuple_buckets=tuple_buckets),
                                 layout, item_codes, item_score_weight,
                                 catalogue_loss, item_score_scale,
                                 num_trained_items)
  params = jax.jit(model.init)(jax.random.key(seed))
  params = nn.meta.unbox(params)
  return model, jax.tree.map(lambda p: p * scale, params)


@functools.partial(jax.jit, static_argnums=0)
def _decoder_log_probs(decoder, params, tokens):
  """Next-token log-probs [batch, len, vocab] of left-padded sequences."""
  valid = tokens > 0
  logits, _ = decoder.apply({"params": params}, tokens,
                            decoder_lib.positions_from_valid(valid),
                            decoder_lib.causal_mask(valid))
  return jax.nn.log_softmax(logits)


@functools.partial(jax.jit, static_argnums=0)
def _item_level_log_probs(net, params, tokens, substitutes=None):
  """Per level, log-probs [batch, K_l] of the last item's codes after the
  items before it, from the teacher-forced training pass; and the item score
  h . e of the last item [batch]."""
  logits, user_states = net.apply({"params": params}, tokens,
                                  substitutes=substitutes)
  last_item = tokens[:, -len(logits):]
  item_embedding = net.apply({"params": params}, last_item,
                             method=item_level.ItemLevelNet.item_embeddings)
  return ([jax.nn.log_softmax(level_logits[:, -1]) for level_logits in logits],
          (user_states[:, -1] * item_embedding).sum(-1))


@functools.partial(jax.jit, static_argnums=0)
def _encoder_decoder_log_probs(net, params, histories, codes):
  """Per level, log-probs [batch, K_l] of `codes` after `histories`."""
  return [jax.nn.log_softmax(logits)
          for logits in net.apply({"params": params}, histories, codes)]


def brute_force_scores(model, params, histories, item_codes, offsets
                       ) -> np.ndarray:
  """Log-probability of each item's tuple after each history, item by item.

  histories: [num_users, hist_len] left-padded tokens (PAD = 0, at least one
  real token each). Returns [num_users, num_items] float64: the full sequence
  history + item goes through the model's training-time pass for every
  (user, item), with no cache and no sharing.
  """
  histories = np.asarray(histories)
  codes = np.asarray(item_codes)
  num_users, hist_len = histories.shape
  num_items, num_levels = codes.shape
  tokens = np.concatenate([
      np.repeat(histories, num_items, axis=0),
      np.tile(codes + np.asarray(offsets), (num_users, 1))], axis=1)
  rows = np.arange(len(tokens))
  if isinstance(model, item_level.ItemLevel):
    item_codes_per_row = np.tile(codes, (num_users, 1))
    substitutes = None
    if model.num_trained_items is not None:
      substitutes = _stand_in_inputs(model, params, tokens)
    level_log_probs, item_scores = _item_level_log_probs(model.net, params,
                                                         tokens, substitutes)
    level_log_probs = [np.asarray(lp, np.float64) for lp in level_log_probs]
    if model.catalogue_loss:  # each level over the prefix's children only
      for level, log_probs in enumerate(level_log_probs):
        for row, item_row in enumerate(item_codes_per_row):
          children = {tuple(c[:level + 1]) for c in model.item_codes.tolist()
                      if tuple(c[:level]) == tuple(item_row[:level])}
          allowed = sorted(child[-1] for child in children)
          log_probs[row] -= np.logaddexp.reduce(log_probs[row, allowed])
    scores = np.stack([
        log_probs[rows, item_codes_per_row[:, level]]
        for level, log_probs in enumerate(level_log_probs)], axis=1)
    if model.item_score_weight:
      item_scores = np.asarray(item_scores, np.float64).reshape(num_users,
                                                                num_items)
      if model.num_trained_items is not None:
        item_scores = _stand_in_scores(item_scores, codes,
                                       model.num_trained_items)
      scores[:, 0] += model.item_score_scale * item_scores.reshape(-1)
  elif isinstance(model, encoder_decoder.EncoderDecoder):
    item_codes_per_row = np.tile(codes, (num_users, 1))
    scores = np.stack([
        np.asarray(log_probs, np.float64)[rows, item_codes_per_row[:, level]]
        for level, log_probs in enumerate(_encoder_decoder_log_probs(
            model.net, params, tokens[:, :hist_len], item_codes_per_row))],
                      axis=1)
  else:
    log_probs = np.asarray(_decoder_log_probs(model.model, params, tokens),
                           np.float64)
    steps = np.arange(num_levels)
    scores = log_probs[rows[:, None], hist_len - 1 + steps,
                       tokens[:, hist_len + steps]]
  return scores.sum(axis=1).reshape(num_users, num_items)


def _siblings(codes: np.ndarray, num_trained: int, item: int) -> list[int]:
  """The trained items sharing `item`'s longest code prefix (all trained
  items when none shares its first code)."""
  for depth in range(codes.shape[1] - 1, -1, -1):
    siblings = [j for j in range(num_trained)
                if tuple(codes[j, :depth]) == tuple(codes[item, :depth])]
    if siblings:
      return siblings
  return []


def _stand_in_scores(item_scores: np.ndarray, codes: np.ndarray,
                     num_trained: int) -> np.ndarray:
  """Item scores [num_users, num_items] where every item from num_trained
  on scores the mean of its `_siblings`' scores."""
  item_scores = item_scores.copy()
  for item in range(num_trained, len(codes)):
    item_scores[:, item] = item_scores[:, _siblings(
        codes, num_trained, item)].mean(axis=1)
  return item_scores


def _stand_in_inputs(model, params, tokens: np.ndarray):
  """`ItemLevelNet.encode`'s substitutes for token rows [rows, n * L]: an
  item from model.num_trained_items on enters as the mean embedding of its
  `_siblings`, found by comparing code tuples one by one."""
  codes = np.asarray(model.item_codes)
  num_trained = model.num_trained_items
  offsets = np.asarray(model.layout.token_offsets)
  new_items = {tuple(codes[item]): item - num_trained
               for item in range(num_trained, len(codes))}
  items = tokens.reshape(len(tokens), -1, codes.shape[1])
  index = np.full(items.shape[:2], -1, np.int32)
  for row, position in np.ndindex(*index.shape):
    if items[row, position, 0]:
      index[row, position] = new_items.get(
          tuple(items[row, position] - offsets), -1)
  trained = np.asarray(model.net.apply(
      {"params": params}, codes[:num_trained] + offsets,
      method=item_level.ItemLevelNet.item_embeddings))
  embeddings = np.stack([
      trained[_siblings(codes, num_trained, item)].mean(axis=0)
      for item in range(num_trained, len(codes))] or
                        [np.zeros(trained.shape[1])])
  return index, embeddings.astype(np.float32)


def all_tuples(codebook_sizes) -> np.ndarray:
  return np.array(list(itertools.product(*map(range, codebook_sizes))))


@st.composite
def catalogues(draw, max_levels: int = 3, max_code: int = 4,
               max_items: int = 12):
  """(item_codes [N, L], codebook_sizes): N distinct random tuples."""
  sizes = tuple(draw(st.lists(st.integers(1, max_code), min_size=1,
                              max_size=max_levels)))
  total = math.prod(sizes)
  rows = draw(st.lists(st.integers(0, total - 1), min_size=1,
                       max_size=min(total, max_items), unique=True))
  return np.stack(np.unravel_index(rows, sizes), axis=1), sizes


def random_histories(rng: np.random.Generator, item_codes, offsets,
                     num_users: int, max_items: int = 3) -> np.ndarray:
  """[num_users, max_items * L] left-padded token histories (>= 1 item)."""
  num_levels = item_codes.shape[1]
  rows = np.zeros((num_users, max_items * num_levels), np.int32)
  for user in range(num_users):
    count = rng.integers(1, max_items + 1)
    items = rng.integers(0, len(item_codes), count)
    tokens = (item_codes[items] + np.asarray(offsets)).reshape(-1)
    rows[user, -len(tokens):] = tokens
  return rows
