"""Loading config recipes: run recipes (configs/) and tokenizer recipes.

The recipes live in the repository's top-level `configs/` and `tokenizers/`
folders. A wheel ships them inside the package, as `jaxrec/_recipes/configs/`
and `jaxrec/_recipes/tokenizers/` (setup.py maps the folders there); an
editable install or a source tree has only the top-level folders beside the
package. Either way they are plain files loaded by path, so the folder name
`tokenizers` never clashes with the installed Python package of that name.

Run recipes name the tokenizer recipe they use (`tokenizer_recipe`); a command
line names its run recipe by path or by name (`recipe_path`).
"""

import importlib.resources
import importlib.util
import os
import pathlib

import ml_collections


def _recipe_dir(kind: str) -> pathlib.Path:
  """The folder of the shipped `kind` recipes ("configs" or "tokenizers").

  Inside the package in a wheel, else the source tree's top-level folder.
  """
  package = pathlib.Path(str(importlib.resources.files("jaxrec")))
  installed = package / "_recipes" / kind
  return installed if installed.is_dir() else package.parent / kind


def _names(directory: pathlib.Path) -> list[str]:
  """The recipe names (file stems) in `directory`, private files left out."""
  return sorted(path.stem for path in directory.glob("*.py")
                if not path.name.startswith("_"))


def run_recipes() -> list[str]:
  """The names of the shipped run recipes (e.g. "tiny", "ml100k_tiger")."""
  return _names(_recipe_dir("configs"))


def recipe_path(name_or_path: str) -> str:
  """The file of a run recipe given by path or by shipped name.

  An existing file is returned as is; otherwise `name_or_path` is a shipped
  recipe's name, with or without ".py" ("tiny", "ml100k_tiger.py").

  Raises:
    ValueError: neither a file nor a shipped name; lists the shipped names.
  """
  if os.path.isfile(name_or_path):
    return name_or_path
  name = name_or_path.removesuffix(".py")
  if name not in run_recipes():
    raise ValueError(f"no recipe file or shipped recipe {name_or_path!r}; "
                     f"shipped recipes: {', '.join(run_recipes())}")
  return str(_recipe_dir("configs") / f"{name}.py")


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


def load(name_or_path: str, arg: str | None = None
         ) -> ml_collections.ConfigDict:
  """The run recipe `name_or_path` (see `recipe_path`), called with `arg`."""
  return load_recipe(recipe_path(name_or_path), arg)


def tokenizer_recipe(name: str, arg: str | None = None
                     ) -> ml_collections.ConfigDict:
  """The shipped semantic-ID tokenizer recipe `<name>.py`, called with `arg`."""
  config = load_recipe(str(_recipe_dir("tokenizers") / f"{name}.py"), arg)
  config.recipe = name
  return config
