"""The README matches the code: its commands parse, its keys exist."""

import ast
import importlib
import os
import re
import shlex

import pytest
from absl import flags

from jaxrec import cli
from jaxrec import recipes
from jaxrec import workdir as workdir_lib
from tests import tiny_runs


def _readme() -> str:
  with open(os.path.join(tiny_runs.REPO, "README.md"), encoding="utf-8") as f:
    return f.read()


def _command_lines() -> list[str]:
  """Every `python -m jaxrec.<command> ...` of the README's bash blocks, with
  continuation lines joined and each optional `[--a=x|y]` as `--a=x`."""
  lines = []
  for block in re.findall(r"```bash\n(.*?)```", _readme(), flags=re.DOTALL):
    for line in block.replace("\\\n", " ").splitlines():
      for command in line.split("&&"):
        command = command.strip()
        if command.startswith("python -m jaxrec."):
          lines.append(re.sub(r"\[([^]|]*)(\|[^]]*)?\]", r"\1", command))
  return lines


COMMANDS = _command_lines()


def test_the_readme_shows_every_command():
  shown = {line.split()[2] for line in COMMANDS}
  assert shown == {"jaxrec.main", "jaxrec.evaluate", "jaxrec.recommend",
                   "jaxrec.catalog", "jaxrec.tokenize", "jaxrec.export_vocab"}


def _parse(line: str) -> flags.FlagValues:
  """Parses a README command line as its command does (placeholders such as
  N become 1); returns the flags, with `--config.*` overrides applied."""
  _, _, module_name, *args = shlex.split(line.replace("=N", "=1"))
  module = importlib.import_module(module_name)
  flag_values = flags.FlagValues()
  module.define_flags(flag_values)
  argv = cli.resolve_config_arg([module_name, *args])
  cli.check_config_overrides(argv)  # every override names a key
  overrides = [arg for arg in argv if arg.startswith("--config.")]
  flag_values([arg for arg in argv if arg not in overrides])
  for override in overrides:
    key, _, text = override[len("--config."):].partition("=")
    try:
      value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
      value = text
    flag_values.config.update_from_flattened_dict({key: value})
  return flag_values


@pytest.mark.parametrize("line", COMMANDS)
def test_readme_command_parses(line):
  _parse(line)  # unknown flags or keys, bad values, missing required flags


def _parsed_config(line: str):
  """The config a README command line builds (recipe, :arg, overrides)."""
  return _parse(line).config


def test_readme_tokenize_example_builds_the_default_jobs_ids():
  [main_line] = [line for line in COMMANDS if "pip install -e . &&" in
                 _readme() and line.startswith("python -m jaxrec.main") and
                 "runs/ml100k" in line]
  [tokenize_line] = [line for line in COMMANDS
                     if line.startswith("python -m jaxrec.tokenize")]
  job_tokenizer = workdir_lib.config_to_dict(_parsed_config(main_line).tokenizer)
  tokenizer = workdir_lib.config_to_dict(_parsed_config(tokenize_line))
  job_tokenizer.pop("recipe", None)  # recorded by name only in the job
  tokenizer.pop("recipe", None)
  assert tokenizer == job_tokenizer


def _expand(key: str) -> list[str]:
  """`recall@5/10/20` -> recall@5, recall@10, recall@20."""
  name, _, cutoffs = key.partition("@")
  return [f"{name}@{k}" for k in cutoffs.split("/")] if cutoffs else [name]


def test_metrics_json_keys_are_the_documented_ones(finished_tiny_run):
  paragraph = re.search(r"`metrics.json` is for the test split.*?\n\n",
                        _readme(), flags=re.DOTALL).group(0)
  model_part, _, rest = paragraph.partition("`long_tail` splits")
  long_tail_part, _, popularity_part = rest.partition("A `popularity` object")
  documented = {key for token in re.findall(r"`([a-z_@/0-9]+)`", model_part)
                for key in _expand(token)} - {"metrics.json"}
  documented_popularity = {
      key for token in re.findall(r"`([a-z_@/0-9]+)`", popularity_part)
      for key in _expand(token)} - {"recall", "ndcg", "mrr"}
  for name in re.findall(r"`(recall|ndcg|mrr)`", popularity_part):
    documented_popularity |= {f"{name}@{k}" for k in (5, 10, 20)}
  report = tiny_runs.read_report(finished_tiny_run[0])
  assert documented | {"popularity"} == set(report)
  assert documented_popularity == set(report["popularity"])
  long_tail = report["long_tail"]
  for key in re.findall(r"`([a-z_@0-9]+)`", long_tail_part):
    assert key in long_tail or key in long_tail["head"], key


def test_readme_recipes_exist():
  for name in re.findall(r"configs/([a-z0-9_]+)\.py", _readme()):
    assert name in recipes.run_recipes(), name
