"""The layout's rules, checked on the source: no module reaches into
another's private names, and modules stay small enough to read."""

import ast
import pathlib

import pytest

SRC = pathlib.Path(__file__).resolve().parents[1] / "src" / "farout"
MODULES = sorted(SRC.rglob("*.py"))


def _own_names(tree):
    """Names a module defines itself (functions, classes, attributes set on
    self), whose private members it may use on its own objects."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            names.add(node.attr)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)  # class attributes
    return names


def _private_reaches(path):
    tree = ast.parse(path.read_text())
    own = _own_names(tree)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.level or "farout" in (node.module or "")):
            found += [
                f"{node.lineno}: imports {a.name}"
                for a in node.names
                if a.name.startswith("_") and not a.name.startswith("__")
            ]
        elif isinstance(node, ast.Attribute) and node.attr.startswith("_"):
            if node.attr.startswith("__") or node.attr in own:
                continue
            # scikit-learn names this one for other code to read, and the
            # standard library's os._exit is public despite its underscore
            if node.attr == "_parameter_constraints" or ast.unparse(node) == "os._exit":
                continue
            found.append(f"{node.lineno}: reads .{node.attr} of {ast.unparse(node.value)}")
    return found


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(SRC)))
def test_no_module_reaches_into_another_modules_private_names(path):
    assert _private_reaches(path) == []


def test_the_audit_sees_a_private_reach(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("from .detector import _like\n\ndef f(det):\n    return det._encoder\n")
    assert len(_private_reaches(sample)) == 2


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(SRC)))
def test_modules_stay_small(path):
    lines = len(path.read_text().splitlines())
    door = path == SRC / "detector.py"  # the estimator's door stays short
    assert lines <= (400 if door else 600), f"{path.name}: {lines} lines"


def test_the_light_names_are_the_registries_names():
    """farout.names lists the choices for the command line without heavy
    imports; every registry and the detector's constraints hold exactly
    those names."""
    from farout import KMeansAnomalyDetector, names
    from farout.baselines import BASELINES
    from farout.cli.commands import TARGETS
    from farout.core.metric import METRICS
    from farout.core.scoring import SCORE_MODES
    from farout.model_selection import METRICS as TUNING_METRICS
    from farout.params import choices
    from farout.tuning import DEFAULT_SPACE

    assert tuple(METRICS) == names.METRICS
    assert tuple(SCORE_MODES) == names.SCORE_MODES
    assert tuple(BASELINES) == names.BASELINES
    assert tuple(TARGETS) == names.THRESHOLD_TARGETS
    assert TUNING_METRICS == names.TUNING_METRICS
    assert set(DEFAULT_SPACE["metric"]) == set(names.METRICS)
    assert set(DEFAULT_SPACE["score_mode"]) == set(names.SCORE_MODES)
    for param, listed in [
        ("metric", names.METRICS),
        ("score_mode", names.SCORE_MODES),
        ("scaling", names.SCALINGS),
        ("k_selection", names.K_SELECTIONS),
        ("missing", names.MISSING),
    ]:
        assert choices(KMeansAnomalyDetector, param) == sorted(listed)
