"""The `item_level` family: one Transformer position per history item.

As in RPG, MARIUS or HSTU with semantic IDs: each history item enters as the
sum of its code tokens' embeddings (plus, optionally, a hashed embedding of
its whole code tuple), and a causal Transformer runs over items, so every item
of a training window is a target in one pass and the sequence is L times
shorter than the decoder-only family's. A light code head turns a position's
state into the next item's codes, level by level:

  u_0 = g_0(h)                    h: the Transformer's state after the history
  p(c_l | h, c_<l) = softmax(out_l(u_l))   over level l's K_l codes
  u_{l+1} = g_{l+1}(u_l + E[c_l])

where g_l is a residual MLP block and out_l a layer norm followed by the dot
product with level l's code embeddings E (tied with the input embeddings) plus
a bias. Decoding keeps only u (`[batch, Q, embed]`) per continuation, so a
beam step costs one small MLP, not a Transformer pass.

Catalogue-normalised loss (option, `model.catalogue_loss`): each level's
softmax runs over the codes that can follow the target's prefix in the
catalogue, so the levels' product is a distribution over real items, as
constrained decoding assumes; decoding renormalises the same way.

Item re-scoring (option, `model.item_score_weight` > 0; LIGER, Yang et al.
2024): the same state h also scores whole items, s(h, i) = h . e_i, with e_i
the item's input embedding (its codes' embeddings summed, plus its tuple
embedding), trained with a full softmax over the catalogue as SASRec is, its
cross-entropy weighted by `item_score_weight` next to the code loss. Beam
search and exact scoring then rank by log p(codes) + a * s(h, i), with
a = `item_score_scale` (a decoding setting, 1 by default, chosen on
validation; training does not use it): the item score separates items that
share codes, the code head keeps the search to a few beams.

Items added to the catalogue after training (`jaxrec.catalog add`, the
cold-start protocol) never took part in training: their whole-tuple
embedding was never trained (an unused bucket, or another item's). Such an
item stands in as the mean embedding of the trained items that share its
longest code prefix (`stand_ins`): in the item score, so it inherits the
score of the items whose codes it shares, as its codes inherit their
probabilities (docs/cold_start.md measures the choice); and as the input of
a history that holds it (`tuple_index` finds it there from its codes).
"""

import dataclasses
import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from jaxrec.models import decoder as decoder_lib
from jaxrec.models import dropout as dropout_lib
from jaxrec.models import generator
from jaxrec.models import prefix_children
from jaxrec.models import tuple_index

Array = jax.Array
_partitioned = decoder_lib._partitioned  # pylint: disable=protected-access
_layer_norm = decoder_lib._layer_norm  # pylint: disable=protected-access


def item_tuple_ids(item_tokens: Array, num_buckets: int) -> Array:
  """Hashed id of each item's whole token tuple: [..., L] -> [...] int32.

  -1 where the item is padding (its tokens are 0).
  """
  hashed = jnp.zeros(item_tokens.shape[:-1], jnp.uint32)
  for level in range(item_tokens.shape[-1]):
    hashed = hashed * jnp.uint32(1_000_003) + item_tokens[..., level].astype(
        jnp.uint32)
  bucket = (hashed % jnp.uint32(num_buckets)).astype(jnp.int32)
  return jnp.where(item_tokens[..., 0] != 0, bucket, -1)


@dataclasses.dataclass(frozen=True)
class StandIns:
  """Who stands in for each item added after training.

  Item num_trained + k (k >= 0) is stood in for by the group of trained
  items sharing its longest code prefix (at most L - 1 codes; the group of
  all trained items when not even the first code is shared), each member
  with weight 1 / the group's size. Groups of one prefix length are
  disjoint, so there are at most L * num_trained membership rows however
  many items are new.

  Attributes:
    member_items: [m] the trained item of each membership row.
    member_groups: [m] its group.
    member_weights: [m] float32, 1 / its group's size.
    new_item_groups: [num_new] the group of each new item.
    num_groups: number of groups.
  """

  member_items: np.ndarray
  member_groups: np.ndarray
  member_weights: np.ndarray
  new_item_groups: np.ndarray
  num_groups: int


