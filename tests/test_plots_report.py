"""Plots (headless Figures) and the HTML report."""

import base64
import io
import json
import re
from html.parser import HTMLParser

import matplotlib.colors
import matplotlib.image
import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from farout import KMeansAnomalyDetector, plots
from farout.datasets import make_transactions
from farout.evaluation import evaluate
from farout.report import model_report
from farout.thresholds import Percentile


@pytest.fixture(scope="module")
def fitted():
    data = make_transactions(3000, random_state=7)
    data["when"] = pd.date_range("2025-01-01", periods=len(data), freq="min")
    X = data.drop(columns=["is_fraud", "fraud_type", "when"])
    det = KMeansAnomalyDetector(
        threshold=Percentile(97),
        tiers={"warning": Percentile(97), "critical": Percentile(99.5)},
        random_state=0,
    ).fit(X)
    return det, data, X


def test_every_plot_is_a_figure(fitted):
    det, data, X = fitted
    scores = det.anomaly_score(X)
    flags = det.predict(X) == -1
    metrics = evaluate(data["is_fraud"], scores, flags=flags)
    figures = [
        plots.score_histogram(scores, det.threshold_, det.tiers_),
        plots.roc_curves(data["is_fraud"], {"farout": scores, "noise": np.arange(len(scores))}),
        plots.pr_curves(data["is_fraud"], scores),
        plots.confusion_matrix_plot(metrics["confusion_matrix"]),
        plots.k_selection_curve(det.k_selection_, det.n_clusters_),
        plots.cluster_view(det, X, max_points=500),
        plots.contribution_bars(det, X.iloc[[int(np.argmax(scores))]]),
        plots.score_over_time(data["when"], scores, flags),
    ]
    for fig in figures:
        assert isinstance(fig, Figure)
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png")
        assert buffer.getvalue()[:8] == b"\x89PNG\r\n\x1a\n"


def test_roc_plot_labels_each_detector_with_its_area(fitted):
    det, data, X = fitted
    fig = plots.roc_curves(data["is_fraud"], {"farout": det.anomaly_score(X)})
    label = fig.axes[0].get_legend().get_texts()[0].get_text()
    auc = evaluate(data["is_fraud"], det.anomaly_score(X))["roc_auc"]
    assert label == f"farout ({auc:.3f})"


def test_contribution_bars_show_the_top_feature(fitted):
    det, _, X = fitted
    row = X.iloc[[int(np.argmax(det.anomaly_score(X)))]]
    fig = plots.contribution_bars(det, row, top=3)
    names = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    top = det.feature_contributions(row).iloc[0].abs().idxmax()
    assert names[-1] == top and len(names) == 3


class _Images(HTMLParser):
    def __init__(self):
        super().__init__()
        self.images, self.metrics, self._metric = [], {}, None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "img":
            self.images.append(attrs["src"])
        self._metric = attrs.get("data-metric")

    def handle_data(self, data):
        if self._metric:
            self.metrics[self._metric] = data
            self._metric = None


def _parse(page):
    parser = _Images()
    parser.feed(page)
    return parser


def test_report_is_self_contained_and_images_decode(fitted):
    det, data, _ = fitted
    page = model_report(det, data, label="is_fraud", time_column="when", fp_cost=50, fn_cost=5000)
    parsed = _parse(page)
    assert len(parsed.images) == 7  # k, histogram, clusters, ROC, PR, confusion, time
    for src in parsed.images:
        assert src.startswith("data:image/png;base64,")
        image = matplotlib.image.imread(io.BytesIO(base64.b64decode(src.split(",", 1)[1])))
        assert image.ndim == 3
    assert not re.search(r"(src|href)=\"https?:", page)
    for heading in (
        "The model",
        "Choosing k",
        "Score distribution",
        "Clusters",
        "most anomalous rows",
        "Against the labels",
        "Cost-optimal threshold",
        "Over time",
    ):
        assert heading in page


