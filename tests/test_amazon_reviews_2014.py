"""Tests of the Amazon 2014 builder on tiny files in the upstream formats."""

import gzip
import json
import math
import pathlib

import numpy as np
import pytest
import tensorflow_datasets as tfds

from jaxrec.data import amazon_reviews_2014 as amazon
from jaxrec.data import checks
from jaxrec.data import dataset
from jaxrec.data import parsing
from jaxrec.data import split as split_lib

# reviewerID, asin, overall, unixReviewTime in file order. A1 has a timestamp
# tie (B003 then B001 at 200); A2 reviewed B001 twice; B004 has no metadata.
REVIEWS = [
    ("A1", "B002", 5.0, 300),
    ("A1", "B003", 4.0, 200),
    ("A1", "B001", 5.0, 200),
    ("A2", "B001", 3.0, 100),
    ("A2", "B001", 4.0, 150),
    ("A2", "B004", 2.0, 160),
    ("A3", "B002", 5.0, 50),
]
# Python-literal metadata, as upstream writes it (repr of a dict). B999 has
# no review; B004 has no line.
META = [
    {"asin": "B001", "title": "L'Oreal Paris Revitalift Cream", "price": 12.5,
     "imUrl": "http://x/1.jpg", "salesRank": {"Beauty": 402875},
     "related": {"also_bought": ["B002"]}, "brand": "L'Oreal Paris",
     "categories": [["Beauty", "Skin Care", "Face"], ["Beauty", "Makeup"]]},
    {"asin": "B999", "title": "Not reviewed", "categories": [["Beauty"]]},
    {"asin": "B002", "title": "Shampoo &amp; Conditioner",
     "categories": [["Beauty", "Hair Care"]]},
    {"asin": "B003", "title": "Crème Brûlée Lip Balm", "price": 7,
     "brand": "Nivea", "categories": [["Beauty"]]},
]
REVIEWS_NAME = "reviews_Beauty_5.json.gz"
META_NAME = "meta_Beauty.json.gz"


def review_line(user, item, rating, timestamp) -> str:
  return json.dumps({
      "reviewerID": user, "asin": item, "reviewerName": "Someone",
      "helpful": [0, 0], "reviewText": "Nice.", "overall": rating,
      "summary": "ok", "unixReviewTime": timestamp,
      "reviewTime": "04 20, 2013"})


def reviews_bytes(rows=REVIEWS) -> bytes:
  return gzip.compress("".join(review_line(*row) + "\n"
                               for row in rows).encode())


def meta_bytes(lines=None) -> bytes:
  lines = [repr(record) for record in META] if lines is None else lines
  return gzip.compress("".join(line + "\n" for line in lines).encode())


def write_manual(directory: pathlib.Path, reviews=None, meta=None,
                 category="Beauty") -> pathlib.Path:
  directory.mkdir(parents=True, exist_ok=True)
  (directory / f"reviews_{category}_5.json.gz").write_bytes(
      reviews_bytes() if reviews is None else reviews)
  if meta is not False:
    (directory / f"meta_{category}.json.gz").write_bytes(
        meta_bytes() if meta is None else meta)
  return directory


def load(tmp_path, manual, subset="beauty", verify=False, **kwargs):
  return dataset.load_interactions(
      amazon.AmazonReviews2014, str(tmp_path / "data"),
      manual_dir=str(manual), verify_checksums=verify, subset=subset,
      **kwargs)


@pytest.fixture(scope="module")
def beauty(tmp_path_factory):
  tmp_path = tmp_path_factory.mktemp("amazon")
  return load(tmp_path, write_manual(tmp_path / "manual"))


def test_items_have_metadata_or_empty_text(beauty):
  assert beauty.item_ids == ["B001", "B002", "B003", "B004"]  # B999 unused.
  assert beauty.titles == ["L'Oreal Paris Revitalift Cream",
                           "Shampoo & Conditioner", "Crème Brûlée Lip Balm",
                           ""]
  assert beauty.genres == [["Beauty", "Skin Care", "Face", "Makeup"],
                           ["Beauty", "Hair Care"], ["Beauty"], []]
  assert beauty.brands == ["L'Oreal Paris", "", "Nivea", ""]
  np.testing.assert_array_equal(beauty.prices, [12.5, np.nan, 7.0, np.nan])
  assert beauty.prices.dtype == np.float32
  np.testing.assert_array_equal(beauty.years, [0, 0, 0, 0])
  assert beauty.item_texts[0] == (
      "L'Oreal Paris Revitalift Cream. Brand: L'Oreal Paris. Categories: "
      "Beauty, Skin Care, Face, Makeup. Price: $12.50.")
  assert beauty.item_texts[3] == ""


