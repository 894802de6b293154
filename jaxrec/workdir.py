"""The work directory of one run: its resolved config and stage outputs.

Paths go through `etils.epath`, so a work directory may be local or on
Cloud Storage (`gs://bucket/run`).
"""

import json

import ml_collections
from etils import epath

CONFIG_FILE = "config.json"
VOCAB_DIR = "vocab"
VOCAB_FILENAME = "vocab.json"

# Config keys added after runs were already made, each with the value that
# means what a run made before it did (the code reads them with these
# defaults). A resumed run whose config.json lacks one of them is the same
# run when the new config holds this value.
KEYS_ADDED_LATER = {
    "data.max_user_interactions": 0,
    "data.drop_last_interactions": 0,
    "data.cold_items": 0.0,
    "model.family": "decoder_only",
    "model.tuple_buckets": 0,
    "model.head_mlp_dim": 0,
    "model.item_score_weight": 0.0,
    "model.item_score_scale": 1.0,
    "model.catalogue_loss": False,
    "model.num_decoder_layers": 0,
    "eval.mode": "beam",
    "eval.content_recent_items": 5,
    "eval.cold_slots": 0,
}


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


def config_differences(previous: dict, current: dict) -> list[str]:
  """'key: old vs new' for every flattened key whose value differs."""
  old, new = _flatten(previous), _flatten(current)
  return [f"{key}: {old.get(key, '<absent>')!r} before, "
          f"{new.get(key, '<absent>')!r} now"
          for key in sorted(set(old) | set(new))
          if old.get(key, "<absent>") != new.get(key, "<absent>")]


def write_or_check_config(config: ml_collections.ConfigDict, workdir: str
                          ) -> None:
  """Writes DIR/config.json, or checks that a resumed run uses the same config.

  A key of `KEYS_ADDED_LATER` that the saved config lacks counts as holding
  its listed value (the run was made before the key existed).

  Raises:
    ValueError: naming every key whose value differs from the one the work
      directory was started with.
  """
  path = epath.Path(workdir) / CONFIG_FILE
  path.parent.mkdir(parents=True, exist_ok=True)
  resolved = config_to_dict(config)
  if path.exists():
    saved, current = _flatten(json.loads(path.read_text())), _flatten(resolved)
    for key, value in KEYS_ADDED_LATER.items():
      if key in current:
        saved.setdefault(key, value)
    differences = config_differences(saved, current)
    if differences:
      raise ValueError(
          f"{workdir} was started with a different config; resume with the "
          "same config or use a new --workdir. Differences:\n  "
          + "\n  ".join(differences))
    return
  write_json_atomically(path, resolved, sort_keys=True)


def load_config(workdir: epath.PathLike) -> ml_collections.ConfigDict:
  """The run's resolved config, from DIR/config.json.

  Raises:
    FileNotFoundError: DIR has no config.json (no job was started there).
  """
  path = epath.Path(workdir) / CONFIG_FILE
  if not path.exists():
    raise FileNotFoundError(f"{path} does not exist: {workdir} is not a "
                            "jaxrec work directory (run jaxrec.main first)")
  return ml_collections.ConfigDict(json.loads(path.read_text()))


def vocab_dir(workdir: epath.PathLike) -> epath.Path:
  """DIR/vocab: the vocabulary and the files describing it."""
  return epath.Path(workdir) / VOCAB_DIR


def vocab_path(workdir: epath.PathLike) -> epath.Path:
  """DIR/vocab/vocab.json."""
  return vocab_dir(workdir) / VOCAB_FILENAME


def write_bytes_atomically(path: epath.PathLike, data: bytes) -> epath.Path:
  """Writes a file whole or not at all (temporary file, then rename)."""
  path = epath.Path(path)
  path.parent.mkdir(parents=True, exist_ok=True)
  tmp_path = path.parent / (path.name + ".tmp")
  tmp_path.write_bytes(data)
  tmp_path.replace(path)
  return path


def write_json_atomically(path: epath.PathLike, data,
                          sort_keys: bool = False) -> None:
  """Writes a JSON file whole or not at all (temporary file, then rename)."""
  text = json.dumps(data, indent=2, sort_keys=sort_keys) + "\n"
  write_bytes_atomically(path, text.encode("utf-8"))
