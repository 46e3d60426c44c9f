"""How sure the model is of a flag: ExCeeD (Perini, Vercruyssen and Davis,
"Quantifying the confidence of anomaly detectors in their example-wise
predictions", ECML PKDD 2020).

A threshold is learned from the training scores, so it would move had the
training rows been drawn again. ExCeeD asks how likely a row is to be
flagged under that uncertainty:

1. The row's position in the training score distribution, with a uniform
   prior (a Bayesian estimate of the CDF at its score):
   psi = (1 + #{training scores <= s}) / (2 + n).
2. The threshold flags a row when at least m of the n training scores lie
   at or below its score, m being how many training rows the cut leaves
   unflagged. Redrawing n training rows, that count is Binomial(n, psi), so

       P(flagged) = P(Binomial(n, psi) >= m).

``probability`` is that number: 0.5 at the cut, near 1 far above it, near
0 far below. Over the training rows it averages (n - m + 1) / (n + 1), the
share the cut flags there: calibrated in the large on the data it was
learned from. The *confidence* of a row's flag is P(flagged) for a flagged
row and 1 - P(flagged) for the others.

With a per-cluster threshold, the distribution, n and m are those of the
row's own cluster, where its cut was learned. The reference is a seeded
random sample of at most :data:`REFERENCE_ROWS` training scores (n is its
size), kept sorted in the model file.
"""

import numpy as np
from scipy.stats import binom

__all__ = ["REFERENCE_ROWS", "flag_probability", "reference_sample"]

#: Training scores kept for the probability; a random sample above this.
REFERENCE_ROWS = 65_536

# Fewer reference rows than this in a cluster: use the whole reference.
_MIN_CLUSTER_ROWS = 10


# Relative difference below which two scores are taken as equal (scoring
# paths agree to about 1e-15 relative).
_ROUNDING = 1e-12


def reference_sample(scores, labels, size=REFERENCE_ROWS, seed=0):
    """``(scores, labels)``: at most ``size`` of the training rows' scores
    and clusters, a seeded uniform sample, sorted by score."""
    scores = np.asarray(scores, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.intp)
    if scores.shape[0] > size:
        keep = np.random.default_rng(seed).choice(scores.shape[0], size, replace=False)
        scores, labels = scores[keep], labels[keep]
    order = np.argsort(scores, kind="stable")
    return scores[order], labels[order]


def _exceed(scores, reference, flagged):
    """P(flagged) of ``scores`` against sorted ``reference`` scores, of
    which ``flagged`` are above the cut."""
    n = reference.shape[0]
    # A row scored again (in another batch, through another path) can come
    # out a rounding error away from its own training score: count scores
    # within that of a reference score as equal to it, so the probability
    # does not jump with the batch.
    below = np.searchsorted(reference, scores + _ROUNDING * np.abs(scores), side="right")
    psi = (1.0 + below) / (2.0 + n)
    m = n - flagged
    return binom.sf(m - 1, n, psi)  # P(X >= m)


def flag_probability(scores, labels, reference, reference_labels, threshold):
    """P(flagged) of each row (``scores``, nearest clusters ``labels``),
    against the training ``reference`` (sorted scores and their clusters)
    for the fitted ``threshold``."""
    scores = np.asarray(scores, dtype=np.float64)
    flags = threshold.flag(reference, reference_labels)
    if getattr(threshold, "cluster_cuts_", None) is None:
        return _exceed(scores, reference, int(flags.sum()))
    out = np.empty(scores.shape[0])
    for c in np.unique(labels):
        rows = labels == c
        own = reference_labels == c
        if own.sum() < _MIN_CLUSTER_ROWS:  # too few to place a row in
            out[rows] = _exceed(scores[rows], reference, int(flags.sum()))
        else:
            out[rows] = _exceed(scores[rows], reference[own], int(flags[own].sum()))
    return out
