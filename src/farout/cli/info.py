"""``farout info``: what a model file holds, read from its state tree alone.

Nothing is rebuilt: the parameters, the threshold, the training summary,
the columns and the cluster statistics are all in the manifest and its
arrays, so the command needs NumPy and the file, not scikit-learn or pandas,
and answers in a fraction of a second.
"""

from .._kernels.moments import spread
from ..persistence import read_manifest, read_state
from ..summary import flag_rate

__all__ = ["cmd_info"]

_DETECTOR = "KMeansAnomalyDetector"


def cmd_info(args):
    manifest = read_manifest(args.model)
    state = read_state(args.model, _DETECTOR)
    for line in describe(manifest, state):
        print(line)


def _threshold_text(part):
    """``Type(param=value, ...)`` and the cut of a saved threshold."""
    meta = part["meta"]
    params = ", ".join(f"{name}={value!r}" for name, value in sorted(meta["params"].items()))
    return f"{meta['type']}({params})", part["arrays"][
        "cut_"
    ].item()  # a scalar, stored as one value


def describe(manifest, state):
    """The lines ``farout info`` prints for a detector's state tree."""
    meta, parts = state["meta"], state["parts"]
    params = meta["params"]
    how = f"auto, by {params['k_selection']}" if params["n_clusters"] == "auto" else "fixed"
    lines = [
        f"farout model (format {manifest['format_version']}, written by farout "
        f"{manifest['farout_version']} on {manifest['created']})",
        f"clusters   k={meta['n_clusters']} ({how})",
        f"metric     {params['metric']}, scaling {params['scaling']}, score {params['score_mode']}",
    ]
    summary = meta["training_summary"]
    rate, rate_rows, where = flag_rate(summary)
    threshold, cut = _threshold_text(parts["threshold"])
    lines.append(
        f"threshold  {threshold}, cut {cut:.4g}; flags {rate:.2%} of the {rate_rows:,} {where}"
    )
    tiers = [(name, _threshold_text(parts[f"tier{i}"])[1]) for i, name in enumerate(meta["tiers"])]
    if tiers:
        lines.append("tiers      " + ", ".join(f"{name} > {cut:.4g}" for name, cut in tiers))
    fitted = summary.get("n_rows_fitted", summary["n_rows"])
    sample = f" (learned from a sample of {fitted:,})" if fitted < summary["n_rows"] else ""
    lines.append(
        f"training   {summary['n_rows']:,} rows{sample}, score median {summary['q0.5']:.3g}, "
        f"p99 {summary['q0.99']:.3g}, max {summary['q1']:.3g}"
    )
    trimmed = len(state["arrays"]["trimmed"])
    if trimmed:
        lines.append(
            f"           {trimmed:,} of them kept out of the clustering as suspect (trim), "
            "so they are in no cluster below"
        )
    lines.append("features:")
    for column in parts["encoder"]["meta"]["columns"]:
        extra = ""
        if column["kind"] == "categorical":
            cats = [str(c) for c in column["categories"]]
            more = ", ..." if len(cats) > 6 else ""
            extra = f" ({len(cats)} categories: {', '.join(cats[:6])}{more})"
        lines.append(f"  {column['name']:<24} {column['kind']:<12} {column['dtype']}{extra}")
    stats = parts["clusters"]["parts"]["stats"]["arrays"]
    sizes = stats["size"].astype(int)
    sigma, _ = spread((stats["dist_count"], stats["dist_mean"], stats["dist_m2"]))
    lines.append(f"clusters (rows each has absorbed, {int(sizes.sum()):,} in all):")
    lines.append(f"  {'cluster':>7} {'rows':>10} {'sigma':>10}")
    lines += [
        f"  {j:>7} {n:>10,} {s:>10.4g}" for j, (n, s) in enumerate(zip(sizes, sigma, strict=True))
    ]
    if manifest.get("search"):
        lines += search_lines(manifest["search"])
    if manifest.get("provenance"):
        lines += provenance_lines(manifest["provenance"])
    return lines


