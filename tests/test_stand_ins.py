"""Items added after training: who stands in for them in the item score."""

import numpy as np

from jaxrec.models import item_level
from tests import decoding_cases


def test_longest_shared_prefix_stands_in():
  item_codes = np.array([
      [0, 0, 0], [0, 0, 1], [0, 1, 0], [1, 0, 0],  # trained
      [0, 0, 2],  # shares (0, 0) with items 0 and 1
      [0, 1, 1],  # shares (0, 1) with item 2
      [1, 2, 0],  # shares (1,) with item 3
      [2, 0, 0],  # shares nothing: every trained item
  ])
  new, trained, weight = item_level.stand_ins(item_codes, num_trained=4)
  rows = sorted(zip(new.tolist(), trained.tolist(), weight.tolist()))
  assert rows == [(0, 0, 0.5), (0, 1, 0.5), (1, 2, 1.0), (2, 3, 1.0),
                  (3, 0, 0.25), (3, 1, 0.25), (3, 2, 0.25), (3, 3, 0.25)]


def test_no_new_item_and_no_trained_item():
  codes = np.array([[0, 1], [1, 0]])
  assert all(len(part) == 0 for part in item_level.stand_ins(codes, 2))
  assert all(len(part) == 0 for part in item_level.stand_ins(codes, 0))


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
