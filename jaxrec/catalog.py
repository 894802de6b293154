r"""A live catalogue: add or remove items of a trained run, no retraining.

  python -m jaxrec.catalog add    --workdir=DIR --items=new_items.jsonl
  python -m jaxrec.catalog remove --workdir=DIR --items=gone.jsonl

Each call writes the next catalogue version (`catalog_versions`) whole, next
to DIR/vocab/vocab.json; `jaxrec.Recommender` and `jaxrec.evaluate` use the
newest. Added items get semantic IDs inside the trained codebooks from the
fitted tokenizer (`cold_start`), so they are recommendable at once; existing
items keep their codes. Removed items stay known (histories may hold them)
but are never recommended.

Items to add, one JSON object per line (fields the encoders read; only
item_id is required, plus some text, or `embedding` for a precomputed
encoder):

  {"item_id": "2001", "title": "Heat (1995)", "genres": ["Action"],
   "year": 1995, "brand": "", "price": 9.99, "embedding": [0.1, ...]}

Items to remove: the same format; only item_id is read. Bad input (a
malformed line, a field of the wrong type, a repeated id, an id already in
the catalogue or not in it, an item without text) stops the command with an
error naming the file and line, and no version is written.

Python: `add_items(workdir, path)`, `remove_items(workdir, path)`.
"""

import functools
import json
import math
import sys
import time
from typing import Any

from absl import flags
from etils import epath
import numpy as np

from jaxrec import cli
from jaxrec import workdir as workdir_lib
from jaxrec.data import registry
from jaxrec.semantic_ids import catalog_versions
from jaxrec.semantic_ids import cold_start
from jaxrec.semantic_ids import tokenizer
from jaxrec.semantic_ids import vocab as vocab_lib

ACTIONS = ("add", "remove")
FIELDS = ("item_id", "title", "genres", "year", "brand", "price",
          "embedding")


class CatalogInputError(ValueError):
  """A line of an items file that cannot be applied."""


# ------------------------------------------------------------------ input --


def _records(path: str) -> list[tuple[str, dict[str, Any]]]:
  """(where "path:line", object) of every non-blank line; ids checked."""
  records = []
  text = epath.Path(path).read_text(encoding="utf-8")
  for number, line in enumerate(text.splitlines(), start=1):
    if not line.strip():
      continue
    where = f"{path}:{number}"
    try:
      record = json.loads(line)
    except json.JSONDecodeError as error:
      raise CatalogInputError(f"{where}: not a JSON object ({error.msg})"
                              ) from None
    if not isinstance(record, dict):
      raise CatalogInputError(f"{where}: expected a JSON object, got "
                              f"{type(record).__name__}")
    unknown = sorted(set(record) - set(FIELDS))
    if unknown:
      raise CatalogInputError(f"{where}: unknown field(s) {unknown}; fields: "
                              f"{list(FIELDS)}")
    item_id = record.get("item_id")
    if isinstance(item_id, int) and not isinstance(item_id, bool):
      item_id = str(item_id)
    if not isinstance(item_id, str) or not item_id.strip():
      raise CatalogInputError(f"{where}: item_id must be a non-empty string, "
                              f"got {record.get('item_id')!r}")
    records.append((where, {**record, "item_id": item_id}))
  if not records:
    raise CatalogInputError(f"{path}: no items")
  return records


def _check_ids(records: list[tuple[str, dict[str, Any]]],
               catalog: catalog_versions.CatalogVersion, adding: bool
               ) -> None:
  """No id twice; new ids (adding) or active ids (removing) only."""
  first_line, known = {}, set(catalog.vocab.item_ids)
  for where, record in records:
    item_id = record["item_id"]
    if item_id in first_line:
      raise CatalogInputError(f"{where}: item id {item_id!r} repeated (first "
                              f"at {first_line[item_id]})")
    first_line[item_id] = where
    removed = " (removed)" if item_id in catalog.removed else ""
    if adding and item_id in known:
      raise CatalogInputError(f"{where}: item id {item_id!r} is already in "
                              f"catalogue version {catalog.number}{removed}")
    if not adding and (item_id not in known or removed):
      state = "was already removed" if removed else "is not in"
      raise CatalogInputError(f"{where}: item id {item_id!r} {state} "
                              f"catalogue version {catalog.number}")


