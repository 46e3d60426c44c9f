"""The ``farout`` command line's arguments: the parser, its subcommands and
the types of their values. Choices come from :mod:`farout.names`, as the
estimators' declared parameter constraints do. Nothing here imports
scikit-learn or pandas, so ``farout --help`` prints at once; the command
that runs is imported only then (see :func:`farout.cli.main`)."""

import argparse
import textwrap

from .. import names
from ..formats import FORMATS
from .details import DETAILS
from .service_arguments import SERVICE_DETAILS, add_service_commands

__all__ = ["build_parser"]


def _trim(text):
    if text == "auto":
        return "auto"
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be 'auto' or a fraction, got {text!r}") from None


def _sep(text):
    sep = {"\\t": "\t", "tab": "\t"}.get(text, text)
    if len(sep) != 1 or sep in '"\r\n':
        raise argparse.ArgumentTypeError(
            f"must be one character, such as ';' or '\\t'; got {text!r}"
        )
    return sep


def csv_list(text):
    return [item.strip() for item in text.split(",") if item.strip()]


def _int_list(text):
    try:
        return tuple(int(item) for item in csv_list(text))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"must be whole numbers separated by commas, got {text!r}"
        ) from None


def _range(text):
    """``COLUMN=LOW:HIGH`` (either end may be empty) as (column, (low, high))."""
    name, sep, bounds = text.rpartition("=")
    low, colon, high = bounds.partition(":")
    try:
        if not (sep and name and colon):
            raise ValueError
        pair = tuple(None if not v.strip() else float(v) for v in (low, high))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"must look like COLUMN=LOW:HIGH, e.g. temperature=-50:60 or amount=0:, got {text!r}"
        ) from None
    return name, pair


def _half_life(text):
    try:
        return float(text)
    except ValueError:
        return text  # a time span, checked by the detector


def _span(text):
    try:
        return int(text)
    except ValueError:
        return text  # a time span, checked by the features


class _Version(argparse.Action):
    """``--version``, looked up only when asked for."""

    def __init__(self, option_strings, dest, **kwargs):
        super().__init__(option_strings, dest, nargs=0, help="print farout's version and exit")

    def __call__(self, parser, namespace, values, option_string=None):
        from ..persistence import farout_version

        print(f"farout {farout_version()}")  # on stdout, as argparse's own action
        parser.exit()


