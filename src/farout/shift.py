"""How far live values have moved from a reference sample: the two-sample
questions monitoring asks of scores and of each input column.

A numeric sample is compared by the Kolmogorov-Smirnov test (SciPy's
``ks_2samp``) and the population stability index (PSI) over the
reference's deciles; a categorical one by the chi-square test of the two
samples' category counts and the PSI over the categories. Each answer
carries effect sizes (the KS statistic, the PSI, the mean's shift in
reference standard deviations, the total variation distance between the
category shares), since with enough rows a p-value finds differences too
small to matter.

The verdict is ``"drift"`` when the test rejects at ``alpha`` *and* the PSI
reaches :data:`PSI_DRIFT` (the "moderate shift" of the credit-scoring
convention; on samples from one distribution the PSI of a few hundred rows
stays near 0.02), else ``"stable"``; with fewer than :data:`MIN_ROWS` live
rows it is ``"not_enough_rows"`` and no test is run.
"""

import numpy as np

__all__ = ["MIN_ROWS", "PSI_DRIFT", "categorical_shift", "numeric_shift"]

#: Live rows below which no verdict is given.
MIN_ROWS = 50
#: The PSI a drift must reach besides a significant test.
PSI_DRIFT = 0.1
# Bins of the PSI: the reference's deciles. An empty bin counts as this
# share, so that the log stays finite (the usual floor).
_BINS = 10
_FLOOR = 1e-4


def _psi(expected, actual):
    p = np.maximum(np.asarray(expected, dtype=np.float64), _FLOOR)
    q = np.maximum(np.asarray(actual, dtype=np.float64), _FLOOR)
    return float(np.sum((q - p) * np.log(q / p)))


def _shares(counts):
    counts = np.asarray(counts, dtype=np.float64)
    total = counts.sum()
    return counts / total if total else counts


def _verdict(rows, p_value, psi, alpha):
    if rows < MIN_ROWS:
        return "not_enough_rows"
    return "drift" if p_value < alpha and psi >= PSI_DRIFT else "stable"


def numeric_shift(reference, live, alpha=0.01):
    """Live numbers against the reference's (both 1-D; NaN left out).

    Returns a JSON-ready dict: ``status``, ``rows``, ``reference_rows``,
    and with enough rows ``ks_statistic``, ``p_value``, ``psi``,
    ``mean_shift_sd`` (the live mean minus the reference's, in reference
    standard deviations), ``reference_median`` and ``live_median``.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> numeric_shift(rng.normal(size=2000), rng.normal(size=300))["status"]
    'stable'
    >>> numeric_shift(rng.normal(size=2000), rng.normal(1.0, 1.0, 300))["status"]
    'drift'
    """
    from scipy.stats import ks_2samp

    reference = np.asarray(reference, dtype=np.float64)
    live = np.asarray(live, dtype=np.float64)
    reference, live = reference[~np.isnan(reference)], live[~np.isnan(live)]
    out = {"status": None, "rows": int(live.size), "reference_rows": int(reference.size)}
    if reference.size < MIN_ROWS:
        return {**out, "status": "no_reference"}
    if live.size < MIN_ROWS:
        return {**out, "status": "not_enough_rows"}
    test = ks_2samp(reference, live)
    edges = np.unique(np.quantile(reference, np.linspace(0, 1, _BINS + 1)[1:-1]))
    expected = np.bincount(
        np.searchsorted(edges, reference, side="right"), minlength=len(edges) + 1
    )
    actual = np.bincount(np.searchsorted(edges, live, side="right"), minlength=len(edges) + 1)
    psi = _psi(_shares(expected), _shares(actual))
    sd = float(reference.std())
    shift = float((live.mean() - reference.mean()) / sd) if sd > 0 else None
    out.update(
        ks_statistic=float(test.statistic),
        p_value=float(test.pvalue),
        psi=psi,
        mean_shift_sd=shift,
        reference_median=float(np.median(reference)),
        live_median=float(np.median(live)),
    )
    out["status"] = _verdict(live.size, out["p_value"], psi, alpha)
    return out


def categorical_shift(categories, reference_counts, reference_missing, live, alpha=0.01):
    """Live categories (an array of strings; None or NaN are missing)
    against the reference's counts of ``categories`` (and of rows with
    none of them). Values the reference never saw count with the missing
    ones as ``"other"``.

    Returns a JSON-ready dict: ``status``, ``rows``, ``reference_rows``,
    and with enough rows ``p_value`` (chi-square), ``psi``,
    ``total_variation`` (half the sum of the shares' absolute
    differences), ``reference_shares`` and ``live_shares``.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> live = rng.choice(["a", "b"], 400, p=[0.9, 0.1])
    >>> categorical_shift(["a", "b"], [500, 500], 0, live)["status"]
    'drift'
    """
    import pandas as pd
    from scipy.stats import chi2_contingency

    categories = [str(c) for c in categories]
    expected = np.append(np.asarray(reference_counts, dtype=np.int64), int(reference_missing))
    live = np.asarray(live, dtype=object)
    codes = pd.Index(categories, dtype=object).get_indexer(live).astype(np.intp)
    codes[codes < 0] = len(categories)  # unseen and missing: "other"
    actual = np.bincount(codes, minlength=len(categories) + 1)
    out = {"status": None, "rows": int(live.size), "reference_rows": int(expected.sum())}
    if expected.sum() < MIN_ROWS:
        return {**out, "status": "no_reference"}
    if live.size < MIN_ROWS:
        return {**out, "status": "not_enough_rows"}
    table = np.vstack([expected, actual])
    table = table[:, table.sum(axis=0) > 0]
    p_value = 1.0
    if table.shape[1] > 1:
        p_value = float(chi2_contingency(table, correction=False).pvalue)
    p, q = _shares(expected), _shares(actual)
    names = [*categories, "other"]
    out.update(
        p_value=p_value,
        psi=_psi(p, q),
        total_variation=float(0.5 * np.abs(p - q).sum()),
        reference_shares={n: float(s) for n, s in zip(names, p, strict=True) if s or n != "other"},
        live_shares={n: float(s) for n, s in zip(names, q, strict=True) if s or n != "other"},
    )
    out["status"] = _verdict(live.size, p_value, out["psi"], alpha)
    return out
