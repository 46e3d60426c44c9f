"""``farout stream``: the stream detector and its features, built from the
options, or resumed from a checkpoint; then run over the input
(:func:`farout.jobs.stream_file`)."""

import sys

from ..detector import KMeansAnomalyDetector
from ..exceptions import InputError
from ..features import CalendarFeatures, EntityFeatures, FeatureStack, WindowFeatures
from ..jobs import stream_file
from ..loading import load as load_any
from ..streaming import DriftMonitor, StreamDetector

__all__ = ["cmd_stream"]

# The option of a parameter whose name is not its option's.
_FLAGS = {"drift": "--drift-policy"}


def _features(args):
    """The features the options ask for: None, a WindowFeatures, or the
    columns with their windows beside entity and calendar features."""
    windows = {
        "lags": args.lags or (),
        "rolling": args.rolling or (),
        "diff": args.diff,
        "deviation": args.deviation or (),
        "subsequence": args.subsequence,
    }
    timed = args.time_column is not None
    if args.calendar and not timed:
        raise InputError("--calendar needs --time-column: the hours come from the rows' times.")
    entity = {"span": args.entity_span, "idle": args.entity_idle, "max_entities": args.max_entities}
    if args.entity_column is None:
        given = [f"--{k.replace('_', '-')}" for k, v in entity.items() if v is not None]
        if given:
            raise InputError(f"{given[0]} needs --entity-column.")
    parts = [WindowFeatures(**windows)] if any(windows.values()) else []
    if args.entity_column is not None:
        chosen = {k: v for k, v in entity.items() if v is not None}
        for name in ("span", "idle"):
            if isinstance(chosen.get(name), str) and not timed:
                raise InputError(
                    f"--entity-{name} {chosen[name]} is a time span: it needs --time-column "
                    "(or give a number of rows)."
                )
        # the idle default is of the span's kind: a time span, or rows
        span = chosen.get("span", "24h" if timed else 1000)
        params = {"span": span, "idle": "7d" if isinstance(span, str) else 100_000, **chosen}
        parts.append(EntityFeatures(**params))
    if args.calendar:
        parts.append(CalendarFeatures())
    if not parts:
        return None
    if len(parts) == 1 and isinstance(parts[0], WindowFeatures):
        return parts[0]
    if not isinstance(parts[0], WindowFeatures):  # the columns themselves come first
        parts.insert(0, WindowFeatures())
    return parts


def cmd_stream(args):
    given = {"half_life": args.half_life, "likelihood_cut": args.likelihood_cut}
    params = {k: v for k, v in given.items() if v is not None}
    if args.drift_policy is not None:
        params["drift"] = DriftMonitor(policy=args.drift_policy)
    model = None if args.model is None else load_any(args.model)
    if isinstance(model, StreamDetector):
        features = (
            args.lags,
            args.rolling,
            args.diff,
            args.deviation,
            args.subsequence,
            args.entity_span,
            args.entity_idle,
            args.max_entities,
            args.calendar,
        )
        if params or any(features):  # a checkpoint resumes with its own settings
            flags = (
                ", ".join(_FLAGS.get(k, "--" + k.replace("_", "-")) for k in params)
                or "the feature options (--entity-column alone names its column)"
            )
            raise InputError(
                f"{args.model} is a checkpoint, which resumes with its own settings; drop {flags}."
            )
        stack = FeatureStack.of(model.features)
        needs = {
            "--entity-column": stack is not None and stack.needs_entities,
            "--time-column": stack is not None and stack.needs_times,
        }
        for flag, needed in needs.items():
            if needed and getattr(args, flag[2:].replace("-", "_")) is None:
                raise InputError(f"{args.model} was saved with features that need {flag}; give it.")
        detector = model
    else:
        features = _features(args)
        if features is not None:
            params["features"] = features
        if model is None:
            detector = StreamDetector(**params)
        elif isinstance(model, KMeansAnomalyDetector):
            detector = StreamDetector.from_detector(model, **params)
        else:
            raise InputError(
                f"{args.model} holds a {type(model).__name__}; -m takes a stream "
                "checkpoint (--save-state) or a model written by farout fit."
            )
    counts = stream_file(
        detector,
        args.data,
        args.output,
        time_column=args.time_column,
        entity_column=args.entity_column,
        columns=args.columns,
        exclude=args.exclude,
        save_state=args.save_state,
        fmt=args.format,
        sep=args.sep,
    )
    if args.output != "-":
        print(
            f"streamed {counts['rows']:,} rows, {counts['flagged']:,} flagged; "
            f"written to {args.output}",
            file=sys.stderr,
        )
