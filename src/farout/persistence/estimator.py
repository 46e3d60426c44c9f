"""The detector's state tree: which component states it is made of, and
how a detector is rebuilt from them. Components describe themselves
(``get_state``/``from_state``); :mod:`.codec` writes the tree to a file."""

import numpy as np
import pandas as pd

from ..baselines import make_baseline
from ..core.clusters import Clusters
from ..core.scoring import Scorer, make_score_mode
from ..ensemble import BaggedKMeans
from ..exceptions import ModelFileError
from ..explain import ValueModes
from ..features.encoder import FeatureEncoder
from ..features.reference import FeatureReference
from ..params import check_params
from ..thresholds import Threshold, validate_tiers

__all__ = [
    "detector_from_state",
    "detector_params",
    "detector_state",
    "params_from_state",
    "secondary_from_state",
    "secondary_state",
]


def detector_params(det):
    """A detector's parameters, with its thresholds and ensemble as their
    states (JSON-ready once :func:`~.codec.jsonable` has run)."""
    params = det.get_params(deep=False)
    params["threshold"] = None if det.threshold is None else det.threshold.get_state()["meta"]
    params["ensemble"] = None if det.ensemble is None else det.ensemble.get_params()
    tiers = validate_tiers(det.tiers)
    params["tiers"] = [{"name": n, **t.get_state()["meta"]} for n, t in tiers] or None
    return params


def detector_state(det):
    """The state tree of a fitted detector."""
    parts = {
        "encoder": det.encoder_.get_state(),
        "clusters": det.clusters_.get_state(),
        "threshold": det.threshold_.get_state(),
    }
    parts.update({f"tier{i}": tier.get_state() for i, (_, tier) in enumerate(det.tiers_)})
    if det.ensemble_ is not None:
        parts["ensemble"] = det.ensemble_.get_state()
    modes = det.__dict__.get("value_modes_")
    if modes is not None:
        parts["value_modes"] = modes.get_state()
    reference = det.__dict__.get("score_reference_")
    if reference is not None:
        parts["score_reference"] = {
            "arrays": dict(zip(("scores", "labels"), reference, strict=True))
        }
    features = det.__dict__.get("feature_reference_")
    if features is not None:
        parts["feature_reference"] = features.get_state()
    arrays = {"trimmed": det.trimmed_}
    table = det.k_selection_
    if table is not None:
        arrays.update({f"k_selection.{c}": table[c].to_numpy() for c in table.columns})
    names = getattr(det, "feature_names_in_", None)
    meta = {
        "params": detector_params(det),
        "n_features_in": int(det.n_features_in_),
        "feature_names": None if names is None else [str(c) for c in names],
        "n_clusters": int(det.n_clusters_),
        "inertia": float(det.inertia_),
        "n_iter": int(det.n_iter_),
        "n_trim_rounds": int(det.n_trim_rounds_),
        "trim_cut": det.trim_cut_,
        "training_summary": det.training_summary_,
        "k_selection": None if table is None else list(table.columns),
        "tiers": [name for name, _ in det.tiers_],
    }
    return {"meta": meta, "arrays": arrays, "parts": parts}


def detector_from_state(cls, state):
    """The fitted ``cls`` (a KMeansAnomalyDetector) a :func:`detector_state`
    tree describes; a damaged or foreign tree raises ModelFileError."""
    return _checked(_build, cls, state)


def _checked(build, *args):
    try:
        return build(*args)
    except ModelFileError:
        raise
    except (KeyError, TypeError, ValueError, IndexError, AttributeError) as exc:
        raise ModelFileError(
            f"the model file's contents are inconsistent ({type(exc).__name__}: "
            f"{exc}); it may be damaged or written by another program."
        ) from None


def params_from_state(params):
    """The parameters :func:`detector_params` describes, objects rebuilt."""
    params = dict(params)
    params["k_range"] = tuple(params["k_range"])
    if params["threshold"] is not None:
        params["threshold"] = Threshold.from_state({"meta": params["threshold"]})
    if params["ensemble"] is not None:
        params["ensemble"] = BaggedKMeans(**params["ensemble"])
    if params["tiers"] is not None:
        params["tiers"] = {t["name"]: Threshold.from_state({"meta": t}) for t in params["tiers"]}
    return params