def test_interactions_keep_file_order_ties_and_duplicates(beauty):
  assert beauty.user_ids == ["A1", "A2", "A3"]
  expected_items = [[1, 2, 0], [0, 0, 3], [1]]
  expected_times = [[300, 200, 200], [100, 150, 160], [50]]
  for got, want in zip(beauty.user_items, expected_items):
    np.testing.assert_array_equal(got, want)
  for got, want in zip(beauty.user_timestamps, expected_times):
    np.testing.assert_array_equal(got, want)
  # The tie at 200 keeps file order (B003, then B001): B002 is the test item.
  split = split_lib.leave_one_out(beauty.user_items, beauty.user_timestamps,
                                  beauty.user_ids)
  np.testing.assert_array_equal(split.train[0], [2])
  assert (split.valid_target[0], split.test_target[0]) == (0, 1)


def test_missing_metadata_is_counted_and_logged(tmp_path, caplog):
  caplog.set_level("WARNING")
  load(tmp_path, write_manual(tmp_path / "manual"))
  assert "1 of 4 item(s) have no metadata" in caplog.text
  assert "B004" in caplog.text


def test_uncompressed_files_and_other_subsets(tmp_path, beauty):
  manual = tmp_path / "manual"
  manual.mkdir()
  (manual / "reviews_Toys_and_Games_5.json").write_bytes(
      gzip.decompress(reviews_bytes()))
  (manual / "meta_Toys_and_Games.json").write_bytes(
      gzip.decompress(meta_bytes()))
  toys = load(tmp_path, manual, subset="toys")
  assert toys.item_ids == beauty.item_ids and toys.titles == beauty.titles
  assert toys.fingerprint == beauty.fingerprint


def test_second_load_reuses_prepared_data(tmp_path, monkeypatch, beauty):
  manual = write_manual(tmp_path / "manual")
  load(tmp_path, manual)
  monkeypatch.setattr(amazon, "parse_reviews", pytest.fail)
  assert load(tmp_path, manual).item_ids == beauty.item_ids


# ------------------------------------------------------- 5-core, statistics --


def five_core_reviews():
  """6 users x 5 items, all reviewed, plus 1 lone user and 1 rare item."""
  rows = [(f"U{u}", f"I{i}", 5.0, 10 * u + i)
          for u in range(6) for i in range(5)]
  return rows + [("LONE", "I0", 1.0, 1), ("U0", "RARE", 1.0, 2)]


def test_kcore_filter_in_the_loader(tmp_path):
  manual = write_manual(tmp_path / "manual", reviews_bytes(five_core_reviews()))
  raw = load(tmp_path, manual)
  assert (raw.num_users, raw.num_items, raw.num_interactions) == (7, 6, 32)
  cored = load(tmp_path, manual, min_user_interactions=5,
               min_item_interactions=5)
  assert (cored.num_users, cored.num_items, cored.num_interactions) == (
      6, 5, 30)
  assert "LONE" not in cored.user_ids and "RARE" not in cored.item_ids


def test_statistics_are_verified(tmp_path, monkeypatch):
  manual = write_manual(tmp_path / "manual", reviews_bytes(five_core_reviews()))
  with pytest.raises(checks.StatisticsMismatchError) as error:
    load(tmp_path, manual, verify=True)
  assert "22,363 users, 12,101 items, 198,502 interactions" in str(error.value)
  assert "6 users, 5 items, 30 interactions" in str(error.value)
  beauty = amazon.CATEGORIES["beauty"]
  monkeypatch.setitem(amazon.CATEGORIES, "beauty", amazon.Category(
      beauty.file_stem, beauty.description, checks.DatasetStats(6, 5, 30)))
  data = load(tmp_path / "again", manual, verify=True)  # No sha256 known.
  assert data.num_interactions == 32


def test_published_statistics():
  stats = {name: category.stats
           for name, category in amazon.CATEGORIES.items()}
  assert stats == {
      "beauty": checks.DatasetStats(22_363, 12_101, 198_502),
      "sports": checks.DatasetStats(35_598, 18_357, 296_337),
      "toys": checks.DatasetStats(19_412, 11_924, 167_597),
  }


# -------------------------------------------------------------- checksums --


def test_urls_and_instructions_name_every_file():
  for category in amazon.CATEGORIES.values():
    assert category.reviews_url == amazon.BASE_URL + category.reviews_file
    for name in (category.reviews_file, category.meta_file):
      assert name in amazon.AmazonReviews2014.MANUAL_DOWNLOAD_INSTRUCTIONS
  assert "reviews_Sports_and_Outdoors_5.json.gz" in (
      amazon.AmazonReviews2014.MANUAL_DOWNLOAD_INSTRUCTIONS)


def test_register_checksums_records_manual_files(tmp_path, monkeypatch):
  checksums_path = tmp_path / "amazon_reviews_2014.tsv"
  monkeypatch.setattr(amazon.AmazonReviews2014, "_checksums_path",
                      checksums_path)
  manual = write_manual(tmp_path / "manual")
  load(tmp_path, manual, register_checksums=True)
  recorded = tfds.download.checksums.load_url_infos(checksums_path)
  beauty = amazon.CATEGORIES["beauty"]
  assert set(recorded) == {beauty.reviews_url, beauty.meta_url}
  info = recorded[beauty.reviews_url]
  assert info.checksum == checks.sha256_of_path(manual / REVIEWS_NAME)
  assert info.filename == REVIEWS_NAME


