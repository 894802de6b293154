"""Writes a small Amazon-2014-shaped dataset in the upstream file formats.

Reviews are gzip JSON lines, metadata gzip Python-literal lines. Items belong
to categories and users mostly review one category, in time order; every user
and item has >= 5 reviews, so the 5-core filter keeps everything.
"""

import gzip
import json
import os

import numpy as np

CATEGORIES = ("Skin Care", "Hair Care", "Makeup", "Fragrance")
BRANDS = ("Acme", "Glow", "Silk")


def write_amazon_fixture(directory: str, file_stem: str = "Beauty",
                         num_users: int = 40, num_items: int = 24,
                         items_per_user: int = 6, seed: int = 0) -> str:
  """Writes reviews_<stem>_5.json.gz and meta_<stem>.json.gz; returns dir."""
  rng = np.random.default_rng(seed)
  os.makedirs(directory, exist_ok=True)
  item_category = np.arange(num_items) % len(CATEGORIES)
  meta_lines = []
  for item in range(num_items):
    category = CATEGORIES[item_category[item]]
    meta_lines.append(repr({
        "asin": f"B{item:04d}", "title": f"{category} product {item}",
        "price": float(5 + item), "brand": BRANDS[item % len(BRANDS)],
        "categories": [["Beauty", category]]}))
  review_lines = []
  for user in range(num_users):
    # Users cycle through the items of their category, so every item is
    # reviewed by num_users * items_per_user / num_items users (>= 5).
    favourite = np.flatnonzero(item_category == user % len(CATEGORIES))
    picks = np.roll(favourite, -(user // len(CATEGORIES)))[:items_per_user]
    for step, item in enumerate(picks):
      review_lines.append(json.dumps({
          "reviewerID": f"A{user:03d}", "asin": f"B{item:04d}",
          "overall": float(rng.integers(1, 6)), "reviewText": "fine",
          "unixReviewTime": 1_300_000_000 + 1000 * user + 10 * step}))
  for name, lines in ((f"reviews_{file_stem}_5.json.gz", review_lines),
                      (f"meta_{file_stem}.json.gz", meta_lines)):
    with open(os.path.join(directory, name), "wb") as f:
      f.write(gzip.compress(("\n".join(lines) + "\n").encode()))
  return directory
