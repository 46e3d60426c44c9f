"""Self-contained HTML reports: one file, images embedded, nothing fetched.

:func:`model_report` describes a fitted detector on some data (with labels,
how well it does); :func:`comparison_report` shows a
:func:`farout.comparison.compare` result. Plots are drawn from samples, so a
report on a million rows stays fast and small.
"""

import base64
import html
import io
from datetime import datetime, timezone

import numpy as np
import pandas as pd

from . import plots
from .data_audit import audit as audit_data
from .evaluation import evaluate, threshold_sweep
from .exceptions import InputError
from .features.schema import model_columns
from .outputs import write_bytes
from .persistence import farout_version
from .summary import flag_rate

__all__ = ["comparison_report", "model_report", "write_report"]

_STYLE = """
body { font-family: system-ui, sans-serif; max-width: 1000px; margin: 2em auto; color: #222; }
h1 { font-size: 1.6em; } h2 { font-size: 1.2em; margin-top: 1.8em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; font-size: 0.9em; margin: 0.5em 0; }
td, th { border: 1px solid #ddd; padding: 3px 8px; text-align: left; vertical-align: top; }
th { background: #f4f4f4; } .num { text-align: right; font-variant-numeric: tabular-nums; }
img.plot { display: block; width: 100%; max-width: 1000px; height: auto; margin: 0.5em 0; }
.row { display: grid; grid-template-columns: repeat(auto-fit, minmax(300px, 1fr)); gap: 1em; }
.note { color: #666; font-size: 0.85em; }
.warning { background: #fff4e0; border-left: 4px solid #f0ad4e; padding: 0.5em 0.8em; }
"""

_MAX_HISTOGRAM_ROWS = 200_000

# Pixels across a full-width plot: a little over the 1000px column, so it
# is never scaled up; more would triple the page for little gain.
_PLOT_PIXELS = 1200


def _image(fig, pixels=_PLOT_PIXELS):
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=pixels / fig.get_figwidth())
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f'<img class="plot" alt="plot" src="data:image/png;base64,{data}">'


def _small_image(fig):
    """A plot shown beside others in a ``row``."""
    return _image(fig, _PLOT_PIXELS // 2)


def _metric_table(metrics, keys):
    rows = "".join(
        f'<tr><th>{html.escape(k)}</th><td class="num" data-metric="{k}">{_fmt(metrics[k])}</td></tr>'
        for k in keys
        if k in metrics
    )
    return f"<table>{rows}</table>"


def _table(frame, formats=None, index=True):
    """An HTML table of ``frame``: numeric columns right-aligned, counts
    with thousands separators, everything else left-aligned.

    ``formats`` maps a column to a function of one value; an index shown
    with ``index=True`` is formatted as given, as a label.
    """
    formats = formats or {}
    columns = ([frame.index.name or ""] if index else []) + [str(c) for c in frame.columns]
    numeric = ([_is_number(frame.index)] if index else []) + [
        _is_number(frame[c]) for c in frame.columns
    ]
    head = "".join(
        f'<th class="{"num" if num else "text"}">{html.escape(name)}</th>'
        for name, num in zip(columns, numeric, strict=True)
    )
    body = []
    for label, row in zip(frame.index, frame.itertuples(index=False), strict=True):
        cells = [html.escape(str(label))] if index else []
        cells += [
            html.escape(formats[c](v) if c in formats else _fmt(v))
            for c, v in zip(frame.columns, row, strict=True)
        ]
        body.append(
            "<tr>"
            + "".join(
                f'<td class="{"num" if num else "text"}">{cell}</td>'
                for cell, num in zip(cells, numeric, strict=True)
            )
            + "</tr>"
        )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _is_number(values):
    return pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)


def _fmt(value):
    if value is None or (isinstance(value, (float, np.floating)) and np.isnan(value)):
        return ""
    if isinstance(value, (bool, np.bool_)):
        return str(value)
    if isinstance(value, (int, np.integer)):
        return f"{int(value):,}"
    if isinstance(value, (float, np.floating)):
        return f"{float(value):,.4f}"
    return str(value)


