"""TIGER on Amazon 2014 Toys and Games.

  5-core reviews: 19,412 users, 11,924 items, 167,597 interactions.

  python -m jaxrec.main --config=configs/amazon_toys_tiger.py --workdir=DIR
  python -m jaxrec.main --config=configs/amazon_toys_tiger.py:grid --workdir=DIR

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
      _TIGER_PAPER, "toys" if variant is None else f"toys:{variant}")
