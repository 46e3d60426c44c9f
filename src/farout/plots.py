"""Plots: each function returns a matplotlib Figure and never opens a window.

Figures are built with ``matplotlib.figure.Figure`` directly, not pyplot, so
they work headless and in threads, and nothing is left in a global state.
Save one with ``fig.savefig("plot.png")``; in a notebook it displays itself.
Large inputs are drawn from a sample (``max_points``).
"""

import matplotlib
import matplotlib.dates as mdates
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from sklearn.decomposition import PCA
from sklearn.metrics import auc, average_precision_score, precision_recall_curve, roc_curve

from .exceptions import InputError
from .features.labels import as_anomaly_labels

__all__ = [
    "cluster_view",
    "confusion_matrix_plot",
    "contribution_bars",
    "k_selection_curve",
    "pr_curves",
    "roc_curves",
    "score_histogram",
    "score_over_time",
]

_TIER_COLOURS = ("#f0ad4e", "#d9534f", "#8b0000", "#4b0082")


def _figure(width=6.4, height=4.0):
    fig = Figure(figsize=(width, height), layout="constrained")
    return fig, fig.add_subplot()


def score_histogram(scores, threshold=None, tiers=None, bins=60):
    """Histogram of anomaly scores (log-scaled counts), with the threshold and
    severity tiers marked.

    ``threshold`` is a cut (float) or a fitted threshold; ``tiers`` a list of
    (name, fitted threshold), as in ``detector.tiers_``.
    """
    scores = np.asarray(scores, dtype=np.float64)
    fig, ax = _figure()
    ax.hist(scores, bins=bins, color="#5b8fd6", alpha=0.85)
    ax.set_yscale("log")
    ax.set_xlabel("anomaly score")
    ax.set_ylabel("rows (log scale)")
    for i, (name, tier) in enumerate(tiers or []):
        ax.axvline(_cut(tier), color=_TIER_COLOURS[i % 4], ls=":", lw=1.5, label=f"{name}")
    if threshold is not None:
        cut = _cut(threshold)
        rate = float((scores > cut).mean())
        ax.axvline(cut, color="black", lw=1.5, label=f"threshold ({rate:.1%} flagged)")
    if threshold is not None or tiers:
        ax.legend(loc="upper right", fontsize=8)
    ax.set_title("Score distribution")
    return fig


def _cut(threshold):
    return float(getattr(threshold, "cut_", threshold))


_MAX_CURVE_POINTS = 2000


def _thin(*arrays):
    """Keep at most _MAX_CURVE_POINTS evenly spaced points (first and last
    included), so curves over a million rows stay light to draw."""
    n = len(arrays[0])
    if n <= _MAX_CURVE_POINTS:
        return arrays
    keep = np.unique(np.linspace(0, n - 1, _MAX_CURVE_POINTS).astype(int))
    return tuple(a[keep] for a in arrays)


def _curves(kind, y_true, scores_by_name):
    truth = as_anomaly_labels(y_true)
    if isinstance(scores_by_name, (np.ndarray, pd.Series, list)):
        scores_by_name = {"farout": scores_by_name}
    fig, ax = _figure(5.2, 4.4)
    for name, scores in scores_by_name.items():
        scores = np.asarray(scores, dtype=np.float64)
        if kind == "roc":
            fpr, tpr, _ = roc_curve(truth, scores)
            area = auc(fpr, tpr)
            fpr, tpr = _thin(fpr, tpr)
            ax.plot(fpr, tpr, lw=1.5, label=f"{name} ({area:.3f})")
        else:
            precision, recall, _ = precision_recall_curve(truth, scores)
            ap = average_precision_score(truth, scores)
            precision, recall = _thin(precision, recall)
            ax.step(recall, precision, where="post", lw=1.5, label=f"{name} ({ap:.3f})")
    if kind == "roc":
        ax.plot([0, 1], [0, 1], color="grey", ls="--", lw=1)
        ax.set_xlabel("false positive rate")
        ax.set_ylabel("true positive rate (recall)")
        ax.set_title("ROC curve (area)")
    else:
        ax.axhline(truth.mean(), color="grey", ls="--", lw=1)
        ax.set_xlabel("recall")
        ax.set_ylabel("precision")
        ax.set_title("Precision-recall curve (average precision)")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.legend(loc="lower right" if kind == "roc" else "upper right", fontsize=8)
    return fig


def roc_curves(y_true, scores_by_name):
    """ROC curves of one or several detectors on one axis.

    ``scores_by_name`` is a dict {name: scores} or one array of scores.
    """
    return _curves("roc", y_true, scores_by_name)