def _page(title, body):
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head><body>"
        f"<h1>{html.escape(title)}</h1>"
        f'<p class="note">farout {html.escape(farout_version())}, {stamp}</p>'
        f"{body}</body></html>\n"
    )


def _sample(n, limit, seed=0):
    if n <= limit:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, limit, replace=False))


def model_report(
    detector,
    frame,
    *,
    label=None,
    time_column=None,
    fp_cost=None,
    fn_cost=None,
    top=10,
    max_plot_rows=20_000,
    audit=False,
    feedback=None,
):
    """HTML describing ``detector`` on ``frame`` (the model's columns, plus
    optional label and time columns). Returns the page as a string.

    Every row is scored; the cluster scatter draws at most
    ``min(5_000, max_plot_rows)`` of them and the time plot
    ``10 * max_plot_rows``. With ``audit=True`` the page opens with a data
    audit of ``frame`` (:func:`farout.audit`, one pass over each column).
    ``feedback``, an export of the scoring service's log with analysts'
    verdicts (:func:`farout.feedback.read_feedback`), adds their precision
    by tier.
    """
    features = model_columns(detector, frame)
    result = detector.detect(features, reasons="none")
    scores = result["anomaly_score"].to_numpy()
    flags = result["is_anomaly"].to_numpy()
    parts = []
    if audit:
        parts += _audit_section(audit_data(frame, time_column=time_column, label=label))
    parts += ["<h2>The model</h2>", _model_table(detector)]

    if detector.k_selection_ is not None:
        parts += [
            "<h2>Choosing k</h2>",
            _k_range_warning(detector),
            _image(plots.k_selection_curve(detector.k_selection_, detector.n_clusters_)),
        ]

    parts.append("<h2>Score distribution</h2>")
    take = _sample(len(scores), _MAX_HISTOGRAM_ROWS)
    parts.append(_image(plots.score_histogram(scores[take], detector.threshold_, detector.tiers_)))
    parts.append(
        f"<p>{int(flags.sum()):,} of {len(flags):,} rows flagged ({flags.mean():.2%})."
        + (
            f" Histogram drawn from a sample of {len(take):,} rows."
            if len(take) < len(scores)
            else ""
        )
        + "</p>"
    )

    parts.append("<h2>Clusters</h2>")
    drawn = min(5_000, max_plot_rows)
    parts.append(_image(plots.cluster_view(detector, features, max_points=drawn)))
    if drawn < len(features):
        parts.append(
            f'<p class="note">The scatter draws a random sample of {drawn:,} of the '
            f"{len(features):,} rows scored; the table counts them all.</p>"
        )
    parts.append(_cluster_table(detector, result))

    order = np.argsort(-scores, kind="stable")[:top]
    parts.append(f"<h2>The {len(order):,} most anomalous rows</h2>")
    explained = detector.explain(features.iloc[order])
    shown = pd.DataFrame(
        {
            "score": explained["anomaly_score"].to_numpy(),
            "cluster": explained["cluster"].to_numpy(),
            "severity": result["severity"].iloc[order].fillna("").to_numpy(),
            "reason": explained["reason"].to_numpy(),
        },
        index=explained.index.rename("row"),
    )
    parts.append(_table(shown, {"score": lambda v: f"{v:,.3f}"}))

    if label is not None:
        parts += _label_section(frame, label, scores, flags, fp_cost, fn_cost)
    if feedback is not None:
        parts += _feedback_section(feedback)
    if time_column is not None:
        if time_column not in frame.columns:
            raise InputError(f"no time column {time_column!r} in the data.")
        take = _sample(len(scores), max_plot_rows * 10, seed=2)
        parts += [
            "<h2>Over time</h2>",
            _image(
                plots.score_over_time(
                    frame[time_column].to_numpy()[take], scores[take], flags[take]
                )
            ),
        ]
    return _page("farout report", "".join(parts))