def _field(record: dict[str, Any], where: str, name: str, kind: str,
           default: Any) -> Any:
  """record[name] checked against `kind`; default when absent or null."""
  value = record.get(name)
  if value is None:
    return default
  ok = {
      "str": isinstance(value, str),
      "strs": isinstance(value, list) and all(isinstance(v, str)
                                              for v in value),
      "year": isinstance(value, int) and not isinstance(value, bool)
              and value >= 0,
      "number": isinstance(value, (int, float)) and not isinstance(
          value, bool) and math.isfinite(value),
      "vector": isinstance(value, list) and bool(value) and all(
          isinstance(v, (int, float)) and not isinstance(v, bool) and
          math.isfinite(v) for v in value),
  }[kind]
  if not ok:
    expected = {"str": "a string", "strs": "a list of strings",
                "year": "an integer >= 0 (0 = unknown)",
                "number": "a finite number",
                "vector": "a non-empty list of finite numbers"}[kind]
    raise CatalogInputError(f"{where}: field {name} must be {expected}, got "
                            f"{value!r}")
  return value


def _new_items(records: list[tuple[str, dict[str, Any]]],
               state: cold_start.TokenizerState) -> cold_start.NewItems:
  """The items of `records`, each checked for what the encoder needs."""
  rows = []
  for where, record in records:
    rows.append((
        record["item_id"], _field(record, where, "title", "str", ""),
        _field(record, where, "genres", "strs", []),
        _field(record, where, "year", "year", 0),
        _field(record, where, "brand", "str", ""),
        float(_field(record, where, "price", "number", math.nan)),
        _field(record, where, "embedding", "vector", None)))
  ids, titles, genres, years, brands, prices, vectors = map(list, zip(*rows))
  embeddings = None
  if state.kind == "precomputed":
    for (where, _), vector in zip(records, vectors):
      if vector is None or len(vector) != state.dim:
        raise CatalogInputError(
            f"{where}: the tokenizer's precomputed embeddings need field "
            f"embedding with {state.dim} numbers")
    embeddings = np.asarray(vectors, np.float32)
  items = cold_start.NewItems(ids, titles, genres, np.asarray(years, np.int64),
                              brands, np.asarray(prices, np.float32),
                              embeddings)
  if state.kind != "precomputed":
    _check_text(records, items, state)
  return items


def _check_text(records: list[tuple[str, dict[str, Any]]],
                items: cold_start.NewItems,
                state: cold_start.TokenizerState) -> None:
  """Every item has text, and a lexical encoder knows some of its tokens."""
  missing = np.flatnonzero(~items.has_text())
  if missing.size:
    raise CatalogInputError(f"{records[missing[0]][0]}: item "
                            f"{items.item_ids[missing[0]]!r} has no text "
                            "(title, genres or brand)")
  if state.uses_lexical_text():
    counts = state.lexical.known_token_counts(items.titles, items.genres,
                                              items.years, items.brands)
    unknown = np.flatnonzero(counts == 0)
    if unknown.size:
      raise CatalogInputError(
          f"{records[unknown[0]][0]}: none of item "
          f"{items.item_ids[unknown[0]]!r}'s words, genres, year or brand "
          "occurs in the tokenizer's vocabulary, so it cannot be placed")


# ---------------------------------------------------------------- the API --


