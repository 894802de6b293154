"""TIGER on Amazon 2014 Beauty.

  5-core reviews: 22,363 users, 12,101 items, 198,502 interactions.

  python -m jaxrec.main --config=configs/amazon_beauty_tiger.py --workdir=DIR
  python -m jaxrec.main --config=configs/amazon_beauty_tiger.py:grid \\
      --workdir=DIR

Variants `tiger` (default, the paper's settings) and `grid` (fast): see
configs/tiger_paper.py, which also cites where every value comes from.
"""

import os

import ml_collections

from jaxrec import recipes

_TIGER_PAPER = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                            "tiger_paper.py")


def get_config(variant: str | None = None) -> ml_collections.ConfigDict:
  return recipes.load_recipe(
      _TIGER_PAPER, "beauty" if variant is None else f"beauty:{variant}")
