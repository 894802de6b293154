"""What every command line shares: flags defined on demand, one-line errors.

The library defines no flags at import: each command (`jaxrec.main`,
`jaxrec.evaluate`, ...) defines its own in `define_flags`, which `run_command`
calls just before parsing, so any number of jaxrec modules can be imported in
one process. `run_command` also

  * resolves `--config=NAME[:ARG]` to a shipped recipe (`recipes.recipe_path`),
    so `--config=tiny` works from any directory, as does a path;
  * checks every `--config.a.b=value` override names a key of the recipe and
    otherwise stops with the keys that exist at that level;
  * turns the errors a user can fix (bad input, missing files, a config that
    does not fit) into one line, `jaxrec.<command>: error: ...`, exit code 1.
"""

import sys
from collections.abc import Callable, Sequence

import ml_collections
from absl import app
from absl import flags
from ml_collections import config_flags

from jaxrec import distributed
from jaxrec import recipes

# Errors with a message meant for the user (bad input, files, configs). Any
# other exception is a bug and keeps its traceback.
USER_ERRORS = (ValueError, KeyError, OSError)


class UsageError(ValueError):
  """A command line that cannot run (bad flag values, unknown config keys)."""


def define_config_flag(help_text: str,
                       flag_values: flags.FlagValues = flags.FLAGS) -> None:
  """`--config`: a recipe file or a shipped recipe's name, [:ARG] optional."""
  config_flags.DEFINE_config_file("config", None, help_text,
                                  flag_values=flag_values, lock_config=True)
  flags.mark_flag_as_required("config", flag_values=flag_values)


def define_trained_run_flags(flag_values: flags.FlagValues = flags.FLAGS
                             ) -> None:
  """--workdir, --checkpoint, --catalog_version and the multi-process flags:
  what a command needs to load a trained run (`jaxrec.Recommender.load`)."""
  flags.DEFINE_string("workdir", None, "Work directory of a trained run.",
                      flag_values=flag_values)
  flags.mark_flag_as_required("workdir", flag_values=flag_values)
  flags.DEFINE_string("checkpoint", "best",
                      "best (by validation NDCG@10), latest, or a step.",
                      flag_values=flag_values)
  flags.DEFINE_integer(
      "catalog_version", None, "Catalogue version (jaxrec.catalog; 0: the "
      "vocabulary the model was trained with; default: the newest).",
      lower_bound=0, flag_values=flag_values)
  distributed.define_flags(flag_values=flag_values)


def _split_recipe_arg(value: str) -> tuple[str, str | None]:
  path, colon, arg = value.partition(":")
  return path, (arg if colon else None)


def resolve_config_arg(argv: Sequence[str]) -> list[str]:
  """argv with `--config=NAME[:ARG]` replaced by the recipe's path."""
  resolved = []
  for arg in argv:
    if arg.startswith("--config="):
      path, recipe_arg = _split_recipe_arg(arg[len("--config="):])
      path = recipes.recipe_path(path)
      arg = f"--config={path}" + ("" if recipe_arg is None else f":{recipe_arg}")
    resolved.append(arg)
  return resolved


def check_config_overrides(argv: Sequence[str]) -> None:
  """Loads the `--config` recipe; every `--config.a.b=...` must name a key.

  Raises:
    UsageError: naming the unknown key and the keys at its level.
  """
  recipe = [arg[len("--config="):] for arg in argv
            if arg.startswith("--config=")]
  overrides = [arg[len("--config."):].partition("=")[0] for arg in argv
               if arg.startswith("--config.")]
  if not recipe:
    return
  config = recipes.load_recipe(*_split_recipe_arg(recipe[-1]))
  for override in overrides:
    check_config_key(config, override)


def check_config_key(config: ml_collections.ConfigDict, dotted_key: str
                     ) -> None:
  """Raises UsageError unless `dotted_key` (e.g. "model.num_layers") exists."""
  node, path = config, "config"
  for key in dotted_key.split("."):
    if not isinstance(node, ml_collections.ConfigDict) or key not in node:
      known = (", ".join(sorted(node.keys()))
               if isinstance(node, ml_collections.ConfigDict) else
               f"none: {path} is a value, not a group")
      raise UsageError(f"--config.{dotted_key}: {path} has no key {key!r}; "
                       f"keys there: {known}")
    node, path = node[key], f"{path}.{key}"


def fail(command: str, error: BaseException) -> None:
  """Prints `jaxrec.<command>: error: <message>` and exits with status 1."""
  message = error.args[0] if (isinstance(error, KeyError) and error.args
                              ) else error
  print(f"jaxrec.{command}: error: {message}", file=sys.stderr, flush=True)
  sys.exit(1)


def run_command(command: str,
                define_flags: Callable[[flags.FlagValues], None],
                main: Callable[[list[str]], None],
                argv: Sequence[str] | None = None) -> None:
  """Defines the command's flags, parses `argv` (default sys.argv), runs main.

  Errors of the kinds in USER_ERRORS end the process with one line.
  """
  argv = list(sys.argv if argv is None else argv)
  try:
    argv = resolve_config_arg(argv)
    check_config_overrides(argv)
  except USER_ERRORS as error:
    fail(command, error)
  define_flags(flags.FLAGS)

  def main_with_errors(args: list[str]) -> None:
    if len(args) > 1:
      fail(command, UsageError(f"unexpected arguments: {' '.join(args[1:])}"))
    try:
      main(args)
    except USER_ERRORS as error:
      fail(command, error)

  app.run(main_with_errors, argv=argv)
