"""The ``farout`` command line: parse, call the library, print.

Exit codes: 0 ok, 2 usage or input error (one line, no traceback), 1 anything
unexpected. Set FAROUT_DEBUG=1 to see tracebacks.
"""

import argparse
import json
import os
import signal
import sys
import threading
import traceback

import numpy as np
import pandas as pd

from . import __version__
from .baselines import BASELINES
from .comparison import compare
from .demo import run_demo
from .detector import KMeansAnomalyDetector, load
from .evaluation import evaluate, evaluate_by, threshold_sweep
from .exceptions import FaroutError, InputError
from .features.schema import model_columns, read_dtypes, require_column
from .findings import REASONS
from .io import FORMATS, TableWriter, read_table, select_columns
from .jobs import fit_file, score_file
from .params import choices
from .persistence import read_manifest
from .report import comparison_report, model_report, write_report
from .thresholds import (
    CostOptimal,
    FalsePositiveRate,
    TargetPrecision,
    TargetRecall,
    parse_threshold,
)
from .writer import check_not_input

__all__ = ["main"]


def _csv_list(text):
    return [item.strip() for item in text.split(",") if item.strip()]


def _tiers(text):
    tiers = {}
    for item in _csv_list(text):
        name, sep, spec = item.partition("=")
        if not sep:
            raise InputError(
                f"--tiers entry {item!r} must look like NAME=SPEC, e.g. warning=percentile:99."
            )
        tiers[name.strip()] = parse_threshold(spec)
    return tiers


def _k(text):
    if text == "auto":
        return "auto"
    try:
        return int(text)
    except ValueError:
        raise InputError(f"--k must be 'auto' or an integer, got {text!r}.") from None


def _trim(text):
    if text == "auto":
        return "auto"
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be 'auto' or a fraction, got {text!r}") from None


def _k_range(text):
    low, sep, high = text.partition(":")
    try:
        return (int(low), int(high))
    except ValueError:
        raise InputError(f"--k-range must look like LOW:HIGH, e.g. 2:10; got {text!r}.") from None


def _progress(args):
    return sys.stderr.isatty() and not args.quiet


# ------------------------------------------------------------ commands
def cmd_fit(args):
    detector = KMeansAnomalyDetector(
        n_clusters=_k(args.k),
        metric=args.metric,
        scaling=None if args.scaling == "none" else args.scaling,
        score_mode=args.score_mode,
        threshold=parse_threshold(args.threshold),
        tiers=_tiers(args.tiers) if args.tiers else None,
        trim=args.trim,
        k_selection=args.k_selection,
        k_range=_k_range(args.k_range),
        missing=args.missing,
        random_state=args.random_state,
        verbose=int(_progress(args)),
    )
    if args.sample_rows < 2:
        raise InputError(f"--sample-rows must be >= 2, got {args.sample_rows}.")
    if args.passes < 1:
        raise InputError(f"--passes must be >= 1, got {args.passes}.")
    counts = fit_file(
        detector,
        args.data,
        fmt=args.format,
        columns=args.columns,
        exclude=args.exclude,
        sample_rows=args.sample_rows,
        passes=args.passes,
        random_state=args.random_state,
        progress=_progress(args),
    )
    detector.save(args.output)
    summary = detector.training_summary_
    rows = f"{counts['rows']:,} rows"
    if counts["sampled"] < counts["rows"]:
        rows += (
            f" (fitted on a uniform sample of {counts['sampled']:,}, clusters refined over "
            f"every row in {counts['passes']} pass{'es' if counts['passes'] > 1 else ''})"
        )
    print(
        f"fitted on {rows} x {detector.n_features_in_} columns: k={detector.n_clusters_}, "
        f"metric={detector.metric}, threshold {detector.threshold_!r} at "
        f"{detector.threshold_.cut_:.4g} (flags {summary['flagged_fraction']:.2%} of training rows)"
    )
    print(f"model written to {args.output}")


def cmd_score(args):
    detector = load(args.model)
    counts = score_file(
        detector,
        args.data,
        args.output,
        chunksize=args.chunksize,
        reasons=args.reasons,
        top=args.top,
        fmt=args.format,
        progress=None if not args.quiet else False,
    )
    if args.output != "-":
        print(
            f"scored {counts['rows']:,} rows, {counts['flagged']:,} flagged; "
            f"written to {args.output}",
            file=sys.stderr,
        )


