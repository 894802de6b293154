"""Items added after training: who stands in for them in the item score."""

import jax
import numpy as np
import pytest

from jaxrec.models import item_level
from tests import decoding_cases


def _members(stand_ins: item_level.StandIns) -> dict[int, list]:
  """New item -> sorted [(trained item, weight)] of its stand-in."""
  by_group = {}
  for item, group, weight in zip(stand_ins.member_items,
                                 stand_ins.member_groups,
                                 stand_ins.member_weights):
    by_group.setdefault(int(group), []).append((int(item), float(weight)))
  return {new: sorted(by_group[int(group)])
          for new, group in enumerate(stand_ins.new_item_groups)}


def test_longest_shared_prefix_stands_in():
  item_codes = np.array([
      [0, 0, 0], [0, 0, 1], [0, 1, 0], [1, 0, 0],  # trained
      [0, 0, 2],  # shares (0, 0) with items 0 and 1
      [0, 1, 1],  # shares (0, 1) with item 2
      [1, 2, 0],  # shares (1,) with item 3
      [2, 0, 0],  # shares nothing: every trained item
      [0, 0, 3],  # the same group as item 4
  ])
  stand_ins = item_level.stand_ins(item_codes, num_trained=4)
  assert _members(stand_ins) == {
      0: [(0, 0.5), (1, 0.5)], 1: [(2, 1.0)], 2: [(3, 1.0)],
      3: [(0, 0.25), (1, 0.25), (2, 0.25), (3, 0.25)],
      4: [(0, 0.5), (1, 0.5)]}
  assert stand_ins.num_groups == 4  # items 4 and 8 share one
  assert len(stand_ins.member_items) == 2 + 1 + 1 + 4


def test_membership_rows_do_not_grow_with_new_items():
  """1,000 new items that share nothing with 50 trained ones: one group of
  50 rows, not 50,000."""
  rng = np.random.default_rng(0)
  trained = np.stack([np.zeros(50, int), np.arange(50), np.zeros(50, int)],
                     axis=1)
  new = np.stack([np.ones(1000, int), rng.permutation(1000),
                  np.zeros(1000, int)], axis=1)
  stand_ins = item_level.stand_ins(np.concatenate([trained, new]), 50)
  assert stand_ins.num_groups == 1
  assert len(stand_ins.member_items) == 50
  np.testing.assert_array_equal(stand_ins.new_item_groups, 0)


def test_no_new_item_and_no_trained_item():
  codes = np.array([[0, 1], [1, 0]])
  stand_ins = item_level.stand_ins(codes, 2)
  assert stand_ins.num_groups == 0 and len(stand_ins.member_items) == 0
  assert len(stand_ins.new_item_groups) == 0
  with pytest.raises(ValueError, match="none were trained"):
    item_level.stand_ins(codes, 0)


def test_rescore_of_new_items_is_their_stand_ins_mean():
  """Trained items score as without new items; a new item scores the mean
  of its stand-ins' scores (the item score is linear in the embedding)."""
  item_codes = np.array([[0, 0, 0], [0, 0, 1], [0, 1, 0], [1, 0, 0],
                         [0, 0, 2], [2, 1, 1]])
  sizes = (3, 2, 3)
  kwargs = dict(seed=2, codebook_sizes=sizes, family="item_level",
                tuple_buckets=7, item_score_weight=1.0, item_codes=item_codes,
                item_score_scale=2.0)
  model, params = decoding_cases.tiny_model(num_trained_items=4, **kwargs)
  every_item_trained, _ = decoding_cases.tiny_model(**kwargs)
  offsets = np.asarray(decoding_cases.token_offsets(sizes))
  history_tokens = (item_codes[[0, 3]] + offsets).reshape(1, -1)
  _, history = model.prefill(params, history_tokens)
  items = np.arange(len(item_codes))
  scores = np.asarray(model.rescore(params, history, item_codes, items))[0]
  plain = np.asarray(every_item_trained.rescore(params, history, item_codes,
                                                items))[0]
  np.testing.assert_allclose(scores[:4], plain[:4], rtol=1e-6)
  np.testing.assert_allclose(scores[4], plain[[0, 1]].mean(), rtol=1e-5)
  np.testing.assert_allclose(scores[5], plain[:4].mean(), rtol=1e-5)
  per_user = np.asarray(model.rescore(params, history, item_codes[None],
                                      items[None]))[0]
  np.testing.assert_allclose(per_user, scores, rtol=1e-6)
  assert not np.allclose(scores[4:], plain[4:])


