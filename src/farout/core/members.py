"""Ensemble members' scores, and the rules that combine them into one.

A member (a dict of ``centers``, ``weights``, ``counts``, ``radius`` and,
where its rule needs them, ``quantiles``) scores a row by its weighted
distance to the member's nearest centre (``"distance"``), or by that
distance over the centre's own radius (``"local"``: relative to the
density of the row's neighbourhood, as LOF's ratio is). A feature-subspace
member has weight 0 on the features it does not see.

The members' scores are combined by:

- ``"mean"``, ``"max"``: of the raw member scores;
- ``"rank_mean"``, ``"rank_max"``: of each member's score as a rank among
  its own training scores (so that members on other k or other features
  weigh the same);
- ``"vote"``: the fraction of members whose own threshold (their
  ``vote_quantile`` training quantile) the row exceeds, ties broken by the
  mean rank.

Pure array functions: the ensemble validates its parameters, the scoring
core its rows.
"""

import numpy as np

from .._kernels.distance import mean_weighted_nearest, nearest_centers

__all__ = [
    "COMBINE_RULES",
    "MEMBER_SCORES",
    "QUANTILE_POINTS",
    "combine",
    "ensemble_score",
    "member_distance",
    "member_scores",
    "needs_quantiles",
    "rank",
    "training_quantiles",
]

COMBINE_RULES = ("mean", "max", "vote", "rank_mean", "rank_max")
MEMBER_SCORES = ("distance", "local")

#: Training quantiles kept per member for the rank-based rules.
QUANTILE_POINTS = 257
_PROBS = np.linspace(0.0, 1.0, QUANTILE_POINTS)


def needs_quantiles(rule):
    """Whether ``rule`` reads each member's training quantiles."""
    return rule in ("vote", "rank_mean", "rank_max")


def member_distance(members, kernel, M, centers=None, weights=None):
    """Mean over members of each row's weighted distance to the member's
    nearest centre. ``centers`` and ``weights`` (one array per member)
    measure the same distances on other rows, such as raw unscaled ones;
    by default the members' own."""
    centers = [m["centers"] for m in members] if centers is None else centers
    weights = [m["weights"] for m in members] if weights is None else weights
    if kernel == "euclidean":
        return mean_weighted_nearest(M, centers, weights)
    # one member at a time: the reference for the stacked kernel, and the
    # path for the manhattan and cosine metrics
    total = np.zeros(M.shape[0])
    for c, w in zip(centers, weights, strict=True):
        _, dist = nearest_centers(M * w, c * w, kernel)
        total += dist
    return total / len(members)


def _one_member(member, kernel, M, center, weight, member_score):
    if kernel == "euclidean":
        labels, dist = nearest_centers(M, center, kernel, weight)
    else:
        labels, dist = nearest_centers(M * weight, center * weight, kernel)
    if member_score == "local":
        return dist / member["radius"][labels]
    return dist


def member_scores(members, kernel, M, member_score="distance", centers=None, weights=None):
    """Every member's score of rows ``M``: an array (n_members, n_rows)."""
    centers = [m["centers"] for m in members] if centers is None else centers
    weights = [m["weights"] for m in members] if weights is None else weights
    out = np.empty((len(members), M.shape[0]))
    for b, member in enumerate(members):
        out[b] = _one_member(member, kernel, M, centers[b], weights[b], member_score)
    return out


def rank(scores, quantiles):
    """A member's ``scores`` as ranks in [0, 1] among its training scores
    (``quantiles``: their QUANTILE_POINTS quantiles). Past the largest
    training score the rank grows on linearly, by the training range, so
    that rows beyond every training row keep their order."""
    low, high = quantiles[0], quantiles[-1]
    ranks = np.interp(scores, quantiles, _PROBS)
    beyond = scores > high
    if beyond.any():
        ranks[beyond] = 1.0 + (scores[beyond] - high) / max(high - low, 1e-300)
    return ranks


def training_quantiles(scores):
    """The QUANTILE_POINTS quantiles of one member's training scores."""
    return np.quantile(scores, _PROBS)


def combine(S, members, rule, vote_quantile):
    """One score per row from the member scores ``S`` (n_members, n_rows)."""
    if rule == "mean":
        return S.mean(axis=0)
    if rule == "max":
        return S.max(axis=0)
    R = np.empty_like(S)
    for b, member in enumerate(members):
        R[b] = rank(S[b], member["quantiles"])
    if rule == "rank_mean":
        return R.mean(axis=0)
    if rule == "rank_max":
        return R.max(axis=0)
    # vote: every vote outweighs any tie-break (the mean rank, mapped into
    # less than one vote by r / (1 + r) / 2, row by row, so that a row's
    # score does not depend on the other rows of its batch)
    votes = np.zeros(S.shape[1])
    for b, member in enumerate(members):
        votes += S[b] > np.interp(vote_quantile, _PROBS, member["quantiles"])
    mean_rank = R.mean(axis=0)
    return (votes + mean_rank / (1.0 + mean_rank) / 2.0) / len(members)


def ensemble_score(ensemble, M, centers=None, weights=None):
    """The ensemble's score of rows ``M`` by its ``member_score`` and
    ``combine`` rule (``centers``, ``weights``: see :func:`member_distance`).
    The default, the mean distance, takes the one-pass stacked kernel."""
    members, kernel = ensemble.members_, ensemble.metric
    rule = getattr(ensemble, "combine", "mean")
    member_score = getattr(ensemble, "member_score", "distance")
    if rule == "mean" and member_score == "distance":
        return member_distance(members, kernel, M, centers, weights)
    S = member_scores(members, kernel, M, member_score, centers, weights)
    return combine(S, members, rule, getattr(ensemble, "vote_quantile", 0.9))