def _audit_section(result):
    """The data audit: its problems, then the column table."""
    problems = result.problems
    listed = (
        "<ul>" + "".join(f"<li>{html.escape(p)}</li>" for p in problems) + "</ul>"
        if problems
        else "<p>No problems found.</p>"
    )
    table = result.columns
    shown = pd.DataFrame(
        {
            "type": table["type"],
            "kind": table["kind"],
            "missing": table["missing_share"],
            "distinct": table["distinct"],
            "top share": table["top_share"],
            "min": table["min"].map(_audit_value),
            "median": table["median"].map(_audit_value),
            "max": table["max"].map(_audit_value),
        },
        index=table.index,
    )
    return [
        '<h2 data-section="audit">The data</h2>',
        f"<p>{result.n_rows:,} rows x {len(table)} columns; row numbers are 0-based data "
        "rows (row 0 is line 2 of a CSV file).</p>",
        f'<div class="{"warning" if problems else "note"}" data-problems="{len(problems)}">'
        f"{listed}</div>",
        _table(shown, {"missing": _share, "top share": _share}),
    ]


def _share(value):
    return "" if value is None or np.isnan(value) else f"{value:.1%}"


def _audit_value(value):
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _model_table(detector):
    summary = detector.training_summary_
    rate, rate_rows, where = flag_rate(summary)
    rows = {
        "clusters (k)": f"{detector.n_clusters_}"
        + (f" (auto, by {detector.k_selection})" if detector.n_clusters == "auto" else ""),
        "metric": detector.metric,
        "scaling": str(detector.scaling),
        "score": detector.score_mode,
        "threshold": f"{detector.threshold_!r}, cut {detector.threshold_.cut_:.4g}; "
        f"flags {rate:.2%} of the {rate_rows:,} {where}",
        "tiers": ", ".join(f"{n} &gt; {t.cut_:.4g}" for n, t in detector.tiers_) or "none",
        "training rows": f"{summary['n_rows']:,} ({len(detector.trimmed_):,} kept out of the clustering)",
        "training scores": f"median {summary['q0.5']:.3g}, 99th percentile {summary['q0.99']:.3g}, "
        f"max {summary['q1']:.3g}",
        "features": ", ".join(html.escape(c["name"]) for c in detector.feature_schema()),
    }
    body = "".join(f'<tr><th>{k}</th><td class="text">{v}</td></tr>' for k, v in rows.items())
    return f"<table>{body}</table>"


def _k_range_warning(detector):
    """A note when the search chose the largest k it tried: the best k may
    lie beyond it. Empty when it did not, or when k was fixed."""
    table = detector.k_selection_
    if detector.n_clusters != "auto" or table is None or len(table) < 2:
        return ""
    low, high = (int(v) for v in detector.k_range)
    tried = int(table["k"].max())
    # With fewer distinct rows than k_range's top, select_k tries fewer k;
    # a wider range would change nothing then.
    if detector.n_clusters_ != tried or tried < high:
        return ""
    wider = 2 * high
    return (
        '<p class="warning" data-note="k-at-top">'
        f"k = {tried:,} is the largest k the search tried (k_range=({low:,}, {high:,})): "
        "the best k may be larger. Consider refitting with a wider range, e.g. "
        f"<code>k_range=({low}, {wider})</code> (<code>--k-range {low}:{wider}</code>).</p>"
    )


def _cluster_table(detector, result):
    table = pd.DataFrame(
        {
            "training rows": detector.cluster_sizes_.astype(int),
            "spread (sigma)": detector.cluster_sigma_,
        }
    )
    here = result.groupby("cluster").agg(
        rows=("is_anomaly", "size"), alert_rate=("is_anomaly", "mean")
    )
    table = table.join(here, how="left").fillna({"rows": 0, "alert_rate": 0.0})
    table["rows"] = table["rows"].astype(int)
    table = table.rename_axis("cluster").rename(
        columns={"rows": "rows here", "alert_rate": "alert rate"}
    )
    return _table(
        table,
        {"alert rate": lambda v: f"{v:.2%}", "spread (sigma)": lambda v: f"{v:.4g}"},
    )


