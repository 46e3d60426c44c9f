"""What a new user tripped over in 0.2.0 (issue 16): each case fails on the
0.2.0 code and is refused here with exit 2 and one line on stderr, with
nothing of the user's lost."""

import os
import signal
import subprocess
import sys
import time
import zipfile

import numpy as np
import pandas as pd
import pytest

from farout import KMeansAnomalyDetector, ModelFileError, load
from farout.cli import main
from farout.exceptions import InputError
from farout.jobs import score_file
from farout.thresholds import Percentile


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("new-user")
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(3000, 4)), columns=["f00", "f01", "f02", "f03"])
    frame.to_csv(folder / "small.csv", index=False)
    frame.to_parquet(folder / "small.parquet")
    KMeansAnomalyDetector(3, random_state=0).fit(frame).save(folder / "m.farout")
    KMeansAnomalyDetector(3, missing="impute", random_state=0).fit(frame).save(
        folder / "impute.farout"
    )
    return folder


def refused(capsys, *args):
    """Run the CLI in-process; the one stderr line of a refusal (exit 2)."""
    code = main([str(a) for a in args])
    err = capsys.readouterr().err
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1, err
    return err


def test_output_naming_the_input_is_refused_and_the_input_kept(files, tmp_path, capsys):
    src = tmp_path / "data.csv"
    src.write_bytes((files / "small.csv").read_bytes())
    before = src.read_bytes()
    err = refused(capsys, "score", src, "-m", files / "m.farout", "-o", src)
    assert "is also the input" in err
    # another spelling of the same file, and fit -o over its own data
    refused(capsys, "score", src, "-m", files / "m.farout", "-o", tmp_path / "." / "data.csv")
    refused(capsys, "fit", src, "-o", src)
    assert src.read_bytes() == before
    with pytest.raises(InputError, match="is also the input"):
        score_file(load(files / "m.farout"), str(src), str(src))


def test_sigterm_during_score_leaves_no_temporary_file(files, tmp_path):
    out = tmp_path / "out.csv"
    proc = subprocess.Popen(
        [sys.executable, "-m", "farout.cli", "score", "-", "-m", files / "m.farout", "-o", out],
        stdin=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        # the job reads standard input, which stays open: it is mid-run
        proc.stdin.write((files / "small.csv").read_bytes())
        proc.stdin.flush()
        deadline = time.monotonic() + 60
        while not any(p.name.endswith(".part") for p in tmp_path.iterdir()):
            assert time.monotonic() < deadline, "the job never opened its output"
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 128 + signal.SIGTERM
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdin.close()
        proc.stderr.close()
    assert list(tmp_path.iterdir()) == []


def test_a_byte_order_mark_is_not_part_of_the_first_name(files, tmp_path, capsys):
    bom = tmp_path / "bom.csv"
    bom.write_bytes(b"\xef\xbb\xbf" + (files / "small.csv").read_bytes())
    plain_out, bom_out = tmp_path / "plain.csv", tmp_path / "bom-scored.csv"
    assert (
        main(
            ["score", str(files / "small.csv"), "-m", str(files / "m.farout"), "-o", str(plain_out)]
        )
        == 0
    )
    assert main(["score", str(bom), "-m", str(files / "m.farout"), "-o", str(bom_out)]) == 0
    assert bom_out.read_bytes() == plain_out.read_bytes()  # the mark is not copied either
    # and the reverse: a model fitted on the BOM file scores the plain one
    assert main(["fit", str(bom), "-o", str(tmp_path / "bom.farout"), "-q"]) == 0
    assert list(load(tmp_path / "bom.farout").feature_names_in_) == ["f00", "f01", "f02", "f03"]
    capsys.readouterr()


@pytest.mark.parametrize("model", ["m.farout", "impute.farout"])
@pytest.mark.parametrize("damage", ["cut", "ragged"])
def test_a_truncated_or_ragged_row_is_named_whatever_the_missing_policy(
    files, tmp_path, capsys, model, damage
):
    lines = (files / "small.csv").read_text().splitlines()
    if damage == "cut":  # a file cut off after a comma, mid-row
        text = "\n".join(lines[:1201]) + "\n" + lines[1201].rsplit(",", 1)[0]
        row, fields = 1200, 3  # lines[0] is the header
    else:  # one short line in the middle
        lines[11] = ",".join(lines[11].split(",")[:2])
        text, row, fields = "\n".join(lines) + "\n", 10, 2
    src = tmp_path / f"{damage}.csv"
    src.write_text(text)
    err = refused(capsys, "score", src, "-m", files / model, "-o", tmp_path / "out.csv")
    assert f"row {row} (line {row + 2} of the file) has {fields} of the header's 4 fields" in err
    assert "truncated" in err
    assert list(tmp_path.iterdir()) == [src]


def test_an_empty_last_field_is_still_a_missing_value(files, tmp_path):
    frame = pd.read_csv(files / "small.csv")
    frame.loc[5, "f03"] = np.nan
    src = tmp_path / "gap.csv"
    frame.to_csv(src, index=False)
    det = load(files / "impute.farout")
    score_file(det, str(src), str(tmp_path / "out.csv"), progress=False)
    got = pd.read_csv(tmp_path / "out.csv")
    np.testing.assert_array_equal(got["anomaly_score"], det.anomaly_score(frame))


def test_tiers_out_of_order_name_both(files, capsys):
    err = refused(
        capsys,
        "fit", files / "small.csv", "-o", "never-written.farout", "-q",
        "--tiers", "warning=percentile:99,critical=percentile:95",
    )  # fmt: skip
    assert "tiers out of order: 'critical'" in err and "'warning' before it" in err
    assert not os.path.exists("never-written.farout")
    frame = pd.read_csv(files / "small.csv")
    with pytest.raises(InputError, match="'b' flags .* more than 'a' before it"):
        KMeansAnomalyDetector(3, tiers={"a": Percentile(99), "b": Percentile(90)}).fit(frame)
    fitted = KMeansAnomalyDetector(3, tiers={"a": Percentile(90), "b": Percentile(99)}).fit(frame)
    assert set(fitted.severity(frame).dropna()) == {"a", "b"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("score", "DATA", "-m", "MODEL", "-o", "OUT", "--chunksize", "0"), "chunksize"),
        (("score", "DATA", "-m", "MODEL", "-o", "OUT", "--chunksize", "-5"), "chunksize"),
        (("explain", "DATA", "-m", "MODEL", "-n", "0"), "-n must be at least 1"),
    ],
)
def test_sizes_that_cannot_work_are_refused(files, tmp_path, capsys, args, message):
    names = {"DATA": files / "small.csv", "MODEL": files / "m.farout", "OUT": tmp_path / "o.csv"}
    err = refused(capsys, *(names.get(a, a) for a in args))
    assert message in err and "sample(s)" not in err
    assert list(tmp_path.iterdir()) == []