def _read_for_model(detector, path, fmt):
    return read_table(path, fmt=fmt, dtypes=read_dtypes(detector))


def cmd_evaluate(args):
    detector = load(args.model)
    frame = _read_for_model(detector, args.data, args.format)
    require_column(frame, args.label, "label")
    result = detector.detect(model_columns(detector, frame), reasons="none")
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
        if args.by not in frame.columns:
            raise InputError(f"no column {args.by!r} to break the metrics down by.")
        table = evaluate_by(
            frame[args.label], result["anomaly_score"], frame[args.by], flags=result["is_anomaly"]
        )
        print(f"\nby {args.by} (weakest first):")
        print(table.to_string(float_format=lambda v: f"{v:.3f}"))
    if args.sweep:
        print(f"\nthreshold sweep written to {args.sweep}")


_TARGETS = {
    "cost": lambda a: CostOptimal(fp_cost=a.fp_cost, fn_cost=a.fn_cost),
    "precision": lambda a: TargetPrecision(a.value),
    "recall": lambda a: TargetRecall(a.value),
    "fpr": lambda a: FalsePositiveRate(a.value),
}


def cmd_threshold(args):
    detector = load(args.model)
    frame = _read_for_model(detector, args.data, args.format)
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
    threshold = _TARGETS[args.target](args)
    detector.fit_threshold(model_columns(detector, frame), labels, threshold=threshold)
    detector.save(args.output)
    print(
        f"{threshold!r} fitted on {len(frame):,} rows: cut {detector.threshold_.cut_:.4g}; "
        f"model written to {args.output}"
    )


def cmd_explain(args):
    if args.n < 1:
        raise InputError(f"-n must be at least 1 (rows to explain), got {args.n}.")
    detector = load(args.model)
    frame = _read_for_model(detector, args.data, args.format)
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


def _choices(name):
    """A detector parameter's choices, as declared in its constraints."""
    return choices(KMeansAnomalyDetector, name)


def cmd_info(args):
    manifest = read_manifest(args.model)
    detector = load(args.model)
    columns = detector.feature_schema()
    print(
        f"farout model (format {manifest['format_version']}, written by farout "
        f"{manifest['farout_version']} on {manifest['created']})"
    )
    print(
        f"clusters   k={detector.n_clusters_} ({'auto, by ' + detector.k_selection if detector.n_clusters == 'auto' else 'fixed'})"
    )
    print(f"metric     {detector.metric}, scaling {detector.scaling}, score {detector.score_mode}")
    print(f"threshold  {detector.threshold_!r}, cut {detector.threshold_.cut_:.4g}")
    if detector.tiers_:
        print("tiers      " + ", ".join(f"{n} > {t.cut_:.4g}" for n, t in detector.tiers_))
    summary = detector.training_summary_
    print(
        f"training   {summary['n_rows']:,} rows, score median {summary['q0.5']:.3g}, "
        f"p99 {summary['q0.99']:.3g}, max {summary['q1']:.3g}; "
        f"{summary['flagged_fraction']:.2%} flagged"
    )
    print("features:")
    for column in columns:
        extra = ""
        if column["kind"] == "categorical":
            cats = column["categories"]
            extra = f" ({len(cats)} categories: {', '.join(cats[:6])}{', ...' if len(cats) > 6 else ''})"
        print(f"  {column['name']:<24} {column['kind']:<12} {column['dtype']}{extra}")
    sizes = pd.Series(detector.cluster_sizes_.astype(int), name="rows")
    sigma = pd.Series(detector.cluster_sigma_, name="sigma")
    print("clusters:")
    print(pd.concat([sizes, sigma], axis=1).rename_axis("cluster").to_string())


def cmd_compare(args):
    frame = read_table(args.data, fmt=args.format)
    keep = [args.label] + ([args.time_column] if args.time_column else [])
    if args.exclude and set(keep) & set(args.exclude):
        raise InputError("--exclude must not name the --label or --time-column column.")
    if args.columns:
        args.columns = list(dict.fromkeys(list(args.columns) + keep))
    frame = select_columns(frame, args.columns, args.exclude)
    detector = KMeansAnomalyDetector(
        n_clusters=_k(args.k),
        score_mode=args.score_mode,
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
        progress=_progress(args),
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


def cmd_report(args):
    detector = load(args.model)
    frame = _read_for_model(detector, args.data, args.format)
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
    )
    write_report(args.output, page)
    print(f"report written to {args.output}")


