r"""Recommends the next items for arbitrary histories, JSON lines in and out.

  python -m jaxrec.recommend --workdir=DIR --input=histories.jsonl \
      --output=topk.jsonl [--k=10] [--checkpoint=best] [--mode=beam|exact] \
      [--include_seen] [--skip_invalid]

Each input line is one user, raw dataset item ids, oldest first:

  {"user": "u1", "history": ["50", "172", "133"]}

and each output line that user's list, best first, with the model's scores:

  {"user": "u1", "items": ["181", "174", ...], "scores": [-2.31, ...]}

A malformed line, an empty history or an unknown item id stops the command
with an error naming the line, and nothing is written; with --skip_invalid
such lines are left out and counted instead. The output file appears whole
or not at all. The library call is `jaxrec.Recommender.recommend`.
"""

import dataclasses
import json
import time
from collections.abc import Iterable

from absl import flags
from absl import logging
from etils import epath

from jaxrec import cli
from jaxrec import distributed
from jaxrec import recommender as recommender_lib
from jaxrec import workdir as workdir_lib


class InputError(ValueError):
  """A line of the input file that cannot be recommended for."""


@dataclasses.dataclass(frozen=True)
class Request:
  """One valid input line."""
  line: int
  user: str
  history: list[str]


def _item_id(value, where: str) -> str:
  if isinstance(value, str):
    return value
  if isinstance(value, int) and not isinstance(value, bool):
    return str(value)
  raise InputError(f"{where}: item ids must be strings, got {value!r}")


def parse_line(text: str, path: str, number: int) -> Request | None:
  """Line `number` of `path` -> Request (None for a blank line).

  Raises:
    InputError: naming the file, the line and what is wrong.
  """
  if not text.strip():
    return None
  where = f"{path}:{number}"
  try:
    record = json.loads(text)
  except json.JSONDecodeError as error:
    raise InputError(f"{where}: not a JSON object ({error.msg})") from None
  if not isinstance(record, dict):
    raise InputError(f"{where}: expected a JSON object, got "
                     f"{type(record).__name__}")
  missing = [key for key in ("user", "history") if key not in record]
  if missing:
    raise InputError(f"{where}: missing field(s) {', '.join(missing)}")
  history = record["history"]
  if not isinstance(history, list):
    raise InputError(f"{where}: field history must be a list of item ids")
  if not history:
    raise InputError(f"{where}: field history is empty")
  return Request(number, str(record["user"]),
                 [_item_id(value, f"{where}: field history") for value in
                  history])


def read_requests(path: str, known_items: set[str], skip_invalid: bool
                  ) -> tuple[list[Request], list[str]]:
  """Every valid line of `path`, and the reasons of the skipped ones.

  Raises:
    InputError: the first invalid line, unless `skip_invalid`.
    FileNotFoundError: no such file.
  """
  requests, skipped = [], []
  text = epath.Path(path).read_text(encoding="utf-8")
  for number, line in enumerate(text.splitlines(), start=1):
    try:
      request = parse_line(line, path, number)
      if request is None:
        continue
      unknown = [item for item in request.history if item not in known_items]
      if unknown:
        raise InputError(f"{path}:{number}: unknown item id(s) "
                         f"{', '.join(map(repr, unknown[:5]))} (not in the "
                         "run's catalogue)")
    except InputError as error:
      if not skip_invalid:
        raise
      skipped.append(str(error))
      continue
    requests.append(request)
  return requests, skipped


def output_lines(requests: Iterable[Request],
                 recommendations: Iterable[recommender_lib.Recommendation]
                 ) -> str:
  """The output file's text: one JSON object per request, in input order."""
  return "".join(
      json.dumps({"user": request.user, "items": result.items,
                  "scores": [round(score, 6) for score in result.scores]})
      + "\n" for request, result in zip(requests, recommendations))


def define_flags(flag_values: flags.FlagValues = flags.FLAGS) -> None:
  """The command's flags, defined in `flag_values`."""
  cli.define_trained_run_flags(flag_values)
  flags.DEFINE_string("input", None, "JSON lines: {\"user\": ..., "
                      "\"history\": [item ids, oldest first]}.",
                      flag_values=flag_values)
  flags.DEFINE_string("output", None, "JSON lines: {\"user\": ..., "
                      "\"items\": [...], \"scores\": [...]}.",
                      flag_values=flag_values)
  flags.mark_flags_as_required(["input", "output"], flag_values=flag_values)
  flags.DEFINE_integer("k", 10, "Items per user.", lower_bound=1,
                       flag_values=flag_values)
  flags.DEFINE_enum("mode", None, ["beam", "exact"],
                    "beam: constrained beam search; exact: score every item "
                    "(default: config eval.mode).",
                    flag_values=flag_values)
  flags.DEFINE_bool("include_seen", False,
                    "Allow items of the history in the list.",
                    flag_values=flag_values)
  flags.DEFINE_bool("skip_invalid", False,
                    "Leave out (and count) invalid lines instead of failing.",
                    flag_values=flag_values)
  flags.DEFINE_integer("batch_size", None, "Users per global batch (default: "
                       "the run's eval.batch_size).", flag_values=flag_values)


def main(argv: list[str]) -> None:
  del argv  # cli.run_command rejects extra arguments.
  values = flags.FLAGS
  distributed.initialize_from_flags()
  recommender = recommender_lib.Recommender.load(
      values.workdir, values.checkpoint, values.catalog_version)
  requests, skipped = read_requests(values.input, set(recommender.item_ids),
                                    values.skip_invalid)
  for reason in skipped[:10]:
    logging.warning("[recommend] skipped %s", reason)
  start = time.perf_counter()
  results = recommender.recommend(
      [request.history for request in requests], values.k,
      exclude_seen=not values.include_seen, mode=values.mode,
      batch_size=values.batch_size)
  seconds = time.perf_counter() - start
  if distributed.is_primary():
    workdir_lib.write_bytes_atomically(
        values.output, output_lines(requests, results).encode("utf-8"))
    print(f"recommended for {len(requests)} users ({len(skipped)} invalid "
          f"lines skipped) in {seconds:.1f}s, "
          f"{len(requests) / max(seconds, 1e-9):.0f} users/s, checkpoint "
          f"{recommender.checkpoint_step}: {values.output}", flush=True)


def entry_point() -> None:
  cli.run_command("recommend", define_flags, main)


if __name__ == "__main__":
  entry_point()
