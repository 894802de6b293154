"""The interface every model family implements: generate an item's codes.

A user's history reaches a generator as code tokens, whole items in a row
(`[a_17 b_3 c_200 d_0 | a_4 b_9 ...]`, the `SemanticIdVocab` token layout,
PAD = 0), left-padded for decoding and right-padded in training windows. The
next item's code tuple comes out one level at a time:

  prefill(params, history_tokens [batch, hist_len * L])
      -> log-probs of level 0 [batch, K_0], history state
  extend(params, history, continuation, codes [batch, Q], depth)
      -> log-probs of level depth + 1 [batch, Q, K_{depth+1}], continuation

`extend` runs Q continuations per user (beams, or trie nodes when scoring
exactly) by one code each, the level-`depth` codes (not tokens); the
continuation is None before the first code. Every array of a continuation is
[batch, Q, ...], so `gather` picks continuations (as a beam search does after
each level) and exact scoring can concatenate them, whatever the family. An item's score is the sum of its codes'
log-probabilities, so beam search, exact scoring and the evaluator work alike
for every family. Training calls `window_loss` on windows of
`max_history + 1` items, right-padded: every item of a window after the first
is a target.

A family may also score whole items (`rescore`, e.g. a dot product of the
user state with an item embedding, as LIGER does): beam search then re-ranks
its final beams, and exact scoring every item, by the sum of both scores.

Families (`config.model.family`, see `build_generator`):
  decoder_only     one position per code token (`decoder_only`);
  item_level       one position per item, a light code head (`item_level`);
  encoder_decoder  TIGER's layout: bidirectional encoder, small decoder
                   (`encoder_decoder`).
"""

import abc
import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections

Array = jax.Array
Params = Any
FAMILIES = ("decoder_only", "item_level", "encoder_decoder")


@dataclasses.dataclass(frozen=True)
class CodeLayout:
  """Where each level's codes sit among the tokens.

  codebook_sizes: [L] codes per level (the collision level included).
  token_offsets: [L] token id of each level's code 0 (PAD = 0 comes first).
  vocab_size: number of tokens.
  """
  codebook_sizes: tuple[int, ...]
  token_offsets: tuple[int, ...]
  vocab_size: int

  @classmethod
  def of(cls, vocab) -> "CodeLayout":
    """The layout of a `SemanticIdVocab` (or anything with these fields)."""
    return cls(tuple(int(s) for s in vocab.codebook_sizes),
               tuple(int(o) for o in vocab.token_offsets),
               int(vocab.vocab_size))

  @property
  def num_levels(self) -> int:
    return len(self.codebook_sizes)


class Generator(abc.ABC):
  """A model family behind the interface above (see the module docstring).

  Implementations are frozen dataclasses (hashable, so they can be closed
  over or passed as static arguments of `jax.jit`); all their methods are
  pure functions of `params` and jit-able.
  """

  layout: CodeLayout

  @property
  def num_levels(self) -> int:
    return self.layout.num_levels

  @property
  def catalogue_normalized(self) -> bool:
    """Whether each level's softmax runs over the catalogue's children of the
    prefix only (trained so): constrained decoding then renormalises the
    level's log-probs over the trie children, as training did."""
    return False

  @abc.abstractmethod
  def init(self, rng: Array) -> Params:
    """Parameters with logical axis names (flax boxed) for `rng`."""

  @abc.abstractmethod
  def window_loss(self, params: Params, tokens: Array, *,
                  label_smoothing: float, dropout_rng: Array
                  ) -> tuple[Array, Array]:
    """Mean cross-entropy over the target codes of training windows.

    tokens: [batch, window_items * L] right-padded windows of whole items.
    Returns the loss [] and the number of target codes [] (float32).
    """

  @abc.abstractmethod
  def prefill(self, params: Params, history_tokens: Array
              ) -> tuple[Array, Any]:
    """Encodes left-padded histories [batch, hist_items * L] (PAD = 0).

    Returns level 0's log-probabilities [batch, K_0] and the history state.
    """

  @abc.abstractmethod
  def extend(self, params: Params, history: Any, continuation: Any,
             codes: Array, depth: int) -> tuple[Array, Any]:
    """Feeds Q continuations per user one level-`depth` code each.

    Args:
      params: the parameters.
      history: from `prefill`.
      continuation: from the previous `extend` (or `gather` of it): a pytree
        of [batch, Q, ...] arrays in the order of `codes`' columns; None when
        depth == 0.
      codes: [batch, Q] int32 level-`depth` codes.
      depth: the level of `codes`, 0 <= depth < L - 1.

    Returns:
      Level depth + 1's log-probabilities [batch, Q, K_{depth+1}] and the
      continuation with the new codes.
    """

  def rescore(self, params: Params, history: Any, codes: Array,
              items: Array) -> Array | None:
    """An item-level score added to the code log-likelihood, or None.

    codes: whole code tuples, [batch, Q, L] (each user's own candidates) or
    [Q, L] (the same candidates for every user); items: their catalogue
    indices, [batch, Q] or [Q] (-1: the tuple is no item). Returns [batch, Q]
    float32; the default (no item-level score) returns None.
    """
    del params, history, codes, items
    return None


def gather(continuation: Any, index: Array) -> Any:
  """Continuations `index` [batch, Q'] (into the Q axis) of each user.

  continuation: a pytree of [batch, Q, ...] arrays; returns [batch, Q', ...].
  """
  def take(x):
    return jnp.take_along_axis(
        x, index.reshape(index.shape + (1,) * (x.ndim - 2)), axis=1)
  return jax.tree.map(take, continuation)


def build_generator(model_config: ml_collections.ConfigDict, layout: CodeLayout,
                    max_items: int, item_codes: Any = None,
                    num_trained_items: int | None = None) -> Generator:
  """The generator `model_config.family` names (default `decoder_only`).

  max_items: the most items a sequence holds (training windows included).
  item_codes: the catalogue's code tuples [num_items, L], needed by options
    that score every item (the item-level family's `item_score_weight`).
  num_trained_items: how many of item_codes' items (the first ones) the
    model was trained with; the rest were added to the catalogue later
    (None: all of them were trained with).
  """
  # Imported here: each family imports this module for the base class.
  from jaxrec.models import decoder_only  # pylint: disable=g-import-not-at-top
  from jaxrec.models import encoder_decoder  # pylint: disable=g-import-not-at-top
  from jaxrec.models import item_level  # pylint: disable=g-import-not-at-top
  family = model_config.get("family", "decoder_only")
  if family == "decoder_only":
    return decoder_only.DecoderOnly.from_config(model_config, layout, max_items)
  if family == "item_level":
    return item_level.ItemLevel.from_config(model_config, layout, max_items,
                                            item_codes, num_trained_items)
  if family == "encoder_decoder":
    return encoder_decoder.EncoderDecoder.from_config(model_config, layout,
                                                      max_items)
  raise ValueError(f"model.family={family!r} is not one of {FAMILIES}")
