"""The stream detector's checkpoint: its whole state as a tree (see
:mod:`farout.persistence`), and the detector rebuilt from one, so resuming
gives the scores running on would have given. A mixin of
:class:`~farout.streaming.StreamDetector`."""

import numpy as np
import pandas as pd

from ..core.stats import ClusterStats
from ..exceptions import ModelFileError
from ..features.stack import FeatureStack
from ..features.windows import WindowFeatures
from .drift import DriftMonitor
from .history import ScoreHistory
from .refit import Refit
from .scaler import OnlineScaler

__all__ = ["PARAMS", "Checkpoint"]

#: The parameters a checkpoint records (the features and drift are parts).
PARAMS = (
    *"half_life max_clusters open_after retire_below warmup window short q".split(),
    "likelihood_cut",
    "tiers",
)


class Checkpoint:
    """``get_state`` and ``from_state`` of a stream detector."""

    def params(self):
        """The detector's parameters, JSON-ready, features and drift aside."""
        params = {name: getattr(self, name) for name in PARAMS}
        if isinstance(params["half_life"], (pd.Timedelta, np.timedelta64)):
            params["half_life"] = str(pd.Timedelta(params["half_life"]))
        return params

    def get_state(self):
        """The whole state as a tree (see :mod:`farout.persistence`)."""
        meta = {
            "params": self.params(),
            "n_seen": self.n_seen_,
            "next_id": self._next_id,
            "run_cut": self._run_cut,
            "first_time": self._first_time,
            "last_time": self._last_time,
            "feature_names": self.feature_names_in_,
            "n_features": getattr(self, "_n_features", None),
        }
        arrays = {
            "cluster_ids": self.cluster_ids_,
            "run": np.array(self._run) if self._run else np.empty((0, 0)),
        }
        parts = {"history": self.history_.get_state()}
        stack = FeatureStack.of(self.features)
        if isinstance(self.features, WindowFeatures):  # as before the stack
            parts["features"] = self.features.get_state()
        elif stack is not None:
            parts["features"] = stack.get_state()
        if self.drift_ is not None:
            parts["drift"] = self.drift_.get_state()
        if self.refit_ is not None:
            parts["refit"] = self.refit_.get_state()
        if self.stats_ is not None:
            arrays["origin"] = self._origin
            parts["stats"] = self.stats_.get_state()
            parts["scaler"] = self.scaler_.get_state()
        return {"meta": meta, "arrays": arrays, "parts": parts}

    @classmethod
    def from_state(cls, state):
        try:
            meta, arrays, parts = state["meta"], state["arrays"], state["parts"]
            features = None
            if "features" in parts and "kinds" in parts["features"]["meta"]:
                features = FeatureStack.from_state(parts["features"]).parts
            elif "features" in parts:
                features = WindowFeatures.from_state(parts["features"])
            drift = DriftMonitor.from_state(parts["drift"]) if "drift" in parts else False
            stream = cls(**meta["params"], features=features, drift=drift)
            stream.n_seen_ = int(meta["n_seen"])
            stream._next_id = int(meta["next_id"])
            stream._run_cut = meta["run_cut"]
            stream._first_time, stream._last_time = meta["first_time"], meta["last_time"]
            stream.feature_names_in_ = meta["feature_names"]
            if meta["n_features"] is not None:
                stream._n_features = int(meta["n_features"])
            stream.cluster_ids_ = np.asarray(arrays["cluster_ids"], dtype=np.int64)
            stream._run = list(np.asarray(arrays["run"], dtype=np.float64))
            stream.history_ = ScoreHistory.from_state(parts["history"])
            if "refit" in parts:
                stream.refit_ = Refit.from_state(parts["refit"], cls.from_state)
            if "stats" in parts:
                stream.stats_ = ClusterStats.from_state(parts["stats"])
                stream._origin = np.asarray(arrays["origin"], dtype=np.float64)
                stream.scaler_ = OnlineScaler.from_state(parts["scaler"])
                if stream.stats_.n_clusters != len(stream.cluster_ids_):
                    raise ValueError("clusters and their ids differ in number")
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelFileError(
                f"the stream checkpoint is inconsistent ({exc}); it may be damaged."
            ) from None
        return stream
