"""Joint imputation strategies are registered (`config.JOINT_STRATEGIES`), not special-cased by
name in `preprocessing_fn`: a new one is its module plus its entry and section in config.py."""

from __future__ import annotations

import ast
import importlib
import inspect

from nanguard.components.transform import config, preprocessing


def test_each_registered_strategy_takes_its_section_as_keywords():
    assert list(config.JOINT_STRATEGIES) == ["knn", "em"]
    for name, path in config.JOINT_STRATEGIES.items():
        assert name in config.STRATEGIES
        module, function = path.rsplit(".", 1)
        impute = getattr(importlib.import_module(module), function)
        params = inspect.signature(impute).parameters
        keywords = {p for p, v in params.items() if v.kind == inspect.Parameter.KEYWORD_ONLY}
        section = getattr(config.TransformConfig(), name)
        assert keywords == {"inf", *section.keys()}, name
        assert list(params)[:2] == ["prepared", "stats"]


def test_preprocessing_fn_names_no_joint_strategy():
    tree = ast.parse(inspect.getsource(preprocessing))
    names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    names |= {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
    strings = {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant)}
    for strategy in config.JOINT_STRATEGIES:
        assert strategy not in names and strategy not in strings, strategy