def _command(sub, name, help):
    """A subcommand with its one-line help, a description and examples."""
    detail, examples = DETAILS[name] if name in DETAILS else SERVICE_DETAILS[name]
    command = sub.add_parser(
        name,
        help=help,
        description=textwrap.fill(f"{help[0].upper()}{help[1:]}. {detail}", width=79),
        epilog="examples:\n" + "\n".join(f"  {line}" for line in examples),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    command.set_defaults(parser=command)  # so that a usage error shows this usage
    return command


def _ensemble_arg(p):
    p.add_argument(
        "--ensemble",
        metavar="KEY=VALUE,...",
        help="the ensemble's options (BaggedKMeans parameters), e.g. n_clusters=2:32 "
        "(members over a range of k), max_features=bagging|sqrt|0.5 (feature "
        "subspaces), member_score=local, combine=max|vote|rank_mean|rank_max, "
        "clean=0 (no consensus cleaning, as in 0.2), n_estimators=50; default: 25 "
        "members of 256 rows, k=8, mean distance, clean=0.1",
    )


def _dask_arg(p):
    p.add_argument(
        "--dask",
        metavar="ADDRESS",
        help="run on Dask: a scheduler's address (tcp://host:8786, or its scheduler "
        "file), or 'local' for a cluster of this machine's cores; DATA is then a folder "
        "of Parquet files or a quoted glob of CSV files, and score's OUT a new folder of "
        "Parquet parts (pip install 'farout[dask]')",
    )


def build_parser():
    parser = argparse.ArgumentParser(
        prog="farout",
        description="Find anomalies by learning what normal looks like with k-means.",
    )
    parser.add_argument("--version", action=_Version)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def data_args(p, quiet=True):
        p.add_argument(
            "data", metavar="DATA", help="CSV, Parquet or JSON Lines file, or - for stdin"
        )
        p.add_argument(
            "--format", choices=FORMATS, help="input format (default: from the extension)"
        )
        p.add_argument(
            "--sep",
            type=_sep,
            default=",",
            help="CSV field delimiter, e.g. ';' or '\\t' (default ','); output CSV is "
            "comma-separated",
        )
        if quiet:
            p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")

    p = _command(sub, "fit", "fit a model on DATA and save it")
    data_args(p)
    p.add_argument("-o", "--output", required=True, metavar="MODEL", help="model file to write")
    p.add_argument("--k", default="auto", help="number of clusters, or auto (default)")
    p.add_argument("--k-range", default="2:10", help="range tried by --k auto (default 2:10)")
    p.add_argument(
        "--k-selection",
        default="silhouette",
        choices=names.K_SELECTIONS,
        help="how --k auto chooses k (default silhouette)",
    )
    p.add_argument(
        "--metric",
        default="euclidean",
        choices=names.METRICS,
        help="distance between rows and centres (default euclidean)",
    )
    p.add_argument(
        "--scaling",
        default="standard",
        choices=[*names.SCALINGS, "none"],
        help="how numeric columns are scaled before clustering (default standard)",
    )
    p.add_argument(
        "--score-mode",
        default="ensemble",
        choices=names.SCORE_MODES,
        help="ensemble: mean distance over bagged trimmed k-means (default); distance: "
        "to the nearest centre; normalized: that distance over the cluster's spread",
    )
    _ensemble_arg(p)
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
        "--borderline",
        type=float,
        metavar="C",
        help="severity 'borderline' for rows whose flag is less sure than C, "
        "between 0.5 and 1 (e.g. 0.9; see score --confidence); default: no such band",
    )
    p.add_argument(
        "--trim",
        type=_trim,
        default="auto",
        help="fraction of suspect rows kept out of the clustering, or auto (default)",
    )
    p.add_argument(
        "--missing",
        default="error",
        choices=names.MISSING,
        help="missing values: refuse them (default) or impute the training median/mode",
    )
    p.add_argument("--columns", type=csv_list, help="comma-separated columns to use")
    p.add_argument("--exclude", type=csv_list, help="comma-separated columns to leave out")
    p.add_argument(
        "--sample-rows",
        type=int,
        help="a larger file is fitted on a uniform sample of this many rows, then its "
        "clusters are refined over every row (default 1,000,000; not with --dask, which "
        "samples 262,144 rows as the library's fit does)",
    )
    p.add_argument(
        "--passes",
        type=int,
        help="refinement passes over a larger file (default 1); with --dask, Lloyd passes "
        "of the clusters over every row (default 0: the model fit gives in memory)",
    )
    _dask_arg(p)
    p.add_argument(
        "--random-state", type=int, default=0, help="seed, for the same model every time"
    )

    p = _command(sub, "score", "score DATA with a model, writing OUT")
    data_args(p)
    p.add_argument("-m", "--model", required=True, help="model file written by farout fit")
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
        choices=names.REASONS,
        help="rows that get a reason (default: flagged rows)",
    )
    p.add_argument("--top", type=int, default=3, help="features named per reason (default 3)")
    p.add_argument(
        "--confidence",
        action="store_true",
        help="add anomaly_probability (the chance the row is flagged, given the training "
        "scores) and confidence (how sure its flag is, 0.5 to 1)",
    )
    p.add_argument(
        "--chunksize",
        type=int,
        default=100_000,
        help="rows per block for Parquet and JSON Lines input (default 100,000); "
        "CSV is read in blocks of about 16 MB",
    )
    _dask_arg(p)

    p = _command(sub, "evaluate", "metrics of a model against a label column")
    data_args(p)
    p.add_argument("-m", "--model", required=True, help="model file written by farout fit")
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

    p = _command(sub, "threshold", "refit a model's threshold on (labelled) data, save it")
    data_args(p)
    p.add_argument("-m", "--model", required=True, help="model file written by farout fit")
    p.add_argument("-o", "--output", required=True, metavar="MODEL", help="model file to write")
    p.add_argument(
        "--target",
        required=True,
        choices=names.THRESHOLD_TARGETS,
        help="cost: cheapest cut; precision/recall: reach --value; "
        "fpr: alert rate --value on normal rows",
    )
    p.add_argument("--value", type=float, help="target precision, recall or rate")
    p.add_argument("--label", help="label column (not needed for fpr)")
    p.add_argument("--fp-cost", type=float, help="cost of a false alarm, for --target cost")
    p.add_argument("--fn-cost", type=float, help="cost of a missed anomaly, for --target cost")

    p = _command(sub, "explain", "explain the most anomalous (or chosen) rows")
    data_args(p)
    p.add_argument("-m", "--model", required=True, help="model file written by farout fit")
    p.add_argument("--top", type=int, default=3, help="features per row (default 3)")
    p.add_argument("--rows", type=csv_list, help="row numbers (0-based) to explain")
    p.add_argument("-n", type=int, default=10, help="without --rows: the N most anomalous rows")
    p.add_argument("-o", "--output", help="also write the full table as CSV")

    p = _command(sub, "info", "what a model file holds")
    p.add_argument("model", metavar="MODEL", help="model file written by farout fit")

    p = _command(sub, "compare", "farout beside the baselines on one labelled split")
    data_args(p)
    p.add_argument("--label", required=True, help="label column (used for evaluation only)")
    p.add_argument("--time-column", help="split by time on this column (else stratified)")
    p.add_argument(
        "--alert-rate",
        type=float,
        help="flag this fraction of test rows (default: farout's training alert rate)",
    )
    p.add_argument("--baselines", type=csv_list, help=f"subset of {','.join(names.BASELINES)}")
    p.add_argument("--k", default="auto", help="farout's number of clusters, or auto (default)")
    p.add_argument(
        "--score-mode",
        default="ensemble",
        choices=names.SCORE_MODES,
        help="ensemble: mean distance over bagged trimmed k-means (default); distance: "
        "to the nearest centre; normalized: that distance over the cluster's spread",
    )
    _ensemble_arg(p)
    p.add_argument(
        "--trim",
        type=_trim,
        default="auto",
        help="fraction of suspect rows kept out of farout's clustering, or auto (default)",
    )
    p.add_argument(
        "--threshold", default="percentile:99", help="farout's threshold (default percentile:99)"
    )
    p.add_argument(
        "--random-state", type=int, default=0, help="seed, for the same model every time"
    )
    p.add_argument("--report", metavar="HTML", help="also write an HTML report with the curves")
    p.add_argument("--columns", type=csv_list, help="comma-separated feature columns to use")
    p.add_argument(
        "--exclude", type=csv_list, help="comma-separated columns to leave out (ids, other labels)"
    )

    p = _command(sub, "report", "a self-contained HTML report of a model on DATA")
    data_args(p)
    p.add_argument("-m", "--model", required=True, help="model file written by farout fit")
    p.add_argument("-o", "--output", required=True, metavar="HTML", help="report file to write")
    p.add_argument("--label", help="label column: adds metrics, curves, confusion matrix")
    p.add_argument("--time-column", help="adds scores and alert rate over time")
    p.add_argument("--fp-cost", type=float, help="cost of a false alarm (with --fn-cost)")
    p.add_argument("--fn-cost", type=float, help="cost of a missed anomaly (with --fp-cost)")
    p.add_argument(
        "--audit",
        action="store_true",
        help="open the report with a data audit of DATA (as farout audit)",
    )
    p.add_argument(
        "--feedback",
        metavar="EXPORT",
        help="adds precision by tier from analysts' verdicts (farout feedback export)",
    )

    p = _command(sub, "stream", "score DATA row by row with an online detector")
    data_args(p)
    p.add_argument("-o", "--output", default="-", metavar="OUT", help="output file, or - (default)")
    p.add_argument(
        "-m",
        "--model",
        help="a checkpoint to resume (--save-state), or a model from farout fit to start from",
    )
    p.add_argument("--time-column", help="timestamps: kept, checked to be in order, not a feature")
    p.add_argument(
        "--entity-column",
        help="each row's entity (customer, device, host): kept, not a feature; adds its "
        "event count in --entity-span, time since its last event, and each value against "
        "its own running mean (ratio) and spread (z)",
    )
    p.add_argument(
        "--entity-span",
        type=_span,
        metavar="SPAN",
        help="the window of the entity's event count: rows, or a time span with "
        "--time-column (default 24h with --time-column, else 1000 rows)",
    )
    p.add_argument(
        "--entity-idle",
        type=_span,
        metavar="SPAN",
        help="entities unseen this long are forgotten (default 7d for a time span, "
        "100000 for rows)",
    )
    p.add_argument(
        "--max-entities",
        type=int,
        metavar="N",
        help="entities held at most; the least recently seen goes first (default 100000)",
    )
    p.add_argument(
        "--calendar",
        action="store_true",
        help="hour of day and day of week as features (sin and cos; needs --time-column)",
    )
    p.add_argument("--columns", type=csv_list, help="comma-separated feature columns")
    p.add_argument("--exclude", type=csv_list, help="comma-separated columns to leave out")
    p.add_argument(
        "--save-state", metavar="PATH", help="write a checkpoint here when the input ends"
    )
    p.add_argument(
        "--half-life",
        type=_half_life,
        help="rows after which a row's weight in the model has halved (default 2000), "
        "or a time span such as 1h or 7d (with --time-column)",
    )
    p.add_argument(
        "--lags", type=_int_list, metavar="K,...", help="windowed features: values K rows before"
    )
    p.add_argument(
        "--rolling",
        type=_int_list,
        metavar="W,...",
        help="windowed features: mean, sd, min and max of the last W rows",
    )
    p.add_argument(
        "--diff", action="store_true", help="windowed features: the change since the row before"
    )
    p.add_argument(
        "--deviation",
        type=_int_list,
        metavar="W,...",
        help="windowed features: the value minus the mean of the W rows before",
    )
    p.add_argument(
        "--subsequence",
        type=int,
        metavar="W",
        help="windowed features: the z-normalised shape of the last W values",
    )
    p.add_argument(
        "--likelihood-cut",
        type=float,
        help="flag rows whose anomaly_likelihood reaches this (default 0.9999)",
    )
    p.add_argument(
        "--drift-policy",
        choices=names.DRIFT_POLICIES,
        help="what a drift event does: alert (default) marks it; refresh also forgets the "
        "recent scores; refit also learns a model on the next 2000 rows and swaps it in "
        "once its scores pass a check",
    )

    add_service_commands(sub, _command)

    p = _command(sub, "audit", "a data-quality report of DATA, before fitting")
    data_args(p, quiet=False)
    p.add_argument("--time-column", help="check this column's timestamps: order, duplicates, gaps")
    p.add_argument("--label", help="label column: the anomaly share, and whether it is enough")
    p.add_argument(
        "--range",
        type=_range,
        action="append",
        metavar="COLUMN=LOW:HIGH",
        help="a plausible range (repeatable; an end may be empty); values outside it "
        "are reported as suspects",
    )
    p.add_argument("--json", action="store_true", help="print JSON alone on stdout")

    p = _command(sub, "tune", "choose a model's parameters on a validation split")
    data_args(p)
    p.add_argument("--label", required=True, help="label column (judges the candidates only)")
    p.add_argument(
        "-o", "--output", required=True, metavar="MODEL", help="model file to write (the chosen)"
    )
    p.add_argument("--time-column", help="split and fold by time on this column (else stratified)")
    p.add_argument(
        "--budget", type=int, default=20, help="candidates tried, the default included (default 20)"
    )
    p.add_argument(
        "--metric",
        default="average_precision",
        choices=names.TUNING_METRICS,
        help="what judges a candidate (default average_precision)",
    )
    p.add_argument(
        "--alert-rate",
        type=float,
        default=0.01,
        help="the alert budget of --metric precision_at_budget, a fraction (default 0.01)",
    )
    p.add_argument("--folds", type=int, default=3, help="validation folds (default 3)")
    p.add_argument(
        "--test-size",
        type=float,
        default=0.2,
        help="share held out as the test split (default 0.2)",
    )
    p.add_argument(
        "--threshold",
        default="percentile:99",
        help="the written model's threshold (default percentile:99)",
    )
    p.add_argument("--columns", type=csv_list, help="comma-separated feature columns to use")
    p.add_argument(
        "--exclude", type=csv_list, help="comma-separated columns to leave out (ids, other labels)"
    )
    p.add_argument(
        "--random-state", type=int, default=0, help="seed of the split, folds and candidates"
    )

    p = _command(sub, "demo", "generate card transactions, fit, score, evaluate")
    p.add_argument("--out", default="farout-demo", help="output folder (default farout-demo)")
    p.add_argument(
        "--rows", type=int, default=20_000, help="transactions to generate (default 20,000)"
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the generated data (default 0)")
    p.add_argument("-q", "--quiet", action="store_true", help="no summary on the terminal")
    return parser