def pr_curves(y_true, scores_by_name):
    """Precision-recall curves of one or several detectors on one axis."""
    return _curves("pr", y_true, scores_by_name)


def confusion_matrix_plot(matrix):
    """The 2x2 confusion matrix [[tn, fp], [fn, tp]] (rows = truth), as
    ``evaluate`` returns it."""
    matrix = np.asarray(matrix)
    if matrix.shape != (2, 2):
        raise InputError(f"a confusion matrix must be 2x2, got shape {matrix.shape}.")
    fig, ax = _figure(3.8, 3.4)
    ax.imshow(matrix, cmap="Blues")
    labels = [["true normal", "false alarm"], ["missed", "caught"]]
    for i in range(2):
        for j in range(2):
            dark = matrix[i, j] > matrix.max() / 2
            ax.text(
                j,
                i,
                f"{labels[i][j]}\n{matrix[i, j]:,}",
                ha="center",
                va="center",
                color="white" if dark else "black",
                fontsize=9,
            )
    ax.set_xticks([0, 1], ["normal", "anomaly"])
    ax.set_yticks([0, 1], ["normal", "anomaly"])
    ax.set_xlabel("flagged as")
    ax.set_ylabel("truth")
    ax.set_title("Confusion matrix")
    return fig


def k_selection_curve(table, chosen_k=None):
    """The k-selection criterion against k, with the chosen k marked.

    ``table`` is ``detector.k_selection_`` or ``select_k(...).table``.
    """
    if table is None or len(table) == 0:
        raise InputError("no k-selection table: the model was fitted with a fixed n_clusters.")
    fig, ax = _figure(5.2, 3.6)
    has_silhouette = table["silhouette"].notna().any()
    column = "silhouette" if has_silhouette else "inertia"
    ax.plot(table["k"], table[column], marker="o", color="#5b8fd6")
    if chosen_k is not None:
        ax.axvline(chosen_k, color="#d9534f", ls="--", label=f"chosen k = {chosen_k}")
        ax.legend(fontsize=8)
    ax.set_xlabel("k (number of clusters)")
    ax.set_ylabel(column)
    ax.set_title(f"Choosing k by {'silhouette' if has_silhouette else 'elbow (inertia)'}")
    return fig


_OTHER_COLOUR = "#c8c8c8"


def cluster_view(detector, X, max_points=5000, random_state=0):
    """A 2-D view of the clusters: a random sample of at most ``max_points``
    rows and the centroids, projected on the first two principal components
    of the encoded sample's unflagged rows.

    Each cluster has its own colour and legend entry (the 18 largest when
    there are more; the rest are grey); flagged rows are black crosses. The
    title gives the rows drawn out of all the rows of ``X``.
    """
    n_rows = len(X)
    rng = np.random.default_rng(random_state)
    take = np.arange(n_rows)
    if n_rows > max_points:
        take = np.sort(rng.choice(n_rows, max_points, replace=False))
    # Sampling before scoring keeps the view cheap on millions of rows.
    X = X.iloc[take] if hasattr(X, "iloc") else np.asarray(X)[take]
    result = detector.detect(X, reasons="none")
    Z = detector.encode(X)
    flagged = result["is_anomaly"].to_numpy()
    clusters = result["cluster"].to_numpy()
    # Far-out rows would otherwise take over the components and squash the
    # clusters into a sliver.
    basis = Z[~flagged] if (~flagged).sum() > Z.shape[1] else Z
    pca = PCA(n_components=min(2, Z.shape[1]), random_state=random_state).fit(basis)
    P = pca.transform(Z)
    C = pca.transform(detector.cluster_centers_)
    if P.shape[1] == 1:
        P = np.c_[P, np.zeros(len(P))]
        C = np.c_[C, np.zeros(len(C))]
    fig, ax = _figure(8.0, 4.8)
    _draw_clusters(ax, P[~flagged], clusters[~flagged], detector.n_clusters_)
    ax.scatter(
        P[flagged, 0],
        P[flagged, 1],
        c="black",
        s=18,
        marker="x",
        linewidths=0.9,
        label=f"flagged ({int(flagged.sum()):,})",
    )
    ax.scatter(
        C[:, 0],
        C[:, 1],
        c="white",
        edgecolors="black",
        s=110,
        marker="*",
        linewidths=0.9,
        label="centroids",
    )
    legend = ax.legend(
        title="cluster (rows drawn)",
        fontsize=8,
        title_fontsize=8,
        loc="upper left",
        bbox_to_anchor=(1.01, 1.0),
        borderaxespad=0.0,
        frameon=False,
    )
    for handle in legend.legend_handles:
        handle.set_sizes([40])
    share = pca.explained_variance_ratio_
    ax.set_xlabel(f"PC1 ({share[0]:.0%} of the unflagged rows' variance)")
    ax.set_ylabel(f"PC2 ({share[1]:.0%})" if len(share) > 1 else "")
    shown = (
        f"{len(take):,} of {n_rows:,} rows, a random sample"
        if len(take) < n_rows
        else f"all {n_rows:,} rows"
    )
    ax.set_title(f"Clusters ({shown})")
    return fig