def test_a_damaged_model_file_is_named_as_damaged(files, tmp_path, capsys):
    data = bytearray((files / "m.farout").read_bytes())
    with zipfile.ZipFile(files / "m.farout") as archive:
        info = archive.getinfo("manifest.json")
    start = info.header_offset + 30 + len(info.filename) + len(info.extra) + 10
    data[start : start + 20] = bytes(b ^ 0xFF for b in data[start : start + 20])
    bad = tmp_path / "bad.farout"
    bad.write_bytes(bytes(data))
    for args in (
        ("info", bad),
        ("score", files / "small.csv", "-m", bad, "-o", tmp_path / "o.csv"),
    ):
        err = refused(capsys, *args)
        assert f"{bad}: the model file is damaged" in err
    with pytest.raises(ModelFileError, match="damaged"):
        load(bad)


def test_a_file_of_another_format_says_so(files, tmp_path, capsys):
    err = refused(
        capsys, "score", files / "small.parquet", "--format", "csv", "-m", files / "m.farout",
        "-o", tmp_path / "o.csv",
    )  # fmt: skip
    assert "is a Parquet file, not CSV" in err
    err = refused(
        capsys, "fit", files / "small.parquet", "--format", "csv", "-o", tmp_path / "m.farout"
    )
    assert "is a Parquet file, not CSV" in err
    latin = tmp_path / "latin.csv"
    latin.write_bytes("température,f01\n1,2\n".encode("latin-1"))
    err = refused(capsys, "fit", latin, "-o", tmp_path / "m.farout")
    assert "the header line is not UTF-8 text" in err


def test_fit_into_a_missing_folder_says_what_score_says(files, tmp_path, capsys):
    missing = tmp_path / "nodir"
    fit_err = refused(capsys, "fit", files / "small.csv", "-o", missing / "m.farout", "-q")
    score_err = refused(
        capsys, "score", files / "small.csv", "-m", files / "m.farout", "-o", missing / "o.csv"
    )
    assert f"the folder {missing} does not exist" in fit_err
    assert f"the folder {missing} does not exist" in score_err
    assert ".farout-" not in fit_err


