"""TIGER on Amazon 2014 Sports and Outdoors.

  5-core reviews: 35,598 users, 18,357 items, 296,337 interactions.

  python -m jaxrec.main --config=configs/amazon_sports_tiger.py --workdir=DIR
  python -m jaxrec.main --config=configs/amazon_sports_tiger.py:grid \\
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
      _TIGER_PAPER, "sports" if variant is None else f"sports:{variant}")
