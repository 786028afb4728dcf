"""The model side of the gate: a SavedModel signature that takes serialized tf.Examples."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import tensorflow as tf

from nanguard.components.served_flags import REPAIR_SIGNATURE


def data_signature_name(model_dir: str, signature_name: str) -> str:
    """The signature the evaluation data go through: `serving_repair` when `signature_name` is
    `serving_default` and the model has one (nanguard's `reject` policy: `serving_default`
    refuses a request holding NaN or Inf, and evaluation rows may hold them), else
    `signature_name`. Reads the signature names from saved_model.pb without loading the model.
    """
    from tensorflow.python.saved_model import loader_impl

    if signature_name != "serving_default" or not tf.saved_model.contains_saved_model(model_dir):
        return signature_name
    graphs = loader_impl.parse_saved_model(model_dir).meta_graphs
    return _data_signature(signature_name, {n for g in graphs for n in g.signature_def})


def _data_signature(signature_name: str, names) -> str:
    """`data_signature_name`'s rule on the model's signature names."""
    if signature_name == "serving_default" and REPAIR_SIGNATURE in names:
        return REPAIR_SIGNATURE
    return signature_name


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
        self._bind(model_dir, signature_name)

    def _bind(self, model_dir: str, signature_name: str) -> None:
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

    def for_data(self) -> ModelSignature:
        """The signature the evaluation data go through (`data_signature_name`), sharing this
        one's loaded model: itself, or `serving_repair` under nanguard's `reject` policy."""
        name = _data_signature(self.signature_name, self._loaded.signatures)  # loaded already
        if name == self.signature_name:
            return self
        other = object.__new__(ModelSignature)
        other._loaded = self._loaded
        other._bind(self.model_dir, name)
        return other

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
