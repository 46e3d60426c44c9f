"""Agreement between analysts beyond chance: Cohen's kappa for two, Fleiss'
kappa for more.

kappa = (observed agreement - agreement expected by chance) / (1 - expected):
1 when the analysts always agree, 0 when they agree as often as chance
would, negative when less. It is undefined (None) when chance alone would
make them agree always (every verdict in one category).

>>> round(fleiss_kappa([[2, 0], [0, 2], [1, 1]]), 4)  # 3 items, 2 verdicts each
0.3333
"""

import numpy as np

__all__ = ["cohen_kappa", "fleiss_kappa", "rater_agreement"]


def cohen_kappa(first, second, categories):
    """Cohen's kappa of two analysts' verdicts on the same items (two
    sequences, aligned); None when it is undefined."""
    from sklearn.metrics import cohen_kappa_score

    first, second = np.asarray(first, dtype=object), np.asarray(second, dtype=object)
    if first.shape[0] == 0:
        return None
    # expected agreement 1 (one category only): scikit-learn divides by zero
    if len(set(first.tolist()) | set(second.tolist())) < 2:
        return None
    return float(cohen_kappa_score(first, second, labels=list(categories)))


def fleiss_kappa(counts):
    """Fleiss' kappa of a table of counts: one row per item, one column per
    category, each cell the analysts who chose that category for that item.

    Items may have different numbers of analysts (at least 2 each): an
    item's agreement is the share of its pairs of analysts that agree,
    ``(sum_j n_ij^2 - n_i) / (n_i (n_i - 1))``, and chance agreement comes
    from the pooled category shares. With the same number on every item
    this is Fleiss' (1971) kappa. None when undefined.
    """
    counts = np.asarray(counts, dtype=np.float64)
    if counts.ndim != 2 or counts.shape[0] == 0:
        return None
    raters = counts.sum(axis=1)
    counts = counts[raters >= 2]
    raters = raters[raters >= 2]
    if counts.shape[0] == 0:
        return None
    observed = float(np.mean(((counts**2).sum(axis=1) - raters) / (raters * (raters - 1))))
    shares = counts.sum(axis=0) / raters.sum()
    expected = float((shares**2).sum())
    if expected >= 1.0:
        return None
    return (observed - expected) / (1.0 - expected)


def rater_agreement(items, raters, verdicts, categories):
    """How well analysts agree on the items more than one of them judged.

    Parameters
    ----------
    items, raters, verdicts : sequences of the same length
        One entry per analyst's verdict on an item (its latest only).
    categories : sequence of str
        Every verdict there may be.

    Returns a dict: ``method`` (``"cohen"`` for two analysts, ``"fleiss"``
    for more, None for fewer), ``kappa``, ``observed_agreement`` (the share
    of pairs of verdicts on an item that agree), ``predictions`` (items
    judged by two or more) and ``analysts``.
    """
    import pandas as pd

    votes = pd.DataFrame({"item": items, "rater": raters, "verdict": verdicts})
    analysts = int(votes["rater"].nunique())
    out = {
        "method": None if analysts < 2 else ("cohen" if analysts == 2 else "fleiss"),
        "kappa": None,
        "observed_agreement": None,
        "predictions": 0,
        "analysts": analysts,
    }
    if analysts < 2:
        return out
    per_item = votes.groupby("item")["rater"].transform("size")
    shared = votes[per_item >= 2]
    if shared.empty:
        return out
    table = pd.crosstab(shared["item"], shared["verdict"]).reindex(
        columns=list(categories), fill_value=0
    )
    counts = table.to_numpy(dtype=np.float64)
    n = counts.sum(axis=1)
    out["predictions"] = int(counts.shape[0])
    out["observed_agreement"] = float(np.mean(((counts**2).sum(axis=1) - n) / (n * (n - 1))))
    if analysts == 2:
        wide = shared.pivot(index="item", columns="rater", values="verdict")
        out["kappa"] = cohen_kappa(wide.iloc[:, 0], wide.iloc[:, 1], categories)
    else:
        out["kappa"] = fleiss_kappa(counts)
    return out