def test_explain_and_report_outputs_are_written_whole(files, tmp_path, capsys):
    out, page = tmp_path / "explained.csv", tmp_path / "report.html"
    assert (
        main(["explain", str(files / "small.csv"), "-m", str(files / "m.farout"), "-o", str(out)])
        == 0
    )
    assert (
        main(["report", str(files / "small.csv"), "-m", str(files / "m.farout"), "-o", str(page)])
        == 0
    )
    capsys.readouterr()
    table = pd.read_csv(out)
    assert table.columns[0] == "row" and len(table) == 10
    assert page.read_text(encoding="utf-8").lstrip().lower().startswith("<!doctype html")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["explained.csv", "report.html"]


def test_messages_show_plain_numbers_not_numpy_reprs(files):
    det = load(files / "m.farout")
    frame = pd.read_csv(files / "small.csv")
    frame.index = frame.index.to_numpy(dtype=np.int64)  # an index of NumPy ints
    frame.iloc[5, 1] = 1e308
    with pytest.raises(InputError) as caught:
        det.anomaly_score(frame)
    assert "at row 5 holds 1e+308" in str(caught.value) and "np." not in str(caught.value)
    from farout.features.labels import as_anomaly_labels

    with pytest.raises(InputError, match=r"got the values 0\.0, 1\.0, 2\.0\.") as caught:
        as_anomaly_labels(np.array([0, 1, 2]))
    with pytest.raises(InputError, match=r"strictly between 0 and 100, got 0\.0\.$"):
        Percentile(np.float64(0.0)).fit(np.arange(10.0), np.zeros(10, int), 1)


@pytest.mark.parametrize(("sep", "flag"), [(";", ";"), ("\t", "\\t")])
def test_another_delimiter_is_named_and_read_with_sep(files, tmp_path, capsys, sep, flag):
    frame = pd.read_csv(files / "small.csv")
    frame["city"] = "Zürich"  # a text column the model does not use
    src = tmp_path / "other.csv"
    frame.to_csv(src, index=False, sep=sep)
    model = files / "m.farout"
    err = refused(capsys, "score", src, "-m", model, "-o", tmp_path / "o.csv")
    assert f"seems to use {flag!r} between fields: pass --sep '{flag}'" in err
    err = refused(capsys, "fit", src, "-o", tmp_path / "x.farout", "-q")
    assert "--sep" in err
    err = refused(capsys, "evaluate", src, "-m", model, "--label", "f00")
    assert "--sep" in err
    # with --sep the file scores as its comma-separated twin does
    comma = tmp_path / "comma.csv"
    frame.to_csv(comma, index=False)
    got, want = tmp_path / "got.csv", tmp_path / "want.csv"
    assert main(["score", str(src), "--sep", flag, "-m", str(model), "-o", str(got)]) == 0
    assert main(["score", str(comma), "-m", str(model), "-o", str(want)]) == 0
    capsys.readouterr()
    # the same table (the comma file's lines are spliced, the other's rewritten)
    pd.testing.assert_frame_equal(pd.read_csv(got), pd.read_csv(want))
    assert ",false," in got.read_text() and ",False," not in got.read_text()  # one spelling
    assert main(["fit", str(src), "--sep", flag, "-o", str(tmp_path / "s.farout"), "-q",
                 "--exclude", "city"]) == 0  # fmt: skip
    fitted = load(tmp_path / "s.farout")
    assert list(fitted.feature_names_in_) == ["f00", "f01", "f02", "f03"]


def test_info_and_report_follow_a_refitted_threshold(files, tmp_path, capsys):
    from farout.report import model_report
    from farout.thresholds import FalsePositiveRate

    frame = pd.read_csv(files / "small.csv")
    det = load(files / "m.farout").fit_threshold(frame, threshold=FalsePositiveRate(0.2))
    det.save(tmp_path / "refitted.farout")
    assert main(["info", str(tmp_path / "refitted.farout")]) == 0
    out = capsys.readouterr().out
    assert "flags 20.00% of the 3,000 rows the threshold was fitted on" in out
    assert "1.00% flagged" not in out  # the training cut's rate is gone with it
    page = model_report(load(tmp_path / "refitted.farout"), frame)
    assert "flags 20.00% of the 3,000 rows the threshold was fitted on" in page


def test_info_says_how_many_rows_were_trimmed(files, capsys):
    det = load(files / "m.farout")
    assert main(["info", str(files / "m.farout")]) == 0
    out = capsys.readouterr().out
    trimmed = len(det.trimmed_)
    assert trimmed > 0
    assert f"{trimmed:,} of them kept out of the clustering as suspect" in out
    assert f"{int(det.cluster_sizes_.sum()):,} in all" in out
    assert int(det.cluster_sizes_.sum()) + trimmed == 3000


