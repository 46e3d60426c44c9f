"""The commands of the ``farout`` command line, one function each: read
the parsed arguments, call the library, print."""

import json
import sys

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from ..baselines import BASELINES
from ..comparison import compare
from ..data_audit import audit
from ..demo import run_demo
from ..detector import KMeansAnomalyDetector, load
from ..ensemble import BaggedKMeans
from ..evaluation import evaluate, evaluate_by, threshold_sweep
from ..exceptions import InputError
from ..features.schema import model_columns, read_dtypes, require_column
from ..feedback import read_feedback
from ..io import TableWriter, read_table, select_columns
from ..jobs import fit_file, score_file
from ..report import comparison_report, model_report, write_report
from ..summary import flag_rate
from ..thresholds import (
    CostOptimal,
    FalsePositiveRate,
    TargetPrecision,
    TargetRecall,
    parse_threshold,
)
from ..tuning import tune
from .arguments import csv_list

__all__ = [
    "TARGETS",
    "cmd_audit",
    "cmd_compare",
    "cmd_demo",
    "cmd_evaluate",
    "cmd_explain",
    "cmd_fit",
    "cmd_recalibrate",
    "cmd_report",
    "cmd_score",
    "cmd_threshold",
    "cmd_tune",
    "rate_warning",
]


def _tiers(text):
    tiers = {}
    for item in csv_list(text):
        name, sep, spec = item.partition("=")
        if not sep:
            raise InputError(
                f"--tiers entry {item!r} must look like NAME=SPEC, e.g. warning=percentile:99."
            )
        tiers[name.strip()] = parse_threshold(spec)
    return tiers


def _ensemble_value(key, text):
    if text.lower() == "none":
        return None
    if key == "n_clusters" and ":" in text:
        low, _, high = text.partition(":")
        try:
            return (int(low), int(high))
        except ValueError:
            raise InputError(
                f"--ensemble n_clusters={text!r} must be an int, auto, or LOW:HIGH (e.g. 2:32)."
            ) from None
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def ensemble_spec(text):
    """The BaggedKMeans of ``--ensemble KEY=VALUE,...`` (None for no text),
    checked now so that a typo fails before any data is read."""
    if not text:
        return None
    known = sorted(BaggedKMeans().get_params())
    options = {}
    for item in csv_list(text):
        key, sep, value = (part.strip() for part in item.partition("="))
        if not sep or key not in known or key in ("metric", "random_state"):
            raise InputError(
                f"--ensemble entry {item!r} must be KEY=VALUE with KEY one of "
                f"{', '.join(k for k in known if k not in ('metric', 'random_state'))}; "
                "e.g. --ensemble n_clusters=2:32,max_features=bagging,combine=rank_mean."
            )
        options[key] = _ensemble_value(key, value)
    ensemble = BaggedKMeans(**options)
    ensemble.check_params()
    return ensemble


def _k(text):
    if text == "auto":
        return "auto"
    try:
        return int(text)
    except ValueError:
        raise InputError(f"--k must be 'auto' or an integer, got {text!r}.") from None


def _k_range(text):
    low, sep, high = text.partition(":")
    try:
        return (int(low), int(high))
    except ValueError:
        raise InputError(f"--k-range must look like LOW:HIGH, e.g. 2:10; got {text!r}.") from None


def progress(args):
    return sys.stderr.isatty() and not args.quiet


# ------------------------------------------------------------ commands
def cmd_fit(args):
    detector = KMeansAnomalyDetector(
        n_clusters=_k(args.k),
        metric=args.metric,
        scaling=None if args.scaling == "none" else args.scaling,
        score_mode=args.score_mode,
        ensemble=ensemble_spec(args.ensemble),
        threshold=parse_threshold(args.threshold),
        tiers=_tiers(args.tiers) if args.tiers else None,
        borderline=args.borderline,
        trim=args.trim,
        k_selection=args.k_selection,
        k_range=_k_range(args.k_range),
        missing=args.missing,
        random_state=args.random_state,
        verbose=int(progress(args)),
    )
    if args.dask is not None:
        return _fit_dask(detector, args)
    sample_rows = 1_000_000 if args.sample_rows is None else args.sample_rows
    passes = 1 if args.passes is None else args.passes
    if sample_rows < 2:
        raise InputError(f"--sample-rows must be >= 2, got {sample_rows}.")
    if passes < 1:
        raise InputError(f"--passes must be >= 1, got {passes}.")
    counts = fit_file(
        detector,
        args.data,
        fmt=args.format,
        sep=args.sep,
        columns=args.columns,
        exclude=args.exclude,
        sample_rows=sample_rows,
        passes=passes,
        random_state=args.random_state,
        progress=progress(args),
    )
    _fitted(detector, args, counts)


