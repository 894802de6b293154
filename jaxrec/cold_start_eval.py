"""The cold-start protocol's evaluation stage of the job.

With `config.data.cold_items` > 0 (docs/cold_start.md,
`jaxrec.data.cold_items`) the latest items by first appearance were held out
of the tokenizer, training and validation. After training, `evaluate` writes
them to DIR/cold_items.jsonl and adds them to the catalogue
(`jaxrec.catalog.add_items`, once: a re-run reuses that version), ranks the
test split over that catalogue, and returns the report's metrics with a
`cold_start` section: metrics over the users whose target is cold and over
the others, for the model, most-popular and the content-only baseline, and
with `eval.cold_slots` > 0 for lists that reserve top-10 places for the new
items.
"""

import json
import os

import ml_collections
import numpy as np
from absl import logging

from jaxrec import catalog
from jaxrec import distributed
from jaxrec import workdir as workdir_lib
from jaxrec.data import cold_items as cold_items_lib
from jaxrec.data import item_text
from jaxrec.evaluation import cold_metrics
from jaxrec.evaluation import content_baseline
from jaxrec.evaluation import evaluator as evaluator_lib
from jaxrec.evaluation import popularity
from jaxrec.models import generator as generator_lib
from jaxrec.semantic_ids import catalog_versions
from jaxrec.semantic_ids import cold_start
from jaxrec.train import trainer

COLD_ITEMS_FILE = "cold_items.jsonl"  # In DIR: `jaxrec.catalog add` input.


def _checked_cold_indices(version: catalog_versions.CatalogVersion,
                          cold: cold_items_lib.ColdItems, workdir: str
                          ) -> catalog_versions.CatalogVersion:
  """`version`, after checking that it holds the cold items (by raw id) at
  the split's indices W..W+C-1, none of them removed."""
  index_of = {item_id: i for i, item_id in enumerate(version.vocab.item_ids)}
  found = np.asarray([index_of.get(i, -1) for i in cold.item_ids])
  if (not np.array_equal(found, cold.cold_indices) or
      set(cold.item_ids) & version.removed):
    raise ValueError(
        f"catalogue version {version.number} of {workdir} does not hold the "
        f"{cold.num_cold_items} cold items at indices {cold.num_warm_items}.."
        f"{cold.num_warm_items + cold.num_cold_items - 1}, as the cold-start "
        "split numbers them (was the catalogue changed by hand?); use a new "
        "workdir")
  return version


def _add_cold_items(config: ml_collections.ConfigDict, workdir: str,
                    cold: cold_items_lib.ColdItems
                    ) -> catalog_versions.CatalogVersion | None:
  """The catalogue version that adds the cold items: found (a re-run adds
  nothing) or added now from DIR/cold_items.jsonl; None when the run's
  quantizer cannot add items."""
  if config.tokenizer.quantizer not in cold_start.QUANTIZERS:
    return None
  ids = tuple(cold.item_ids)
  start, stop = cold.num_warm_items, cold.num_warm_items + len(ids)
  for number in catalog_versions.version_numbers(workdir)[1:]:
    version = catalog_versions.load(workdir, number)
    if version.vocab.item_ids[start:stop] == ids:
      logging.info("[cold start] catalogue version %d already holds the %d "
                   "cold items", number, len(ids))
      return _checked_cold_indices(version, cold, workdir)
  path = os.path.join(workdir, COLD_ITEMS_FILE)
  text = "".join(json.dumps(record) + "\n" for record in cold.records())
  workdir_lib.write_bytes_atomically(path, text.encode("utf-8"))
  version = catalog.add_items(workdir, path)
  logging.info("[cold start] added the %d cold items of %s as catalogue "
               "version %d", len(ids), path, version.number)
  return _checked_cold_indices(version, cold, workdir)


def _catalogue_ranker(config: ml_collections.ConfigDict,
                      experiment: trainer.Experiment, vocab,
                      active_items: np.ndarray, num_trained_items: int
                      ) -> evaluator_lib.Ranker:
  """The evaluation ranker over a catalogue version's `vocab` (its first
  `num_trained_items` items trained with) that returns only `active_items`
  [n]; the trained parameters fit it unchanged."""
  model = generator_lib.build_generator(
      config.model, generator_lib.CodeLayout.of(vocab),
      max_items=config.data.max_history + 1, item_codes=vocab.item_codes,
      num_trained_items=num_trained_items)
  return evaluator_lib.Ranker(
      model, vocab, experiment.mesh, experiment.rules,
      experiment.state_sharding.params, beam_size=config.eval.beam_size,
      batch_size=config.eval.batch_size,
      mask_history=config.eval.mask_history,
      mode=config.eval.get("mode", "beam"), active_items=active_items)