def test_scoring_other_data_warns_with_both_rates(files, tmp_path, capsys):
    rng = np.random.default_rng(1)
    other = pd.DataFrame(rng.normal(5, 3, size=(3000, 4)), columns=["f00", "f01", "f02", "f03"])
    other.to_csv(tmp_path / "other.csv", index=False)
    model = str(files / "m.farout")
    assert (
        main(["score", str(tmp_path / "other.csv"), "-m", model, "-o", str(tmp_path / "o.csv")])
        == 0
    )
    err = capsys.readouterr().err
    assert "farout: warning:" in err and "where the threshold flags 1.00% of the 3,000" in err
    assert (
        main(["score", str(files / "small.csv"), "-m", model, "-o", str(tmp_path / "s.csv")]) == 0
    )
    assert "warning" not in capsys.readouterr().err  # its own kind of data: no word


def test_every_option_has_help_and_every_command_an_example(capsys):
    import argparse

    from farout.cli.arguments import build_parser

    parser = build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    assert set(commands.choices) >= {"fit", "score", "evaluate", "threshold", "explain", "info"}
    for name, command in commands.choices.items():
        for action in command._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            assert action.help, f"farout {name} {action.option_strings or action.dest}: no help"
        assert command.description and len(command.description) > 60, name
        assert command.epilog.startswith("examples:\n  farout " + name), name
    score_help = commands.choices["score"].format_help()
    assert "Higher anomaly_score means more anomalous" in score_help
    for column in ("anomaly_score", "is_anomaly", "severity", "cluster", "reason"):
        assert column in score_help


def test_an_unknown_flag_shows_the_subcommands_usage(capsys):
    with pytest.raises(SystemExit) as caught:
        main(["score", "data.csv", "-m", "m.farout", "-o", "o.csv", "--bogus"])
    assert caught.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: farout score")
    assert "farout score: error: unrecognized arguments: --bogus" in err


def test_one_text_value_in_a_numeric_column_is_named(tmp_path, capsys):
    rng = np.random.default_rng(0)
    big = pd.DataFrame(rng.normal(size=(300_000, 4)), columns=["f00", "f01", "f02", "f03"])
    big = big.astype({"f03": object})
    big.loc[250_000, "f03"] = "abc"
    big.to_csv(tmp_path / "big.csv", index=False)
    err = refused(capsys, "fit", tmp_path / "big.csv", "-o", tmp_path / "m.farout", "-q")
    assert "column 'f03' holds numbers except at 1 row(s), the first row 250000 with 'abc'" in err
    assert "DtypeWarning" not in err
    # a small file reads the column as text: taken as categorical, and said so
    small = big.iloc[:50].copy()
    small.loc[20, "f03"] = "oops"
    small.to_csv(tmp_path / "small.csv", index=False)
    assert main(["fit", str(tmp_path / "small.csv"), "-o", str(tmp_path / "s.farout"), "-q"]) == 0
    err = capsys.readouterr().err
    assert err.startswith("farout: warning: column 'f03' holds numbers except at 1 row(s)")
    assert "taken as categorical" in err and len(err.strip().splitlines()) == 1


def test_evaluate_by_a_continuous_column_bins_it():
    from farout.evaluation import evaluate_by

    rng = np.random.default_rng(0)
    amount = pd.Series(rng.lognormal(3, 1, 5000), name="amount")
    y = rng.random(5000) < 0.05
    scores = rng.random(5000) + y
    table = evaluate_by(y, scores, amount)
    assert len(table) == 10 and table["n"].sum() == 5000
    assert all(str(name).startswith("(") for name in table.index)
    # a column of few values keeps one group per value
    assert len(evaluate_by(y, scores, pd.Series(rng.integers(0, 3, 5000)))) == 3


# 17: the command line imports what the command needs, when it runs.
_HEAVY = ("sklearn", "pandas", "scipy", "matplotlib", "numba", "pyarrow", "dask", "distributed")


def _modules_after(code):
    """The heavy libraries imported once ``code`` (Python) has run, in a
    fresh interpreter."""
    probe = f"import sys\n{code}\nprint(sorted({{m.split('.')[0] for m in sys.modules}}))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    loaded = eval(done.stdout.strip().splitlines()[-1])
    return [name for name in _HEAVY if name in loaded]


