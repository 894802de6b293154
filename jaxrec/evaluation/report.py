"""Evaluation reports: file names, the top-K export and a readable summary."""

from etils import epath

from jaxrec import workdir as workdir_lib
from jaxrec.evaluation import evaluator as evaluator_lib


def report_filename(split: str, mode: str, drop_recent: int = 0) -> str:
  """eval_<split>_<mode>[_drop<N>].json."""
  suffix = f"_drop{drop_recent}" if drop_recent else ""
  return f"eval_{split}_{mode}{suffix}.json"


def export_topk(path: epath.PathLike, rankings: evaluator_lib.Rankings,
                user_ids, item_ids) -> None:
  """TSV with a header: user_id, rank (1-based), item_id, score.

  Slots without a valid item are left out. Written whole or not at all.
  """
  lines = ["user_id\trank\titem_id\tscore\n"]
  for user, (items, scores) in enumerate(zip(rankings.items,
                                             rankings.scores)):
    for rank, (item, score) in enumerate(zip(items, scores), start=1):
      if item >= 0:
        lines.append(f"{user_ids[user]}\t{rank}\t{item_ids[item]}\t"
                     f"{score:.6f}\n")
  workdir_lib.write_bytes_atomically(path, "".join(lines).encode("utf-8"))


def summary(report: dict) -> str:
  """A few human-readable lines of an evaluation report."""
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
  lines.append(f"  users whose target repeats a history item: "
               f"{report['repeat_targets']} (masked: scored as misses)"
               if report["mask_history"] else
               f"  users whose target repeats a history item: "
               f"{report['repeat_targets']}")
  if report.get("empty_histories"):
    lines.append(f"  users with an empty input: {report['empty_histories']}")
  if "invalid_rate@10" in report:
    lines.append("  invalid rate " + "  ".join(
        f"@{k} {report[f'invalid_rate@{k}']:.4f}" for k in (5, 10, 20)))
  return "\n".join(lines)