def stand_ins(item_codes: np.ndarray, num_trained: int) -> StandIns:
  """`StandIns` of the items after the first `num_trained` of item_codes
  [num_items, L] (the trained ones; at least one when any item is new)."""
  item_codes = np.asarray(item_codes)
  num_new = len(item_codes) - num_trained
  if num_new and not num_trained:
    raise ValueError("items added after training need trained items to "
                     "stand in for them; none were trained")
  groups = {}  # (depth, prefix) -> (group, its trained items)
  new_item_groups = np.zeros(num_new, np.int32)
  pending = list(range(num_new))
  for depth in range(item_codes.shape[1] - 1, -1, -1):  # longest first
    if not pending:
      break
    sharing = {}
    for item, prefix in enumerate(map(tuple, item_codes[:num_trained,
                                                        :depth].tolist())):
      sharing.setdefault(prefix, []).append(item)
    unmatched = []
    for new in pending:
      prefix = tuple(item_codes[num_trained + new, :depth].tolist())
      if prefix not in sharing:
        unmatched.append(new)
        continue
      group, _ = groups.setdefault((depth, prefix),
                                   (len(groups), sharing[prefix]))
      new_item_groups[new] = group
    pending = unmatched
  members = [(group, item, 1.0 / len(items))
             for group, items in groups.values() for item in items]
  group_of, item_of, weight_of = (zip(*members) if members
                                  else ((), (), ()))
  return StandIns(np.asarray(item_of, np.int32),
                  np.asarray(group_of, np.int32),
                  np.asarray(weight_of, np.float32), new_item_groups,
                  len(groups))


