"""The search space of :func:`farout.tune`: the grid of the detector's
parameters that change its scores, the draw of a budget of distinct
candidates from it, and the detector each candidate describes."""

import itertools
import math

from sklearn.base import clone

from . import names
from .ensemble import BaggedKMeans
from .exceptions import InputError
from .params import check_params

__all__ = ["DEFAULT_SPACE", "configured", "draw_candidates", "knobs", "params_text"]

#: The grid candidates are drawn from: the detector's parameters that
#: change its scores (``ensemble__*`` are the ensemble's, for
#: ``score_mode="ensemble"``). Parameters that a candidate's other choices
#: make irrelevant (k under the ensemble's score, the ensemble under the
#: others, ``k_range`` for a fixed k, the scaling under mahalanobis, which
#: whitens the features anyway) take the default's value, so no two
#: candidates differ in name only.
DEFAULT_SPACE = {
    "score_mode": names.SCORE_MODES,
    "metric": names.METRICS,
    "scaling": ("standard", "robust", "minmax", None),
    "n_clusters": ("auto", 2, 4, 8, 16),
    "k_range": ((2, 10), (2, 20)),
    "ensemble__n_estimators": (10, 25, 50),
    "ensemble__max_samples": (64, 128, 256, 512),
}
_KNOBS = tuple(DEFAULT_SPACE)
_ENSEMBLE = ("ensemble__n_estimators", "ensemble__max_samples")


def knobs(det):
    """The searched parameters of detector ``det``."""
    ensemble = BaggedKMeans() if det.ensemble is None else det.ensemble
    return {
        "score_mode": det.score_mode,
        "metric": det.metric,
        "scaling": det.scaling,
        "n_clusters": det.n_clusters,
        "k_range": tuple(det.k_range),
        "ensemble__n_estimators": ensemble.n_estimators,
        "ensemble__max_samples": ensemble.max_samples,
    }


def _relevant(params, default):
    """``params`` with the knobs its other choices make irrelevant set to
    the default's (see :data:`DEFAULT_SPACE`)."""
    params = dict(params)
    if params["score_mode"] == "ensemble":
        params["n_clusters"], params["k_range"] = default["n_clusters"], default["k_range"]
    else:
        params.update({k: default[k] for k in _ENSEMBLE})
    if params["n_clusters"] != "auto":
        params["k_range"] = default["k_range"]
    if params["metric"] == "mahalanobis":
        params["scaling"] = default["scaling"]
    return params


_MAX_GRID = 100_000


def draw_candidates(space, default, budget, rng, base):
    """The default, then ``budget - 1`` distinct configurations drawn at
    random from the grid ``space``."""
    if not isinstance(space, dict):
        raise InputError(f"space must be a dict of parameter -> values, got {space!r}.")
    unknown = [k for k in space if k not in _KNOBS]
    if unknown:
        raise InputError(
            f"space: unknown parameter(s) {', '.join(map(repr, unknown))}; tune searches "
            + ", ".join(map(repr, _KNOBS))
        )
    options = []
    for knob in _KNOBS:
        values = space.get(knob, (default[knob],))
        if not isinstance(values, (list, tuple)) or not values:
            raise InputError(f"space[{knob!r}] must be a non-empty list, got {values!r}.")
        options.append([tuple(v) if knob == "k_range" else v for v in values])
    size = math.prod(len(v) for v in options)
    if size > _MAX_GRID:
        raise InputError(f"space holds {size:,} combinations, more than {_MAX_GRID:,}; narrow it.")
    grid = {}
    for combo in itertools.product(*options):
        params = _relevant(dict(zip(_KNOBS, combo, strict=True)), default)
        grid.setdefault(tuple(params.items()), params)
    grid.pop(tuple(default.items()), None)
    others = list(grid.values())
    candidates = [default] + [others[i] for i in rng.permutation(len(others))[: budget - 1]]
    for params in candidates:
        try:
            check_params(configured(base, params))
        except InputError as exc:
            raise InputError(f"space: {params_text(params, default)}: {exc}") from None
    return candidates


def configured(base, params, verbose=None):
    """An unfitted clone of ``base`` with the candidate's parameters."""
    det = clone(base)
    plain = {k: v for k, v in params.items() if k not in _ENSEMBLE}
    ensemble = det.ensemble  # a clone already
    if params["score_mode"] == "ensemble":
        current = BaggedKMeans() if ensemble is None else ensemble
        wanted = {k.split("__", 1)[1]: params[k] for k in _ENSEMBLE}
        if any(current.get_params()[k] != v for k, v in wanted.items()):
            ensemble = clone(current).set_params(**wanted)
    det.set_params(ensemble=ensemble, **plain)
    if verbose is not None:
        det.set_params(verbose=verbose)
    return det


def params_text(params, default):
    """The parameters where ``params`` differs from the default."""
    changed = [f"{k}={v!r}" for k, v in params.items() if v != default[k]]
    return ", ".join(changed) or "the default"
