"""The ensemble's options: members over k and feature subspaces, the local
member score, and the combination rules, each checked against a direct
NumPy computation, through the model file and through the command line."""

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from farout import KMeansAnomalyDetector, load
from farout.core.members import COMBINE_RULES, rank
from farout.ensemble import BaggedKMeans
from farout.exceptions import InputError, ModelFileError

OPTIONS = [
    {"n_clusters": (2, 32)},
    {"max_features": "bagging"},
    {"max_features": 0.5},
    {"max_features": "sqrt"},
    {"max_features": 2},
    {"member_score": "local"},
    {"clean": 0.1},
    *({"combine": rule} for rule in COMBINE_RULES),
    {"n_clusters": (2, 16), "max_features": "bagging", "member_score": "local", "combine": "vote"},
]


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(3)
    X = np.r_[rng.normal(size=(600, 6)), rng.normal(8, 1, size=(60, 6)) * [1, 1, 1, 0, 0, 0]]
    return X, np.r_[rng.normal(size=(200, 6)), [[9, -9, 9, 0, 0, 0]]]


def _by_hand(ensemble, X):
    """Every member's score by plain NumPy (weighted distance to the nearest
    centre; over that centre's radius for "local")."""
    out = []
    for m in ensemble.members_:
        d2 = (((X[:, None, :] - m["centers"][None]) * m["weights"]) ** 2).sum(axis=2)
        nearest = d2.argmin(axis=1)
        d = np.sqrt(d2[np.arange(X.shape[0]), nearest])
        out.append(d / m["radius"][nearest] if ensemble.member_score == "local" else d)
    return np.array(out)


def _combined_by_hand(ensemble, S):
    rule = ensemble.combine
    if rule in ("mean", "max"):
        return getattr(S, rule)(axis=0)
    R = np.array([rank(s, m["quantiles"]) for s, m in zip(S, ensemble.members_, strict=True)])
    if rule.startswith("rank_"):
        return getattr(R, rule[5:])(axis=0)
    votes = sum(
        s
        > np.interp(ensemble.vote_quantile, np.linspace(0, 1, len(m["quantiles"])), m["quantiles"])
        for s, m in zip(S, ensemble.members_, strict=True)
    )
    return votes / len(S)


@pytest.mark.parametrize(
    "options", OPTIONS, ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items())
)
def test_scores_match_a_direct_computation(data, options):
    X, X_new = data
    ensemble = BaggedKMeans(random_state=0, **options).fit(X)
    scores = ensemble.anomaly_score(X_new)
    expected = _combined_by_hand(ensemble, _by_hand(ensemble, X_new))
    if ensemble.combine == "vote":
        # the whole votes are the rule; the fraction of one vote breaks ties
        n = len(ensemble.members_)
        np.testing.assert_array_equal(np.floor(scores * n + 1e-9), np.rint(expected * n))
    else:
        np.testing.assert_allclose(scores, expected, rtol=1e-9, atol=1e-12)
    if len(options) == 1:  # each option alone still finds the planted row
        assert (scores > scores[-1]).sum() <= 5


def test_members_draw_k_from_the_range(data):
    ensemble = BaggedKMeans(n_clusters=(2, 32), random_state=0).fit(data[0])
    ks = [m["centers"].shape[0] for m in ensemble.members_]
    assert min(ks) >= 2 and max(ks) <= 32 and len(set(ks)) > 5


def test_a_subspace_member_ignores_the_features_it_does_not_see(data):
    X, X_new = data
    ensemble = BaggedKMeans(max_features=3, random_state=0).fit(X)
    for m in ensemble.members_:
        unseen = m["weights"] == 0
        assert unseen.sum() == 3 and (m["centers"][:, unseen] == 0).all()
        moved = X_new.copy()
        moved[:, unseen] += 100.0
        one = BaggedKMeans(max_features=3)
        one.members_, one.metric = [m], "euclidean"
        one.n_features_in_ = X.shape[1]
        np.testing.assert_allclose(one.anomaly_score(moved), one.anomaly_score(X_new), rtol=1e-12)


def test_without_cleaning_the_scores_are_those_of_0_2(data):
    """clean=0 with every other option at its default draws what 0.2 drew:
    the scores are the ones the code before cleaning printed for these rows
    (commit 210422a, whose numbers equal 0.2.0's: same_numbers.py), to the
    last bit."""
    X, X_new = data
    plain = BaggedKMeans(random_state=5, clean=0.0).fit(X)
    scores = plain.anomaly_score(X_new)
    assert float(scores.sum()).hex() == "0x1.325e45994cfd4p+9"
    assert scores[:3].tolist() == [3.8981193661406053, 2.2856792309305773, 1.643300105878365]
    # and the mean rule equals the mean of the members' own distances
    np.testing.assert_allclose(scores, _by_hand(plain, X_new).mean(axis=0), rtol=1e-9)


@pytest.mark.parametrize("options", OPTIONS[:7] + OPTIONS[-1:], ids=str)
def test_a_detector_keeps_its_ensemble_through_the_model_file(tmp_path, data, options):
    X, X_new = data
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(6)])
    new = pd.DataFrame(X_new, columns=frame.columns, index=np.arange(100, 100 + len(X_new)))
    det = KMeansAnomalyDetector(ensemble=BaggedKMeans(**options), random_state=0).fit(frame)
    det.save(tmp_path / "m.farout")
    back = load(tmp_path / "m.farout")

    def params(ensemble):  # the file holds a range as a list
        return {k: tuple(v) if isinstance(v, list) else v for k, v in ensemble.get_params().items()}

    assert params(back.ensemble) == params(det.ensemble)
    scores = det.score_samples(new)
    np.testing.assert_array_equal(back.score_samples(new), scores)
    # the raw-row fast path (DataFrame of numbers) and the encoded path agree
    encoded = det.ensemble_.anomaly_score(det.scorer_.encoder.encode(new)[0])
    np.testing.assert_allclose(-scores, encoded, rtol=1e-9)


