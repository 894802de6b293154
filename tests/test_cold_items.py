"""The cold-start protocol: hold-out, content-only baseline, metrics, job."""

import json
import math
import os
import subprocess

import ml_collections
import numpy as np
import pytest

from jaxrec import workdir as workdir_lib
from jaxrec.data import cold_items
from jaxrec.data import dataset
from jaxrec.data import registry
from jaxrec.data import split as split_lib
from jaxrec.evaluation import cold_metrics
from jaxrec.evaluation import content_baseline
from jaxrec.evaluation import evaluator
from jaxrec.semantic_ids import catalog_versions
from jaxrec.semantic_ids import cold_start
from jaxrec.semantic_ids import vocab as vocab_lib
from tests import tiny_runs

# ------------------------------------------------------------- hold-out --

# Item "16" (index 6) has no interaction. First appearances: 0 (t=1), 1 (2),
# 2 (3), 3 (5), then 5 and 4 both at t=9, in u1's rows 0 and 1: 4 is last.
USERS = {
    "u0": ([0, 1, 2], [1, 2, 3]),
    "u1": ([5, 4, 1, 0], [9, 9, 10, 8]),
    "u2": ([3, 2, 4, 1], [5, 11, 12, 12]),
    "u3": ([2, 3, 0, 5], [20, 21, 22, 23]),
    "u4": ([4, 0, 1], [30, 31, 32]),
}


def _data() -> dataset.InteractionData:
  ids = [str(10 + i) for i in range(7)]
  return dataset.InteractionData(
      item_ids=ids, titles=[f"title {i}" for i in ids],
      genres=[[f"g{i % 2}"] for i in range(7)],
      years=np.arange(1990, 1997, dtype=np.int32), user_ids=list(USERS),
      user_items=[np.asarray(i, np.int32) for i, _ in USERS.values()],
      user_timestamps=[np.asarray(t, np.int64) for _, t in USERS.values()],
      brands=["", "", "", "", "b4", "", ""],
      prices=np.asarray([np.nan] * 5 + [2.5, np.nan], np.float32))


def test_first_appearance_breaks_timestamp_ties_by_loading_order():
  data = _data()
  order = cold_items.first_appearance_order(data.user_items,
                                            data.user_timestamps, 7)
  np.testing.assert_array_equal(order, [0, 1, 2, 3, 5, 4])
  # The smallest fraction holds out one item: the tie's later one, 4.
  held = cold_items.hold_out(data, 0.1)
  assert held.item_ids == ["14"]


def test_hold_out_reindexes_and_splits_exactly():
  held = cold_items.hold_out(_data(), 0.3)  # ceil(0.3 * 6) = 2 cold items.
  assert held.item_ids == ["14", "15"]  # Indices 5 and 6, dataset order.
  assert held.warm_data.item_ids == ["10", "11", "12", "13", "16"]
  assert held.warm_data.titles[-1] == "title 16"
  np.testing.assert_array_equal(held.cold_indices, [5, 6])
  split = held.split
  # u1 and u4 keep 2 items once their cold ones are dropped: skipped.
  assert split.user_ids == ["u0", "u2", "u3"]
  assert split.skipped_user_ids == ["u1", "u4"]
  assert [t.tolist() for t in split.train] == [[0], [3], [2, 3]]
  np.testing.assert_array_equal(split.valid_target, [1, 2, 0])
  np.testing.assert_array_equal(split.test_target, [2, 1, 6])  # u3: "15".
  np.testing.assert_array_equal(held.is_cold_target(), [False, False, True])
  # Warm data: every user, her warm rows in file order, new indices.
  np.testing.assert_array_equal(held.warm_data.user_items[1], [1, 0])
  np.testing.assert_array_equal(held.warm_data.user_timestamps[1], [10, 8])
  # 5 interactions with cold items, of which u3's target stays.
  assert held.counts() == {
      "fraction": 0.3, "num_cold_items": 2, "num_warm_items": 5,
      "cold_test_users": 1, "warm_test_users": 2, "removed_interactions": 4}
  assert held.records() == [
      {"item_id": "14", "title": "title 14", "genres": ["g0"],
       "year": 1994, "brand": "b4"},
      {"item_id": "15", "title": "title 15", "genres": ["g1"],
       "year": 1995, "price": 2.5}]
  assert held.warm_data.fingerprint == dataset.item_ids_fingerprint(
      ["10", "11", "12", "13", "16"])


@pytest.mark.parametrize("fraction", [0.5, 0.9, -0.1, True, "0.1", None])
def test_bad_fraction_is_an_error_naming_the_key(fraction):
  with pytest.raises(ValueError, match=r"^data\.cold_items=.* must be a "
                     r"fraction in \[0, 0\.5\)"):
    cold_items.check_fraction(fraction)
  config = ml_collections.ConfigDict({"name": "movielens_100k",
                                      "cold_items": 0.0})
  config.cold_items = fraction if isinstance(fraction, float) else 0.7
  with pytest.raises(ValueError, match=r"data\.cold_items"):
    registry.load_split_and_cold_items(config, "/nonexistent")