def cmd_demo(args):
    result = run_demo(
        args.out, n_rows=args.rows, random_state=args.seed, verbose=int(_progress(args))
    )
    print(result.summary)


# -------------------------------------------------------------- parser
def build_parser():
    parser = argparse.ArgumentParser(
        prog="farout",
        description="Find anomalies by learning what normal looks like with k-means.",
    )
    parser.add_argument("--version", action="version", version=f"farout {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def data_args(p):
        p.add_argument(
            "data", metavar="DATA", help="CSV, Parquet or JSON Lines file, or - for stdin"
        )
        p.add_argument(
            "--format", choices=FORMATS, help="input format (default: from the extension)"
        )
        p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")

    p = sub.add_parser("fit", help="fit a model on DATA and save it")
    data_args(p)
    p.add_argument("-o", "--output", required=True, metavar="MODEL", help="model file to write")
    p.add_argument("--k", default="auto", help="number of clusters, or auto (default)")
    p.add_argument("--k-range", default="2:10", help="range tried by --k auto (default 2:10)")
    p.add_argument("--k-selection", default="silhouette", choices=_choices("k_selection"))
    p.add_argument("--metric", default="euclidean", choices=_choices("metric"))
    p.add_argument("--scaling", default="standard", choices=[*_choices("scaling"), "none"])
    p.add_argument("--score-mode", default="ensemble", choices=_choices("score_mode"))
    p.add_argument(
        "--threshold",
        default="percentile:99",
        help="percentile:Q, contamination:C, meanstd:N, absolute:V, "
        "percluster:Q or mediansigma:M (default percentile:99)",
    )
    p.add_argument(
        "--tiers",
        help="named severity tiers, e.g. "
        "monitor=percentile:95,warning=percentile:99,critical=percentile:99.9",
    )
    p.add_argument(
        "--trim",
        type=_trim,
        default="auto",
        help="fraction of suspect rows kept out of the clustering, or auto (default)",
    )
    p.add_argument("--missing", default="error", choices=_choices("missing"))
    p.add_argument("--columns", type=_csv_list, help="comma-separated columns to use")
    p.add_argument("--exclude", type=_csv_list, help="comma-separated columns to leave out")
    p.add_argument(
        "--sample-rows",
        type=int,
        default=1_000_000,
        help="a larger file is fitted on a uniform sample of this many rows, then its "
        "clusters are refined over every row (default 1,000,000)",
    )
    p.add_argument(
        "--passes", type=int, default=1, help="refinement passes over a larger file (default 1)"
    )
    p.add_argument("--random-state", type=int, default=0)
    p.set_defaults(func=cmd_fit)

    p = sub.add_parser("score", help="score DATA with a model, writing OUT")
    data_args(p)
    p.add_argument("-m", "--model", required=True)
    p.add_argument(
        "-o",
        "--output",
        required=True,
        metavar="OUT",
        help="output file (.csv, .parquet, .jsonl) or - for stdout CSV",
    )
    p.add_argument(
        "--reasons",
        default="flagged",
        choices=REASONS,
        help="rows that get a reason (default: flagged rows)",
    )
    p.add_argument("--top", type=int, default=3, help="features named per reason")
    p.add_argument("--chunksize", type=int, default=100_000)
    p.set_defaults(func=cmd_score)

    p = sub.add_parser("evaluate", help="metrics of a model against a label column")
    data_args(p)
    p.add_argument("-m", "--model", required=True)
    p.add_argument(
        "--label", required=True, help="label column: 0/1, true/false or +1/-1 (-1 anomaly)"
    )
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--by", metavar="COLUMN", help="also break the metrics down by this column")
    p.add_argument(
        "--sweep",
        metavar="CSV",
        help="write precision, recall, F1, alert rate (and cost) at every cut",
    )
    p.add_argument("--fp-cost", type=float, help="cost of a false alarm, for --sweep")
    p.add_argument("--fn-cost", type=float, help="cost of a missed anomaly, for --sweep")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("threshold", help="refit a model's threshold on (labelled) data, save it")
    data_args(p)
    p.add_argument("-m", "--model", required=True)
    p.add_argument("-o", "--output", required=True, metavar="MODEL", help="model file to write")
    p.add_argument(
        "--target",
        required=True,
        choices=list(_TARGETS),
        help="cost: cheapest cut; precision/recall: reach --value; "
        "fpr: alert rate --value on normal rows",
    )
    p.add_argument("--value", type=float, help="target precision, recall or rate")
    p.add_argument("--label", help="label column (not needed for fpr)")
    p.add_argument("--fp-cost", type=float)
    p.add_argument("--fn-cost", type=float)
    p.set_defaults(func=cmd_threshold)

    p = sub.add_parser("explain", help="explain the most anomalous (or chosen) rows")
    data_args(p)
    p.add_argument("-m", "--model", required=True)
    p.add_argument("--top", type=int, default=3, help="features per row (default 3)")
    p.add_argument("--rows", type=_csv_list, help="row numbers (0-based) to explain")
    p.add_argument("-n", type=int, default=10, help="without --rows: the N most anomalous rows")
    p.add_argument("-o", "--output", help="also write the full table as CSV")
    p.set_defaults(func=cmd_explain)

    p = sub.add_parser("info", help="what a model file holds")
    p.add_argument("model", metavar="MODEL")
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("compare", help="farout beside the baselines on one labelled split")
    data_args(p)
    p.add_argument("--label", required=True, help="label column (used for evaluation only)")
    p.add_argument("--time-column", help="split by time on this column (else stratified)")
    p.add_argument(
        "--alert-rate",
        type=float,
        help="flag this fraction of test rows (default: farout's training alert rate)",
    )
    p.add_argument("--baselines", type=_csv_list, help=f"subset of {','.join(BASELINES)}")
    p.add_argument("--k", default="auto")
    p.add_argument("--score-mode", default="ensemble", choices=_choices("score_mode"))
    p.add_argument("--trim", type=_trim, default="auto")
    p.add_argument("--threshold", default="percentile:99")
    p.add_argument("--random-state", type=int, default=0)
    p.add_argument("--report", metavar="HTML", help="also write an HTML report with the curves")
    p.add_argument("--columns", type=_csv_list, help="comma-separated feature columns to use")
    p.add_argument(
        "--exclude", type=_csv_list, help="comma-separated columns to leave out (ids, other labels)"
    )
    p.set_defaults(func=cmd_compare)

    p = sub.add_parser("report", help="a self-contained HTML report of a model on DATA")
    data_args(p)
    p.add_argument("-m", "--model", required=True)
    p.add_argument("-o", "--output", required=True, metavar="HTML")
    p.add_argument("--label", help="label column: adds metrics, curves, confusion matrix")
    p.add_argument("--time-column", help="adds scores and alert rate over time")
    p.add_argument("--fp-cost", type=float, help="cost of a false alarm (with --fn-cost)")
    p.add_argument("--fn-cost", type=float, help="cost of a missed anomaly (with --fp-cost)")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("demo", help="generate card transactions, fit, score, evaluate")
    p.add_argument("--out", default="farout-demo", help="output folder (default farout-demo)")
    p.add_argument("--rows", type=int, default=20_000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("-q", "--quiet", action="store_true")
    p.set_defaults(func=cmd_demo)
    return parser


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the main thread stands so that the same
    clean-up as for Ctrl-C runs (no temporary file is left behind)."""


def _terminate(signum, frame):
    raise Terminated()


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    own_signals = threading.current_thread() is threading.main_thread()
    if own_signals:
        previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        return _run(args)
    finally:
        if own_signals:
            signal.signal(signal.SIGTERM, previous)


def _run(args):
    try:
        # an output that names the data would replace it when renamed
        check_not_input(getattr(args, "output", None), getattr(args, "data", None))
        args.func(args)
    except FaroutError as exc:
        print(f"farout: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except BrokenPipeError:
        # The reader went away (e.g. `| head`); stop quietly, as Unix tools do.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except (OSError, ValueError) as exc:
        # Bad input that reached a library we call: still the user's to fix.
        if os.environ.get("FAROUT_DEBUG"):
            traceback.print_exc()
        print(f"farout: error: {exc}", file=sys.stderr)
        return 2
    except Terminated:
        return 128 + signal.SIGTERM
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        if os.environ.get("FAROUT_DEBUG"):
            traceback.print_exc()
        print(
            f"farout: unexpected error: {type(exc).__name__}: {exc} "
            "(set FAROUT_DEBUG=1 for the traceback)",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
