from farout.demo import run_demo


def test_demo_finds_planted_fraud(tmp_path):
    result = run_demo(tmp_path / "out", n_rows=5000, random_state=3)
    assert result.metrics["roc_auc"] > 0.95
    assert result.metrics["recall"] > 0.7
    assert (result.top["is_fraud"] == 1).all()
    assert result.top["reason"].str.contains("typical").all()
    assert "ROC-AUC" in result.summary