def provenance_lines(provenance):
    """Where a recalibrated model's threshold, or a retrained model, came
    from."""
    if provenance.get("kind") == "retraining":
        return retraining_lines(provenance)
    target = ", ".join(f"{k}={v}" for k, v in provenance.get("target", {}).items())
    fed = provenance.get("feedback", {})
    return [
        f"recalibrated {provenance.get('threshold')} ({target}): cut "
        f"{provenance.get('previous_cut', float('nan')):.4g} -> {provenance.get('cut', float('nan')):.4g}",
        f"  from {fed.get('verdicts', 0):,} verdicts by {fed.get('analysts', 0):,} analysts on "
        f"{fed.get('predictions', 0):,} predictions (verdicts sha256 {str(fed.get('sha256'))[:12]}...)",
    ]


def retraining_lines(provenance):
    """What ``farout retrain`` recorded: the champion, the window, the
    outcome and each gate."""
    source, window = provenance.get("from", {}), provenance.get("window", {})
    where = (
        f"the log of {window.get('model')} from {window.get('since')}"
        if window.get("source") == "log"
        else f"the file {window.get('path')}"
    )
    lines = [
        f"retrained from {source.get('name')}/{source.get('version')} on {where}: "
        f"{provenance.get('outcome')}"
        + (f" (failed {', '.join(provenance['failed'])})" if provenance.get("failed") else ""),
        f"  fitted on {window.get('fitted', 0):,} rows ({window.get('marked', 0):,} marked as "
        f"anomalies kept out), judged on {window.get('held_out', 0):,} held-out rows",
    ]
    for gate in provenance.get("gates", []):
        measured, limit = gate.get("measured"), gate.get("limit")
        shown = "-" if measured is None else f"{measured:.4g}"
        bound = "-" if limit is None else f"{limit:.4g}"
        lines.append(f"  {gate.get('gate'):<22} {shown:>9} limit {bound:>7}  {gate.get('status')}")
    return lines


# Candidates listed by farout info, best first; the file holds them all.
_SHOWN_CANDIDATES = 10


def search_lines(search):
    """What ``farout tune`` recorded: how it searched, every candidate's
    validation scores (the best few), the choice and the test scores."""
    split, candidates = search["split"], search["candidates"]
    default, best, chosen = search["default"], search["best"], search["chosen"]
    metric = search["metric"]
    if metric == "precision_at_budget":
        metric += f" (alert rate {search['alert_rate']:.2%})"
    rows, anomalies = split["rows"], split["anomalies"]
    lines = [
        f"search     {len(candidates)} candidates by {metric} over "
        f"{len(split['folds_used'])} {split['folds']['kind']} folds of "
        f"{rows['development']:,} rows ({anomalies['development']:,} anomalies); label "
        f"{split['label']!r}; test split {rows['test']:,} rows ({anomalies['test']:,} "
        "anomalies), held out",
    ]
    ranked = sorted(
        range(len(candidates)),
        key=lambda i: -candidates[i]["mean"] if candidates[i]["mean"] is not None else 1.0,
    )
    for i in ranked[:_SHOWN_CANDIDATES]:
        c = candidates[i]
        score = "failed" if c["mean"] is None else f"{c['mean']:.4f} \u00b1 {c['sd'] or 0:.4f}"
        marks = [n for n, j in (("default", default), ("best", best), ("chosen", chosen)) if i == j]
        changed = _changed(c["params"], candidates[default]["params"]) or "the default"
        lines.append(
            f"  #{i:<3} {score:<18} {changed}" + (f"  [{', '.join(marks)}]" if marks else "")
        )
    if len(candidates) > _SHOWN_CANDIDATES:
        lines.append(f"  ... {len(candidates) - _SHOWN_CANDIDATES} more in the manifest")
    test = search["test"]
    line = f"  test split: chosen {test['chosen']:.4f}, default {test['default']:.4f}"
    if best != chosen:
        line += f", #{best} (best on the validation folds) {test['best']:.4f}"
    lines.append(line)
    if search.get("warning"):
        lines.append(f"  warning: {search['warning']}")
    return lines


def _changed(params, default):
    return ", ".join(f"{k}={v!r}" for k, v in params.items() if v != default.get(k))
