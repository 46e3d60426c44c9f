from farout.demo import run_demo


def test_demo_finds_planted_fraud(tmp_path):
    result = run_demo(tmp_path / "out", n_rows=5000, random_state=3)
    assert result.metrics["roc_auc"] > 0.95
    assert result.metrics["recall"] > 0.7
    assert (result.top["is_fraud"] == 1).all()
    assert result.top["reason"].str.contains("typical").all()
    assert "ROC-AUC" in result.summary


def test_demo_writes_flags_as_farout_score_does(tmp_path):
    result = run_demo(tmp_path / "out", n_rows=2000, random_state=3)
    with open(result.scored_path) as handle:
        text = handle.read()
    header, first = text.splitlines()[:2]
    assert header.startswith("row,") and "is_anomaly" in header
    assert ",true," in text or ",false," in text
    assert ",True," not in text and ",False," not in text
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["model.farout", "scored.csv"]
