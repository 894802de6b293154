"""Tests of the MovieLens-100K builder and loader on tiny fixture files."""

import hashlib
import pathlib
import subprocess
import zipfile

import numpy as np
import pytest

from jaxrec.data import dataset
from jaxrec.data import movielens_100k

# user, item, rating, timestamp in file order. User 1 has a timestamp tie (200)
# and is not in time order; ids "10" > "3" numerically, not as strings.
RATINGS = [
    ("2", "1", "5", "100"),
    ("1", "3", "4", "300"),
    ("1", "2", "3", "200"),
    ("1", "1", "5", "200"),
    ("10", "5", "2", "50"),
    ("3", "4", "1", "10"),
    ("2", "5", "4", "90"),
]
# GroupLens u.item: Latin-1, titles with the year, 19 genre flags.
GENRE_FLAGS = {
    "1": ("Animation", "Children's", "Comedy"),
    "2": ("Crime", "Thriller"),
    "3": ("Drama", "Musical"),
    "4": ("unknown",),
    "5": ("Animation", "Children's"),
}
GROUPLENS_ITEMS = [
    ("1", "Toy Story (1995)", "01-Jan-1995"),
    ("2", "Usual Suspects, The (1995)", "14-Aug-1995"),
    ("3", "Misérables, Les (1995)", "01-Jan-1995"),
    ("4", "unknown", ""),
    ("5", "Land Before Time III: The Time of the Great Giving (1995) (V)",
     "01-Jan-1995"),
]
# The same items as RecBole writes them (UTF-8, its "unkonwn" and "V" quirks).
RECBOLE_ITEMS = [
    ("1", "Toy Story", "1995"),
    ("2", "Usual Suspects, The", "1995"),
    ("3", "Misérables, Les", "1995"),
    ("4", "unkonwn", "unkonwn"),
    ("5", "Land Before Time III: The Time of the Great Giving (1995)", "V"),
]
EXPECTED_TITLES = ["Toy Story", "Usual Suspects, The", "Misérables, Les",
                   "unknown",
                   "Land Before Time III: The Time of the Great Giving"]
EXPECTED_YEARS = [1995, 1995, 1995, 0, 1995]


def u_data(rows=RATINGS) -> bytes:
  return "".join("\t".join(row) + "\n" for row in rows).encode()


def u_item() -> bytes:
  lines = []
  for item_id, title, date in GROUPLENS_ITEMS:
    flags = ["1" if genre in GENRE_FLAGS[item_id] else "0"
             for genre in movielens_100k.GENRES]
    lines.append("|".join([item_id, title, date, "", "http://x"] + flags))
  return ("\n".join(lines) + "\n").encode("latin-1")


def recbole_inter(rows=RATINGS) -> bytes:
  # Columns in another order than u.data, plus an unused one: read by name.
  header = ("timestamp:float\titem_id:token\tuser_id:token\trating:float"
            "\tx:token")
  lines = [header] + [f"{t}\t{i}\t{u}\t{r}\textra" for u, i, r, t in rows]
  lines[1] = lines[1].replace("100\t", "100.0\t", 1)  # A float timestamp.
  return ("\n".join(lines) + "\n").encode()


def recbole_item() -> bytes:
  header = ("item_id:token\tmovie_title:token_seq\trelease_year:token"
            "\tclass:token_seq")
  lines = [header] + [
      f"{item_id}\t{title}\t{year}\t{' '.join(GENRE_FLAGS[item_id])}"
      for item_id, title, year in RECBOLE_ITEMS]
  return ("\n".join(lines) + "\n").encode()


def write_files(directory: pathlib.Path, files: dict) -> pathlib.Path:
  for name, content in files.items():
    (directory / name).parent.mkdir(parents=True, exist_ok=True)
    (directory / name).write_bytes(content)
  return directory


def grouplens_zip(path: pathlib.Path, data: bytes, items: bytes) -> None:
  with zipfile.ZipFile(path, "w") as archive:
    archive.writestr("ml-100k/u.data", data)
    archive.writestr("ml-100k/u.item", items)