class ItemLevelNet(nn.Module):
  """The network: item encoder (`encode`) and code head (`head`, `logits`).

  Attributes:
    codebook_sizes, token_offsets: the code layout (see `CodeLayout`).
    vocab_size: number of code tokens (PAD included).
    max_items: longest item sequence (position embeddings).
    num_layers, num_heads, embed_dim, mlp_dim, dropout_rate, dtype: the
      Transformer over items.
    head_mlp_dim: hidden width of each level's residual MLP in the code head
      (0: embed_dim).
    tuple_buckets: > 0 adds a hashed whole-tuple embedding to each item.
  """

  codebook_sizes: tuple[int, ...]
  token_offsets: tuple[int, ...]
  vocab_size: int
  max_items: int
  num_layers: int
  num_heads: int
  embed_dim: int
  mlp_dim: int
  dropout_rate: float = 0.0
  dtype: jnp.dtype = jnp.float32
  head_mlp_dim: int = 0
  tuple_buckets: int = 0

  def setup(self):
    if self.embed_dim % self.num_heads:
      raise ValueError(f"embed_dim {self.embed_dim} is not divisible by "
                       f"num_heads {self.num_heads}")
    embed_init = decoder_lib._EMBED_INIT  # pylint: disable=protected-access
    self.code_embed = nn.Embed(
        self.vocab_size, self.embed_dim,
        embedding_init=_partitioned(embed_init, ("vocab", "embed")))
    self.position_embed = nn.Embed(
        self.max_items, self.embed_dim,
        embedding_init=_partitioned(embed_init, ("position", "embed")))
    if self.tuple_buckets:
      self.tuple_embed = nn.Embed(
          self.tuple_buckets, self.embed_dim,
          embedding_init=_partitioned(embed_init, ("vocab", "embed")))
    self.blocks = [decoder_lib.DecoderBlock(
        self.num_heads, self.mlp_dim, self.dropout_rate, self.dtype,
        name=f"block_{layer}") for layer in range(self.num_layers)]
    self.final_norm = _layer_norm(self.dtype, "final_norm")
    self.input_dropout = dropout_lib.Dropout(self.dropout_rate)
    num_levels = len(self.codebook_sizes)
    self.head_norms = [_layer_norm(self.dtype, f"head_norm_{level}")
                       for level in range(num_levels)]
    self.head_mlps = [decoder_lib.MlpBlock(
        self.head_mlp_dim or self.embed_dim, self.dropout_rate, self.dtype,
        name=f"head_mlp_{level}")
                      for level in range(num_levels)]
    self.out_norms = [_layer_norm(self.dtype, f"out_norm_{level}")
                      for level in range(num_levels)]
    self.out_bias = [self.param(
        f"out_bias_{level}", _partitioned(nn.initializers.zeros, ("vocab",)),
        (size,)) for level, size in enumerate(self.codebook_sizes)]

  def item_embeddings(self, items: Array) -> Array:
    """Items' token tuples [..., L] (PAD = 0) -> embeddings [..., embed]:
    their codes' embeddings summed, plus the tuple embedding; 0 for PAD."""
    valid = items[..., 0] != 0
    x = self.code_embed(items).sum(axis=-2)
    if self.tuple_buckets:
      x = x + self.tuple_embed(jnp.maximum(
          item_tuple_ids(items, self.tuple_buckets), 0))
    return jnp.where(valid[..., None], x, 0.0)

  def encode(self, tokens: Array, deterministic: bool = True,
             substitutes: tuple[Array, Array] | None = None) -> Array:
    """Item sequences [batch, n * L] (whole items, PAD = 0, left- or
    right-padded) -> each position's state [batch, n, embed].

    substitutes: (index [batch, n] int, embeddings [m, embed]): position j
    enters as embeddings[index[j]] instead of its item's embedding where
    index[j] >= 0 (the stand-ins of items added after training).
    """
    num_levels = len(self.codebook_sizes)
    items = tokens.reshape(tokens.shape[0], -1, num_levels)
    valid = items[..., 0] != 0
    x = self.item_embeddings(items)
    if substitutes is not None:
      index, embeddings = substitutes
      x = jnp.where((index >= 0)[..., None],
                    embeddings[jnp.maximum(index, 0)].astype(x.dtype), x)
    x = x + self.position_embed(
        decoder_lib.positions_from_valid(valid))
    x = self.input_dropout(x.astype(self.dtype), deterministic=deterministic)
    mask = decoder_lib.causal_mask(valid)
    for block in self.blocks:
      x, _ = block(x, mask, None, deterministic)
    return self.final_norm(x)

  def head(self, state: Array, level: int, deterministic: bool = True
           ) -> Array:
    """g_level: a residual MLP block, [..., embed] -> [..., embed]."""
    return state + self.head_mlps[level](self.head_norms[level](state),
                                         deterministic)

  def feed(self, state: Array, codes: Array, level: int) -> Array:
    """u_level + E[c_level]: [..., embed] and codes [...] -> [..., embed]."""
    return state + self.code_embed(codes + self.token_offsets[level]).astype(
        state.dtype)

  def logits(self, state: Array, level: int) -> Array:
    """out_level: [..., embed] -> level logits [..., K_level] float32."""
    offset, size = self.token_offsets[level], self.codebook_sizes[level]
    table = self.code_embed.embedding[offset:offset + size]
    hidden = self.out_norms[level](state).astype(jnp.float32)
    return hidden @ table.T.astype(jnp.float32) + self.out_bias[level]

  def __call__(self, tokens: Array, deterministic: bool = True,
               substitutes: tuple[Array, Array] | None = None
               ) -> tuple[list[Array], Array]:
    """Teacher-forced logits of every item's codes after the items before it.

    tokens: [batch, n * L]; substitutes: as in `encode`. Returns per level l
    the logits [batch, n - 1, K_l] of item i + 1's level-l code from
    position i (given its codes < l), and the Transformer's states h
    [batch, n - 1, embed] they start from.
    """
    num_levels = len(self.codebook_sizes)
    user_states = self.encode(tokens, deterministic, substitutes)[:, :-1]
    states = user_states
    items = tokens.reshape(tokens.shape[0], -1, num_levels)[:, 1:]
    logits = []
    for level in range(num_levels):
      states = self.head(states, level, deterministic)
      logits.append(self.logits(states, level))
      if level + 1 < num_levels:
        codes = jnp.maximum(items[..., level] - self.token_offsets[level], 0)
        states = self.feed(states, codes, level)
    return logits, user_states


