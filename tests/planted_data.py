"""A RecBole atomic dataset with planted category structure, for tests.

Items fall into `num_categories` categories of `items_per_category` items;
both the text and the sequences carry the category:

* text: item i of category c has the title "cat{c} gadget {i}" and the
  category (`genres`) "cat{c}";
* sequences: each user starts in a random category, and each next item comes
  from category (c + 1) % num_categories of the latest item c, uniformly
  within it.

So a good item encoder puts a category's items together, and a quantizer
with `num_categories` first-level codes can give each category its own code.
Everything is generated from `seed`.
"""

import os

import numpy as np

NAME = "planted"  # Files NAME.inter and NAME.item.


def item_category(num_categories: int = 8, items_per_category: int = 12
                  ) -> np.ndarray:
  """Category of each item [num_items] int64, in dense (natural id) order.

  Interleaved (item i is in category i % num_categories), so that nothing
  that breaks ties by item order can line codes up with categories by luck.
  """
  return np.arange(num_categories * items_per_category) % num_categories


def write_planted_dataset(directory: str, *, num_categories: int = 8,
                          items_per_category: int = 12, num_users: int = 300,
                          seq_len: int = 12, seed: int = 0) -> str:
  """Writes NAME.inter and NAME.item into `directory`.

  Item ids are "1".."num_items" (item id i + 1 is dense index i once
  loaded), user ids "1".."num_users"; each user has `seq_len` interactions
  at distinct, increasing timestamps.

  Returns:
    The `config.data.name` that loads them, "recbole_atomic/planted", with
    `config.data.manual_dir = directory`.
  """
  rng = np.random.default_rng(seed)
  os.makedirs(directory, exist_ok=True)
  categories = item_category(num_categories, items_per_category)
  item_lines = ["item_id:token\ttitle:token_seq\tcategories:token_seq"]
  for item, category in enumerate(categories):
    item_lines.append(
        f"{item + 1}\tcat{category} gadget {item + 1}\tcat{category}")
  inter_lines = ["user_id:token\titem_id:token\trating:float\ttimestamp:float"]
  for user in range(num_users):
    category = int(rng.integers(num_categories))
    start = 1_000_000 + 1000 * user
    for step in range(seq_len):
      item = category + num_categories * int(
          rng.integers(items_per_category))
      inter_lines.append(f"{user + 1}\t{item + 1}\t1\t{start + step}")
      category = (category + 1) % num_categories
  for suffix, lines in ((".item", item_lines), (".inter", inter_lines)):
    with open(os.path.join(directory, NAME + suffix), "w",
              encoding="utf-8") as f:
      f.write("\n".join(lines) + "\n")
  return f"recbole_atomic/{NAME}"
