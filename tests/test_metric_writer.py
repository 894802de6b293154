"""metrics.jsonl and TensorBoard scalars (jaxrec/train/metric_writer.py)."""

import json
import struct

from tensorboardX.proto import event_pb2

from jaxrec.train import metric_writer


def test_tags_are_tensorboard_names():
  assert metric_writer.tensorboard_tag("valid/ndcg@10") == "valid/ndcg_10"
  assert (metric_writer.tensorboard_tag("valid/long_tail/tail/recall@10")
          == "valid/long_tail/tail/recall_10")
  assert metric_writer.tensorboard_tag("train/loss") == "train/loss"


def test_resume_drops_later_lines_and_writes_scalars(tmp_path):
  writer = metric_writer.MetricWriter(str(tmp_path))
  for step in (100, 200, 300):
    writer.write(step, {"valid/ndcg@10": step / 1000})
  writer.close()
  resumed = metric_writer.MetricWriter(str(tmp_path), resume_step=200)
  resumed.write(300, {"valid/ndcg@10": 0.5})
  resumed.close()
  lines = [json.loads(line)
           for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
  assert lines == [{"step": 100, "valid/ndcg@10": 0.1},
                   {"step": 200, "valid/ndcg@10": 0.2},
                   {"step": 300, "valid/ndcg@10": 0.5}]
  # File names: events.out.tfevents.<second>.<host>.<pid>.<nanoseconds>.
  first, second = [_events(path.read_bytes())
                   for path in sorted((tmp_path / "tensorboard").iterdir())]
  scalars = lambda events: [(event.step, value.tag,
                             round(value.simple_value, 6))
                            for event in events for value in event.summary.value]
  assert scalars(first) == [(100, "valid/ndcg_10", 0.1),
                            (200, "valid/ndcg_10", 0.2),
                            (300, "valid/ndcg_10", 0.3)]
  assert scalars(second) == [(300, "valid/ndcg_10", 0.5)]
  # TensorBoard hides the first file's scalars from step 201 on.
  assert any(event.step == 201 and event.session_log.status ==
             event_pb2.SessionLog.START for event in second)


def _events(data: bytes) -> list[event_pb2.Event]:
  """The events of a TFRecord file: per record a uint64 length, its crc, the
  bytes, their crc."""
  events = []
  while data:
    (length,) = struct.unpack("<Q", data[:8])
    events.append(event_pb2.Event.FromString(data[12:12 + length]))
    data = data[16 + length:]
  return events