@pytest.mark.parametrize(
    "options, named",
    [
        ({"n_clusters": (5, 2)}, "n_clusters"),
        ({"n_clusters": (2, 3, 4)}, "n_clusters"),
        ({"max_features": 0.0}, "max_features"),
        ({"max_features": "half"}, "max_features"),
        ({"max_features": True}, "max_features"),
        ({"member_score": "lof"}, "member_score"),
        ({"combine": "median"}, "combine"),
        ({"vote_quantile": 1.0}, "vote_quantile"),
        ({"clean": 0.5}, "clean"),
        ({"clean": "auto"}, "clean"),
        ({"metric": "cosine", "max_features": 0.5}, "max_features"),
    ],
)
def test_bad_options_are_named(data, options, named):
    with pytest.raises(InputError, match=named):
        BaggedKMeans(**options).fit(data[0])


def test_a_file_without_the_arrays_a_rule_needs_is_refused(data):
    state = BaggedKMeans(combine="rank_mean", random_state=0).fit(data[0]).get_state()
    state["arrays"] = {k: v for k, v in state["arrays"].items() if not k.endswith(".quantiles")}
    with pytest.raises(ModelFileError, match="quantiles"):
        BaggedKMeans.from_state(state)
    # a file of 0.2 (no radius) still loads for the default rules
    plain = BaggedKMeans(random_state=0).fit(data[0]).get_state()
    plain["arrays"] = {k: v for k, v in plain["arrays"].items() if not k.endswith(".radius")}
    assert BaggedKMeans.from_state(plain).anomaly_score(data[1]).shape == (201,)


def test_partial_fit_keeps_subspace_members_finite(data):
    X, X_new = data
    ensemble = BaggedKMeans(max_features="bagging", random_state=0).fit(X)
    ensemble.partial_fit(X_new)
    assert np.isfinite(ensemble.anomaly_score(X_new)).all()
    for m in ensemble.members_:
        assert (m["centers"][:, m["weights"] == 0] == 0).all()


def _farout(*args, cwd):
    return subprocess.run(
        [sys.executable, "-m", "farout", *args], capture_output=True, text=True, cwd=cwd
    )


def test_the_command_line_reaches_every_option(tmp_path, data):
    X, _ = data
    pd.DataFrame(X, columns=[f"f{i}" for i in range(6)]).to_csv(tmp_path / "d.csv", index=False)
    spec = (
        "n_clusters=2:16,max_features=bagging,member_score=local,combine=rank_max,n_estimators=10"
    )
    done = _farout("fit", "d.csv", "-o", "m.farout", "--ensemble", spec, "--quiet", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    ensemble = load(tmp_path / "m.farout").ensemble
    assert ensemble.n_estimators == 10 and ensemble.combine == "rank_max"
    assert tuple(ensemble.n_clusters) == (2, 16) and ensemble.member_score == "local"
    bad = _farout("fit", "d.csv", "-o", "x.farout", "--ensemble", "combin=max", cwd=tmp_path)
    assert bad.returncode == 2 and "combin=max" in bad.stderr and "combine" in bad.stderr
    assert not (tmp_path / "x.farout").exists()
    bad = _farout("fit", "d.csv", "-o", "x.farout", "--ensemble", "combine=median", cwd=tmp_path)
    assert bad.returncode == 2 and "combine must be one of" in bad.stderr


def test_consensus_cleaning_keeps_a_group_of_anomalies_out_of_the_members():
    """A tight group of 2% anomalies gets centres of its own in the members
    that sample enough of it; cleaning refits the members on rows outside
    the consensus's top 10%, so no final centre sits on the group and its
    scores rise. (A group so large that every member gives it a centre is
    masked from the consensus too: cleaning cannot see it.)"""
    rng = np.random.default_rng(0)
    normal = rng.normal(size=(2000, 3))
    group = rng.normal(4.0, 0.05, size=(40, 3))
    X = np.r_[normal, group]
    plain = BaggedKMeans(random_state=0, clean=0.0).fit(X)
    cleaned = BaggedKMeans(random_state=0, clean=0.1).fit(X)

    def near_group(ensemble):
        return sum(
            int((np.linalg.norm(m["centers"] - 4.0, axis=1) < 1.0).any()) for m in ensemble.members_
        )

    assert near_group(plain) > 0 and near_group(cleaned) == 0
    margin = cleaned.anomaly_score(group).mean() / np.median(cleaned.anomaly_score(normal))
    plain_margin = plain.anomaly_score(group).mean() / np.median(plain.anomaly_score(normal))
    assert margin > 2 * plain_margin


@pytest.mark.parametrize("rule", COMBINE_RULES)
def test_a_rows_score_does_not_depend_on_its_batch(data, rule):
    X, X_new = data
    ensemble = BaggedKMeans(combine=rule, random_state=0).fit(X)
    whole = ensemble.anomaly_score(X_new)
    alone = np.concatenate([ensemble.anomaly_score(X_new[i : i + 1]) for i in range(20)])
    np.testing.assert_allclose(alone, whole[:20], rtol=1e-12)
