"""The audit of a label column: the anomaly share, and whether it is
enough to evaluate on."""

from dataclasses import dataclass

from ..exceptions import InputError
from ..features.labels import as_anomaly_labels

__all__ = ["LabelCheck", "check_labels"]


@dataclass
class LabelCheck:
    """The label column: anomalies among the labelled rows, and whether
    they are ``enough`` to evaluate on (``reason`` says why, or why not)."""

    column: str
    n_labelled: int
    missing: int
    n_anomalies: int
    anomaly_share: float
    enough: bool
    reason: str


def check_labels(name, series, min_anomalies, test_share=0.2):
    """The check of label column ``name`` (its values ``series``): enough
    when at least ``min_anomalies`` rows are anomalies, and some normal."""
    missing = series.isna().to_numpy()
    try:
        truth = as_anomaly_labels(series[~missing])
    except InputError as exc:
        raise InputError(f"label column {name!r}: {exc}") from None
    n, n_anomalies = int(truth.size), int(truth.sum())
    share = n_anomalies / n if n else 0.0
    in_test = n_anomalies * test_share
    if n_anomalies == 0:
        enough, reason = False, "no anomalies are labelled: nothing to measure detection on"
    elif n_anomalies == n:
        enough, reason = False, "every labelled row is an anomaly: there are no normal rows"
    elif n_anomalies < min_anomalies:
        enough = False
        reason = (
            f"{n_anomalies:,} anomalies, fewer than {min_anomalies}: a test split of "
            f"{test_share:.0%} would hold about {in_test:.0f}, and each one found or missed "
            f"would move its recall by {100 / max(in_test, 1):.0f} points; label more"
        )
    else:
        enough = True
        reason = (
            f"{n_anomalies:,} anomalies: a test split of {test_share:.0%} would hold about "
            f"{in_test:.0f}, each one moving its recall by {100 / in_test:.1f} points"
        )
    return LabelCheck(name, n, int(missing.sum()), n_anomalies, float(share), enough, reason)