def _fitted(detector, args, counts):
    detector.save(args.output)
    rate, _, where = flag_rate(detector.training_summary_)
    rows = f"{counts['rows']:,} rows"
    made = counts["passes"]
    if counts["sampled"] < counts["rows"]:
        rows += f" (fitted on a uniform sample of {counts['sampled']:,}"
        if made:
            rows += f", clusters refined over every row in {made} pass{'es' if made > 1 else ''}"
        rows += ")"
    if getattr(args, "dask", None):
        rows += f" on Dask ({args.dask})"
    print(
        f"fitted on {rows} x {detector.n_features_in_} columns: k={detector.n_clusters_}, "
        f"metric={detector.metric}, threshold {detector.threshold_!r} at "
        f"{detector.threshold_.cut_:.4g} (flags {rate:.2%} of the {where})"
    )
    print(f"model written to {args.output}")


def _dask_only(args, *names):
    """An error for options the Dask path does not take."""
    for name in names:
        if getattr(args, name.strip("-").replace("-", "_"), None) not in (None, False):
            raise InputError(f"{name} is not taken with --dask; leave it out.")
    if args.data == "-":
        raise InputError(
            "--dask reads DATA on the workers: give a folder of Parquet files or a glob "
            "of CSV files, not standard input."
        )


def _fit_dask(detector, args):
    from ..distributed import connect, fit_dask, read_dask

    _dask_only(args, "--sample-rows", "--format")
    passes = 0 if args.passes is None else args.passes
    if passes < 0:
        raise InputError(f"--passes must be >= 0 with --dask, got {passes}.")
    data = read_dask(args.data, sep=args.sep, columns=args.columns, exclude=args.exclude)
    with connect(args.dask, option="--dask"):
        fit_dask(detector, data, passes=passes)
    rows, sampled = (
        detector.training_summary_["n_rows"],
        detector.training_summary_["n_rows_fitted"],
    )
    counts = {"rows": rows, "sampled": sampled, "passes": passes}
    _fitted(detector, args, counts)


def cmd_score(args):
    detector = load(args.model)
    if args.dask is not None:
        counts = _score_dask(detector, args)
    else:
        counts = score_file(
            detector,
            args.data,
            args.output,
            chunksize=args.chunksize,
            reasons=args.reasons,
            top=args.top,
            fmt=args.format,
            sep=args.sep,
            progress=None if not args.quiet else False,
            confidence=args.confidence,
        )
    if args.output != "-":
        print(
            f"scored {counts['rows']:,} rows, {counts['flagged']:,} flagged; "
            f"written to {args.output}",
            file=sys.stderr,
        )
    warning = rate_warning(detector.training_summary_, counts["flagged"], counts["rows"])
    if warning:
        print(f"farout: warning: {warning}", file=sys.stderr)


def _score_dask(detector, args):
    from ..distributed import connect, read_dask, score_dask, write_parquet_folder

    _dask_only(args, "--format")
    if args.output == "-":
        raise InputError("with --dask, OUT is a new folder of Parquet parts, not standard output.")
    # the model's numeric columns as floats: Dask infers a CSV's types from its first
    # block, and an integer column with a decimal further on would fail mid-job
    dtypes = {
        c["name"]: str if c["kind"] == "categorical" else "float64"
        for c in detector.feature_schema()
    }
    data = read_dask(args.data, sep=args.sep, dtypes=dtypes)
    with connect(args.dask, option="--dask"):
        scored = score_dask(
            detector, data, reasons=args.reasons, top=args.top, confidence=args.confidence
        )
        rows, flagged = write_parquet_folder(scored, args.output, count=flagged_rows)
    return {"rows": rows, "flagged": flagged}


def flagged_rows(frame):
    """Rows flagged in a scored frame."""
    return int(frame["is_anomaly"].sum())


def rate_warning(summary, flagged, rows):
    """A warning when the share of rows flagged is far from what the
    model's threshold flags where it was fitted (five times as many, or a
    fifth), which usually means other data than the model knows; else None."""
    expected, fitted_rows, where = flag_rate(summary)
    if rows < 200:
        return None  # too few rows to tell
    observed = flagged / rows
    high = observed > max(5 * expected, expected + 0.05)
    low = expected * rows >= 20 and observed < expected / 5
    if not (high or low):
        return None
    return (
        f"{observed:.2%} of these rows were flagged, where the threshold flags "
        f"{expected:.2%} of the {fitted_rows:,} {where}; is this data like the data "
        "the model was fitted on (same source, columns and units)?"
    )


def read_for_model(detector, args):
    return read_table(args.data, fmt=args.format, dtypes=read_dtypes(detector), sep=args.sep)


# Rows per call of detect() where a progress bar follows the scoring.
_PROGRESS_ROWS = 65_536


