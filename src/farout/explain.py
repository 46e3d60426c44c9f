"""Explanations from the geometry of the clusters.

A row's distance to its centroid is a sum over features, so each feature's
share of it is exact and cheap. What is summed depends on the metric (its
"additive form"):

=============  ========================================================
metric         the per-feature contributions add up to
=============  ========================================================
euclidean      the squared distance, sum of (z_j - c_j)^2
manhattan      the distance itself, sum of |z_j - c_j|
mahalanobis    the squared distance, sum of d_j (S^-1 d)_j with d = z - c
               (a term can be negative when features are correlated)
cosine         the cosine distance, sum of (u_j - c_j)^2 / 2 for the
               unit-length row u
=============  ========================================================

Columns are contributions of the original features: the one-hot columns of a
categorical feature are summed. How far a value sits from its cluster is
reported in the cluster's own units: the typical value (the centroid, back
in the data's units; the members' mean for cosine) and the members' standard
deviation of that feature. Where nearly all of a cluster's rows hold one
value of a feature (see :class:`ValueModes`) a standard deviation says
little, and the reason names that value and how many rows differ instead.
"""

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .core.metric import METRICS, Mahalanobis

__all__ = [
    "NEAR_CONSTANT_SHARE",
    "ValueModes",
    "additive_contributions",
    "cluster_profile",
    "column_contributions",
    "describe",
    "explain_rows",
    "scorer_contributions",
]

# Floor on a cluster's per-feature spread, in scaled units (0.1% of the
# feature's global scale), so a feature constant within a cluster gives a
# large but finite "sd away".
_SPREAD_FLOOR = 1e-3

# A numeric feature is near-constant in a cluster when at least this share
# of the cluster's training rows hold one value. Its standard deviation then
# is made by the few rows that differ (it is at most a tenth of their
# root-mean-square distance from that value), not by the cluster, so "N sd
# away" misleads: the reason names the value and how many rows differ.
NEAR_CONSTANT_SHARE = 0.99

# Without those counts (files written before them, or a cluster that has
# absorbed rows since fit), a feature is near-constant where its spread is
# float noise: the standard deviation of a constant column computed from
# sums of squares comes out at up to 5e-7 of its mean (measured, 1e5 rows),
# so the cut is a standard deviation of 1e-5 scaled units (of the feature's
# global scale), or 1e-5 of the cluster's mean where that is larger than 1,
# and always below the floor above.
_TINY_SPREAD = 1e-5

# A typical value closer to 0 than this share of the feature's scale (or
# offset) is float noise from unscaling, and is shown as 0.
_NOISE = 1e-12