def manual_dir(tmp_path: pathlib.Path, kind: str) -> pathlib.Path:
  directory = tmp_path / f"manual_{kind}"
  directory.mkdir()
  if kind == "extracted":
    write_files(directory, {"u.data": u_data(), "u.item": u_item()})
  elif kind == "subfolder":
    write_files(directory, {"ml-100k/u.data": u_data(),
                            "ml-100k/u.item": u_item()})
  elif kind == "zip":
    grouplens_zip(directory / "ml-100k.zip", u_data(), u_item())
  elif kind == "recbole":
    write_files(directory, {"ml-100k.inter": recbole_inter(),
                            "ml-100k.item": recbole_item()})
  return directory


def load(tmp_path, manual, verify=False, name="data"):
  return dataset.load_movielens_100k(
      str(tmp_path / name), manual_dir=str(manual), verify_checksums=verify)


def assert_same_data(a: dataset.InteractionData, b: dataset.InteractionData):
  assert a.item_ids == b.item_ids
  assert a.titles == b.titles
  assert a.genres == b.genres
  np.testing.assert_array_equal(a.years, b.years)
  assert a.user_ids == b.user_ids
  for field in ("user_items", "user_timestamps"):
    assert len(getattr(a, field)) == len(getattr(b, field))
    for x, y in zip(getattr(a, field), getattr(b, field)):
      np.testing.assert_array_equal(x, y)
      assert x.dtype == y.dtype
  assert a.fingerprint == b.fingerprint


@pytest.fixture(scope="module")
def grouplens_data(tmp_path_factory):
  tmp_path = tmp_path_factory.mktemp("grouplens")
  return load(tmp_path, manual_dir(tmp_path, "extracted"))


def test_parses_grouplens_files(grouplens_data):
  data = grouplens_data
  assert data.item_ids == ["1", "2", "3", "4", "5"]
  assert data.titles == EXPECTED_TITLES
  assert data.genres == [list(GENRE_FLAGS[i]) for i in data.item_ids]
  assert data.years.dtype == np.int32
  np.testing.assert_array_equal(data.years, EXPECTED_YEARS)
  assert data.user_ids == ["1", "2", "3", "10"]  # Numeric order.
  assert (data.num_users, data.num_items, data.num_interactions) == (4, 5, 7)
  # File order, not time order: items 3, 2, 1 at times 300, 200, 200.
  expected_items = [[2, 1, 0], [0, 4], [3], [4]]
  expected_times = [[300, 200, 200], [100, 90], [10], [50]]
  for got, want in zip(data.user_items, expected_items):
    assert got.dtype == np.int32
    np.testing.assert_array_equal(got, want)
  for got, want in zip(data.user_timestamps, expected_times):
    assert got.dtype == np.int64
    np.testing.assert_array_equal(got, want)
  assert data.fingerprint == hashlib.sha256(b"1\n2\n3\n4\n5\n").hexdigest()


@pytest.mark.parametrize("kind", ["subfolder", "zip", "recbole"])
def test_all_sources_agree(tmp_path, grouplens_data, kind):
  assert_same_data(load(tmp_path, manual_dir(tmp_path, kind)), grouplens_data)


def test_package_index_fallback(tmp_path, grouplens_data, monkeypatch):
  # GroupLens unreachable; the recbole wheel is already in the download dir,
  # so pip must not run.
  data_dir = tmp_path / "data"
  wheel_dir = data_dir / "downloads" / "recbole-1.2.1"
  wheel_dir.mkdir(parents=True)
  with zipfile.ZipFile(wheel_dir / "recbole-1.2.1-py3-none-any.whl", "w") as w:
    w.writestr("recbole/dataset_example/ml-100k/ml-100k.inter",
               recbole_inter())
    w.writestr("recbole/dataset_example/ml-100k/ml-100k.item", recbole_item())
  monkeypatch.setattr(movielens_100k, "_host_reachable", lambda url: False)
  monkeypatch.setattr(subprocess, "run", pytest.fail)
  data = dataset.load_movielens_100k(str(data_dir), verify_checksums=False)
  assert_same_data(data, grouplens_data)


