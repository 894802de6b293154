"""Writes a small MovieLens-shaped dataset in RecBole atomic format.

Items belong to genres and users mostly watch one genre in a fixed order, so
a model has something to learn; everything is generated from a seed.
"""

import os

import numpy as np

GENRES = ("Action", "Comedy", "Drama", "Horror")


def write_recbole_fixture(directory: str, num_users: int = 80,
                          num_items: int = 48, items_per_user: int = 12,
                          seed: int = 0) -> str:
  """Writes ml-100k.inter and ml-100k.item into `directory`; returns it."""
  rng = np.random.default_rng(seed)
  os.makedirs(directory, exist_ok=True)
  item_genre = np.arange(num_items) % len(GENRES)
  item_lines = ["item_id:token\tmovie_title:token_seq\trelease_year:token"
                "\tclass:token_seq"]
  for item in range(num_items):
    genre = GENRES[item_genre[item]]
    year = 1970 + 5 * (item % 6)
    item_lines.append(f"{item + 1}\t{genre} Movie {item + 1}\t{year}\t{genre}")
  inter_lines = ["user_id:token\titem_id:token\trating:float\ttimestamp:float"]
  for user in range(num_users):
    favourite = np.flatnonzero(item_genre == user % len(GENRES))
    others = np.flatnonzero(item_genre != user % len(GENRES))
    picks = list(rng.permutation(favourite)[:items_per_user - 2])
    picks += list(rng.choice(others, 2, replace=False))
    start = 880_000_000 + 1000 * user
    for step, item in enumerate(picks):
      rating = int(rng.integers(1, 6))
      inter_lines.append(f"{user + 1}\t{item + 1}\t{rating}\t{start + 10 * step}")
  for name, lines in (("ml-100k.item", item_lines), ("ml-100k.inter", inter_lines)):
    with open(os.path.join(directory, name), "w", encoding="utf-8") as f:
      f.write("\n".join(lines) + "\n")
  return directory
