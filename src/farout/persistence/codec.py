"""The one place where component states meet the model file.

Every saveable component (encoder, clusters, metric, ensemble, thresholds,
the detector itself) describes itself as a *state*::

    {"meta": {...JSON-ready...}, "arrays": {name: ndarray}, "parts": {name: state}}

and is rebuilt by its ``from_state``. This module maps a state tree to the
manifest's ``state`` entry (the same tree, each array replaced by its
name) plus one flat dict of arrays keyed by their dotted path, and back.
It also reads the flat layout of format 1 (farout 0.2) into a state tree,
so old model files load into the same ``from_state`` code.
"""

import numpy as np

from ..exceptions import ModelFileError
from . import container

__all__ = ["jsonable", "read_state", "state_to_tree", "tree_to_state", "write_state"]


def jsonable(value):
    """Plain JSON types for the manifest: NumPy scalars become Python
    numbers, tuples lists; a RandomState (not reproducible from JSON)
    becomes None."""
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (np.random.RandomState, np.random.Generator)):
        return None
    return value


def state_to_tree(state, path=()):
    """(tree, arrays): the state with its arrays replaced by their names,
    and the arrays keyed by dotted path."""
    arrays = {".".join((*path, name)): value for name, value in state.get("arrays", {}).items()}
    tree = {"meta": jsonable(state.get("meta", {})), "arrays": sorted(state.get("arrays", {}))}
    parts = {}
    for name, part in state.get("parts", {}).items():
        parts[name], part_arrays = state_to_tree(part, (*path, name))
        arrays.update(part_arrays)
    if parts:
        tree["parts"] = parts
    return tree, arrays


def tree_to_state(tree, arrays, path=()):
    """The state a :func:`state_to_tree` tree describes, its arrays looked
    up in ``arrays``."""
    if not isinstance(tree, dict) or not isinstance(tree.get("arrays", []), list):
        raise ModelFileError(f"the model file's state {'.'.join(path) or '(root)'} is malformed.")
    own = {}
    for name in tree.get("arrays", []):
        key = ".".join((*path, name))
        if key not in arrays:
            raise ModelFileError(f"the model file lacks the array {key!r} that its state lists.")
        own[name] = arrays[key]
    parts = {
        name: tree_to_state(part, arrays, (*path, name))
        for name, part in tree.get("parts", {}).items()
    }
    return {"meta": tree.get("meta", {}), "arrays": own, "parts": parts}


_OWN_KEYS = {
    "estimator",
    "state",
    "arrays",
    "format",
    "format_version",
    "farout_version",
    "created",
}


def write_state(path, estimator, state, extra=None):
    """Write an estimator's state tree as a model file at ``path``.

    ``extra`` adds JSON-ready sections to the manifest beside the state
    (such as ``{"search": ...}``, how the model was chosen), for readers
    of the file; the estimator is rebuilt from the state alone.
    """
    extra = dict(extra or {})
    clash = sorted(_OWN_KEYS & set(extra))
    if clash:
        raise ValueError(f"extra manifest sections must not be named {', '.join(clash)}")
    tree, arrays = state_to_tree(state)
    manifest = {"estimator": estimator, "state": tree, **jsonable(extra)}
    container.write_model(path, manifest, arrays)


def read_state(path, estimator):
    """The state tree of the ``estimator`` (a class name) in the model
    file at ``path``, of this format or of format 1."""
    manifest, arrays = container.read_model(path)
    if manifest.get("estimator") != estimator:
        raise ModelFileError(
            f"the model file holds a {manifest.get('estimator')!r}, not a {estimator}."
        )
    if manifest["format_version"] == 1:
        return _upgrade_v1(manifest, arrays)
    return tree_to_state(manifest.get("state"), arrays)


def _prefixed(arrays, prefix):
    return {k[len(prefix) :]: v for k, v in arrays.items() if k.startswith(prefix)}


def _threshold_v1(meta, arrays):
    """A format-1 threshold entry (type, params, names of its arrays)."""
    state_meta = {"type": meta.get("type"), "params": meta["params"]}
    state_meta["scalars"] = meta.get("scalars", [])
    return {"meta": state_meta, "arrays": {name: arrays[name] for name in meta.get("arrays", [])}}


def _upgrade_v1(manifest, arrays):
    """The state tree of a format-1 (farout 0.2) detector file, whose
    manifest held ``params``, ``features`` and ``fitted`` and whose arrays
    were keyed flat."""
    try:
        params, features, fitted = manifest["params"], manifest["features"], manifest["fitted"]
        metric = {"meta": {"name": params["metric"]}, "arrays": {}}
        if params["metric"] == "mahalanobis":
            if "whitening" not in arrays:
                raise ModelFileError(
                    "the model file's mahalanobis model lacks its whitening matrix."
                )
            metric["arrays"] = {k: arrays[k] for k in ("whitening", "unwhitening")}
        stats = {
            "size": arrays["cluster_sizes"],
            "sums": arrays["feature_sums"],
            "sumsq": arrays["feature_sumsq"],
            "dist_count": arrays["distance_count"],
            "dist_mean": arrays["distance_mean"],
            "dist_m2": arrays["distance_m2"],
        }
        clusters = {
            "meta": {},
            "arrays": {k: arrays[k] for k in ("centers_metric", "cluster_centers")},
            "parts": {"stats": {"meta": {}, "arrays": stats}, "metric": metric},
        }
        parts = {
            "encoder": {"meta": features["encoder"], "arrays": _prefixed(arrays, "encoder.")},
            "clusters": clusters,
            "threshold": _threshold_v1(fitted["threshold"], _prefixed(arrays, "threshold.")),
        }
        for i, tier in enumerate(fitted["tiers"]):
            parts[f"tier{i}"] = _threshold_v1(tier, _prefixed(arrays, f"tier{i}."))
        if fitted["ensemble"] is not None:
            n_features = arrays["cluster_centers"].shape[1]
            parts["ensemble"] = {
                "meta": {"params": fitted["ensemble"], "n_features_in": n_features},
                "arrays": _prefixed(arrays, "ensemble."),
            }
        meta = {
            "params": params,
            "n_features_in": features["n_features_in"],
            "feature_names": features["names"],
            "n_clusters": fitted["n_clusters"],
            "inertia": fitted["inertia"],
            "n_iter": fitted["n_iter"],
            "n_trim_rounds": fitted["n_trim_rounds"],
            "trim_cut": fitted.get("trim_cut"),  # absent in files from farout < 0.2
            "training_summary": fitted["training_summary"],
            "k_selection": fitted["k_selection"],
            "tiers": [tier["name"] for tier in fitted["tiers"]],
        }
        own = {"trimmed": arrays["trimmed"], **_k_selection_arrays(fitted, arrays)}
    except (KeyError, TypeError, AttributeError) as exc:
        raise ModelFileError(
            f"the model file's contents are inconsistent ({type(exc).__name__}: "
            f"{exc}); it may be damaged or written by another program."
        ) from None
    return {"meta": meta, "arrays": own, "parts": parts}


def _k_selection_arrays(fitted, arrays):
    columns = fitted["k_selection"] or []
    return {f"k_selection.{c}": arrays[f"k_selection.{c}"] for c in columns}
