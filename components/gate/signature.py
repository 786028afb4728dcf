"""The model side of the gate: a SavedModel signature that takes serialized tf.Examples."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import tensorflow as tf


class ModelSignature:
    """A loaded SavedModel signature that takes serialized tf.Examples.

    Args:
        model_dir: SavedModel directory (the folder holding ``saved_model.pb``).
        signature_name: Name of the signature to call (``GateConfig.signature_name``).

    Raises:
        ValueError: If the directory holds no SavedModel, the signature does not exist, or it
            does not take exactly one string tensor input.
    """

    def __init__(self, model_dir: str, signature_name: str):
        if not tf.saved_model.contains_saved_model(model_dir):
            raise ValueError(
                f"No SavedModel (saved_model.pb) found in {model_dir!r}: pass the directory "
                "that holds saved_model.pb (for a TFX Model artifact, <uri>/Format-Serving)."
            )
        self._loaded = tf.saved_model.load(model_dir)
        signatures = dict(self._loaded.signatures)
        if signature_name not in signatures:
            raise ValueError(
                f"SavedModel {model_dir!r} has no signature {signature_name!r}; it has "
                f"{sorted(signatures)}. Set signature_name (--signature) to one of them."
            )
        self._fn = signatures[signature_name]
        inputs = self._fn.structured_input_signature[1]
        if len(inputs) != 1 or next(iter(inputs.values())).dtype != tf.string:
            raise ValueError(
                f"Signature {signature_name!r} of {model_dir!r} must take one string tensor of "
                f"serialized tf.Example; it takes {inputs}."
            )
        self.input_name = next(iter(inputs))
        self.model_dir = model_dir
        self.signature_name = signature_name

    def __call__(self, serialized: Sequence[bytes] | np.ndarray) -> dict[str, np.ndarray]:
        """Runs the signature on a batch of serialized tf.Examples.

        NaN and Inf produced by the model are returned unchanged.

        Args:
            serialized: 1-D batch of serialized tf.Example protos.

        Returns:
            Output name -> numpy array with the batch as first dimension.
        """
        tensor = tf.constant(np.asarray(serialized, dtype=object), dtype=tf.string)
        outputs = self._fn(**{self.input_name: tensor})
        return {name: value.numpy() for name, value in outputs.items()}