def test_second_load_reuses_prepared_data(tmp_path, monkeypatch):
  manual = manual_dir(tmp_path, "recbole")
  first = load(tmp_path, manual)
  monkeypatch.setattr(movielens_100k, "parse_source", pytest.fail)
  assert_same_data(load(tmp_path, manual), first)


def test_grouplens_checksum_is_registered():
  info = movielens_100k.MovieLens100K.url_infos[movielens_100k.GROUPLENS_URL]
  assert info.checksum == movielens_100k.FILE_SHA256["ml-100k.zip"]
  assert int(info.size) == 4924029


@pytest.mark.parametrize("kind, file_name, expected", [
    ("zip", "ml-100k.zip", movielens_100k.FILE_SHA256["ml-100k.zip"]),
    ("recbole", "ml-100k.inter", movielens_100k.FILE_SHA256["ml-100k.inter"]),
    ("extracted", "u.data", movielens_100k.INTERACTIONS_FINGERPRINT),
])
def test_checksum_mismatch_raises(tmp_path, kind, file_name, expected):
  with pytest.raises(movielens_100k.ChecksumMismatchError) as error:
    load(tmp_path, manual_dir(tmp_path, kind), verify=True)
  message = str(error.value)
  assert file_name in message and expected in message and "actual" in message


def _bad_rows(row_index, row):
  rows = list(RATINGS)
  rows[row_index] = row
  return rows


@pytest.mark.parametrize("files, message", [
    ({"u.data": u_data(_bad_rows(2, ("1", "2", "3"))), "u.item": u_item()},
     r"u\.data line 3: expected 4"),
    ({"u.data": u_data(_bad_rows(3, ("1", "1", "5", "noon"))),
      "u.item": u_item()},
     r"u\.data line 4: field 'timestamp'"),
    ({"u.data": u_data(_bad_rows(1, ("1", "9", "4", "300"))),
      "u.item": u_item()},
     r"u\.data line 2: field 'item' '9' is not in the item file"),
    ({"u.data": u_data(_bad_rows(0, ("2", "1", "five", "100"))),
      "u.item": u_item()},
     r"u\.data line 1: field 'rating'"),
    ({"u.data": u_data(), "u.item": u_item().replace(b"|0|", b"|x|", 1)},
     r"u\.item line 1: field genre flag"),
    ({"ml-100k.inter": recbole_inter().replace(b"timestamp:float", b"time"),
      "ml-100k.item": recbole_item()},
     r"ml-100k\.inter line 1: header lacks column\(s\) \['timestamp'\]"),
    ({"ml-100k.inter": recbole_inter().replace(b"\t10\t", b"\t1\xff\t"),
      "ml-100k.item": recbole_item()},
     r"ml-100k\.inter line 6: text is not valid utf-8"),
    ({"ml-100k.inter": recbole_inter(),
      "ml-100k.item": recbole_item().replace(b"\tunknown\n", b"\n")},
     r"ml-100k\.item line 5: expected 4"),
])
def test_bad_input_names_file_and_line(tmp_path, files, message):
  manual = write_files(tmp_path / "manual", files)
  with pytest.raises(movielens_100k.DataFormatError, match=message):
    load(tmp_path, manual)


def test_truncated_zip(tmp_path):
  manual = manual_dir(tmp_path, "zip")
  zip_path = manual / "ml-100k.zip"
  zip_path.write_bytes(zip_path.read_bytes()[:-40])
  with pytest.raises(movielens_100k.DataFormatError, match="ml-100k.zip"):
    load(tmp_path, manual)


def test_manual_dir_without_accepted_files(tmp_path):
  manual = write_files(tmp_path / "manual", {"ratings.csv": b"1,2\n"})
  with pytest.raises(FileNotFoundError) as error:
    load(tmp_path, manual)
  for name in movielens_100k.ACCEPTED_MANUAL_FILES:
    assert name in str(error.value)


def test_missing_manual_dir(tmp_path):
  with pytest.raises(FileNotFoundError, match="does not exist or is empty"):
    load(tmp_path, tmp_path / "nowhere")