@pytest.mark.parametrize(
    "argv",
    [
        ["--help"],
        ["--version"],
        ["score", "--help"],
        ["fit", "--help"],
        ["audit", "--help"],
        ["tune", "--help"],
        ["info", "MODEL"],
    ],
)
def test_help_version_and_info_import_no_heavy_library(files, argv):
    argv = [str(files / "m.farout") if a == "MODEL" else a for a in argv]
    code = (
        "from farout.cli import main\n"
        "try:\n"
        f"    code = main({argv!r})\n"
        "except SystemExit as exc:\n"
        "    code = exc.code\n"
        "assert code == 0, code"
    )
    assert _modules_after(code) == []


def test_import_farout_is_light_and_its_names_load_on_use():
    assert _modules_after("import farout") == []
    assert "sklearn" in _modules_after("import farout; farout.KMeansAnomalyDetector")
    import farout

    assert farout.load is load
    assert farout.KMeansAnomalyDetector is KMeansAnomalyDetector
    assert set(farout.__all__) <= set(dir(farout))
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        farout.nope  # noqa: B018


def test_version_is_the_installed_one(capsys):
    from importlib.metadata import version

    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out == f"farout {version('farout')}\n"


def _compat_models():
    folder = os.path.join(os.path.dirname(__file__), "data", "models-0.2.0")
    return sorted(os.path.join(folder, f) for f in os.listdir(folder) if f.endswith(".farout"))


@pytest.mark.parametrize("path", _compat_models(), ids=os.path.basename)
def test_info_from_the_file_matches_the_loaded_model(path, capsys):
    """info reads the state tree alone; what it prints is what the model,
    rebuilt, says of itself (0.2.0 files included)."""
    det = load(path)
    assert main(["info", path]) == 0
    out = capsys.readouterr().out
    assert f"k={det.n_clusters_} " in out
    assert f"threshold  {det.threshold_!r}, cut {det.threshold_.cut_:.4g};" in out
    for name, tier in det.tiers_:
        assert f"{name} > {tier.cut_:.4g}" in out
    table = out.split("in all):\n")[1].splitlines()[1:]
    assert len(table) == det.n_clusters_
    for j, line in enumerate(table):
        cluster, rows, sigma = line.split()
        assert int(cluster) == j
        assert int(rows.replace(",", "")) == int(det.cluster_sizes_[j])
        assert float(sigma) == pytest.approx(det.cluster_sigma_[j], rel=1e-3)
    for column in det.feature_schema():
        assert f"  {column['name']:<24} {column['kind']:<12}" in out


def test_info_on_a_secondary_check_file_says_what_it_holds(tmp_path, capsys):
    from farout import SecondaryCheck

    X = np.random.default_rng(0).normal(size=(200, 3))
    SecondaryCheck(KMeansAnomalyDetector(2, random_state=0)).fit(X).save(tmp_path / "s.farout")
    line = refused(capsys, "info", tmp_path / "s.farout")
    assert "SecondaryCheck" in line and "KMeansAnomalyDetector" in line


# 18: evaluate shows its progress.
def test_evaluate_scores_in_blocks_to_the_same_table(files, monkeypatch):
    from farout.cli import commands

    frame = pd.read_csv(files / "small.csv")
    det = load(files / "m.farout")
    monkeypatch.setattr(commands, "_PROGRESS_ROWS", 700)  # 5 blocks
    blocks = commands.detect_with_progress(det, frame, quiet=True)
    pd.testing.assert_frame_equal(blocks, det.detect(frame, reasons="none"))


def test_evaluate_shows_a_progress_bar_on_a_terminal(files, tmp_path):
    import fcntl
    import pty
    import struct
    import termios

    frame = pd.read_csv(files / "small.csv")
    frame["label"] = (np.arange(len(frame)) % 50 == 0).astype(int)
    frame.to_csv(tmp_path / "labelled.csv", index=False)
    command = [sys.executable, "-m", "farout", "evaluate", str(tmp_path / "labelled.csv")]
    command += ["-m", str(files / "m.farout"), "--label", "label"]
    for extra, shown in [([], True), (["-q"], False)]:
        leader, follower = pty.openpty()
        # a pty opens 0 columns wide; give it a real terminal's size
        fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
        try:
            done = subprocess.run(command + extra, stderr=follower, stdout=subprocess.PIPE)
            os.close(follower)
            err = b""
            while True:
                try:
                    chunk = os.read(leader, 65536)
                except OSError:  # the terminal's other end is closed
                    break
                if not chunk:
                    break
                err += chunk
        finally:
            os.close(leader)
        assert done.returncode == 0
        assert b"roc_auc" in done.stdout
        assert (b"scoring" in err and b"3.00k/3.00k" in err) is shown, err