def tokenizer_state(workdir: str) -> cold_start.TokenizerState:
  """The run's fitted tokenizer state (DIR/vocab/tokenizer_state.npz).

  A run built before the state was saved gets it rebuilt from its data and
  recipe (the tokenizer is deterministic; the rebuilt vocabulary must equal
  vocab.json), and saved.

  Raises:
    ValueError: the run's quantizer cannot place new items, or the rebuilt
      vocabulary differs.
  """
  path = workdir_lib.vocab_dir(workdir) / cold_start.STATE_FILENAME
  if path.exists():
    return cold_start.load(path)
  config = workdir_lib.load_config(workdir)
  if config.tokenizer.quantizer not in cold_start.QUANTIZERS:
    raise ValueError(
        f"the run's quantizer {config.tokenizer.quantizer!r} cannot place new "
        f"items; only {cold_start.QUANTIZERS} can")
  data, split = registry.load_split(config.data, workdir)
  vocab, _, _, state = tokenizer.build_vocab_and_state(
      config.tokenizer, data, split.train)
  if vocab != vocab_lib.SemanticIdVocab.load(workdir_lib.vocab_path(workdir)):
    raise ValueError(
        f"rebuilding the tokenizer of {workdir} from its data and recipe gave "
        "other codes than vocab/vocab.json, so its codebooks cannot place new "
        "items consistently")
  cold_start.save(state, path)
  return state


def add_items(workdir: str, items_path: str
              ) -> catalog_versions.CatalogVersion:
  """Adds the items of `items_path` (JSON lines) as the next version.

  Raises:
    CatalogInputError: bad input, naming the file and line.
    cold_start.CodebooksFullError: no room for the items.
  """
  base = catalog_versions.load(workdir)
  records = _records(items_path)
  _check_ids(records, base, adding=True)
  state = tokenizer_state(workdir)
  items = _new_items(records, state)
  embeddings = cold_start.embed(state, items)
  old = base.vocab
  codes = cold_start.assign_codes(state.codebooks, embeddings,
                                  old.item_codes, old.codebook_sizes)
  vocab = vocab_lib.SemanticIdVocab.from_codes(
      old.item_ids + tuple(items.item_ids),
      np.concatenate([old.item_codes, codes]), old.codebook_sizes,
      old.dataset_fingerprint)
  return catalog_versions.write(workdir, base, vocab, base.removed)


def remove_items(workdir: str, items_path: str
                 ) -> catalog_versions.CatalogVersion:
  """Marks the items of `items_path` (JSON lines, item_id read) removed.

  Raises:
    CatalogInputError: bad input, naming the file and line, or no item
      left to recommend.
  """
  base = catalog_versions.load(workdir)
  records = _records(items_path)
  _check_ids(records, base, adding=False)
  if len(records) >= base.num_active:
    raise CatalogInputError(f"{items_path}: removing {len(records)} items "
                            f"would leave none of the {base.num_active} "
                            "recommendable ones")
  removed = base.removed | {record["item_id"] for _, record in records}
  return catalog_versions.write(workdir, base, base.vocab, removed)


# ---------------------------------------------------------------- command --


def define_flags(flag_values: flags.FlagValues = flags.FLAGS) -> None:
  """The command's flags, defined in `flag_values`."""
  flags.DEFINE_string("workdir", None, "Work directory of a trained run.",
                      flag_values=flag_values)
  flags.DEFINE_string("items", None, "JSON lines, one item each (see "
                      "jaxrec/catalog.py).", flag_values=flag_values)
  flags.mark_flags_as_required(["workdir", "items"], flag_values=flag_values)


def main(action: str, argv: list[str]) -> None:
  del argv  # cli.run_command rejects extra arguments.
  values = flags.FLAGS
  start = time.perf_counter()
  apply = add_items if action == "add" else remove_items
  version = apply(values.workdir, values.items)
  print(f"catalogue version {version.number}: {version.vocab.num_items} "
        f"items, {version.num_active} recommendable ({action}, "
        f"{time.perf_counter() - start:.2f}s): "
        f"{catalog_versions.version_path(values.workdir, version.number)}",
        flush=True)


def entry_point(argv: list[str] | None = None) -> None:
  """`python -m jaxrec.catalog add|remove --workdir=DIR --items=FILE`."""
  argv = list(sys.argv if argv is None else argv)
  action = argv[1] if len(argv) > 1 else ""
  if action not in ACTIONS:
    cli.fail("catalog", cli.UsageError(
        f"expected add or remove, got {action!r}: python -m jaxrec.catalog "
        "add|remove --workdir=DIR --items=FILE"))
  cli.run_command("catalog", define_flags, functools.partial(main, action),
                  [argv[0]] + argv[2:])


if __name__ == "__main__":
  entry_point()
