"""CSV input conventions shared by every nanguard entry point that reads CSV.

An empty cell and the tokens `NA`, `null`, `None` mean **missing**; `nan`, `NaN`, `inf`, `-inf`,
`Infinity` are float values (NaN and Inf), as tfx-bsl's CSV decoder reads them.
"""

from __future__ import annotations

import os

MISSING_TOKENS = ("", "NA", "null", "None")


class CsvInputError(ValueError):
    """CSV input that cannot be used; the message names the flag or file and what to do."""


def csv_files(path: str) -> list[str]:
    """The CSV files at `path`: the file itself, or every `*.csv` in the folder, sorted."""
    if os.path.isdir(path):
        files = sorted(
            os.path.join(path, f) for f in os.listdir(path) if f.lower().endswith(".csv")
        )
        if not files:
            raise CsvInputError(f"--data {path}: the folder holds no .csv file")
        return files
    if not os.path.isfile(path):
        raise CsvInputError(f"--data {path}: no such file or folder")
    return [path]