def _build(cls, state):
    meta, arrays, parts = state["meta"], state["arrays"], state["parts"]
    det = cls(**params_from_state(meta["params"]))
    check_params(det)
    det.n_features_in_ = int(meta["n_features_in"])
    if meta["feature_names"] is not None:
        det.feature_names_in_ = np.asarray(meta["feature_names"], dtype=object)
    encoder = FeatureEncoder.from_state(parts["encoder"])
    clusters = Clusters.from_state(parts["clusters"])
    k, p = clusters.n_clusters, len(encoder.encoded_names_)
    if clusters.data_centers.shape != (k, p) or k != int(meta["n_clusters"]):
        raise ModelFileError("the model file's centroids do not match its feature schema.")
    if clusters.metric.name != det.metric:
        raise ModelFileError("the model file's clusters do not use its metric.")
    det.ensemble_ = BaggedKMeans.from_state(parts["ensemble"]) if "ensemble" in parts else None
    # files of format 1, and of format 2 before farout counted value modes,
    # have none: their reasons use the spread rule alone
    det.value_modes_ = None
    if "value_modes" in parts:
        det.value_modes_ = ValueModes.from_state(parts["value_modes"])
        n_numeric = sum(c["kind"] == "numeric" for c in encoder.columns_)
        if det.value_modes_.value.shape != (k, n_numeric):
            raise ModelFileError("the model file's value modes do not match its feature schema.")
    det.score_reference_ = _score_reference(parts, k)
    # files written before farout kept it have none: monitoring says so
    det.feature_reference_ = None
    if "feature_reference" in parts:
        det.feature_reference_ = FeatureReference.from_state(
            parts["feature_reference"], encoder.columns_
        )
    mode = make_score_mode(det.score_mode, det.ensemble_)
    det.scorer_ = Scorer(encoder, clusters, mode)
    det.trimmed_ = arrays["trimmed"]
    det.trim_cut_ = meta["trim_cut"]
    det.inertia_, det.n_iter_ = meta["inertia"], meta["n_iter"]
    det.n_trim_rounds_ = meta["n_trim_rounds"]
    det.k_selection_ = None
    if meta["k_selection"] is not None:
        det.k_selection_ = pd.DataFrame(
            {column: arrays[f"k_selection.{column}"] for column in meta["k_selection"]}
        )
    det.threshold_ = Threshold.from_state(parts["threshold"])
    det.offset_ = -det.threshold_.cut_
    det.tiers_ = [
        (name, Threshold.from_state(parts[f"tier{i}"])) for i, name in enumerate(meta["tiers"])
    ]
    det.training_summary_ = meta["training_summary"]
    return det


def secondary_state(check):
    """The state tree of a fitted SecondaryCheck: its own numbers, the
    checker's training rows and seed, and the fitted detector's tree."""
    params = check.get_params(deep=False)
    params["detector"] = None if check.detector is None else detector_params(check.detector)
    names = getattr(check, "feature_names_in_", None)
    meta = {
        "params": params,
        "n_features_in": int(check.n_features_in_),
        "feature_names": None if names is None else [str(c) for c in names],
        "checker_seed": int(check.checker_seed_),
        "checker_cut": float(check.checker_cut_),
        "detector_scale": float(check.detector_scale_),
        "checker_scale": float(check.checker_scale_),
        "offset": float(check.offset_),
    }
    parts = {"detector": detector_state(check.detector_)}
    return {"meta": meta, "arrays": {"checker_rows": check.checker_rows_}, "parts": parts}


def secondary_from_state(cls, state, detector_cls):
    """The fitted ``cls`` (a SecondaryCheck) a :func:`secondary_state` tree
    describes, its detector a ``detector_cls``: the checker is refitted on
    its stored rows with its stored seed."""
    return _checked(_build_secondary, cls, state, detector_cls)


def _build_secondary(cls, state, detector_cls):
    meta = state["meta"]
    params = dict(meta["params"])
    if params["detector"] is not None:
        params["detector"] = detector_cls(**params_from_state(params["detector"]))
    check = cls(**params)
    check.detector_ = detector_from_state(detector_cls, state["parts"]["detector"])
    check.n_features_in_ = int(meta["n_features_in"])
    if meta["feature_names"] is not None:
        check.feature_names_in_ = np.asarray(meta["feature_names"], dtype=object)
    check.checker_seed_ = int(meta["checker_seed"])
    check.checker_rows_ = state["arrays"]["checker_rows"]
    check.checker_ = make_baseline(check.checker, check.checker_seed_).fit(check.checker_rows_)
    check.checker_cut_ = meta["checker_cut"]
    check.detector_scale_ = meta["detector_scale"]
    check.checker_scale_ = meta["checker_scale"]
    check.offset_ = meta["offset"]
    return check


def _score_reference(parts, k):
    """The sorted training scores and their clusters that predict_proba
    needs; None in files of farout 0.2 and of 0.3 before it (their
    predict_proba asks for fit_threshold first)."""
    if "score_reference" not in parts:
        return None
    arrays = parts["score_reference"]["arrays"]
    scores = np.asarray(arrays["scores"], dtype=np.float64)
    labels = np.asarray(arrays["labels"], dtype=np.intp)
    if scores.ndim != 1 or labels.shape != scores.shape or (labels.size and labels.max() >= k):
        raise ModelFileError("the model file's training scores do not match its clusters.")
    if np.any(np.diff(scores) < 0):
        raise ModelFileError("the model file's training scores are not sorted.")
    return scores, labels
