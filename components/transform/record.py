"""The record of what the transform learned: per feature strategy, reason, fill and scaling.

Analyzer results are constants inside the transform graph, so the record is built *in the
graph* as a JSON string per feature and attached to the output schema as a deferred annotation
(`tft.experimental`-style `schema_inference.annotate`, the mechanism tft.bucketize uses): a
`google.protobuf.StringValue` in `schema.annotation.extra_metadata` of
`<transform_graph>/transformed_metadata/schema.pbtxt`. `write_transform_record` reads these
after the run and writes `<transform_graph>/nanguard_transform_record.json`.
"""

from __future__ import annotations

import json
import os
from typing import Any

import tensorflow as tf
from absl import logging
from google.protobuf import wrappers_pb2
from tensorflow_transform import schema_inference

RECORD_FILENAME = 'nanguard_transform_record.json'
TYPE_URL = 'type.googleapis.com/google.protobuf.StringValue'
_MARKER = 'nanguard_transform_record'


def _json_value(v: Any) -> tf.Tensor | str:
  if isinstance(v, tf.Tensor):
    if v.dtype == tf.string:
      escaped = tf.strings.regex_replace(v, r'(["\\])', r'\\\1')
      escaped = tf.strings.regex_replace(escaped, r'[\x00-\x1f]', ' ')
      return tf.strings.join(['"', tf.reshape(escaped, []), '"'])
    f = tf.reshape(tf.cast(v, tf.float64), [])
    return tf.where(
      tf.math.is_finite(f), tf.strings.as_string(f, precision=17, scientific=True), 'null'
    )
  return json.dumps(v)


def annotate_feature(feature: str, info: dict[str, Any]) -> None:
  """Attaches the record entries of one feature (tensors or JSON-able values) to the schema."""
  parts: list[Any] = ['{', json.dumps(_MARKER), ': true, "feature": ', json.dumps(feature)]
  for key in sorted(info):
    parts += [', ', json.dumps(key), ': ', _json_value(info[key])]
  parts.append('}')
  text = tf.strings.join(parts)
  proto = tf.io.encode_proto(
    sizes=[[1]],
    values=[tf.reshape(text, [1, 1])],
    field_names=['value'],
    message_type='google.protobuf.StringValue',
  )[0]
  schema_inference.annotate(TYPE_URL, proto)


def read_transform_record(transform_graph_dir: str) -> dict[str, Any]:
  """Returns {'features': {name: entries}, 'vocabularies': {...}} from a transform graph dir.

  Vocabulary sizes and the most frequent entry of each vocabulary file are read from the
  transform_fn assets. Values that were NaN/Inf in the graph appear as null.
  """
  import tensorflow_transform as tft  # noqa: PLC0415

  output = tft.TFTransformOutput(transform_graph_dir)
  schema = output.transformed_metadata.schema
  features: dict[str, Any] = {}
  for any_msg in schema.annotation.extra_metadata:
    if any_msg.type_url != TYPE_URL:
      continue
    value = wrappers_pb2.StringValue()
    any_msg.Unpack(value)
    try:
      entry = json.loads(value.value)
    except json.JSONDecodeError:
      continue
    if isinstance(entry, dict) and entry.pop(_MARKER, False):
      features[entry.pop('feature')] = entry
  vocabularies = {}
  assets = os.path.join(transform_graph_dir, 'transform_fn', 'assets')
  if tf.io.gfile.isdir(assets):
    for name in sorted(tf.io.gfile.listdir(assets)):
      try:
        size = output.vocabulary_size_by_name(name)
        top = output.vocabulary_by_name(name)[:1]
      except Exception:  # noqa: BLE001 (not a vocabulary file)
        continue
      vocabularies[name] = {
        'size': int(size),
        'most_frequent': top[0].decode('utf-8', 'replace') if top else None,
      }
  return {'features': features, 'vocabularies': vocabularies}


def write_transform_record(transform_graph_dir: str) -> str:
  """Writes `<transform_graph_dir>/nanguard_transform_record.json` and returns its path.

  The JSON holds, per feature, the strategy requested and chosen (with the skewness and the
  reason for `auto`), the fill value, the count of finite values, the scaling center and
  factor, clip bounds and any warning (e.g. a feature with no finite value at all, which was
  filled with the constant). NaN/Inf statistics are written as null.
  """
  record = read_transform_record(transform_graph_dir)
  path = os.path.join(transform_graph_dir, RECORD_FILENAME)
  with tf.io.gfile.GFile(path, 'w') as f:
    f.write(json.dumps(record, indent=2, sort_keys=True))
  for name, entry in record['features'].items():
    if entry.get('warning'):
      logging.warning('Transform feature %s: %s', name, entry['warning'])
  logging.info('Wrote the transform record of %s features to %s', len(record['features']), path)
  return path