def _label_section(frame, label, scores, flags, fp_cost, fn_cost):
    if label not in frame.columns:
        raise InputError(f"no label column {label!r} in the data.")
    metrics = evaluate(frame[label], scores, flags=flags)
    parts = [
        "<h2>Against the labels</h2>",
        _metric_table(
            metrics,
            [
                "n",
                "n_anomalies",
                "precision",
                "recall",
                "f1",
                "roc_auc",
                "pr_auc",
                "precision_at_n",
                "alert_rate",
                "tp",
                "fp",
                "fn",
                "tn",
            ],
        ),
        '<div class="row">',
        _small_image(plots.roc_curves(frame[label], {"farout": scores})),
        _small_image(plots.pr_curves(frame[label], {"farout": scores})),
        _small_image(plots.confusion_matrix_plot(metrics["confusion_matrix"])),
        "</div>",
    ]
    if fp_cost is not None and fn_cost is not None:
        sweep = threshold_sweep(frame[label], scores, fp_cost=fp_cost, fn_cost=fn_cost)
        best = sweep.iloc[int(np.argmin(sweep["expected_cost"].to_numpy()))]
        current = fp_cost * metrics["fp"] + fn_cost * metrics["fn"]
        parts.append(
            "<h2>Cost-optimal threshold</h2>"
            f"<p>With a false alarm costing {fp_cost:,} and a miss {fn_cost:,}, the cheapest cut "
            f'is <b data-metric="cost_optimal_cut">{best["cut"]:.4f}</b>: it flags '
            f"{int(best['flagged']):,} rows (precision {best['precision']:.3f}, recall "
            f"{best['recall']:.3f}) at an expected cost of "
            f'<b data-metric="cost_optimal_cost">{best["expected_cost"]:,.0f}</b>, against '
            f"{current:,.0f} at the model's threshold.</p>"
        )
    return parts


def _feedback_section(frame):
    """Precision by tier from analysts' verdicts on the service's alerts."""
    from .feedback import summarize

    found = summarize(frame, source="the feedback export")
    tiers = pd.DataFrame.from_dict(found["precision_by_tier"], orient="index")
    if tiers.empty:
        tiers = pd.DataFrame(columns=["flagged", "reviewed", "anomaly", "normal", "precision"])
    tiers = tiers.rename_axis("tier")[
        ["flagged", "reviewed", "anomaly", "normal", "unsure", "precision"]
    ]
    agreement = found["agreement"]
    kappa = agreement["kappa"]
    share = found["unreviewed_share"]
    return [
        '<h2 data-section="feedback">Analysts\' verdicts</h2>',
        f"<p>{found['flagged']:,} alerts in the export, {found['reviewed']:,} reviewed "
        f"({'' if share is None else f'{1 - share:.1%}'}); precision "
        f'<b data-metric="feedback_precision">{_fmt(found["precision"])}</b> ("anomaly" '
        'among the "anomaly" and "normal" verdicts, each analyst\'s latest; "unsure" left '
        "out).</p>",
        _table(tiers, {"precision": lambda v: "" if v is None or v != v else f"{v:.3f}"}),
        f"<p>Agreement between the {agreement['analysts']:,} analysts: "
        + (
            f"{agreement['method']} kappa {kappa:.3f} on {agreement['predictions']:,} alerts "
            "judged more than once.</p>"
            if kappa is not None
            else "not measured (no alert was judged by two analysts).</p>"
        ),
    ]


def comparison_report(result):
    """HTML for a :class:`~farout.comparison.Comparison`: the table and every
    detector's ROC and precision-recall curves on one axis each."""
    table = result.table.copy()
    body = [
        f"<p>{len(result.y_test):,} test rows, {int(result.y_test.sum()):,} anomalies; "
        f"precision and recall at alert rate {result.alert_rate:.2%}.</p>",
        _table(table),
        '<div class="row">',
        _small_image(plots.roc_curves(result.y_test, result.scores)),
        _small_image(plots.pr_curves(result.y_test, result.scores)),
        "</div>",
    ]
    return _page("farout compared with baselines", "".join(body))


def write_report(path, page):
    """Write an HTML page to ``path`` (UTF-8), under a temporary name that
    is renamed when complete."""
    return write_bytes(path, page.encode("utf-8"))
