"""Loading config recipes that live outside the package (configs/, tokenizers/).

Run recipes name the tokenizer recipe they use; `tokenizer_recipe` loads it
from the repository's `tokenizers/` folder by path, so the folder's name never
clashes with an installed Python package.
"""

import importlib.util
import os

import ml_collections

_TOKENIZERS_DIR = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tokenizers")


def load_recipe(path: str, arg: str | None = None) -> ml_collections.ConfigDict:
  """Calls `get_config(arg)` (or `get_config()`) of the recipe file at `path`."""
  if not os.path.isfile(path):
    raise FileNotFoundError(f"no recipe file {path}")
  name = "jaxrec_recipe_" + os.path.splitext(os.path.basename(path))[0]
  spec = importlib.util.spec_from_file_location(name, path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  if not hasattr(module, "get_config"):
    raise ValueError(f"recipe {path} has no get_config()")
  return module.get_config() if arg is None else module.get_config(arg)


def tokenizer_recipe(name: str, arg: str | None = None
                     ) -> ml_collections.ConfigDict:
  """The semantic-ID tokenizer recipe `tokenizers/<name>.py[:arg]`."""
  config = load_recipe(os.path.join(_TOKENIZERS_DIR, f"{name}.py"), arg)
  config.recipe = name
  return config