def _cluster_palette(n):
    """``n`` distinct qualitative colours (n <= 18): tab10, or tab20 without
    its two greys, which would read as "other clusters"."""
    if n <= 10:
        return matplotlib.colormaps["tab10"].colors[:n]
    tab20 = matplotlib.colormaps["tab20"].colors
    return (tab20[:14] + tab20[16:])[:n]


def _draw_clusters(ax, P, clusters, k):
    """One scatter per cluster, largest first; beyond 18 clusters only the
    18 largest keep a colour, so no two named clusters share one."""
    ids, counts = np.unique(clusters, return_counts=True)
    named = ids[np.argsort(-counts, kind="stable")][:18]
    for colour, c in zip(_cluster_palette(len(named)), named, strict=True):
        mine = clusters == c
        ax.scatter(
            P[mine, 0],
            P[mine, 1],
            color=colour,
            s=7,
            alpha=0.6,
            linewidths=0,
            label=f"{c} ({int(mine.sum()):,})",
        )
    rest = ~np.isin(clusters, named)
    if rest.any():
        n_rest = k - len(named)
        ax.scatter(
            P[rest, 0],
            P[rest, 1],
            color=_OTHER_COLOUR,
            s=7,
            alpha=0.6,
            linewidths=0,
            label=f"{n_rest:,} other clusters ({int(rest.sum()):,})",
        )


def contribution_bars(detector, row, top=10):
    """Each feature's share of one row's distance to its centroid.

    ``row`` is a one-row DataFrame (or 2-D array) in the model's columns.
    """
    contrib = detector.feature_contributions(row)
    if len(contrib) != 1:
        raise InputError(f"contribution_bars takes one row, got {len(contrib)}.")
    values = contrib.iloc[0].sort_values(key=np.abs, ascending=True).tail(top)
    fig, ax = _figure(5.6, 0.45 * len(values) + 1.2)
    ax.barh(values.index.astype(str), values.to_numpy(), color="#5b8fd6")
    ax.set_xlabel("contribution to the distance")
    label = contrib.index[0]
    ax.set_title(f"Why row {label!r} scores high" if label is not None else "Contributions")
    return fig


def score_over_time(times, scores, flags=None, freq=None):
    """Median and 99th-percentile score, and the alert rate, per period.

    ``freq`` is a pandas frequency ("D", "h", ...); by default about 60
    periods over the time range.
    """
    frame = pd.DataFrame(
        {
            "time": pd.to_datetime(pd.Series(np.asarray(times))),
            "score": np.asarray(scores, dtype=np.float64),
        }
    )
    if flags is not None:
        frame["flag"] = np.asarray(flags, dtype=bool)
    if frame["time"].isna().any():
        raise InputError("times must all be valid dates or timestamps.")
    if freq is None:
        span = frame["time"].max() - frame["time"].min()
        freq = pd.tseries.frequencies.to_offset(max(span / 60, pd.Timedelta(seconds=1)))
    grouped = frame.set_index("time").resample(freq)
    fig, ax = _figure(7.0, 3.6)
    ax.plot(grouped["score"].median(), color="#5b8fd6", label="median score")
    ax.plot(grouped["score"].quantile(0.99), color="#5b8fd6", ls=":", label="99th percentile")
    ax.set_ylabel("anomaly score")
    ax.set_xlabel("time")
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(ax.xaxis.get_major_locator()))
    if flags is not None:
        twin = ax.twinx()
        twin.plot(grouped["flag"].mean(), color="#d9534f", label="alert rate")
        twin.set_ylabel("alert rate", color="#d9534f")
        twin.yaxis.set_major_formatter(lambda v, _: f"{v:.0%}")
    ax.legend(loc="upper left", fontsize=8)
    ax.set_title("Scores over time")
    return fig
