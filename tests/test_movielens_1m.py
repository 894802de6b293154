"""Tests of the MovieLens-1M builder on tiny files in the GroupLens format."""

import pathlib
import zipfile

import numpy as np
import pytest
import tensorflow_datasets as tfds

from jaxrec.data import checks
from jaxrec.data import dataset
from jaxrec.data import movielens_1m
from jaxrec.data import parsing

# UserID::MovieID::Rating::Timestamp in file order: user 1 has a tie at 200;
# user 2 rated movie 1 twice; movie 4 has no rating (dropped by the loader).
RATINGS = [
    ("1", "3", "4", "300"),
    ("1", "2", "3", "200"),
    ("1", "1", "5", "200"),
    ("2", "1", "5", "100"),
    ("2", "1", "4", "110"),
    ("10", "2", "2", "50"),
]
MOVIES = [
    ("1", "Toy Story (1995)", "Animation|Children's|Comedy"),
    ("2", "Misérables, Les (1995)", "Drama|Musical"),
    ("3", "City of Lost Children, The (Cité des enfants perdus, La) (1995)",
     "Adventure|Sci-Fi"),
    ("4", "Untitled", "Drama"),
]
TFDS_ML1M_SHA256 = (
    "a6898adb50b9ca05aa231689da44c217cb524e7ebd39d264c56e2832f2c54e20")


def ratings_dat(rows=RATINGS) -> bytes:
  return "".join("::".join(row) + "\n" for row in rows).encode()


def movies_dat(rows=MOVIES) -> bytes:
  return "".join("::".join(row) + "\n" for row in rows).encode("latin-1")


def write_manual(directory: pathlib.Path, kind: str, ratings=None,
                 movies=None) -> pathlib.Path:
  directory.mkdir(parents=True)
  ratings = ratings_dat() if ratings is None else ratings
  movies = movies_dat() if movies is None else movies
  if kind == "zip":
    with zipfile.ZipFile(directory / "ml-1m.zip", "w") as archive:
      archive.writestr("ml-1m/ratings.dat", ratings)
      archive.writestr("ml-1m/movies.dat", movies)
      archive.writestr("ml-1m/users.dat", "1::F::1::10::48067\n")
  else:
    prefix = "ml-1m/" if kind == "subfolder" else ""
    (directory / prefix).mkdir(exist_ok=True)
    (directory / f"{prefix}ratings.dat").write_bytes(ratings)
    (directory / f"{prefix}movies.dat").write_bytes(movies)
  return directory


def load(tmp_path, manual, verify=False):
  return dataset.load_interactions(
      movielens_1m.MovieLens1M, str(tmp_path / "data"),
      manual_dir=str(manual), verify_checksums=verify)


@pytest.fixture(scope="module")
def extracted(tmp_path_factory):
  tmp_path = tmp_path_factory.mktemp("ml1m")
  return load(tmp_path, write_manual(tmp_path / "manual", "extracted"))


def test_parses_the_grouplens_files(extracted):
  data = extracted
  assert data.item_ids == ["1", "2", "3"]  # Movie 4 has no rating.
  assert data.titles == [
      "Toy Story", "Misérables, Les",
      "City of Lost Children, The (Cité des enfants perdus, La)"]
  assert data.genres == [["Animation", "Children's", "Comedy"],
                         ["Drama", "Musical"], ["Adventure", "Sci-Fi"]]
  np.testing.assert_array_equal(data.years, [1995, 1995, 1995])
  assert data.user_ids == ["1", "2", "10"]
  for got, want in zip(data.user_items, [[2, 1, 0], [0, 0], [1]]):
    np.testing.assert_array_equal(got, want)
  for got, want in zip(data.user_timestamps,
                       [[300, 200, 200], [100, 110], [50]]):
    np.testing.assert_array_equal(got, want)
  assert data.item_texts[0] == (
      "Toy Story. Categories: Animation, Children's, Comedy. Year: 1995.")


@pytest.mark.parametrize("kind", ["zip", "subfolder"])
def test_all_sources_agree(tmp_path, extracted, kind):
  data = load(tmp_path, write_manual(tmp_path / "manual", kind))
  assert data.item_ids == extracted.item_ids
  assert data.titles == extracted.titles
  assert data.user_ids == extracted.user_ids
  for a, b in zip(data.user_items, extracted.user_items):
    np.testing.assert_array_equal(a, b)


def test_checksum_is_the_one_tfds_registers():
  info = movielens_1m.MovieLens1M.url_infos[movielens_1m.GROUPLENS_URL]
  assert info.checksum == TFDS_ML1M_SHA256 and int(info.size) == 5917549
  tfds_file = (pathlib.Path(tfds.__file__).parent / "url_checksums" /
               "movielens.txt")
  if tfds_file.exists():
    assert f"{movielens_1m.GROUPLENS_URL}\t5917549\t{TFDS_ML1M_SHA256}" in (
        tfds_file.read_text())


def test_zip_checksum_mismatch_raises(tmp_path):
  with pytest.raises(checks.ChecksumMismatchError) as error:
    load(tmp_path, write_manual(tmp_path / "manual", "zip"), verify=True)
  assert "ml-1m.zip" in str(error.value)
  assert TFDS_ML1M_SHA256 in str(error.value)


def test_statistics_mismatch_raises(tmp_path):
  with pytest.raises(checks.StatisticsMismatchError) as error:
    load(tmp_path, write_manual(tmp_path / "manual", "extracted"),
         verify=True)
  assert "6,040 users, 3,706 items, 1,000,209 interactions" in str(
      error.value)
  assert "3 users, 3 items, 6 interactions" in str(error.value)


def _with(rows, index, row):
  rows = list(rows)
  rows[index] = row
  return rows


@pytest.mark.parametrize("ratings, movies, message", [
    (ratings_dat(_with(RATINGS, 2, ("1", "1", "5"))), None,
     r"ratings\.dat line 3: expected 4 '::'-separated fields"),
    (ratings_dat(_with(RATINGS, 1, ("1", "9", "3", "200"))), None,
     r"ratings\.dat line 2: field 'item' '9' is not in the item file"),
    (ratings_dat(_with(RATINGS, 0, ("1", "3", "4", "noon"))), None,
     r"ratings\.dat line 1: field 'timestamp'"),
    (None, movies_dat(_with(MOVIES, 1, ("1", "Again (1996)", "Drama"))),
     r"movies\.dat line 2: duplicate item id '1'"),
    (None, movies_dat() + b"5::Broken\n",
     r"movies\.dat line 5: expected 3 '::'-separated fields"),
], ids=["fields", "unknown movie", "timestamp", "duplicate", "movie fields"])
def test_bad_input_names_file_and_line(tmp_path, ratings, movies, message):
  manual = write_manual(tmp_path / "manual", "extracted", ratings, movies)
  with pytest.raises(parsing.DataFormatError, match=message):
    load(tmp_path, manual)


def test_truncated_zip(tmp_path):
  manual = write_manual(tmp_path / "manual", "zip")
  path = manual / "ml-1m.zip"
  path.write_bytes(path.read_bytes()[:-40])
  with pytest.raises(parsing.DataFormatError, match="ml-1m.zip"):
    load(tmp_path, manual)


def test_manual_dir_without_accepted_files(tmp_path):
  manual = tmp_path / "manual"
  manual.mkdir()
  (manual / "ratings.csv").write_text("1,2\n")
  with pytest.raises(FileNotFoundError) as error:
    load(tmp_path, manual)
  for name in movielens_1m.ACCEPTED_MANUAL_FILES:
    assert name in str(error.value)