@dataclass(frozen=True)
class ValueModes:
    """The most common value of each numeric feature in each cluster, and
    how many of the cluster's training rows hold it: what a reason needs to
    say "almost always -0.06 (7 of 1,831 differ)".

    Computed by ``fit`` from the rows the clustering learned from (so
    ``rows`` equals the clusters' ``size`` then). The counts cannot be
    merged with new rows without counting them, so they are used only for a
    cluster whose size is still ``rows``: once ``partial_fit`` or
    ``refine_clusters`` moves rows into a cluster, its reasons fall back to
    the spread rule (a standard deviation that is float noise).

    Attributes
    ----------
    value : ndarray (k, n_numeric)
        The most common value (the smallest of ties), in scaled units.
    count : ndarray of int64 (k, n_numeric)
        The cluster's rows holding it.
    rows : ndarray of int64 (k,)
        The cluster's rows counted.
    """

    value: np.ndarray
    count: np.ndarray
    rows: np.ndarray

    @classmethod
    def from_rows(cls, encoder, Z, labels, n_clusters):
        """The modes of the numeric columns of encoded rows ``Z`` in each of
        ``n_clusters`` clusters ``labels``: one sort per cluster."""
        numeric = [
            int(np.flatnonzero(encoder.groups_ == j)[0])
            for j, column in enumerate(encoder.columns_)
            if column["kind"] == "numeric"
        ]
        order = np.argsort(labels, kind="stable")
        bounds = np.searchsorted(labels[order], np.arange(n_clusters + 1))
        value = np.zeros((n_clusters, len(numeric)))
        count = np.zeros((n_clusters, len(numeric)), dtype=np.int64)
        for c in range(n_clusters):
            block = np.sort(Z[np.ix_(order[bounds[c] : bounds[c + 1]], numeric)], axis=0)
            if block.shape[0] == 0:
                continue
            # the length of the run of equal values ending at each row
            position = np.arange(block.shape[0])[:, None]
            starts = np.ones(block.shape, dtype=bool)
            starts[1:] = block[1:] != block[:-1]
            run = position - np.maximum.accumulate(np.where(starts, position, 0), axis=0) + 1
            end = np.argmax(run, axis=0)
            columns = np.arange(len(numeric))
            value[c], count[c] = block[end, columns], run[end, columns]
        return cls(value, count, np.diff(bounds).astype(np.int64))

    def get_state(self):
        return {"meta": {}, "arrays": {"value": self.value, "count": self.count, "rows": self.rows}}

    @classmethod
    def from_state(cls, state):
        arrays = state["arrays"]
        modes = cls(*(np.asarray(arrays[name]) for name in ("value", "count", "rows")))
        k, q = modes.value.shape
        if modes.count.shape != (k, q) or modes.rows.shape != (k,):
            raise ValueError("the value modes' arrays do not match one another.")
        return modes


def additive_contributions(Z, centers, metric, precision=None):
    """Per-encoded-column terms that add up to the metric's additive form.

    Parameters
    ----------
    Z : ndarray (n, p)
        Encoded rows (scaled, one-hot).
    centers : ndarray (n, p)
        Each row's own centroid, in the same space.
    metric : str or a strategy from :mod:`farout.core.metric`
    precision : ndarray (p, p), optional
        Inverse covariance, for ``"mahalanobis"`` given by name.
    """
    if isinstance(metric, str):
        metric = Mahalanobis(precision=precision) if metric == "mahalanobis" else METRICS[metric]()
    return metric.additive(Z, centers)


def column_contributions(encoder, Z, centers, metric, precision=None):
    """Contributions per original column (one-hot columns summed)."""
    terms = additive_contributions(Z, centers, metric, precision)
    starts = np.flatnonzero(np.r_[True, np.diff(encoder.groups_) != 0])
    return np.add.reduceat(terms, starts, axis=1)


def cluster_profile(encoder, centers, counts, sums, sumsq, metric, modes=None):
    """Typical value and spread of each feature in each cluster, in the
    data's units, and category frequencies for categorical features.

    Returns a dict with ``typical`` and ``spread`` of shape
    (n_clusters, n_columns) (meaningful for numeric columns) and
    ``frequency``: for each column, an (n_clusters, n_categories) array
    (None for numeric columns). Numeric features near-constant in a cluster
    are marked in ``constant``, with the value they hold in ``mode`` and, in
    ``differ``, how many of the cluster's ``rows`` differ from it (-1 where
    not counted: without ``modes``, a :class:`ValueModes`, or in a cluster
    that absorbed rows since they were counted).
    """
    safe = np.maximum(counts, 1.0)[:, None]
    mean = sums / safe
    std = np.sqrt(np.maximum(sumsq / safe - mean * mean, 0.0))
    strategy = METRICS[metric] if isinstance(metric, str) else metric
    center_z = mean if strategy.profile_from_mean else centers
    k, n_columns = centers.shape[0], len(encoder.columns_)
    typical = np.zeros((k, n_columns))
    spread = np.ones((k, n_columns))
    constant = np.zeros((k, n_columns), dtype=bool)
    mode = np.zeros((k, n_columns))
    differ = np.full((k, n_columns), -1, dtype=np.int64)
    counted = None
    if modes is not None:
        # the counts describe a cluster only while it holds just those rows
        counted = (modes.rows == counts) & (modes.rows > 0)
    frequency = []
    numeric_j = 0
    for j, column in enumerate(encoder.columns_):
        cols = np.flatnonzero(encoder.groups_ == j)
        if column["kind"] == "numeric":
            scale, offset = encoder.scale_[numeric_j], encoder.center_[numeric_j]
            typical[:, j] = _unscaled(center_z[:, cols[0]], scale, offset)
            spread[:, j] = np.maximum(std[:, cols[0]], _SPREAD_FLOOR) * scale
            sd_z, mean_z = std[:, cols[0]], np.abs(mean[:, cols[0]])
            tiny = (sd_z <= _TINY_SPREAD * np.maximum(1.0, mean_z)) & (sd_z < _SPREAD_FLOOR)
            constant[:, j] = tiny & (counts > 0)
            mode[:, j] = typical[:, j]
            if counted is not None:
                held = counted & (modes.count[:, numeric_j] >= NEAR_CONSTANT_SHARE * modes.rows)
                constant[:, j] |= held
                mode[held, j] = _unscaled(modes.value[held, numeric_j], scale, offset)
                differ[held, j] = (modes.rows - modes.count[:, numeric_j])[held]
            numeric_j += 1
            frequency.append(None)
        else:
            frequency.append(mean[:, cols])
    rows = np.asarray(counts, dtype=np.float64).round().astype(np.int64)
    if modes is not None:
        rows = np.where(counted, modes.rows, rows)
    return {
        "typical": typical,
        "spread": spread,
        "frequency": frequency,
        "constant": constant,
        "mode": mode,
        "differ": differ,
        "rows": rows,
    }