def test_report_numbers_match_evaluate_cli(fitted, tmp_path):
    import subprocess
    import sys

    det, data, _ = fitted
    model, csv = tmp_path / "m.farout", tmp_path / "d.csv"
    det.save(model)
    data.drop(columns="when").to_csv(csv, index=False)

    def run(*a):
        return subprocess.run(
            [sys.executable, "-m", "farout.cli", *map(str, a)],
            capture_output=True,
            text=True,
        )

    report = run(
        "report",
        csv,
        "-m",
        model,
        "--label",
        "is_fraud",
        "--fp-cost",
        "50",
        "--fn-cost",
        "5000",
        "-o",
        tmp_path / "r.html",
    )
    assert report.returncode == 0, report.stderr
    metrics = json.loads(run("evaluate", csv, "-m", model, "--label", "is_fraud", "--json").stdout)
    shown = _parse((tmp_path / "r.html").read_text()).metrics
    for key in ("precision", "recall", "f1", "roc_auc", "pr_auc", "precision_at_n", "alert_rate"):
        assert float(shown[key]) == pytest.approx(metrics[key], abs=5e-5), key
    for key in ("tp", "fp", "fn", "tn"):
        assert int(shown[key].replace(",", "")) == metrics[key]


def test_cost_optimal_section_matches_the_threshold_object(fitted):
    from farout.thresholds import CostOptimal

    det, data, _ = fitted
    page = model_report(det, data, label="is_fraud", fp_cost=50, fn_cost=5000)
    shown = _parse(page).metrics
    scores = det.anomaly_score(data[list(det.feature_names_in_)])
    best = CostOptimal(fp_cost=50, fn_cost=5000).fit(scores, y=data["is_fraud"])
    assert float(shown["cost_optimal_cut"]) == pytest.approx(best.cut_, abs=5e-5)
    assert float(shown["cost_optimal_cost"].replace(",", "")) == best.expected_cost_


def test_compare_report_from_cli(tmp_path):
    import subprocess
    import sys

    csv = tmp_path / "d.csv"
    make_transactions(2000, random_state=8).drop(columns="fraud_type").to_csv(csv, index=False)
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "farout.cli",
            "compare",
            str(csv),
            "--label",
            "is_fraud",
            "--baselines",
            "zscore",
            "--report",
            str(tmp_path / "c.html"),
        ],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr
    parsed = _parse((tmp_path / "c.html").read_text())
    assert len(parsed.images) == 2


class _Tables(HTMLParser):
    """Each table as a list of rows of (tag, class, text) cells, and each
    img's attributes."""

    def __init__(self):
        super().__init__()
        self.tables, self.images, self._cell = [], [], None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self._cell = [tag, attrs.get("class") or "", ""]
        elif tag == "img":
            self.images.append(attrs)

    def handle_data(self, data):
        if self._cell is not None:
            self._cell[2] += data

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self.tables[-1][-1].append(tuple(self._cell))
            self._cell = None


def _tables(page):
    parser = _Tables()
    parser.feed(page)
    return parser


def _columns(table):
    """{header: [(class, text) of each body cell]} of a table with a header row."""
    header, *body = table
    return {h[2]: [row[i][1:] for row in body] for i, h in enumerate(header)}


def _alignment(page, cls):
    """The text-align a td of class ``cls`` gets from the page's style (the
    last rule that matches; the class rules come after the td one)."""
    style = re.search(r"<style>(.*?)</style>", page, re.S).group(1)
    align = None
    for selectors, body in re.findall(r"([^{}]+)\{([^}]*)\}", style):
        selectors = {s.strip() for s in selectors.split(",")}
        match = re.search(r"text-align:\s*(\w+)", body)
        if match and selectors & {"td", f".{cls}", f"td.{cls}"}:
            align = match.group(1)
    return align


def _by_header(page, name):
    return next(c for c in map(_columns, _tables(page).tables[1:]) if name in c)