def detect_with_progress(detector, X, quiet):
    """``detector.detect(X, reasons="none")`` in blocks, with a progress bar
    on a terminal. Rows are scored one by one, so the blocks give the same
    table as one call."""
    blocks = range(0, len(X), _PROGRESS_ROWS)
    disable = True if quiet else None  # None: a bar only on a terminal
    with tqdm(total=len(X), unit=" rows", unit_scale=True, disable=disable, desc="scoring") as bar:
        parts = []
        for start in blocks:
            parts.append(detector.detect(X.iloc[start : start + _PROGRESS_ROWS], reasons="none"))
            bar.update(len(parts[-1]))
    return pd.concat(parts) if len(parts) > 1 else parts[0]


def cmd_evaluate(args):
    detector = load(args.model)
    frame = read_for_model(detector, args)
    require_column(frame, args.label, "label")
    result = detect_with_progress(detector, model_columns(detector, frame), args.quiet)
    metrics = evaluate(frame[args.label], result["anomaly_score"], flags=result["is_anomaly"])
    if args.sweep:
        sweep = threshold_sweep(
            frame[args.label], result["anomaly_score"], fp_cost=args.fp_cost, fn_cost=args.fn_cost
        )
        sweep.to_csv(args.sweep, index=False)
    if args.json:
        print(json.dumps(metrics, indent=2))
        return
    print(
        f"rows {metrics['n']:,}, labelled anomalies {metrics['n_anomalies']:,}, "
        f"flagged {metrics['tp'] + metrics['fp']:,} ({metrics['alert_rate']:.2%})"
    )
    for key in ("precision", "recall", "f1", "roc_auc", "pr_auc"):
        print(f"{key:<10}{metrics[key]:.4f}")
    print(
        f"confusion  tp {metrics['tp']}  fp {metrics['fp']}  fn {metrics['fn']}  tn {metrics['tn']}"
    )
    if args.by:
        require_column(frame, args.by, "--by")
        table = evaluate_by(
            frame[args.label], result["anomaly_score"], frame[args.by], flags=result["is_anomaly"]
        )
        print(f"\nby {args.by} (weakest first):")
        print(table.to_string(float_format=lambda v: f"{v:.3f}"))
    if args.sweep:
        print(f"\nthreshold sweep written to {args.sweep}")


TARGETS = {
    "cost": lambda a: CostOptimal(fp_cost=a.fp_cost, fn_cost=a.fn_cost),
    "precision": lambda a: TargetPrecision(a.value),
    "recall": lambda a: TargetRecall(a.value),
    "fpr": lambda a: FalsePositiveRate(a.value),
}


def cmd_threshold(args):
    detector = load(args.model)
    frame = read_for_model(detector, args)
    if args.target == "cost" and (args.fp_cost is None or args.fn_cost is None):
        raise InputError("--target cost needs --fp-cost and --fn-cost.")
    if args.target != "cost" and args.value is None:
        raise InputError(f"--target {args.target} needs --value.")
    labels = None
    if args.label is not None:
        if args.label not in frame.columns:
            raise InputError(f"no label column {args.label!r} in the data.")
        labels = frame[args.label]
    elif args.target != "fpr":
        raise InputError(f"--target {args.target} needs --label.")
    threshold = TARGETS[args.target](args)
    detector.fit_threshold(model_columns(detector, frame), labels, threshold=threshold)
    detector.save(args.output)
    print(
        f"{threshold!r} fitted on {len(frame):,} rows: cut {detector.threshold_.cut_:.4g}; "
        f"model written to {args.output}"
    )


def cmd_recalibrate(args):
    from ..outputs import check_not_input
    from ..persistence import write_state
    from ..recalibration import recalibrate_on_export, target_threshold

    check_not_input(args.output, args.model, args.feedback)
    threshold = target_threshold(args.target, args.value, args.fp_cost, args.fn_cost)
    detector = load(args.model)
    new, details = recalibrate_on_export(detector, read_feedback(args.feedback), threshold)
    target = {"target": args.target}
    target.update(
        {"value": args.value}
        if args.target != "cost"
        else {"fp_cost": args.fp_cost, "fn_cost": args.fn_cost}
    )
    provenance = {
        "kind": "recalibration",
        "from": {"file": args.model},
        "target": target,
        **{k: details[k] for k in ("threshold", "cut", "previous_cut")},
        "feedback": {**details["feedback"], "export": args.feedback},
    }
    write_state(args.output, type(new).__name__, new.get_state(), extra={"provenance": provenance})
    precision = details["reviewed_precision_after"]
    print(
        f"{threshold!r}: cut {details['previous_cut']:.4g} -> {details['cut']:.4g} from "
        f"{details['flagged_labelled']:,} judged alerts; alert rate on the export "
        f"{details['alert_rate_before']:.2%} -> {details['alert_rate_after']:.2%}, reviewed "
        f"precision {'n/a' if precision is None else f'{precision:.3f}'}; model written to "
        f"{args.output}"
    )


