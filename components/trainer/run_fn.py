"""Guarded Trainer entry point: `run_fn` for the stock TFX Trainer; it only wires the modules.

Use it as `Trainer(run_fn='nanguard.components.trainer.run_fn.run_fn',
custom_config=TrainerConfig.custom_config(label_key), train_args=..., eval_args=...)`:
`custom_config` is the label plus the `trainer` section of the YAML (`config.TrainerConfig`).

    data.py       labelled_dataset, drop_missing_labels      -> (features, label) batches
    model.py      build_model_from_transform                  -> a compiled GuardedModel
    fit.py        fit_guarded (GuardCallback)                 -> the training health report
    export.py     export_model                                -> the serving SavedModel
                  (a standardised regression label back in its units: serving.label_scaling;
                  the hostile probes as TF Serving warmup requests: warmup.py)
    health.py     write_health_report                         -> <model_run_dir>/HEALTH_REPORT_FILE

NaN and Inf: rows whose label is missing (int label -1, float label NaN or Inf) are dropped from
training and evaluation. A training step with a non-finite loss, global gradient norm or weight
never updates the model (`guarded_model.py`), and a model holding any non-finite weight is never
exported: `GuardBlockedError` is raised and nothing is written to `serving_model_dir`. Once
training has started, the health report is written to
`<model_run_dir>/nanguard_training_health.json` in every case, including failures.
"""

from __future__ import annotations

import tensorflow_transform as tft
import tf_keras as keras

from nanguard.components.errors import GuardBlockedError, InputError
from nanguard.components.trainer import serving
from nanguard.components.trainer.config import TrainerConfig
from nanguard.components.trainer.data import labelled_dataset
from nanguard.components.trainer.diagnosis import nonfinite_weights
from nanguard.components.trainer.export import export_model
from nanguard.components.trainer.fit import fit_guarded
from nanguard.components.trainer.health import write_health_report
from nanguard.components.trainer.model import build_model_from_transform
from nanguard.components.trainer.warmup import warmup_profiles
from nanguard.components.transform_record import load_transform_record, ranges_of

__all__ = ["run_fn"]


def run_fn(fn_args) -> None:
    """TFX Trainer entry point: guarded training, health report, checked export.

    Reads `label_key, config = TrainerConfig.from_custom_config(fn_args.custom_config)`. The
    budget follows the data: with no `fn_args.train_steps` (the Trainer's TrainArgs) it trains
    up to `config.epochs` whole passes over the training split, stopping early when the
    evaluation loss has not improved for `config.early_stopping_patience` epochs (the best
    weights are kept); a `train_steps` caps the batches in all, split evenly over the epochs.
    `fn_args.eval_steps` (EvalArgs) is split the same way, at least one batch per epoch; when
    None every epoch evaluates the whole split. Writes
    `<model_run_dir>/nanguard_training_health.json` once training has started.

    Raises:
        InputError: `custom_config` has no `label_key`, the label is not a transformed
            feature, or a key of the section is unknown or invalid (the message names it).
        GuardBlockedError: policy `raise` met a non-finite step, or the trained model holds a
            non-finite weight (nothing exported in either case).
    """
    label_key, config = TrainerConfig.from_custom_config(fn_args.custom_config)
    if not label_key:
        raise InputError(
            "trainer: custom_config has no label_key; the guarded trainer needs the label "
            "feature. Pass custom_config=TrainerConfig.custom_config(label_key) to the Trainer "
            "(nanguard run: --label)."
        )
    keras.utils.set_random_seed(config.seed)
    tf_transform_output = tft.TFTransformOutput(fn_args.transform_output)
    features = tf_transform_output.transformed_feature_spec()
    if label_key not in features:
        raise InputError(
            f"trainer: label_key {label_key!r} is not a feature of the transform output "
            f"{fn_args.transform_output} (features: {sorted(features)}); pass the label column "
            "the transform kept."
        )
    train_steps, eval_steps = fn_args.train_steps, fn_args.eval_steps
    config = config.replace(train_steps=train_steps or None, eval_steps=eval_steps or None)
    steps_per_epoch = validation_steps = None
    if train_steps:
        epochs = max(1, min(config.epochs, int(train_steps)))
        steps_per_epoch = max(1, int(train_steps) // epochs)
        config = config.replace(epochs=epochs, train_steps=int(train_steps))
    if eval_steps:
        # A budget for the whole run, as TFX's EvalArgs is: the stock trainer validates it
        # once, so per-epoch validation of all of it would multiply the evaluation work.
        validation_steps = max(1, int(eval_steps) // config.epochs)
    train = labelled_dataset(
        fn_args.train_files,
        fn_args.data_accessor,
        tf_transform_output,
        label_key,
        config,
        None if train_steps else 1,
    )
    evaluation = labelled_dataset(
        fn_args.eval_files,
        fn_args.data_accessor,
        tf_transform_output,
        label_key,
        config,
        None if eval_steps else 1,
    )
    model = build_model_from_transform(tf_transform_output, label_key, config)
    # A regression label was standardised by the transform: the export undoes it.
    scaling = serving.label_scaling(fn_args.transform_output, label_key)
    # Read once (the Transform's JSON, else the graph): the export's ranges and warmup probes.
    record = load_transform_record(fn_args.transform_output)["features"]
    ranges = ranges_of(record)
    report = {"status": "not_started"}
    try:
        report = fit_guarded(
            model,
            train,
            config,
            steps_per_epoch=steps_per_epoch,
            validation_data=evaluation,
            validation_steps=validation_steps,
        )
        try:
            export_model(
                model,
                tf_transform_output,
                label_key,
                fn_args.serving_model_dir,
                label_scaling=scaling,
                ranges=ranges,
                nonfinite_input=config.nonfinite_input,
                warmup_profiles=warmup_profiles(
                    tf_transform_output.raw_feature_spec(), record, ranges, label_key
                ),
            )
            report["exported"] = True
        except GuardBlockedError:
            report["exported"] = False
            report["status"] = "export_blocked"
            report["nonfinite_weights_at_export"] = nonfinite_weights(model)
            raise
    except GuardBlockedError as err:
        report = getattr(err, "report", report)
        report.setdefault("exported", False)
        raise
    finally:
        report["config"] = config.custom_config(label_key)
        if scaling is not None:
            report["label_scaling"] = {"mean": scaling[0], "std": scaling[1]}
        write_health_report(report, fn_args.model_run_dir)