def _unscaled(z, scale, offset):
    """Scaled values back in the data's units, float noise around 0 set to 0."""
    value = z * scale + offset
    return np.where(np.abs(value) < _NOISE * max(abs(scale), abs(offset)), 0.0, value)


def scorer_contributions(scorer, Z, labels):
    """Contributions per original column of encoded rows ``Z`` to their
    distance from their clusters ``labels`` under a fitted scorer."""
    clusters = scorer.clusters
    return column_contributions(scorer.encoder, Z, clusters.data_centers[labels], scorer.metric)


def explain_rows(scorer, X, Z, labels, scores, unseen, top, reasons_only=False, modes=None):
    """The explanation table (or, with ``reasons_only``, the reasons alone)
    of rows ``X`` scored by ``scorer`` (``Z``: the rows encoded; ``modes``:
    the fitted :class:`ValueModes`, or None)."""
    clusters, stats = scorer.clusters, scorer.clusters.stats
    profile = cluster_profile(
        scorer.encoder,
        clusters.data_centers,
        stats.size,
        stats.sums,
        stats.sumsq,
        scorer.metric,
        modes,
    )
    contrib = scorer_contributions(scorer, Z, labels)
    return describe(scorer.encoder, profile, contrib, X, labels, scores, unseen, top, reasons_only)


def _fmt(value):
    value = float(value)
    if value != 0 and (abs(value) >= 1e6 or abs(value) < 0.01):
        return f"{value:.3g}"
    return f"{value:.2f}"


