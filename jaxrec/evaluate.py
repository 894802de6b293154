r"""Evaluates a finished (or running) work directory's checkpoint.

  python -m jaxrec.evaluate --workdir=DIR [--split=valid|test] \
      [--checkpoint=best|latest|STEP] [--mode=beam|exact|unconstrained] \
      [--export_topk=PATH] [--drop_recent=N]

Reads DIR/config.json, the prepared data and DIR/vocab/vocab.json, restores the
checkpoint onto the config's mesh (all devices, all hosts), ranks every user of
the split and writes DIR/eval_<split>_<mode>.json: Recall/NDCG/MRR@{5,10,20},
coverage@10, bootstrap 95% intervals of Recall@10 and NDCG@10 (over users,
fixed seed), the invalid-ID rate (unconstrained) and the trie's size. With
--export_topk, also a TSV of every user's list: user_id, rank, item_id, score
(rank is 1-based; slots without a valid item are left out). --drop_recent=N
is an ablation: each history loses its N latest items (still masked), which
shows how much of a model's accuracy rests on them.
"""

import json
import time

import jax
import ml_collections
from absl import app
from absl import flags
from absl import logging
from etils import epath

from jaxrec import distributed
from jaxrec import workdir as workdir_lib
from jaxrec.data import registry
from jaxrec.data import split as split_lib
from jaxrec.evaluation import evaluator as evaluator_lib
from jaxrec.semantic_ids import vocab as vocab_lib
from jaxrec.train import checkpoints as checkpoints_lib
from jaxrec.train import trainer

_WORKDIR = flags.DEFINE_string("workdir", None, "Work directory of the run.")
_SPLIT = flags.DEFINE_enum("split", None, ["valid", "test"],
                           "Split to evaluate (default: config eval.split).")
_CHECKPOINT = flags.DEFINE_string(
    "checkpoint", "best", "best (by validation NDCG@10), latest, or a step.")
_MODE = flags.DEFINE_enum("mode", "beam", list(evaluator_lib.MODES),
                          "beam: constrained beam search; exact: score every "
                          "item; unconstrained: beam search without the trie.")
_EXPORT_TOPK = flags.DEFINE_string(
    "export_topk", None, "Write every user's ranked list to this TSV file.")
_BEAM_SIZE = flags.DEFINE_integer(
    "beam_size", None,
    "Beams and list length (default: config eval.beam_size).")
_BATCH_SIZE = flags.DEFINE_integer(
    "batch_size", None,
    "Users per global batch (default: config eval.batch_size).")
_MASK_HISTORY = flags.DEFINE_bool(
    "mask_history", None, "Leave out seen items (default: config "
    "eval.mask_history).")
_DROP_RECENT = flags.DEFINE_integer(
    "drop_recent", 0, "Ablation: leave each user's N most recent history items "
    "out of the model's input (they stay masked); the report is then "
    "eval_<split>_<mode>_drop<N>.json.", lower_bound=0)
_LAYOUT = flags.DEFINE_enum("layout", "csr", ["csr", "dense", "auto"],
                            "Trie layout for decoding.")
flags.mark_flag_as_required("workdir")

BOOTSTRAP_SEED = 0
BOOTSTRAP_RESAMPLES = 1000


def load_config(workdir: str) -> ml_collections.ConfigDict:
  """The run's resolved config, from DIR/config.json."""
  path = epath.Path(workdir) / workdir_lib.CONFIG_FILE
  return ml_collections.ConfigDict(json.loads(path.read_text()))


def _available_steps(directory: epath.Path) -> list[int]:
  if not directory.is_dir():
    return []
  return sorted(int(path.name) for path in directory.iterdir()
                if path.name.isdigit())


def checkpoint_step(checkpointer: checkpoints_lib.Checkpointer,
                    directory: epath.PathLike, which: str) -> int:
  """Resolves --checkpoint (best, latest or a step number) to a saved step."""
  available = _available_steps(epath.Path(directory))
  if which == "best":
    step = checkpointer.best_step()
  elif which == "latest":
    step = checkpointer.latest_step()
  elif which.isdigit():
    step = int(which)
  else:
    raise ValueError(f"--checkpoint={which!r}: expected best, latest or a step")
  if step is None or step not in available:
    raise ValueError(f"no checkpoint {which!r} in {directory}; saved steps: "
                     f"{available}")
  return step


def export_topk(path: str, rankings: evaluator_lib.Rankings,
                user_ids, item_ids) -> None:
  """TSV with a header: user_id, rank (1-based), item_id, score."""
  path = epath.Path(path)
  tmp_path = path.parent / (path.name + ".tmp")
  with tmp_path.open("w") as f:
    f.write("user_id\trank\titem_id\tscore\n")
    for user, (items, scores) in enumerate(zip(rankings.items,
                                               rankings.scores)):
      for rank, (item, score) in enumerate(zip(items, scores), start=1):
        if item >= 0:
          f.write(f"{user_ids[user]}\t{rank}\t{item_ids[item]}\t{score:.6f}\n")
  tmp_path.replace(path)


