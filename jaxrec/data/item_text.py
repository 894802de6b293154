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
import math


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
