"""Start-up of the command line: wall time of `farout --help`, `farout
score --help`, `farout info MODEL` and `farout score` on a 100-row file, each
a fresh interpreter, the median of several runs. With --against SRC the same
commands also run on the farout source tree at SRC (e.g. a worktree of an
older commit), alternating with this one, and the ratio is printed.

Run:  python benchmarks/startup.py [--repeats 7] [--against /tmp/old/src]
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time


def _time(argv, src):
    env = dict(os.environ, PYTHONPATH=src) if src else os.environ
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-c", "import sys; from farout.cli import main; sys.exit(main())", *argv],
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return time.perf_counter() - start


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--against", metavar="SRC", help="another farout source tree")
    args = parser.parse_args(argv)

    import numpy as np
    import pandas as pd

    folder = tempfile.mkdtemp()
    frame = pd.DataFrame(np.random.default_rng(0).normal(size=(100, 4)), columns=list("abcd"))
    data, model = os.path.join(folder, "d.csv"), os.path.join(folder, "m.farout")
    frame.to_csv(data, index=False)
    # fitted by the older tree when there is one: newer code reads older files
    fit = ["fit", data, "-o", model, "--k", "3", "-q"]
    _time(fit, args.against)
    commands = {
        "farout --help": ["--help"],
        "farout score --help": ["score", "--help"],
        "farout info MODEL": ["info", model],
        "farout score (100 rows)": [
            "score",
            data,
            "-m",
            model,
            "-o",
            os.path.join(folder, "o.csv"),
        ],
    }
    trees = {"this tree": None, **({"against": args.against} if args.against else {})}
    times = {(name, tree): [] for name in commands for tree in trees}
    for _ in range(args.repeats):
        for name, command in commands.items():
            for tree, src in trees.items():  # alternating, so drift hits both
                times[name, tree].append(_time(command, src))
    print(f"median of {args.repeats} runs, seconds")
    for name in commands:
        row = {tree: statistics.median(times[name, tree]) for tree in trees}
        text = "  ".join(f"{tree} {t:.3f}" for tree, t in row.items())
        if args.against:
            text += f"  ratio {row['this tree'] / row['against']:.2f}x"
        print(f"  {name:<26} {text}")


if __name__ == "__main__":
    main()