def test_report_tables_align_text_left_and_numbers_right(fitted):
    det, data, _ = fitted
    page = model_report(det, data)
    top = _by_header(page, "reason")
    for name, side in (("reason", "left"), ("severity", "left"), ("score", "right")):
        for cls, _ in top[name]:
            assert _alignment(page, cls) == side, name
    clusters = _by_header(page, "training rows")
    for cls, _ in clusters["training rows"] + clusters["alert rate"]:
        assert _alignment(page, cls) == "right"


def test_report_counts_have_thousands_separators(fitted):
    det, data, _ = fitted
    clusters = _by_header(model_report(det, data), "training rows")
    counts = [text for _, text in clusters["training rows"] + clusters["rows here"]]
    assert all(re.fullmatch(r"\d{1,3}(,\d{3})*", c) for c in counts), counts
    assert any("," in c for c in counts)  # the fixture has a cluster of over 1,000 rows


def test_cluster_view_colours_and_names_every_cluster(fitted):
    det, _, X = fitted
    ax = plots.cluster_view(det, X).axes[0]
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    named = [label.split(" ")[0] for label in labels[: det.n_clusters_]]
    assert sorted(named) == [str(c) for c in range(det.n_clusters_)]
    assert labels[det.n_clusters_].startswith("flagged")
    colours = [tuple(c.get_facecolor()[0][:3]) for c in ax.collections[: det.n_clusters_]]
    assert len(set(colours)) == det.n_clusters_
    assert set(colours) <= set(matplotlib.colormaps["tab10"].colors)


def test_cluster_view_groups_small_clusters_beyond_eighteen(fitted):
    _, _, X = fitted
    det = KMeansAnomalyDetector(n_clusters=25, random_state=0).fit(X)
    ax = plots.cluster_view(det, X).axes[0]
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels[18].startswith("7 other clusters")
    colours = {tuple(c.get_facecolor()[0][:3]) for c in ax.collections[:18]}
    assert len(colours) == 18 and matplotlib.colors.to_rgb("#c8c8c8") not in colours


def test_report_scatter_title_counts_every_row_scored(fitted, monkeypatch):
    det, data, _ = fitted
    titles, draw = [], plots.cluster_view

    def recording(*args, **kwargs):
        fig = draw(*args, **kwargs)
        titles.append(fig.axes[0].get_title())
        return fig

    monkeypatch.setattr(plots, "cluster_view", recording)
    page = model_report(det, data, max_plot_rows=1_000)
    assert titles == ["Clusters (1,000 of 3,000 rows, a random sample)"]
    assert "random sample of 1,000 of the 3,000 rows scored" in page


def test_report_plots_fill_the_content_width(fitted):
    det, data, _ = fitted
    page = model_report(det, data, label="is_fraud")
    assert re.search(r"img\.plot \{[^}]*\bwidth: 100%", page)
    images = _tables(page).images
    assert images and all(i.get("class") == "plot" for i in images)
    body = re.sub(r'<div class="row">.*?</div>', "", page, flags=re.S)
    for src in _parse(body).images:  # the full-width ones, not those side by side
        image = matplotlib.image.imread(io.BytesIO(base64.b64decode(src.split(",", 1)[1])))
        assert image.shape[1] >= 1000


def test_report_notes_k_at_the_top_of_k_range(fitted):
    _, data, X = fitted
    det = KMeansAnomalyDetector(k_range=(2, 4), random_state=0).fit(X)
    assert det.n_clusters_ == 4  # the silhouette's best k on (2, 10), so the top here
    page = model_report(det, data)
    assert 'data-note="k-at-top"' in page and "k_range=(2, 8)" in page


def test_report_no_k_note_inside_the_range_or_for_a_fixed_k(fitted):
    det, data, X = fitted
    assert det.k_range == (2, 10) and det.n_clusters_ < 10
    assert "k-at-top" not in model_report(det, data)
    fixed = KMeansAnomalyDetector(n_clusters=10, random_state=0).fit(X)
    assert "k-at-top" not in model_report(fixed, data)