def test_absent_key_is_off():
  assert registry.cold_items_fraction(ml_collections.ConfigDict()) == 0.0


# ------------------------------------------------------ content baseline --

EMBEDDINGS = np.asarray([[1, 0], [0, 2], [1, 1], [3, -4], [0, 0]], np.float64)


def test_content_baseline_matches_hand_computed_cosines():
  histories = np.asarray([[-1, 0, 1],  # profile (0.5, 0.5)
                          [0, 2, 3],
                          [-1, -1, -1]])  # empty: every score 0
  seen = [np.asarray([0, 1]), np.asarray([0, 2, 3]), np.zeros(0, np.int32)]
  items, scores = content_baseline.rank(EMBEDDINGS, histories, seen,
                                        recent=1, list_size=4,
                                        mask_history=False)
  # recent=1: user 0's profile is item 1 alone; items 0 and 4 tie at 0.
  np.testing.assert_array_equal(items[0], [1, 2, 0, 4])
  items, scores = content_baseline.rank(EMBEDDINGS, histories, seen,
                                        recent=5, list_size=4,
                                        mask_history=True)
  r = math.sqrt(0.5)
  np.testing.assert_array_equal(items, [[2, 4, 3, -1], [4, 1, -1, -1],
                                        [0, 1, 2, 3]])
  np.testing.assert_allclose(scores[0, :3], [1.0, 0.0, -0.2 * r], atol=1e-6)
  profile = np.asarray([1 + r + 0.6, r - 0.8])  # 3 x user 1's mean
  np.testing.assert_allclose(scores[1, :2],
                             [0.0, profile[1] / np.linalg.norm(profile)],
                             atol=1e-6)
  assert np.isneginf(scores[0, 3])
  # Unmasked, the tie of items 0 and 1 goes to the smaller index.
  items, scores = content_baseline.rank(EMBEDDINGS, histories[:1], seen[:1],
                                        list_size=5, mask_history=False)
  np.testing.assert_array_equal(items[0], [2, 0, 1, 4, 3])
  np.testing.assert_allclose(scores[0], [1.0, r, r, 0.0, -0.2 * r],
                             atol=1e-6)


def test_content_profile_is_the_mean_of_the_latest_normalised_items():
  profiles = content_baseline.user_profiles(
      EMBEDDINGS, np.asarray([[0, 2, 3], [-1, -1, 1]]), recent=2)
  r = math.sqrt(0.5)
  np.testing.assert_allclose(profiles, [[(r + 0.6) / 2, (r - 0.8) / 2],
                                        [0.0, 1.0]])
  _, scores = content_baseline.rank(EMBEDDINGS, np.asarray([[0, 2, 3]]),
                                    [np.zeros(0)], recent=2, list_size=5,
                                    mask_history=False)
  norm = math.hypot((r + 0.6) / 2, (r - 0.8) / 2)
  assert scores[0, 0] == pytest.approx((r + 0.6) / 2 / norm, abs=1e-6)


def test_content_fallback_encoder_is_fitted_on_the_warm_items():
  titles = [f"{w} story" for w in ("ghost", "war", "love", "space") * 4]
  genres = [[g] for g in ("Horror", "War", "Romance", "SciFi") * 4]
  items = cold_start.NewItems(
      [str(i) for i in range(17)], titles + [titles[0]], genres + [genres[0]],
      np.zeros(17, np.int64), [""] * 17, np.full(17, np.nan, np.float32))
  embeddings, name = content_baseline.text_embeddings(None, items, 16)
  assert name == "lexical (fitted on the warm items)"
  assert embeddings.shape[0] == 17
  np.testing.assert_allclose(embeddings[16], embeddings[0], atol=1e-6)


# ----------------------------------------------------------- cold metrics --


def test_cold_warm_metrics_and_a_target_outside_the_catalogue():
  ranked = np.tile(np.arange(20), (3, 1))
  ranked[2, 0] = 25  # A new item first.
  targets = np.asarray([0, 30, 25])  # 30: not in any list.
  values = cold_metrics.cold_warm_metrics(ranked, targets, first_new=20)
  assert values["warm"] == {"num_users": 1, **{
      f"{m}@{k}": 1.0 for m in ("recall", "ndcg") for k in (5, 10, 20)}}
  assert values["cold"]["num_users"] == 2
  assert values["cold"]["recall@10"] == 0.5
  assert cold_metrics.new_items_in_lists(ranked, 20) == {
      "new_items_per_list@10": 1 / 3, "lists_with_new_items@10": 1 / 3}
  # The report's metrics count the outside target as a miss, no crash.
  report = evaluator.metrics_of(ranked[:2], targets[:2], 26, "beam",
                                np.ones(26, np.int64))
  assert report["recall@10"] == 0.5
  assert report["long_tail"]["tail"]["num_users"] + report["long_tail"][
      "torso"]["num_users"] + report["long_tail"]["head"]["num_users"] == 2


