"""TIGER on MovieLens-1M (not a dataset of the TIGER paper).

  GroupLens ml-1m: 6,040 users, 3,706 movies with ratings, 1,000,209
  ratings; the 5-core filter keeps 6,040 users and the 3,416 items SASRec
  (Kang & McAuley, 2018) reports.

  python -m jaxrec.main --config=configs/ml1m_tiger.py --workdir=DIR
  python -m jaxrec.main --config=configs/ml1m_tiger.py:grid --workdir=DIR

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
      _TIGER_PAPER, "ml1m" if variant is None else f"ml1m:{variant}")
