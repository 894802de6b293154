"""Tests of the RecBole atomic-file builder on tiny .inter / .item files."""

import pathlib

import numpy as np
import pytest

from jaxrec.data import dataset
from jaxrec.data import parsing
from jaxrec.data import recbole_atomic
from tests import test_movielens_100k

# Columns in a non-canonical order plus an unused one; a float timestamp; u1
# has a tie at 20 (file order: i3, then i1); u2 rated i1 twice; i4 has no
# .item row; i9 has a row but no interaction.
INTER = """\
timestamp:float\titem_id:token\tuser_id:token\trating:float\tx:token
30\ti2\tu1\t5\ta
20\ti3\tu1\t4\tb
20.0\ti1\tu1\t3\tc
10\ti1\tu2\t5\td
11\ti1\tu2\t4\te
12\ti4\tu2\t1\tf
"""
ITEM = """\
item_id:token\ttitle:token_seq\tcategories:token_seq\tbrand:token\tprice:float\trelease_year:token
i1\tRed Shoes\tShoes Running\tAcme\t19.5\t2001
i2\tBlue Hat\tHats\t\t\t
i3\tGreen Sock\t\tSocko\t3\tunknown
i9\tNever Rated\tOther\t\t\t
"""


def write(directory: pathlib.Path, files: dict) -> pathlib.Path:
  for name, text in files.items():
    (directory / name).parent.mkdir(parents=True, exist_ok=True)
    (directory / name).write_bytes(
        text if isinstance(text, bytes) else text.encode())
  return directory


def load(tmp_path, manual, name="shop", data_dir="data"):
  return dataset.load_interactions(
      recbole_atomic.RecBoleAtomic, str(tmp_path / data_dir),
      manual_dir=str(manual), subset=name)


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
  tmp_path = tmp_path_factory.mktemp("recbole")
  manual = write(tmp_path / "manual", {"shop.inter": INTER,
                                       "shop.item": ITEM})
  return load(tmp_path, manual)


def test_parses_atomic_files(shop):
  assert shop.item_ids == ["i1", "i2", "i3", "i4"]  # i9: no interaction.
  assert shop.titles == ["Red Shoes", "Blue Hat", "Green Sock", ""]
  assert shop.genres == [["Shoes", "Running"], ["Hats"], [], []]
  assert shop.brands == ["Acme", "", "Socko", ""]
  np.testing.assert_array_equal(shop.prices, [19.5, np.nan, 3.0, np.nan])
  np.testing.assert_array_equal(shop.years, [2001, 0, 0, 0])
  assert shop.user_ids == ["u1", "u2"]
  for got, want in zip(shop.user_items, [[1, 2, 0], [0, 0, 3]]):
    np.testing.assert_array_equal(got, want)
  for got, want in zip(shop.user_timestamps, [[30, 20, 20], [10, 11, 12]]):
    np.testing.assert_array_equal(got, want)


def test_subfolder_layout_and_no_item_file(tmp_path, shop):
  manual = write(tmp_path / "manual", {"shop/shop.inter": INTER})
  data = load(tmp_path, manual)
  assert data.item_ids == shop.item_ids
  assert data.titles == ["", "", "", ""]


def test_datasets_sharing_a_data_dir_do_not_collide(tmp_path):
  manual = write(tmp_path / "manual", {
      "a.inter": "user_id:token\titem_id:token\nu\tx\nu\ty\n",
      "b.inter": "user_id:token\titem_id:token\nv\tz\n"})
  a = load(tmp_path, manual, "a")
  b = load(tmp_path, manual, "b")
  assert (a.item_ids, b.item_ids) == (["x", "y"], ["z"])


def test_without_rating_and_timestamp_file_order_is_time_order(tmp_path):
  manual = write(tmp_path / "manual", {
      "clicks.inter": "item_id:token\tuser_id:token\nb\tu\na\tu\n"})
  data = load(tmp_path, manual, "clicks")
  np.testing.assert_array_equal(data.user_items[0], [1, 0])
  np.testing.assert_array_equal(data.user_timestamps[0], [0, 0])


@pytest.mark.parametrize("files, message", [
    ({"shop.inter": INTER.replace("rating:float", "rating:number")},
     r"shop\.inter line 1: column 'rating' has unknown type 'number'"),
    ({"shop.inter": INTER.replace("user_id:token", "user:token")},
     r"shop\.inter line 1: header lacks column\(s\) \['user_id'\]"),
    ({"shop.inter": INTER.replace("20\ti3\tu1\t4\tb", "20\ti3\tu1\t4")},
     r"shop\.inter line 3: expected 5 '\\t'-separated fields"),
    ({"shop.inter": INTER.replace("10\ti1\tu2", "ten\ti1\tu2")},
     r"shop\.inter line 5: field 'timestamp'"),
    ({"shop.inter": INTER, "shop.item": ITEM.replace("\t19.5\t", "\tcheap\t")},
     r"shop\.item line 2: field 'price' is not a finite number"),
    ({"shop.inter": INTER, "shop.item": ITEM + "i1\tAgain\t\t\t\t\n"},
     r"shop\.item line 6: duplicate item id 'i1'"),
    ({"shop.inter": INTER.encode().replace(b"u2", b"u\xff", 1)},
     r"shop\.inter line 5: text is not valid utf-8"),
], ids=["type", "column", "fields", "timestamp", "price", "duplicate",
        "utf-8"])
def test_bad_input_names_file_and_line(tmp_path, files, message):
  manual = write(tmp_path / "manual", files)
  with pytest.raises(parsing.DataFormatError, match=message):
    load(tmp_path, manual)


def test_missing_inter_file(tmp_path):
  manual = write(tmp_path / "manual", {"other.inter": INTER})
  with pytest.raises(FileNotFoundError, match=r"No shop\.inter"):
    load(tmp_path, manual)


@pytest.mark.parametrize("name", [None, "", "a/b", "_x", "a b"])
def test_bad_dataset_names(name):
  with pytest.raises(ValueError, match="dataset name"):
    recbole_atomic.RecBoleAtomic.configs_for(name)


def test_movielens_100k_atomic_files_give_the_same_interactions(tmp_path):
  manual = write(tmp_path / "manual", {
      "ml-100k.inter": test_movielens_100k.recbole_inter(),
      "ml-100k.item": test_movielens_100k.recbole_item()})
  generic = load(tmp_path, manual, "ml-100k")
  specific = dataset.load_movielens_100k(
      str(tmp_path / "ml100k"), manual_dir=str(manual),
      verify_checksums=False)
  assert generic.item_ids == specific.item_ids
  assert generic.user_ids == specific.user_ids
  assert generic.genres == specific.genres
  for a, b in zip(generic.user_items + generic.user_timestamps,
                  specific.user_items + specific.user_timestamps):
    np.testing.assert_array_equal(a, b)