def test_reserve_slots_puts_the_best_new_items_at_the_end_of_the_top_k():
  ranked = np.asarray([[0, 1, 2, 3, 4, 5],
                       [0, 9, 1, 2, 3, 4],
                       [0, 8, 9, 1, 2, 3],
                       [0, 1, 2, -1, -1, -1]])
  new_only = np.asarray([[8, 9, 7], [9, 8, 7], [9, 8, 7], [7, -1, -1]])
  out = cold_metrics.reserve_slots(ranked, new_only, first_new=7, slots=2,
                                   k=4)
  np.testing.assert_array_equal(out, [[0, 1, 8, 9, 2, 3],
                                      [0, 9, 1, 8, 2, 3],
                                      [0, 8, 9, 1, 2, 3],
                                      [0, 1, 2, 7, -1, -1]])
  np.testing.assert_array_equal(
      cold_metrics.reserve_slots(ranked, new_only, 7, 0, 4), ranked)
  with pytest.raises(ValueError, match="slots"):
    cold_metrics.reserve_slots(ranked, new_only, 7, 5, 4)


# ------------------------------------------------------------ whole job --


def _first_appearance_ids(manual_dir: str) -> list[str]:
  """Raw item ids of the fixture's .inter file by first timestamp."""
  first = {}
  with open(os.path.join(manual_dir, "ml-100k.inter"),
            encoding="utf-8") as f:
    next(f)
    for line in f:
      _, item, _, timestamp = line.split("\t")
      first[item] = min(first.get(item, math.inf), float(timestamp))
  return sorted(first, key=first.get)


def test_tiny_job_holds_out_adds_and_scores_the_cold_items(tmp_path,
                                                          fixture_files):
  workdir = str(tmp_path / "run")
  command = tiny_runs.tiny_main_command(workdir, fixture_files,
                                        "--config.data.cold_items=0.1")
  # One CPU device: the job compiles faster; sharding is tested elsewhere.
  env = dict(os.environ, XLA_FLAGS=os.environ.get("XLA_FLAGS", "").replace(
      "--xla_force_host_platform_device_count=8", ""))
  result = subprocess.run(command, cwd=tiny_runs.REPO, capture_output=True,
                          text=True, timeout=600, env=env)
  assert result.returncode == 0, result.stderr[-5000:]

  order = _first_appearance_ids(fixture_files)
  cold_ids = order[-5:]  # ceil(0.1 * 48) items, the latest to appear.
  with open(os.path.join(workdir, "cold_items.jsonl")) as f:
    written = [json.loads(line) for line in f]
  assert sorted(r["item_id"] for r in written) == sorted(cold_ids)
  vocab = vocab_lib.SemanticIdVocab.load(os.path.join(workdir, "vocab",
                                                      "vocab.json"))
  assert vocab.num_items == 43 and not set(cold_ids) & set(vocab.item_ids)
  assert catalog_versions.version_numbers(workdir) == [0, 1]
  version = catalog_versions.load(workdir, 1)
  assert version.vocab.item_ids == vocab.item_ids + tuple(
      r["item_id"] for r in written)

  config = workdir_lib.load_config(workdir)
  _, split, held = registry.load_split_and_cold_items(config.data, workdir)
  windows = split_lib.training_windows(split.train,
                                       config.data.max_history + 1)
  assert windows.max() < 43 and split.valid_target.max() < 43
  assert held.item_ids == [r["item_id"] for r in written]

  report = tiny_runs.read_report(workdir)
  section = report["cold_start"]
  assert section["num_cold_items"] == 5 and section["cold_items_added"]
  assert section["catalog_version"] == 1
  cold_users = int(held.is_cold_target().sum())
  assert 0 < cold_users == section["cold_test_users"]
  assert cold_users + section["warm_test_users"] == report["num_users"]
  for name in ("model", "popularity", "content"):
    assert section[name]["cold"]["num_users"] == cold_users
    for group in ("cold", "warm"):
      for key in ("recall@10", "ndcg@10", "recall@20"):
        assert 0.0 <= section[name][group][key] <= 1.0
  assert section["popularity"]["cold"]["recall@20"] == 0.0  # Never seen.
  assert section["content"]["encoder"] == "lexical"
  assert section["content"]["cold"]["recall@20"] > 0.0
  assert "reserved_slots" not in section  # eval.cold_slots defaults to 0.

  rerun = subprocess.run(command, cwd=tiny_runs.REPO, capture_output=True,
                         text=True, timeout=600, env=env)
  assert rerun.returncode == 0, rerun.stderr[-5000:]
  assert "already holds the 5 cold items" in rerun.stderr
  assert catalog_versions.version_numbers(workdir) == [0, 1]
  assert tiny_runs.read_report(workdir)["cold_start"] == section