@dataclasses.dataclass(frozen=True, eq=False)  # hashed by identity
class ItemLevel(generator.Generator):
  """A `generator.Generator` over `ItemLevelNet`.

  item_codes: the catalogue's code tuples [num_items, L]; needed when
    item_score_weight > 0 (the item loss's softmax runs over every item) or
    with catalogue_loss.
  item_score_weight: weight of the item re-scoring loss (0: off).
  item_score_scale: decoding ranks by log p(codes) + item_score_scale *
    s(h, i) (only with item_score_weight > 0).
  catalogue_loss: each level's softmax runs over the codes that can follow
    the target's prefix in the catalogue (`prefix_children`), not the whole
    codebook; decoding renormalises likewise.
  num_trained_items: the first this many items of item_codes were trained
    with; the others enter histories and the item score as their
    `stand_ins` (None: all were).
  """

  net: ItemLevelNet
  layout: generator.CodeLayout
  item_codes: np.ndarray | None = None
  item_score_weight: float = 0.0
  catalogue_loss: bool = False
  item_score_scale: float = 1.0
  num_trained_items: int | None = None

  def __post_init__(self):
    if (self.item_score_weight or self.catalogue_loss) and (
        self.item_codes is None):
      raise ValueError("model.item_score_weight > 0 and model.catalogue_loss "
                       "need the catalogue's item codes")

  @property
  def catalogue_normalized(self) -> bool:
    return self.catalogue_loss

  @functools.cached_property
  def _prefix_children(self) -> prefix_children.PrefixChildren:
    return prefix_children.PrefixChildren.build(self.item_codes,
                                                self.layout.codebook_sizes)

  @functools.cached_property
  def _num_new_items(self) -> int:
    if self.item_codes is None or self.num_trained_items is None:
      return 0
    return len(self.item_codes) - self.num_trained_items

  @functools.cached_property
  def _stand_ins(self) -> StandIns:
    return stand_ins(np.asarray(self.item_codes), self.num_trained_items)

  @functools.cached_property
  def _new_item_index(self) -> tuple_index.TupleIndex:
    """Finds the items added after training among history items."""
    return tuple_index.TupleIndex.build(
        np.asarray(self.item_codes)[self.num_trained_items:],
        self.layout.codebook_sizes)

  @classmethod
  def from_config(cls, model_config: ml_collections.ConfigDict,
                  layout: generator.CodeLayout, max_items: int,
                  item_codes: np.ndarray | None = None,
                  num_trained_items: int | None = None) -> "ItemLevel":
    net = ItemLevelNet(
        codebook_sizes=layout.codebook_sizes,
        token_offsets=layout.token_offsets,
        vocab_size=layout.vocab_size,
        max_items=max_items,
        num_layers=model_config.num_layers,
        num_heads=model_config.num_heads,
        embed_dim=model_config.embed_dim,
        mlp_dim=model_config.mlp_dim,
        dropout_rate=model_config.dropout_rate,
        dtype=jnp.dtype(model_config.dtype),
        head_mlp_dim=model_config.get("head_mlp_dim", 0),
        tuple_buckets=model_config.get("tuple_buckets", 0))
    return cls(net, layout,
               None if item_codes is None else np.asarray(item_codes),
               float(model_config.get("item_score_weight", 0.0)),
               bool(model_config.get("catalogue_loss", False)),
               float(model_config.get("item_score_scale", 1.0)),
               num_trained_items)

  def _token_offsets(self) -> Array:
    """[L] int32: code c of level l is token offsets[l] + c. Tokens are
    int32 throughout; int64 (numpy) codes are cast to it."""
    return jnp.asarray(self.layout.token_offsets, jnp.int32)

  def _tokens(self, codes: Array) -> Array:
    return jnp.asarray(codes, jnp.int32) + self._token_offsets()

  def init(self, rng: Array):
    tokens = jnp.zeros((1, self.net.max_items * self.num_levels), jnp.int32)
    return self.net.init(rng, tokens)["params"]

  def _item_loss(self, params, user_states: Array, targets: Array) -> Array:
    """Full-softmax cross-entropy of the target items: [batch, n - 1].

    user_states: [batch, n - 1, embed]; targets: their tokens [..., L].
    """
    catalogue = self.net.apply(
        {"params": params}, self._tokens(jnp.asarray(self.item_codes)),
        method=ItemLevelNet.item_embeddings)
    target = self.net.apply({"params": params}, targets,
                            method=ItemLevelNet.item_embeddings)
    user_states = user_states.astype(jnp.float32)
    logits = user_states @ catalogue.T.astype(jnp.float32)
    return (jax.nn.logsumexp(logits, axis=-1) -
            (user_states * target.astype(jnp.float32)).sum(-1))

  def window_loss(self, params, tokens: Array, *, label_smoothing: float,
                  dropout_rng: Array) -> tuple[Array, Array]:
    logits, user_states = self.net.apply(
        {"params": params}, tokens, deterministic=False,
        rngs={"dropout": dropout_rng})
    targets = tokens.reshape(tokens.shape[0], -1, self.num_levels)[:, 1:]
    weights = (targets[..., 0] != 0).astype(jnp.float32)  # [batch, n - 1]
    target_codes = jnp.maximum(
        jnp.asarray(targets, jnp.int32) - self._token_offsets(), 0)
    total = 0.0
    for level, level_logits in enumerate(logits):
      labels = jax.nn.one_hot(target_codes[..., level], level_logits.shape[-1])
      if self.catalogue_loss:  # smoothing too stays on the allowed codes
        allowed = self._prefix_children.mask(target_codes[..., :level], level)
        level_logits = jnp.where(allowed, level_logits, -1e9)
        spread = allowed / jnp.maximum(allowed.sum(-1, keepdims=True), 1)
        labels = (1 - label_smoothing) * labels + label_smoothing * spread
      else:
        labels = optax.smooth_labels(labels, label_smoothing)
      total += (optax.softmax_cross_entropy(level_logits, labels) *
                weights).sum()
    num_targets = weights.sum() * self.num_levels
    loss = total / jnp.maximum(num_targets, 1.0)
    if self.item_score_weight:
      item_loss = (self._item_loss(params, user_states, targets) *
                   weights).sum() / jnp.maximum(weights.sum(), 1.0)
      loss += self.item_score_weight * item_loss
    return loss, num_targets

  def prefill(self, params, history_tokens: Array
              ) -> tuple[Array, tuple[Array, Array]]:
    """History state: (u_0 [batch, embed], h [batch, embed])."""
    def first_level(net, tokens, substitutes):
      user_state = net.encode(tokens, substitutes=substitutes)[:, -1]
      state = net.head(user_state, 0)
      return net.logits(state, 0), state, user_state
    logits, state, user_state = self.net.apply(
        {"params": params}, history_tokens,
        self._history_stand_ins(params, history_tokens), method=first_level)
    return jax.nn.log_softmax(logits), (state, user_state)

  def extend(self, params, history: tuple[Array, Array],
             continuation: Array | None, codes: Array, depth: int
             ) -> tuple[Array, Array]:
    if continuation is None:
      first = history[0]
      continuation = jnp.broadcast_to(
          first[:, None], (codes.shape[0], codes.shape[1]) + first.shape[1:])
    def next_level(net, state, codes):
      state = net.head(net.feed(state, codes, depth), depth + 1)
      return net.logits(state, depth + 1), state
    logits, state = self.net.apply({"params": params}, continuation, codes,
                                   method=next_level)
    return jax.nn.log_softmax(logits), state

  def _stand_in_embeddings(self, params) -> Array:
    """The embeddings of the items added after training, each its
    stand-ins' mean (`StandIns`): [num_new_items, embed] float32."""
    stand_in = self._stand_ins
    members = self.net.apply(
        {"params": params},
        self._tokens(self.item_codes[stand_in.member_items]),
        method=ItemLevelNet.item_embeddings).astype(jnp.float32)
    groups = jax.ops.segment_sum(
        members * stand_in.member_weights[:, None], stand_in.member_groups,
        num_segments=stand_in.num_groups)
    return groups[stand_in.new_item_groups]

  def _history_stand_ins(self, params, history_tokens: Array
                         ) -> tuple[Array, Array] | None:
    """`ItemLevelNet.encode`'s substitutes: history items [batch, n] added
    after training enter as their stand-ins (None when there are none)."""
    if not self._num_new_items:
      return None
    items = history_tokens.reshape(history_tokens.shape[0], -1,
                                   self.num_levels)
    codes = jnp.asarray(items, jnp.int32) - self._token_offsets()
    new = self._new_item_index.find(codes)  # PAD items: not found
    return new, self._stand_in_embeddings(params)

  def rescore(self, params, history: tuple[Array, Array], codes: Array,
              items: Array) -> Array | None:
    """a * s(h, i) = a * h . e_i of each candidate, a = item_score_scale
    (None when the option is off); e_i of an item added after training is
    its stand-in (module docstring)."""
    if not self.item_score_weight:
      return None
    embeddings = self.net.apply(
        {"params": params}, self._tokens(codes),
        method=ItemLevelNet.item_embeddings).astype(jnp.float32)
    if self._num_new_items:
      new = items - self.num_trained_items  # >= 0: added after training
      stand_in = self._stand_in_embeddings(params)[
          jnp.clip(new, 0, self._num_new_items - 1)]
      embeddings = jnp.where((new >= 0)[..., None], stand_in, embeddings)
    user_state = history[1].astype(jnp.float32)
    if codes.ndim == 2:  # the same candidates for every user
      scores = user_state @ embeddings.T
    else:
      scores = jnp.einsum("bd,bqd->bq", user_state, embeddings)
    return self.item_score_scale * scores
