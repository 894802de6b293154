"""One sentence per item, for text encoders.

TIGER (Rajput et al., 2023, Section 4) builds a sentence from an item's title,
price, brand and categories and embeds it with Sentence-T5; the paper does not
publish the template. This one names each part and leaves out unknown ones:

  "L'Oreal Revitalift Cream. Brand: L'Oreal. Categories: Beauty, Skin Care.
   Price: $12.50."
  "Toy Story. Categories: Animation, Children's, Comedy. Year: 1995."

An item without any metadata gets the empty string.
"""

from __future__ import annotations

from collections.abc import Sequence
import dataclasses
import math
from typing import Any, ClassVar

import numpy as np


def item_sentence(title: str, genres: Sequence[str], year: int,
                  brand: str = "", price: float = math.nan) -> str:
  """The sentence of one item.

  Args:
    title: the title ("" when unknown).
    genres: genres, or categories for products.
    year: release year, 0 when unknown.
    brand: the brand ("" when unknown).
    price: the price in dollars, NaN when unknown.
  """
  parts = []
  if title.strip():
    parts.append(title.strip().rstrip("."))
  if brand.strip():
    parts.append(f"Brand: {brand.strip()}")
  names = [genre.strip() for genre in genres if genre.strip()]
  if names:
    parts.append("Categories: " + ", ".join(names))
  if math.isfinite(price):
    parts.append(f"Price: ${price:.2f}")
  if year:
    parts.append(f"Year: {year}")
  return " ".join(part + "." for part in parts)


def item_sentences(titles: Sequence[str], genres: Sequence[Sequence[str]],
                   years: Sequence[int], brands: Sequence[str],
                   prices: Sequence[float]) -> list[str]:
  """`item_sentence` of every item; all sequences are [num_items]."""
  return [item_sentence(title, item_genres, int(year), brand, float(price))
          for title, item_genres, year, brand, price
          in zip(titles, genres, years, brands, prices, strict=True)]


@dataclasses.dataclass(frozen=True)
class ItemColumns:
  """Items' ids and text fields, one row per item: [num_items] each.

  Attributes:
    item_ids: raw item ids.
    titles: titles ("" when unknown).
    genres: genre (or, for products, category) names of each item.
    years: release years, int (0 when unknown).
    brands: brands ("" when unknown).
    prices: prices, float32 (NaN when unknown).
  """
  FIELDS: ClassVar[tuple[str, ...]] = ("item_ids", "titles", "genres",
                                       "years", "brands", "prices")

  item_ids: list[str]
  titles: list[str]
  genres: list[list[str]]
  years: np.ndarray
  brands: list[str]
  prices: np.ndarray

  @classmethod
  def of(cls, items: Any) -> ItemColumns:
    """The columns of anything that has them (e.g. `InteractionData`)."""
    return cls(**{name: getattr(items, name) for name in cls.FIELDS})

  @property
  def num_items(self) -> int:
    return len(self.item_ids)

  def fields(self) -> dict[str, Any]:
    """The columns by name, for `dataclasses.replace` of a holder."""
    return {name: getattr(self, name) for name in self.FIELDS}

  def take(self, indices: Sequence[int] | np.ndarray) -> ItemColumns:
    """The rows `indices` [n], in that order."""
    indices = np.asarray(indices, np.int64).reshape(-1)
    return ItemColumns(
        item_ids=[self.item_ids[i] for i in indices],
        titles=[self.titles[i] for i in indices],
        genres=[self.genres[i] for i in indices],
        years=np.asarray(self.years)[indices],
        brands=[self.brands[i] for i in indices],
        prices=np.asarray(self.prices)[indices])

  def concat(self, other: ItemColumns) -> ItemColumns:
    """These rows, then `other`'s."""
    return ItemColumns(
        item_ids=list(self.item_ids) + list(other.item_ids),
        titles=list(self.titles) + list(other.titles),
        genres=list(self.genres) + list(other.genres),
        years=np.concatenate([np.asarray(self.years),
                              np.asarray(other.years)]),
        brands=list(self.brands) + list(other.brands),
        prices=np.concatenate([np.asarray(self.prices),
                               np.asarray(other.prices)]))

  @property
  def item_texts(self) -> list[str]:
    """One sentence per item (`item_sentences`)."""
    return item_sentences(self.titles, self.genres, self.years, self.brands,
                          self.prices)

  def has_text(self) -> np.ndarray:
    """[num_items] bool: a title, a genre or a brand is given."""
    return np.asarray([bool(title.strip() or
                            any(genre.strip() for genre in genres) or
                            brand.strip())
                       for title, genres, brand in zip(self.titles,
                                                       self.genres,
                                                       self.brands)])