def _content_rankings(config: ml_collections.ConfigDict, workdir: str,
                      cold: cold_items_lib.ColdItems,
                      test_set: evaluator_lib.EvalSet
                      ) -> tuple[np.ndarray, str]:
  """The content-only baseline's lists [num_users, 20] over the warm and
  the cold items, and the name of its text encoder."""
  items = item_text.ItemColumns.of(cold.warm_data).concat(cold.items)
  path = workdir_lib.vocab_dir(workdir) / cold_start.STATE_FILENAME
  state = cold_start.load(path) if path.exists() else None
  embeddings, encoder = content_baseline.text_embeddings(
      state, items, cold.num_warm_items, seed=config.tokenizer.get("seed", 0))
  ranked, _ = content_baseline.rank(
      embeddings, test_set.histories, test_set.seen_items,
      recent=_content_recent_items(config),
      list_size=evaluator_lib.LIST_SIZE,
      mask_history=config.eval.mask_history)
  return ranked, encoder


def _content_recent_items(config: ml_collections.ConfigDict) -> int:
  return config.eval.get("content_recent_items",
                         content_baseline.DEFAULT_RECENT_ITEMS)


def evaluate(config: ml_collections.ConfigDict, workdir: str,
                         experiment: trainer.Experiment, params,
                         test_set: evaluator_lib.EvalSet,
                         cold: cold_items_lib.ColdItems) -> dict:
  """The report's metrics under the cold-start protocol (see the module
  docstring): the model's over the catalogue with the cold items added
  (over the warm items when the quantizer cannot add any: cold targets are
  then misses), `popularity`, and the `cold_start` section."""
  split, warm = cold.split, cold.num_warm_items
  version = distributed.primary_first("cold items",
                           lambda: _add_cold_items(config, workdir, cold))
  if version is None:
    logging.info(
        "[cold start] the %r quantizer cannot add items (only %s can): the "
        "test split is ranked over the %d warm items, so the %d users whose "
        "target is cold count as misses", config.tokenizer.quantizer,
        cold_start.QUANTIZERS, warm, int(cold.is_cold_target().sum()))
    ranker, num_items = experiment.ranker, warm
  else:
    ranker = _catalogue_ranker(config, experiment, version.vocab,
                               version.active_indices, warm)
    num_items = version.vocab.num_items
  ranked = ranker.rank(params, test_set)
  targets = test_set.targets
  model = {**evaluator_lib.metrics_of(
      ranked, targets, num_items, ranker.mode,
      popularity.item_counts(split.train, num_items)),
           **evaluator_lib.example_counts(test_set)}
  popular, _ = popularity.split_rankings(split, config.eval.split, num_items,
                                         config.eval.mask_history)
  content, encoder = _content_rankings(config, workdir, cold, test_set)
  section = {
      **cold.counts(),
      "cold_items_added": version is not None,
      "catalog_version": 0 if version is None else version.number,
      "model": {**cold_metrics.cold_warm_metrics(ranked, targets, warm),
                **cold_metrics.new_items_in_lists(ranked, warm)},
      "popularity": cold_metrics.cold_warm_metrics(popular, targets, warm),
      "content": {"encoder": encoder,
                  "recent_items": _content_recent_items(config),
                  **cold_metrics.cold_warm_metrics(content, targets, warm),
                  **cold_metrics.new_items_in_lists(content, warm)},
  }
  slots = config.eval.get("cold_slots", 0)
  if slots and version is None:
    logging.info("[cold start] eval.cold_slots=%d ignored: no item was "
                 "added", slots)
  elif slots:
    new_only = _catalogue_ranker(config, experiment, version.vocab,
                                 cold.cold_indices, warm).rank(params,
                                                               test_set)
    hybrid = cold_metrics.reserve_slots(ranked, new_only, warm, slots)
    section["reserved_slots"] = {
        "slots": slots,
        **cold_metrics.group_metrics(hybrid, targets,
                                     np.ones(len(targets), bool)),
        **cold_metrics.cold_warm_metrics(hybrid, targets, warm),
        **cold_metrics.new_items_in_lists(hybrid, warm)}
  logging.info(
      "[cold start] %d cold / %d warm targets; recall@10 cold %.4f warm "
      "%.4f (content-only: cold %.4f warm %.4f); %.2f new items per top 10",
      section["model"]["cold"]["num_users"],
      section["model"]["warm"]["num_users"],
      section["model"]["cold"]["recall@10"],
      section["model"]["warm"]["recall@10"],
      section["content"]["cold"]["recall@10"],
      section["content"]["warm"]["recall@10"],
      section["model"]["new_items_per_list@10"])
  return {**model,
          "popularity": popularity.metrics_of_rankings(popular, targets,
                                                       split, num_items),
          "cold_start": section}
