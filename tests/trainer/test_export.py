"""Export: a model holding a NaN/Inf weight is refused and nothing is written."""

from __future__ import annotations

import numpy as np
import pytest

from nanguard.components.errors import GuardBlockedError
from nanguard.components.trainer import diagnosis, export
from nanguard.components.trainer import model as model_lib
from nanguard.components.trainer.config import TrainerConfig
from tests.trainer import _shared
from tests.trainer._shared import LABEL


def test_export_refuses_nan_weight(tmp_path):
    tft_out = _shared.transform_output(_shared.transformed())
    model = model_lib.build_model_from_transform(tft_out, LABEL, TrainerConfig())
    kernel = model.get_layer("dense_1").kernel
    value = kernel.numpy()
    value[0, :3] = np.nan
    value[1, 0] = np.inf
    kernel.assign(value)
    bad = diagnosis.nonfinite_weights(model)
    assert bad == [
        {
            "layer": "dense_1",
            "variable": kernel.name,
            "nan": int(np.isnan(value).sum()),
            "inf": int(np.isinf(value).sum()),
        }
    ]
    target = tmp_path / "serving"
    with pytest.raises(GuardBlockedError, match="dense_1"):
        export.export_model(model, tft_out, LABEL, str(target))
    assert not target.exists()
