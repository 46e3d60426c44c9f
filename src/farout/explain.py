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
deviation of that feature.
"""

import numpy as np
import pandas as pd

from .core.metric import METRICS, Mahalanobis

__all__ = [
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


def cluster_profile(encoder, centers, counts, sums, sumsq, metric):
    """Typical value and spread of each feature in each cluster, in the
    data's units, and category frequencies for categorical features.

    Returns a dict with ``typical`` and ``spread`` of shape
    (n_clusters, n_columns) (meaningful for numeric columns) and
    ``frequency``: for each column, an (n_clusters, n_categories) array
    (None for numeric columns).
    """
    safe = np.maximum(counts, 1.0)[:, None]
    mean = sums / safe
    std = np.sqrt(np.maximum(sumsq / safe - mean * mean, 0.0))
    strategy = METRICS[metric] if isinstance(metric, str) else metric
    center_z = mean if strategy.profile_from_mean else centers
    k, n_columns = centers.shape[0], len(encoder.columns_)
    typical = np.zeros((k, n_columns))
    spread = np.ones((k, n_columns))
    frequency = []
    numeric_j = 0
    for j, column in enumerate(encoder.columns_):
        cols = np.flatnonzero(encoder.groups_ == j)
        if column["kind"] == "numeric":
            scale = encoder.scale_[numeric_j]
            typical[:, j] = center_z[:, cols[0]] * scale + encoder.center_[numeric_j]
            spread[:, j] = np.maximum(std[:, cols[0]], _SPREAD_FLOOR) * scale
            numeric_j += 1
            frequency.append(None)
        else:
            frequency.append(mean[:, cols])
    return {"typical": typical, "spread": spread, "frequency": frequency}


def scorer_contributions(scorer, Z, labels):
    """Contributions per original column of encoded rows ``Z`` to their
    distance from their clusters ``labels`` under a fitted scorer."""
    clusters = scorer.clusters
    return column_contributions(scorer.encoder, Z, clusters.data_centers[labels], scorer.metric)


def explain_rows(scorer, X, Z, labels, scores, unseen, top, reasons_only=False):
    """The explanation table (or, with ``reasons_only``, the reasons alone)
    of rows ``X`` scored by ``scorer`` (``Z``: the rows encoded)."""
    clusters, stats = scorer.clusters, scorer.clusters.stats
    profile = cluster_profile(
        scorer.encoder, clusters.data_centers, stats.size, stats.sums, stats.sumsq, scorer.metric
    )
    contrib = scorer_contributions(scorer, Z, labels)
    return describe(scorer.encoder, profile, contrib, X, labels, scores, unseen, top, reasons_only)


def _fmt(value):
    value = float(value)
    if value != 0 and (abs(value) >= 1e6 or abs(value) < 0.01):
        return f"{value:.3g}"
    return f"{value:.2f}"


def _numeric_sentences(names, values, typicals, sds, missing, typical_text, clusters, columns):
    """Reason sentences of numeric features, one per entry of the flat
    arrays, e.g. "amount 250.00 is 25.0x the cluster's typical 10.00 (+3.2
    sd)". ``typical_text[cluster][column]`` is the typical value as text."""
    # "Nx the typical value" reads well only for positive quantities whose
    # typical value is not close to zero (e.g. amounts, counts, distances)
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        as_ratio = (values > 0) & (typicals > 0) & (np.abs(values - typicals) < 1000 * typicals)
        ratios = np.where(as_ratio, values / np.where(as_ratio, typicals, 1.0), 0.0)
    shown = [
        f"missing (filled with {text})" if gap else text
        for text, gap in zip(_fmt_all(values), missing.tolist(), strict=True)
    ]
    return [
        f"{name} {value} is {ratio:.1f}x the cluster's typical {typical_text[c][j]} ({sd:+.1f} sd)"
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
