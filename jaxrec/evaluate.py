r"""Evaluates a finished (or running) work directory's checkpoint.

  python -m jaxrec.evaluate --workdir=DIR [--split=valid|test] \
      [--checkpoint=best|latest|STEP] [--mode=beam|exact|unconstrained] \
      [--export_topk=PATH] [--drop_recent=N] [--layout=csr|dense|auto]

Reads DIR/config.json, the prepared data and DIR/vocab/vocab.json, restores the
checkpoint onto the config's mesh (all devices, all hosts), ranks every user of
the split and writes DIR/eval_<split>_<mode>.json: Recall/NDCG/MRR@{5,10,20},
coverage@10, bootstrap 95% intervals of Recall@10 and NDCG@10 (over users,
fixed seed), how many users' target repeats a history item (masked, so
scored as misses), the invalid-ID rate (unconstrained) and the trie's size.
With --export_topk, also a TSV of every user's list: user_id, rank, item_id,
score (rank is 1-based; slots without a valid item are left out).
--drop_recent=N is an ablation: each history loses its N latest items (still
masked), which shows how much of a model's accuracy rests on them. The
library call is `jaxrec.Recommender.load(DIR).evaluate(...)`.
"""

from absl import flags
from absl import logging

from jaxrec import cli
from jaxrec import distributed
from jaxrec import recommender as recommender_lib
from jaxrec.evaluation import evaluator as evaluator_lib
from jaxrec.evaluation import report as report_lib


def define_flags(flag_values: flags.FlagValues = flags.FLAGS) -> None:
  """The command's flags, defined in `flag_values`."""
  cli.define_trained_run_flags(flag_values)
  flags.DEFINE_enum("split", None, ["valid", "test"],
                    "Split to evaluate (default: config eval.split).",
                    flag_values=flag_values)
  flags.DEFINE_enum("mode", None, list(evaluator_lib.MODES),
                    "beam: constrained beam search; exact: score every item; "
                    "unconstrained: beam search without the trie (default: "
                    "config eval.mode).",
                    flag_values=flag_values)
  flags.DEFINE_string("export_topk", None,
                      "Write every user's ranked list to this TSV file.",
                      flag_values=flag_values)
  flags.DEFINE_integer("beam_size", None, "Beams and list length (default: "
                       "config eval.beam_size).", flag_values=flag_values)
  flags.DEFINE_integer("batch_size", None, "Users per global batch (default: "
                       "config eval.batch_size).", flag_values=flag_values)
  flags.DEFINE_bool("mask_history", None, "Leave out seen items (default: "
                    "config eval.mask_history).", flag_values=flag_values)
  flags.DEFINE_integer(
      "drop_recent", 0, "Ablation: leave each user's N most recent history "
      "items out of the model's input (they stay masked); the report is then "
      "eval_<split>_<mode>_drop<N>.json.", lower_bound=0,
      flag_values=flag_values)
  flags.DEFINE_float(
      "item_score_scale", None, "Item-level models with an item score "
      "(model.item_score_weight > 0): rank by log p(codes) + this * item "
      "score (default: config model.item_score_scale).",
      flag_values=flag_values)
  flags.DEFINE_enum("layout", "csr", ["csr", "dense", "auto"],
                    "Trie layout for decoding (jaxrec/decoding/trie.py).",
                    flag_values=flag_values)


def main(argv: list[str]) -> None:
  del argv  # cli.run_command rejects extra arguments.
  values = flags.FLAGS
  distributed.initialize_from_flags()
  recommender = recommender_lib.Recommender.load(
      values.workdir, values.checkpoint, values.catalog_version,
      item_score_scale=values.item_score_scale)
  report = recommender.evaluate(
      values.split, values.mode, beam_size=values.beam_size,
      batch_size=values.batch_size, mask_history=values.mask_history,
      layout=values.layout, drop_recent=values.drop_recent,
      export_path=values.export_topk)
  logging.info("[evaluate] wrote %s", report_lib.report_filename(
      report["split"], report["mode"], report["drop_recent"]))
  if distributed.is_primary():
    print(report_lib.summary(report), flush=True)


def entry_point() -> None:
  cli.run_command("evaluate", define_flags, main)


if __name__ == "__main__":
  entry_point()