def _numeric_sentences(
    names, values, typicals, sds, missing, typical_text, clusters, columns, profile=None
):
    """Reason sentences of numeric features, one per entry of the flat
    arrays, e.g. "amount 250.00 is 25.0x the cluster's typical 10.00 (+3.2
    sd)". ``typical_text[cluster][column]`` is the typical value as text;
    with ``profile`` (:func:`cluster_profile`), features near-constant in
    their cluster are worded by the value the cluster's rows hold."""
    # "Nx the typical value" reads well only for positive quantities whose
    # typical value is not close to zero (e.g. amounts, counts, distances)
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        as_ratio = (values > 0) & (typicals > 0) & (np.abs(values - typicals) < 1000 * typicals)
        ratios = np.where(as_ratio, values / np.where(as_ratio, typicals, 1.0), 0.0)
    plain = _fmt_all(values)
    shown = [
        f"missing (filled with {text})" if gap else text
        for text, gap in zip(plain, missing.tolist(), strict=True)
    ]
    sentences = [
        f"{name} {value} is {f'{ratio:.1f}x' if ratio >= 0.05 else _fraction(ratio)} the cluster's typical {typical_text[c][j]} ({sd:+.1f} sd)"
        if ratio_form
        else f"{name} {value} vs the cluster's typical {typical_text[c][j]} ({sd:+.1f} sd)"
        for name, value, ratio, sd, ratio_form, c, j in zip(
            names,
            shown,
            ratios.tolist(),
            sds.tolist(),
            as_ratio.tolist(),
            clusters,
            columns,
            strict=True,
        )
    ]
    constant = None if profile is None else profile.get("constant")
    if constant is not None:
        # rare: a feature near-constant in its cluster is worded row by row
        for e in np.flatnonzero(constant[clusters, columns]).tolist():
            c, j = clusters[e], columns[e]
            sentences[e] = _constant_text(
                names[e],
                shown[e],
                plain[e] == _fmt(profile["mode"][c, j]),
                _fmt(profile["mode"][c, j]),
                int(profile["differ"][c, j]),
                int(profile["rows"][c]),
            )
    return sentences


def _fraction(ratio):
    """A ratio below 0.05 (which would read "0.0x") as "1/26 of"."""
    if ratio >= 1e-3:
        return f"1/{round(1 / ratio):,} of"
    return "under 1/1,000 of"


def _constant_text(name, shown, same, mode, differ, rows):
    """The reason of a value of a feature near-constant in its cluster,
    ``mode`` (as text) the value the cluster's rows hold, ``same`` whether
    the row holds it too, ``differ`` how many of the cluster's ``rows``
    differ from it (-1: not counted)."""
    if differ < 0:
        if same:
            return f"{name} {shown}, as this cluster's rows almost always are"
        return f"{name} {shown} where this cluster's rows are almost always {mode}"
    if differ == 0:
        whom = (
            "this cluster's one row is" if rows == 1 else f"all {rows:,} of this cluster's rows are"
        )
        return f"{name} {shown}, as {whom}" if same else f"{name} {shown} where {whom} {mode}"
    counted = f"({differ:,} of {rows:,} differ)"
    if same:
        return f"{name} {shown}, as almost all of this cluster's rows are {counted}"
    return f"{name} {shown} where this cluster's rows are almost always {mode} {counted}"


def _fmt_all(values):
    """:func:`_fmt` of every value of a float array."""
    with np.errstate(invalid="ignore"):
        size = np.abs(values)
        general = (values != 0) & ((size >= 1e6) | (size < 0.01))
    return [
        format(v, ".3g") if g else format(v, ".2f")
        for v, g in zip(values.tolist(), general.tolist(), strict=True)
    ]


