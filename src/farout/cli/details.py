"""What each ``farout`` command's ``--help`` says beyond its one line: a
description and examples, by command name (plain data, so ``--help``
stays light)."""

__all__ = ["DETAILS"]

_SCORE_NOTE = (
    "Higher anomaly_score means more anomalous. The output holds every input "
    "column, then anomaly_score, is_anomaly (true/false), severity (the highest "
    "tier passed, or empty), cluster (the nearest) and reason (the features that "
    "make the row unusual, in numbers); with --confidence, then "
    "anomaly_probability and confidence."
)

DETAILS = {
    "fit": (
        "Learns what normal looks like from DATA (k-means clusters, the spread of "
        "each, a threshold on the training scores) and saves it as one model file "
        "(a zip of JSON and arrays; never pickled). Files larger than --sample-rows "
        "are fitted on a uniform sample, then refined over every row.",
        [
            "farout fit transactions.csv -o fraud.farout --exclude is_fraud",
            "farout fit big.parquet -o m.farout --k 8 --threshold percentile:99.5 \\\n"
            "    --tiers warning=percentile:99,critical=percentile:99.9",
        ],
    ),
    "score": (
        "Scores DATA block by block with the model and writes OUT; memory stays flat "
        "whatever the file size, and OUT appears only when complete. " + _SCORE_NOTE,
        [
            "farout score new.csv -m fraud.farout -o scored.parquet",
            "farout score - -m fraud.farout -o - < new.csv | head",
        ],
    ),
    "evaluate": (
        "Precision, recall, F1, ROC-AUC and PR-AUC of the model's flags and scores "
        "against a label column of DATA.",
        ["farout evaluate labelled.csv -m fraud.farout --label is_fraud --by merchant"],
    ),
    "threshold": (
        "Refits the model's cut on DATA for a target (cheapest by cost, a precision, "
        "a recall, or a false-alarm rate on normal rows) and saves the model again.",
        [
            "farout threshold val.csv -m fraud.farout -o tuned.farout --target cost "
            "--label is_fraud --fp-cost 50 --fn-cost 5000",
            "farout threshold normal.csv -m fraud.farout -o tuned.farout --target fpr --value 0.01",
        ],
    ),
    "explain": (
        "For the most anomalous rows of DATA (or the --rows chosen), the features "
        "that make each unusual, with its value, its cluster's typical value and "
        "the gap in the cluster's own spread.",
        [
            "farout explain new.csv -m fraud.farout -n 5",
            "farout explain new.csv -m fraud.farout --rows 17,204",
        ],
    ),
    "info": (
        "The model's parameters, threshold and tiers, what it flags, its columns and "
        "its clusters; from the file alone.",
        ["farout info fraud.farout"],
    ),
    "compare": (
        "Splits labelled DATA (by time, or stratified), fits farout and the baselines "
        "on the training part without its labels, and compares them on the rest.",
        ["farout compare labelled.csv --label is_fraud --exclude fraud_type --report cmp.html"],
    ),
    "report": (
        "A self-contained HTML page (no network) of the model on DATA: scores, "
        "clusters, reasons, with --label the metrics and curves, and with --audit a "
        "data audit of DATA first.",
        ["farout report new.csv -m fraud.farout -o report.html --label is_fraud"],
    ),
    "stream": (
        "Processes DATA row by row in arrival order with an online detector: each "
        "row is scored by the model as it stood before it, then learned from "
        "(k-means with forgetting; flagged rows do not train it). Adds "
        "anomaly_score, anomaly_likelihood (0 to 1: how unusual the recent scores "
        "are for this stream), is_anomaly, severity, cluster and reason. To - each "
        "line is written as soon as it is processed. --entity-column adds each row's "
        "entity's event count, time since its last event, and each value against the "
        "entity's own running mean and spread.",
        [
            "farout stream metrics.csv -o scored.csv --time-column timestamp",
            "tail -f app.csv | farout stream - -o - --time-column ts --save-state s.farout",
            "farout stream more.csv -m s.farout -o more-scored.csv   # resume",
            "farout stream pay.csv -o o.csv --time-column ts --entity-column customer --calendar",
        ],
    ),
    "audit": (
        "A data-quality report before anything is fitted: every column's type, "
        "missing share, distinct values, most common value and min / median / max; "
        "exact duplicate rows; suspect values (codes such as -999 or 9999 beyond the "
        "robust range, text among numbers, stray negatives) to clean rather than "
        "learn; with --time-column unparseable, duplicate and out-of-order "
        "timestamps and gaps; with --label the anomaly share and whether it is "
        "enough to evaluate on. Row numbers are 0-based data rows (row 0 is line 2 "
        "of a CSV file).",
        [
            "farout audit history.csv --time-column timestamp --label is_fraud",
            "farout audit history.csv --json | jq .suspects",
            "farout audit sensors.parquet --range temperature=-50:60",
        ],
    ),
    "tune": (
        "Chooses the detector's parameters (k or k-range, metric, score mode, scaling, "
        "the ensemble's size and sample) by cross-validation on a validation split "
        "of labelled DATA: --budget candidates, the default always among them, "
        "judged by --metric against --label (the detectors never see the labels). "
        "The test split (the last --test-size of the time order with --time-column, "
        "else stratified) is read only once the choice is made, to score the chosen "
        "configuration beside the default. A winner inside the fold noise is no "
        "winner: the default is kept, with a warning. Writes the chosen model, "
        "fitted on the training and validation rows; its file records the search "
        "(farout info shows it).",
        [
            "farout tune labelled.csv --label is_fraud --exclude fraud_type -o tuned.farout",
            "farout tune metrics.csv --label incident --time-column ts --budget 40 "
            "--metric precision_at_budget --alert-rate 0.005 -o tuned.farout",
        ],
    ),
    "demo": (
        "Generates card transactions with planted fraud, fits a model, scores and "
        "evaluates it, and writes the model and the scored rows under --out.",
        ["farout demo --out farout-demo"],
    ),
}