def test_registered_checksum_is_enforced(tmp_path, monkeypatch):
  beauty = amazon.CATEGORIES["beauty"]
  wrong = tfds.download.checksums.UrlInfo(size=1, checksum="0" * 64,
                                          filename=REVIEWS_NAME)
  monkeypatch.setattr(amazon.AmazonReviews2014, "url_infos",
                      {beauty.reviews_url: wrong})
  with pytest.raises(checks.ChecksumMismatchError, match=REVIEWS_NAME):
    load(tmp_path, write_manual(tmp_path / "manual"), verify=True)


# -------------------------------------------------------------- bad input --


def _lines_with(index, line):
  lines = [review_line(*row) for row in REVIEWS]
  lines[index] = line
  return gzip.compress(("\n".join(lines) + "\n").encode())


def _meta_with(index, line):
  lines = [repr(record) for record in META]
  lines[index] = line
  return meta_bytes(lines)


BAD_INPUT = {
    "json": (_lines_with(2, '{"reviewerID": "A1", "asin": '), None,
             r"reviews_Beauty_5\.json\.gz line 3: not valid JSON"),
    "missing field": (
        _lines_with(1, '{"reviewerID": "A1", "asin": "B003", "overall": 4}'),
        None, r"line 2: missing field\(s\) \['unixReviewTime'\]"),
    "empty user": (
        _lines_with(0, '{"reviewerID": "", "asin": "B002", "overall": 5.0, '
                       '"unixReviewTime": 1}'), None,
        r"line 1: field 'reviewerID' is missing or not a non-empty string"),
    "rating": (
        _lines_with(3, '{"reviewerID": "A2", "asin": "B001", "overall": "x", '
                       '"unixReviewTime": 1}'), None,
        r"line 4: field 'rating' is not a finite number"),
    "not an object": (_lines_with(3, '["A2", "B001"]'), None,
                      r"line 4: expected an object/dict, found list"),
    "price": (
        None, _meta_with(2, "{'asin': 'B002', 'title': 'Sh', 'price': '9'}"),
        r"meta_Beauty\.json\.gz line 3: field 'price' is not a non-negative"),
    "categories": (
        None, _meta_with(3, "{'asin': 'B003', 'categories': 'Beauty'}"),
        r"meta_Beauty\.json\.gz line 4: field 'categories' is not a list"),
    "quotes": (None, _meta_with(0, "{'asin': 'B001', 'title': 'L'Oreal'}"),
               r"meta_Beauty\.json\.gz line 1: not a Python literal"),
    "utf-8": (None, gzip.compress(repr(META[0]).encode() +
                                  b"\n{'asin': 'B002', 'title': '\xff'}\n"),
              r"meta_Beauty\.json\.gz line 2: text is not valid utf-8"),
}


@pytest.mark.parametrize("reviews, meta, message", BAD_INPUT.values(),
                         ids=BAD_INPUT.keys())
def test_bad_input_names_file_and_line(tmp_path, reviews, meta, message):
  manual = write_manual(tmp_path / "manual", reviews, meta)
  with pytest.raises(parsing.DataFormatError, match=message):
    load(tmp_path, manual)


@pytest.mark.parametrize("line_index, template", [
    (2, "{{'asin': 'B002', 'title': __import__('pathlib').Path({path!r})"
        ".touch()}}"),
    (1, "__import__('pathlib').Path({path!r}).touch()"),
])
def test_metadata_code_is_never_run(tmp_path, line_index, template):
  marker = tmp_path / "was_run"
  manual = write_manual(tmp_path / "manual", meta=_meta_with(
      line_index, template.format(path=str(marker))))
  with pytest.raises(parsing.DataFormatError,
                     match=rf"meta_Beauty\.json\.gz line {line_index + 1}: "
                     "not a Python literal"):
    load(tmp_path, manual)
  assert not marker.exists()


@pytest.mark.parametrize("file_name", [REVIEWS_NAME, META_NAME])
def test_truncated_gzip(tmp_path, file_name):
  manual = write_manual(tmp_path / "manual")
  path = manual / file_name
  path.write_bytes(path.read_bytes()[:-12])
  with pytest.raises(parsing.DataFormatError,
                     match=rf"{file_name} line \d+: gzip stream is truncated"):
    load(tmp_path, manual)


def test_missing_metadata_file_says_which_files(tmp_path):
  manual = write_manual(tmp_path / "manual", meta=False)
  with pytest.raises(FileNotFoundError, match=META_NAME) as error:
    load(tmp_path, manual)
  assert REVIEWS_NAME in str(error.value)


def test_unknown_subset(tmp_path):
  with pytest.raises(ValueError, match="one of"):
    load(tmp_path, write_manual(tmp_path / "manual"), subset="books")


def test_interaction_data_defaults_without_brands_and_prices():
  data = dataset.InteractionData(
      item_ids=["x"], titles=[""], genres=[[]], years=np.zeros(1, np.int32),
      user_ids=[], user_items=[], user_timestamps=[])
  assert data.brands == [""] and math.isnan(data.prices[0])
  assert data.item_texts == [""]
