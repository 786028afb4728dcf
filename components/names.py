"""The one derivation of internal TensorFlow names from user column names.

A CSV header can be anything a spreadsheet writes (`Bill Length (mm)`, `3rd-island/site`,
`体重 (g)`, 200 characters, `a b` next to `a_b`). Features, tf.Example keys, transformed feature
keys, records and summaries keep those original names. Only the names TensorFlow restricts are
derived here: name scopes and op names (`[A-Za-z0-9.][A-Za-z0-9_.\\-/>]*`), Keras layer and
input names, and tf.Transform vocabulary file names (tft rewrites them, so `a b` and `a-b` would
share one file). Light on purpose: standard library only.

`tf_name(name)` keeps a name that is already safe (an ASCII letter, then letters, digits and
single underscores, at most 64 characters, not one the trainer gives its own layers), so the
usual `bill_length_mm` keeps its vocabulary file and layer names. Any other name becomes an ASCII
stem plus `__` plus 10 hex digits of the SHA-256 of its UTF-8 bytes: stable across processes,
and two names that sanitize alike stay distinct. A kept name never holds `__`, so it never equals
a derived one; `tf_names` checks the rest (a hash collision) and raises rather than merge.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterable

__all__ = ["MAX_KEPT", "tf_arg_name", "tf_name", "tf_names"]

MAX_KEPT = 64  # longest name kept as is
_STEM = 40  # longest readable stem of a derived name
_DIGEST = 10  # hex digits of SHA-256 in a derived name
_SAFE = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")
# Names of the trainer's own Keras layers (model.py): a column named so is derived, so that its
# input layer cannot clash with them (`a_col` is `a`'s reshape layer, `output` the head).
_RESERVED = re.compile(
    r"(numeric|features|output|(dense|dropout)_\d+|.*_(col|one_hot|embedding|flat))\Z"
)


def tf_name(name: str) -> str:
    """The internal TF name of column `name`: `name` itself if safe, else `<stem>__<sha256[:10]>`.

    The result matches `[A-Za-z][A-Za-z0-9_]*`, is at most 64 characters, is a valid root name
    scope, op name, Keras layer name and tf.Transform vocabulary file name, and depends on `name`
    only (not on the process or the Python hash seed). Non-ASCII letters are folded (`é` -> `e`)
    or dropped (`中文`) from the stem; the digest keeps every name distinct.
    """
    if (
        len(name) <= MAX_KEPT
        and _SAFE.match(name)
        and "__" not in name
        and not _RESERVED.match(name)
    ):
        return name
    folded = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    stem = re.sub(r"[^A-Za-z0-9]+", "_", folded).strip("_")[:_STEM].rstrip("_")
    if not stem[:1].isalpha():
        stem = "f_" + stem if stem else "f"
    digest = hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:_DIGEST]
    return f"{stem}__{digest}"


def tf_names(names: Iterable[str]) -> dict[str, str]:
    """`{name: tf_name(name)}` for every name, checked one-to-one.

    Raises:
        ValueError: two different names derive the same TF name (a SHA-256 prefix collision;
            the message names both). Never merged silently.
    """
    out: dict[str, str] = {}
    seen: dict[str, str] = {}
    for name in names:
        derived = tf_name(name)
        other = seen.setdefault(derived, name)
        if other != name:
            raise ValueError(
                f"Columns {other!r} and {name!r} both map to the internal TensorFlow name "
                f"{derived!r}; rename one of them."
            )
        out[name] = derived
    return out


def tf_arg_name(name: str) -> str:
    """The parameter name TensorFlow gives a saved function's input keyed by `name`
    (`tensorflow/core/function/polymorphism/function_type.py`, `sanitize_arg_name`): every
    character that is not a letter or digit becomes `_`, and `arg_` goes before a name that
    does not start with a letter. The exported model's transform layer takes the raw features
    by such names, so two columns that map alike (`a.b` and `a_b`, ` x` and `_x`) make a model
    TensorFlow saves but cannot load ("duplicate parameter name")."""
    swapped = "".join(c if c.isalnum() else "_" for c in name)
    return swapped if swapped[:1].isalpha() else "arg_" + swapped