def cmd_explain(args):
    if args.n < 1:
        raise InputError(f"-n must be at least 1 (rows to explain), got {args.n}.")
    detector = load(args.model)
    frame = read_for_model(detector, args)
    features = model_columns(detector, frame)
    if args.rows:
        try:
            positions = [int(r) for r in args.rows]
        except ValueError:
            raise InputError(f"--rows takes row numbers, got {','.join(args.rows)!r}.") from None
        bad = [p for p in positions if not 0 <= p < len(frame)]
        if bad:
            raise InputError(
                f"--rows {bad[0]} is out of range: the data has {len(frame)} rows (0-based)."
            )
        chosen = features.iloc[positions]
    else:
        scores = detector.anomaly_score(features)
        order = np.argsort(-scores.to_numpy(), kind="stable")[: args.n]
        chosen = features.iloc[order]
    table = detector.explain(chosen, top=args.top)
    if args.output:
        with TableWriter(args.output, "csv") as writer:
            writer.write(table.rename_axis("row").reset_index())
    for row, record in table.iterrows():
        print(f"row {row}: score {record['anomaly_score']:.3f}, cluster {record['cluster']}")
        for part in str(record["reason"]).split("; "):
            print(f"  - {part}")


def read_labelled(args):
    """DATA with the chosen feature columns, the label and the time column
    always kept."""
    frame = read_table(args.data, fmt=args.format, sep=args.sep)
    keep = [args.label] + ([args.time_column] if args.time_column else [])
    if args.exclude and set(keep) & set(args.exclude):
        raise InputError("--exclude must not name the --label or --time-column column.")
    columns = args.columns
    if columns:
        columns = list(dict.fromkeys(list(columns) + keep))
    return select_columns(frame, columns, args.exclude)


def cmd_compare(args):
    frame = read_labelled(args)
    detector = KMeansAnomalyDetector(
        n_clusters=_k(args.k),
        score_mode=args.score_mode,
        ensemble=ensemble_spec(args.ensemble),
        trim=args.trim,
        threshold=parse_threshold(args.threshold),
        random_state=args.random_state,
    )
    result = compare(
        frame,
        args.label,
        time_column=args.time_column,
        detector=detector,
        baselines=args.baselines or tuple(BASELINES),
        alert_rate=args.alert_rate,
        random_state=args.random_state,
        progress=progress(args),
    )
    if args.report:
        write_report(args.report, comparison_report(result))
    split = f"by time ({args.time_column})" if args.time_column else "stratified at random"
    print(
        f"test rows {len(result.y_test):,} ({int(result.y_test.sum())} anomalies), split {split}; "
        f"precision and recall at alert rate {result.alert_rate:.2%}"
    )
    print(result.table.to_string(float_format=lambda v: f"{v:.3f}"))
    if args.report:
        print(f"report written to {args.report}")


def cmd_tune(args):
    frame = read_labelled(args)
    base = KMeansAnomalyDetector(
        threshold=parse_threshold(args.threshold), random_state=args.random_state
    )
    result = tune(
        frame,
        args.label,
        time_column=args.time_column,
        detector=base,
        budget=args.budget,
        metric=args.metric,
        alert_rate=args.alert_rate,
        n_splits=args.folds,
        test_size=args.test_size,
        random_state=args.random_state,
        progress=progress(args),
    )
    result.save(args.output)
    print(result.to_text())
    rows = result.split["rows"]["development"]
    print(f"model written to {args.output} (fitted on the {rows:,} training and validation rows)")


def cmd_report(args):
    detector = load(args.model)
    frame = read_for_model(detector, args)
    if (args.fp_cost is None) != (args.fn_cost is None):
        raise InputError("give both --fp-cost and --fn-cost, or neither.")
    if args.fp_cost is not None and args.label is None:
        raise InputError("--fp-cost and --fn-cost need --label.")
    page = model_report(
        detector,
        frame,
        label=args.label,
        time_column=args.time_column,
        fp_cost=args.fp_cost,
        fn_cost=args.fn_cost,
        audit=args.audit,
        feedback=None if args.feedback is None else read_feedback(args.feedback),
    )
    write_report(args.output, page)
    print(f"report written to {args.output}")


def cmd_audit(args):
    frame = read_table(args.data, fmt=args.format, sep=args.sep)
    result = audit(
        frame, time_column=args.time_column, label=args.label, ranges=dict(args.range or [])
    )
    if args.json:
        print(json.dumps(result.to_dict(), indent=2, allow_nan=False))
    else:
        print(result.to_text())


def cmd_demo(args):
    result = run_demo(
        args.out, n_rows=args.rows, random_state=args.seed, verbose=int(progress(args))
    )
    print(result.summary)