def run(workdir: str, *, split: str | None = None, checkpoint: str = "best",
        mode: str = "beam", export_path: str | None = None,
        beam_size: int | None = None, batch_size: int | None = None,
        mask_history: bool | None = None, layout: str = "csr",
        drop_recent: int = 0) -> dict:
  """Evaluates one checkpoint of `workdir`; writes and returns the report."""
  config = load_config(workdir)
  split_name = split or config.eval.split
  beam_size = beam_size or config.eval.beam_size
  mask_history = (config.eval.mask_history if mask_history is None
                  else mask_history)
  data = registry.load(config.data, workdir)
  users = split_lib.leave_one_out(data.user_items, data.user_timestamps,
                                  data.user_ids)
  eval_set = evaluator_lib.EvalSet.from_split(
      users, split_name, config.data.max_history).without_recent(drop_recent)
  vocab = vocab_lib.SemanticIdVocab.load(
      epath.Path(workdir) / "vocab" / vocab_lib.VOCAB_FILENAME,
      expected_fingerprint=data.fingerprint)
  experiment, _ = trainer.build_experiment(config, vocab)
  directory = str(epath.Path(workdir) / "checkpoints")
  checkpointer = checkpoints_lib.Checkpointer(directory, read_only=True)
  step = checkpoint_step(checkpointer, directory, checkpoint)
  params = checkpointer.restore(step, experiment.abstract_state).params
  checkpointer.close()

  ranker = evaluator_lib.Ranker(
      experiment.model, vocab, experiment.mesh, experiment.rules,
      experiment.state_sharding.params, beam_size=beam_size,
      batch_size=batch_size or config.eval.batch_size,
      mask_history=mask_history, mode=mode, layout=layout)
  start = time.perf_counter()
  rankings = ranker.rankings(params, eval_set)
  seconds = time.perf_counter() - start
  report = {
      "split": split_name,
      "mode": mode,
      "checkpoint_step": int(step),
      "num_users": eval_set.num_users,
      "num_items": vocab.num_items,
      "beam_size": beam_size,
      "mask_history": ranker.mask_history,
      "drop_recent": drop_recent,
      **evaluator_lib.metrics_of(rankings.items, eval_set.targets,
                                 vocab.num_items, mode),
      **evaluator_lib.bootstrap_intervals(
          rankings.items, eval_set.targets, seed=BOOTSTRAP_SEED,
          num_resamples=BOOTSTRAP_RESAMPLES),
      "bootstrap": {"seed": BOOTSTRAP_SEED, "resamples": BOOTSTRAP_RESAMPLES},
      "trie_bytes": ranker.trie_nbytes,
      "trie_bytes_per_item": ranker.trie_nbytes / vocab.num_items,
      "seconds": seconds,
      "num_devices": jax.device_count(),
  }
  if distributed.is_primary():
    workdir_lib.write_json_atomically(
        epath.Path(workdir) / report_filename(split_name, mode, drop_recent),
        report)
    if export_path:
      export_topk(export_path, rankings, users.user_ids, vocab.item_ids)
  return report


def report_filename(split: str, mode: str, drop_recent: int = 0) -> str:
  """eval_<split>_<mode>[_drop<N>].json."""
  suffix = f"_drop{drop_recent}" if drop_recent else ""
  return f"eval_{split}_{mode}{suffix}.json"


def summary(report: dict) -> str:
  """A few human-readable lines of the report."""
  dropped = (f" / {report['drop_recent']} latest items dropped"
             if report.get("drop_recent") else "")
  lines = [f"{report['split']} / {report['mode']}{dropped} / checkpoint "
           f"{report['checkpoint_step']}: {report['num_users']} users, "
           f"{report['num_items']} items, {report['seconds']:.1f}s on "
           f"{report['num_devices']} device(s)"]
  for name in ("recall", "ndcg", "mrr"):
    lines.append("  " + "  ".join(f"{name}@{k} {report[f'{name}@{k}']:.4f}"
                                  for k in (5, 10, 20)))
  for name in ("recall@10", "ndcg@10"):
    low, high = report[f"{name}_ci95"]
    lines.append(f"  {name} 95% CI [{low:.4f}, {high:.4f}]")
  lines.append(f"  coverage@10 {report['coverage@10']:.4f}")
  if "invalid_rate@10" in report:
    lines.append("  invalid rate " + "  ".join(
        f"@{k} {report[f'invalid_rate@{k}']:.4f}" for k in (5, 10, 20)))
  return "\n".join(lines)


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
  distributed.initialize_from_flags()
  report = run(_WORKDIR.value, split=_SPLIT.value,
               checkpoint=_CHECKPOINT.value, mode=_MODE.value,
               export_path=_EXPORT_TOPK.value, beam_size=_BEAM_SIZE.value,
               batch_size=_BATCH_SIZE.value, mask_history=_MASK_HISTORY.value,
               layout=_LAYOUT.value, drop_recent=_DROP_RECENT.value)
  logging.info("[evaluate] wrote %s", report_filename(
      report["split"], report["mode"], report["drop_recent"]))
  if distributed.is_primary():
    print(summary(report), flush=True)


def entry_point():
  app.run(main)


if __name__ == "__main__":
  entry_point()