def describe(encoder, profile, contrib, X, labels, scores, unseen, top, reasons_only=False):
    """The table behind ``KMeansAnomalyDetector.explain``.

    One row per input row: its cluster and score, one ``reason`` sentence,
    and for each of the ``top`` features (most contributing first) its name,
    value, the cluster's typical value, how many of the cluster's standard
    deviations it sits away, and its share of the additive distance. With
    ``reasons_only``, just the array of reason sentences.
    """
    columns = encoder.columns_
    n = contrib.shape[0]
    order = np.argsort(-contrib, axis=1, kind="stable")[:, :top]
    n_top = order.shape[1]
    # The numbers are worked out for every row at once; only the sentences
    # are put together row by row.
    numeric = np.array([c["kind"] == "numeric" for c in columns])
    numeric_index = np.cumsum(numeric) - 1
    cells = [
        X.iloc[:, j].to_numpy() if isinstance(X, pd.DataFrame) else X[:, j]
        for j in range(len(columns))
    ]
    values = np.zeros((n, len(columns)))
    missing = np.zeros((n, len(columns)), dtype=bool)
    for j in np.flatnonzero(numeric):
        missing[:, j] = pd.isna(cells[j])
        # a missing value was scored as its imputed fill
        values[:, j] = encoder.impute_values_[numeric_index[j]]
        present = ~missing[:, j]
        values[present, j] = np.asarray(cells[j][present], dtype=np.float64)
    rows = np.arange(n)[:, None]
    clusters = labels[:, None]
    value = values[rows, order]
    typical = profile["typical"][clusters, order]
    sd = (value - typical) / profile["spread"][clusters, order]
    is_numeric = numeric[order]
    is_missing = missing[rows, order]
    names = [c["name"] for c in columns]
    position = {name: j for j, name in enumerate(names)}
    unseen_any = np.zeros(n, dtype=bool)
    for mask in unseen.values():
        unseen_any |= mask

    # Every numeric sentence is made in one pass over flat lists (indexing
    # NumPy scalars one by one is slow); categorical and unseen values,
    # rarer, are handled row by row.
    sentences = _numeric_sentences(
        np.array(names, dtype=object)[order].ravel().tolist(),
        value.ravel(),
        typical.ravel(),
        sd.ravel(),
        is_missing.ravel(),
        [[_fmt(t) for t in row] for row in profile["typical"].tolist()],
        np.repeat(labels, n_top).tolist(),
        order.ravel().tolist(),
        profile,
    )
    simple = is_numeric.all(axis=1) & ~unseen_any
    reasons = np.empty(n, dtype=object)
    for i in np.flatnonzero(simple).tolist():
        reasons[i] = "; ".join(sentences[i * n_top : (i + 1) * n_top])
    categorical_cells = {}
    for i in np.flatnonzero(~simple).tolist():
        texts = []
        if unseen_any[i]:
            for name, mask in unseen.items():
                if mask[i]:
                    texts.append(f"{name} '{cells[position[name]][i]}' was never seen in training")
        for r in range(n_top):
            j = order[i, r]
            if is_numeric[i, r]:
                texts.append(sentences[i * n_top + r])
                continue
            text, cell = _categorical_text(
                columns[j], profile["frequency"][j], cells[j][i], labels[i]
            )
            categorical_cells[i, r] = cell
            if not (names[j] in unseen and unseen[names[j]][i]):
                texts.append(text)
        reasons[i] = "; ".join(texts)
    if reasons_only:
        return reasons

    total = contrib.sum(axis=1, keepdims=True)
    share = np.divide(contrib, total, out=np.zeros_like(contrib), where=total > 0)
    index = X.index if isinstance(X, pd.DataFrame) else pd.RangeIndex(n)
    out = {"cluster": labels, "anomaly_score": scores, "reason": reasons}
    for r in range(n_top):
        value_r = value[:, r].astype(object)
        typical_r = typical[:, r].astype(object)
        sd_r = np.where(is_numeric[:, r], sd[:, r], np.nan)
        for (i, rr), (cell_value, cell_typical) in categorical_cells.items():
            if rr == r:
                value_r[i], typical_r[i] = cell_value, cell_typical
        out[f"feature_{r + 1}"] = np.array([names[j] for j in order[:, r]], dtype=object)
        out[f"value_{r + 1}"] = value_r
        out[f"typical_{r + 1}"] = typical_r
        out[f"sd_{r + 1}"] = sd_r
        out[f"share_{r + 1}"] = share[np.arange(n), order[:, r]]
    return pd.DataFrame(out, index=index)


def _categorical_text(column, frequency, raw, cluster):
    """(sentence, (value, typical)) for a categorical feature of one row."""
    missing = bool(pd.isna(raw))
    value = column["fill"] if missing else raw
    freq = frequency[cluster]
    cats = column["categories"]
    mode = int(np.argmax(freq))
    seen = freq[cats.index(str(value))] if str(value) in cats else 0.0
    typical = cats[mode]
    shown = f"missing (filled with '{value}')" if missing else f"'{value}'"
    text = (
        f"{column['name']} {shown} makes up {seen:.0%} of its cluster "
        f"(most common '{typical}', {freq[mode]:.0%})"
    )
    return text, (value, typical)
