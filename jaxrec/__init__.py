"""jaxrec: JAX-native ID-token generative recommendation.

The library API (the command lines `python -m jaxrec.<command>` are thin
wrappers of it):

  jaxrec.load_config(recipe, arg=None)  a shipped recipe's name, or a path
  jaxrec.run(config, workdir)           the whole job, resumable -> report
  jaxrec.Recommender.load(workdir)      a trained model: recommend,
                                        item_codes, evaluate

Attributes load lazily, so `import jaxrec` stays cheap and importing one
submodule does not pull in the others.
"""

import importlib

_EXPORTS = {
    "run": ("jaxrec.job", "run"),
    "Recommender": ("jaxrec.recommender", "Recommender"),
    "Recommendation": ("jaxrec.recommender", "Recommendation"),
    "UnknownItemError": ("jaxrec.recommender", "UnknownItemError"),
    "load_config": ("jaxrec.recipes", "load"),
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
  if name not in _EXPORTS:
    raise AttributeError(f"module 'jaxrec' has no attribute {name!r}")
  module, attribute = _EXPORTS[name]
  return getattr(importlib.import_module(module), attribute)


def __dir__() -> list[str]:
  return sorted(list(globals()) + __all__)
