"""Training input: rows with a missing label are dropped, other NaN/Inf are left alone."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from nanguard.components.trainer import data


def test_drop_missing_labels_matches_numpy():
    rng = np.random.default_rng(1)
    a = rng.normal(size=20).astype("float32")
    label = rng.normal(size=20).astype("float32")
    label[[1, 5]] = np.nan
    label[7] = np.inf
    features, kept = data.drop_missing_labels({"a": tf.constant(a)}, tf.constant(label))
    keep = np.isfinite(label)
    np.testing.assert_array_equal(kept.numpy(), label[keep])
    np.testing.assert_array_equal(features["a"].numpy(), a[keep])
    int_label = np.array([0, -1, 2, 1, -1], dtype="int64")
    features, kept = data.drop_missing_labels({"a": tf.constant(a[:5])}, tf.constant(int_label))
    np.testing.assert_array_equal(kept.numpy(), int_label[int_label >= 0])
    np.testing.assert_array_equal(features["a"].numpy(), a[:5][int_label >= 0])


def test_drop_missing_labels_keeps_nonfinite_features():
    a = np.array([np.nan, np.inf, 1.0, -np.inf], "float32")
    label = np.array([0.0, 1.0, -np.inf, 2.0], "float32")
    features, kept = data.drop_missing_labels({"a": tf.constant(a)}, tf.constant(label))
    np.testing.assert_array_equal(kept.numpy(), [0.0, 1.0, 2.0])
    np.testing.assert_array_equal(features["a"].numpy(), a[[0, 1, 3]])  # NaN/Inf kept


def test_labelled_dataset_drops_missing_labels_from_tfrecords():
    from nanguard.components.trainer.config import TrainerConfig
    from tests.trainer import _shared

    transformed = _shared.transformed()
    args = _shared.fn_args(transformed, transformed["root"], {})
    config = TrainerConfig.from_dict({"batch_size": 50})
    dataset = data.labelled_dataset(
        args.eval_files,
        args.data_accessor,
        _shared.transform_output(transformed),
        _shared.LABEL,
        config,
        num_epochs=1,
    )
    labels = np.concatenate([label.numpy() for _, label in dataset])
    frame = transformed["frame"]
    assert len(labels) == frame[_shared.LABEL].notna().sum() == len(frame)  # penguins: no gap
    assert labels.min() >= 0 and len(np.unique(labels)) == frame[_shared.LABEL].nunique()


def test_labelled_dataset_keeps_the_batch_count_when_labels_are_missing(tmp_path):
    """Missing-label rows go, but a batch left empty stays: every pass over a split yields
    ceil(rows / batch_size) batches, the count Keras learns in the first epoch."""
    import tensorflow as tf

    from nanguard.components.trainer.config import TrainerConfig
    from tests.trainer import _shared

    transformed = _shared.transformed()
    records = tf.data.TFRecordDataset(
        [str(p) for p in (transformed["root"] / "eval").glob("*.gz")], compression_type="GZIP"
    )
    examples = [tf.train.Example.FromString(r.numpy()) for r in records]
    args = _shared.fn_args(transformed, transformed["root"], {})
    output = _shared.transform_output(transformed)
    config = TrainerConfig.from_dict({"batch_size": 50})
    for every in (1, 3):  # every label missing (all 7 batches empty), or every third
        folder = tmp_path / f"every_{every}"
        folder.mkdir()
        with tf.io.TFRecordWriter(str(folder / "data.gz"), "GZIP") as out:
            for i, example in enumerate(examples):
                copy = tf.train.Example()
                copy.CopyFrom(example)
                if i % every == 0:
                    copy.features.feature[_shared.LABEL].int64_list.value[:] = [-1]
                out.write(copy.SerializeToString())
        dataset = data.labelled_dataset(
            [str(folder / "*")], args.data_accessor, output, _shared.LABEL, config, num_epochs=1
        )
        sizes = [int(tf.size(label)) for _, label in dataset]
        assert len(sizes) == -(-len(examples) // 50) == 7
        assert sum(sizes) == sum(1 for i in range(len(examples)) if i % every != 0)
