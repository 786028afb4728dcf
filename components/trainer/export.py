"""Export: the serving SavedModel (`serving.py` contract), written only if every weight is finite.

NaN and Inf: a model holding any NaN or Inf weight is never exported; `GuardBlockedError` is
raised naming the layers and nothing is written to the serving directory.
"""

from __future__ import annotations

import tensorflow_transform as tft
import tf_keras as keras
from absl import logging

from nanguard.components.trainer import serving, warmup
from nanguard.components.trainer.diagnosis import refuse_nonfinite_weights
from nanguard.components.trainer.health import HEALTH_REPORT_FILE


def export_model(
    model: keras.Model,
    tf_transform_output: tft.TFTransformOutput,
    label_key: str,
    serving_model_dir: str,
    label_scaling: tuple[float, float] | None = None,
    ranges: dict[str, tuple[float, float] | None] | None = None,
    nonfinite_input: str = "repair",
    warmup_profiles: list | None = None,
) -> None:
    """Checks every weight, then writes the serving SavedModel (serving.py's contract).

    With `label_scaling` (`(mean, std)` of a standardised regression label,
    `serving.label_scaling`), the exported model ends in a `Rescaling(std, mean)` layer named
    `label_units`: it predicts in the label's own units. `ranges`
    (`transform_record.repair_ranges`): the raw ranges the serving signature's
    `nanguard_repaired` counts values outside of.
    `nonfinite_input`: `repair` or `reject` (`serving.serving_signatures`). With
    `warmup_profiles` (`warmup.warmup_profiles`), the hostile probes the serving signature
    answers are written to `assets.extra/tf_serving_warmup_requests` (`warmup.py`).

    Raises:
        GuardBlockedError: if any weight is NaN or Inf; nothing is written to
            `serving_model_dir`.
    """
    refuse_nonfinite_weights(
        model,
        serving_model_dir,
        f"See {HEALTH_REPORT_FILE} in the model run directory; lower trainer.learning_rate or "
        "use trainer.nonfinite_policy='recover'.",
    )
    # Export a plain functional model sharing the trained layers: no custom class to load.
    # model.input keeps the input dict, so the export is called by feature name (any header).
    outputs = model.outputs
    if label_scaling is not None:
        mean, std = label_scaling
        outputs = [
            keras.layers.Rescaling(std, offset=mean, dtype="float32", name="label_units")(
                outputs[0]
            )
        ]
    plain = keras.Model(inputs=model.input, outputs=outputs, name="nanguard_model")
    signatures = serving.serving_signatures(
        plain, tf_transform_output, label_key, label_scaling, ranges, nonfinite_input
    )
    # save_traces=False: the layers are stock Keras layers, rebuilt from their configs on
    # load, so tracing each layer's call for the SavedModel (~10 s, most of the export) buys
    # nothing; the signatures above are traced and saved all the same.
    plain.save(serving_model_dir, save_format="tf", signatures=signatures, save_traces=False)
    if warmup_profiles is not None:
        warmup.write_warmup_requests(
            serving_model_dir,
            signatures[serving.SERVING_SIGNATURE],
            warmup_profiles,
            nonfinite_input,
        )
    logging.info("Guarded model written to %s", serving_model_dir)
