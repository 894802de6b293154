"""The work directory of one run: its resolved config and stage outputs."""

import json
import os

import ml_collections

CONFIG_FILE = "config.json"


def _flatten(tree, prefix: str = "") -> dict[str, object]:
  flat = {}
  for key, value in tree.items():
    name = f"{prefix}{key}"
    if isinstance(value, dict):
      flat.update(_flatten(value, name + "."))
    else:
      flat[name] = value
  return flat


def config_to_dict(config: ml_collections.ConfigDict) -> dict:
  """The config as plain JSON data (tuples become lists)."""
  return json.loads(config.to_json_best_effort(sort_keys=True))


def write_or_check_config(config: ml_collections.ConfigDict, workdir: str
                          ) -> None:
  """Writes DIR/config.json, or checks that a resumed run uses the same config.

  Raises:
    ValueError: naming every key whose value differs from the one the work
      directory was started with.
  """
  os.makedirs(workdir, exist_ok=True)
  path = os.path.join(workdir, CONFIG_FILE)
  resolved = config_to_dict(config)
  if os.path.exists(path):
    with open(path, encoding="utf-8") as f:
      previous = json.load(f)
    old, new = _flatten(previous), _flatten(resolved)
    differences = [f"  {key}: {old.get(key, '<absent>')!r} in {path}, "
                   f"{new.get(key, '<absent>')!r} now"
                   for key in sorted(set(old) | set(new))
                   if old.get(key, "<absent>") != new.get(key, "<absent>")]
    if differences:
      raise ValueError(
          f"{workdir} was started with a different config; resume with the "
          "same config or use a new --workdir. Differences:\n"
          + "\n".join(differences))
    return
  tmp_path = path + ".tmp"
  with open(tmp_path, "w", encoding="utf-8") as f:
    json.dump(resolved, f, indent=2, sort_keys=True)
  os.replace(tmp_path, path)
