"""The config machinery: declared constraints, one validator, messages that name the key."""

import dataclasses
from typing import ClassVar

import pytest

from nanguard.components import config as c
from nanguard.components.errors import InputError


@dataclasses.dataclass(frozen=True)
class Inner(c.Section):
    name: ClassVar[str] = "outer.inner"
    k: int = c.setting(3, c.Number(1, integer=True), "an integer")


@dataclasses.dataclass(frozen=True)
class Outer(c.Section):
    name: ClassVar[str] = "outer"
    mode: str = c.setting("a", c.OneOf(("a", "b")), "a or b")
    rate: float = c.setting(0.5, c.Number(0.0, 1.0), "a fraction")
    items: tuple = c.setting((), c.ListOf(c.Text()), "names")
    limits: dict = c.setting({}, c.MappingOf(c.Number(0.0, 1.0)), "per name")
    inner: Inner = c.setting(Inner(), c.Nested(Inner), "nested")
    flag: bool = c.setting(False, c.Flag(), "yes or no")


def test_defaults_are_stated_once_and_round_trip_through_json():
    assert Outer.from_dict(None) == Outer()
    section = Outer.from_dict({"mode": "b", "items": ["x"], "inner": {"k": 5}})
    assert section.items == ("x",) and section.inner.k == 5 and section.rate == 0.5
    assert Outer.from_json(section.to_json()) == section
    assert section.replace(rate=1) == dataclasses.replace(section, rate=1.0)


@pytest.mark.parametrize(
    "values, message",
    [
        ({"mod": "a"}, "outer: unknown key(s) ['mod']; allowed: ["),
        ({"mode": "c"}, "outer.mode: 'c' is not allowed; use one of ['a', 'b']"),
        ({"rate": 1.5}, "outer.rate: 1.5 is not allowed; use a number >= 0 and <= 1"),
        ({"rate": True}, "outer.rate: True is not allowed"),
        ({"rate": float("nan")}, "outer.rate: nan is not allowed"),
        ({"items": "x"}, "outer.items: 'x' is not allowed; use a list of a non-empty string"),
        ({"items": ["x", ""]}, "outer.items[1]: '' is not allowed"),
        ({"limits": {"f": 2}}, "outer.limits.f: 2 is not allowed"),
        ({"inner": {"k": 0}}, "outer.inner.k: 0 is not allowed; use an integer >= 1"),
        ({"inner": [1]}, "outer.inner: expected a mapping of keys to values"),
        ({"flag": "yes"}, "outer.flag: 'yes' is not allowed; use true or false"),
        ([1, 2], "outer: expected a mapping of keys to values, got list"),
    ],
)
def test_every_error_names_the_key_path_and_what_is_allowed(values, message):
    with pytest.raises(InputError) as err:
        Outer.from_dict(values)
    assert message in str(err.value)


def test_yaml_lines_document_every_key():
    lines = c.yaml_lines(Outer)
    assert [line.split(":")[0].strip() for line in lines] == [
        "mode", "rate", "items", "limits", "inner", "k", "flag",
    ]  # fmt: skip
    assert all("# " in line for line in lines)