def test_history_items_added_after_training_enter_as_their_stand_ins():
  """A history holding a new item: the user state is the one the net
  computes with the stand-in (mean of its siblings' embeddings) as that
  item's input, is untouched by the new item's own (untrained) embedding
  rows, and histories of trained items are as without new items."""
  item_codes = np.array([[0, 0, 0], [0, 0, 1], [0, 1, 0], [1, 0, 0],
                         [0, 0, 2], [2, 1, 1]])
  sizes = (3, 2, 3)
  kwargs = dict(seed=2, codebook_sizes=sizes, family="item_level",
                tuple_buckets=7, item_score_weight=1.0, item_codes=item_codes)
  model, params = decoding_cases.tiny_model(num_trained_items=4, **kwargs)
  every_item_trained, _ = decoding_cases.tiny_model(**kwargs)
  offsets = np.asarray(decoding_cases.token_offsets(sizes))
  net = model.net
  embed = lambda items: np.asarray(net.apply(
      {"params": params}, item_codes[items] + offsets,
      method=item_level.ItemLevelNet.item_embeddings))
  # Users: [item 2, new item 4], [PAD, new item 5], [item 0, item 3].
  histories = np.array([np.concatenate([item_codes[2], item_codes[4]]),
                        np.concatenate([[-1, -1, -1], item_codes[5]]),
                        np.concatenate([item_codes[0], item_codes[3]])])
  histories = np.where(histories >= 0, histories + np.tile(offsets, 2),
                       0).astype(np.int32)
  _, (_, user_states) = model.prefill(params, histories)

  index = np.array([[-1, 0], [-1, 1], [-1, -1]])
  stand_in_embeddings = np.stack([embed([0, 1]).mean(0), embed([0, 1, 2, 3])
                                  .mean(0)])
  expected = net.apply({"params": params}, histories,
                       substitutes=(index, stand_in_embeddings),
                       method=item_level.ItemLevelNet.encode)[:, -1]
  np.testing.assert_allclose(user_states, expected, rtol=1e-5, atol=1e-6)

  _, (_, plain_states) = every_item_trained.prefill(params, histories)
  np.testing.assert_allclose(user_states[2], plain_states[2], rtol=1e-6)
  assert not np.allclose(user_states[:2], plain_states[:2], atol=1e-3)

  # The new items' own tuple buckets and codes that no trained item has do
  # not matter: here item 4's bucket and its last code (2).
  new_only_bucket = 1
  assert np.asarray(item_level.item_tuple_ids(
      item_codes + offsets, 7)).tolist() == [6, 0, 3, 0, new_only_bucket, 6]
  # (Random shifts: a constant one would vanish in the layer norms.)
  shift = np.random.default_rng(0).normal(size=(2, 16)).astype(np.float32)
  perturbed = jax.tree.map(lambda p: p, params)
  perturbed["tuple_embed"]["embedding"] = params["tuple_embed"][
      "embedding"].at[new_only_bucket].add(5 * shift[0])
  perturbed["code_embed"]["embedding"] = params["code_embed"][
      "embedding"].at[offsets[2] + 2].add(5 * shift[1])
  _, (_, perturbed_states) = model.prefill(perturbed, histories)
  np.testing.assert_allclose(perturbed_states, user_states, rtol=1e-6)
  _, (_, plain_perturbed) = every_item_trained.prefill(perturbed, histories)
  assert not np.allclose(plain_perturbed[0], plain_states[0], atol=1e-3)
