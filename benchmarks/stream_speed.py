"""Speed of the stream detector against river, in the same run (issue 12,
section 5 "Speed"), and its memory over a long stream.

Cases, each with StreamDetector's defaults:

- ``one``: one row per call, ``process`` on a dict, the usual river loop;
- ``batch``: ``process`` on batches of 1,000 rows (a DataFrame);
- ``cli``: ``farout stream`` on a CSV of 16 float columns, timed as the
  whole command from start-up to the renamed output file;

on a univariate stream (``p=1``) and on 16-feature rows (``p=16``), with
river's ``MinMaxScaler() | QuantileFilter(HalfSpaceTrees(), q=0.99)``
(score_one, then learn_one) on the same rows, in the same run. Each figure
is the median of ``--repeats`` runs; river's runs alternate with farout's,
so a busy machine slows both. ``--memory N`` also streams N rows of the
univariate stream in batches and samples the resident set size; with
``--entities E`` the rows belong to E distinct entities (drawn uniformly)
and the detector adds per-entity features (``EntityFeatures``, at most
``--max-entities`` held, the least recently seen evicted first).

Run:  python benchmarks/stream_speed.py [--rows 20000] [--river-rows 5000]
      [--cli-rows 1000000] [--repeats 3] [--memory 10000000]
      [--entities 1000000 --max-entities 100000]
"""

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
import pandas as pd


def _stream(rows, p, seed=0):
    """Rows of p features: a level that shifts twice, noise, and spikes."""
    rng = np.random.default_rng(seed)
    X = rng.normal(10.0, 1.0, (rows, p))
    X[rows // 3 :] += 4.0
    X[2 * rows // 3 :, : max(1, p // 2)] -= 8.0
    spikes = rng.choice(rows, max(1, rows // 500), replace=False)
    X[spikes] += rng.choice([-1, 1], (len(spikes), p)) * 12.0
    return pd.DataFrame(X, columns=[f"f{j}" for j in range(p)])


def farout_one(frame):
    from farout.streaming import StreamDetector

    detector = StreamDetector()
    rows = frame.to_dict("records")
    start = time.perf_counter()
    for row in rows:
        detector.process(row)
    return len(rows) / (time.perf_counter() - start)


def farout_batch(frame, size=1000):
    from farout.streaming import StreamDetector

    detector = StreamDetector()
    start = time.perf_counter()
    for i in range(0, len(frame), size):
        detector.process(frame.iloc[i : i + size])
    return len(frame) / (time.perf_counter() - start)


def river_one(frame):
    from river import anomaly, preprocessing

    model = preprocessing.MinMaxScaler() | anomaly.QuantileFilter(anomaly.HalfSpaceTrees(), q=0.99)
    rows = frame.to_dict("records")
    start = time.perf_counter()
    for row in rows:
        model.score_one(row)
        model.learn_one(row)
    return len(rows) / (time.perf_counter() - start)


def write_csv(path, rows, seed=0):
    """A CSV of ``rows`` x 16 float columns, written a block at a time."""
    with open(path, "w") as handle:
        for i, start in enumerate(range(0, rows, 200_000)):
            block = _stream(min(200_000, rows - start), 16, seed + i)
            block.to_csv(handle, header=i == 0, index=False, float_format="%.6g")


def farout_cli(csv_path, out_path, rows):
    farout = os.path.join(os.path.dirname(sys.executable), "farout")
    start = time.perf_counter()
    subprocess.run([farout, "stream", csv_path, "-o", out_path], check=True, capture_output=True)
    seconds = time.perf_counter() - start
    assert os.path.exists(out_path)
    os.remove(out_path)
    return rows / seconds


def memory(rows, size=10_000, entities=0, max_entities=100_000):
    """RSS (MiB) sampled while ``rows`` rows of the univariate stream pass in
    batches of ``size``: (rows done, RSS, entities held) triples. With
    ``entities``, each row belongs to one of that many entities."""
    from farout.features import EntityFeatures, WindowFeatures
    from farout.streaming import StreamDetector

    features = None
    if entities:
        per_entity = EntityFeatures(span=1000, idle=1_000_000, max_entities=max_entities)
        features = [WindowFeatures(), per_entity]
    detector = StreamDetector(features=features)
    held = detector.features[1] if entities else None
    samples = []
    block = _stream(size * 50, 1)
    rng = np.random.default_rng(1)
    start = time.perf_counter()
    for done in range(0, rows, size):
        at = (done // size) % 50
        part = block.iloc[at * size : (at + 1) * size].set_axis(pd.RangeIndex(done, done + size))
        keys = None
        if entities:
            keys = np.char.add("e", rng.integers(0, entities, size).astype(str)).tolist()
        detector.process(part, entities=keys)
        if done % (rows // 20) == 0 or done + size >= rows:
            with open("/proc/self/status") as status:
                rss = next(int(line.split()[1]) for line in status if line.startswith("VmRSS"))
            samples.append((done + size, rss / 1024, held.n_entities_ if held else 0))
            print(
                f"  {done + size:>11,} rows: RSS {rss / 1024:,.0f} MiB, "
                f"{samples[-1][2]:,} entities held, {time.perf_counter() - start:,.0f} s",
                flush=True,
            )
    return samples, time.perf_counter() - start


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000, help="rows for farout's batches")
    parser.add_argument("--one-rows", type=int, default=5_000, help="rows for one per call")
    parser.add_argument("--river-rows", type=int, default=5_000)
    parser.add_argument("--cli-rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--memory", type=int, default=0, help="rows of the memory run")
    parser.add_argument("--entities", type=int, default=0, help="distinct entities (memory run)")
    parser.add_argument("--max-entities", type=int, default=100_000)
    parser.add_argument("--cases", default="one,batch,cli")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args(argv)
    cases = args.cases.split(",")
    fig = {"repeats": args.repeats}
    if args.memory and args.cases == "memory":  # the memory run alone
        cases = []
    # numba compiles (or loads its cache) once, before any timing
    farout_batch(_stream(3000, 2))
    for p in (1, 16) if cases else ():
        frame = _stream(max(args.rows, args.one_rows, args.river_rows), p)
        runs = {"river": [], "one": [], "batch": []}
        for _ in range(args.repeats):
            runs["river"].append(river_one(frame.iloc[: args.river_rows]))
            if "one" in cases:
                runs["one"].append(farout_one(frame.iloc[: args.one_rows]))
            if "batch" in cases:
                runs["batch"].append(farout_batch(frame.iloc[: args.rows]))
        river = statistics.median(runs["river"])
        fig[f"p{p}_river_rows_per_s"] = river
        line = f"p={p:2d}: river {river:9,.0f} rows/s"
        for name in ("one", "batch"):
            if runs[name]:
                value = statistics.median(runs[name])
                fig[f"p{p}_{name}_rows_per_s"] = value
                fig[f"p{p}_{name}_vs_river"] = value / river
                line += f" | farout {name} {value:10,.0f} rows/s = {value / river:6.1f}x river"
        print(line, flush=True)
    if "cli" in cases:
        with tempfile.TemporaryDirectory(prefix="farout-stream-speed-") as folder:
            csv_path = os.path.join(folder, "in.csv")
            write_csv(csv_path, args.cli_rows)
            out_path = os.path.join(folder, "out.csv")
            river = []
            runs = []
            frame = _stream(args.river_rows, 16)
            for _ in range(args.repeats):
                river.append(river_one(frame))
                runs.append(farout_cli(csv_path, out_path, args.cli_rows))
            value, r = statistics.median(runs), statistics.median(river)
            fig.update(cli_rows=args.cli_rows, cli_rows_per_s=value, cli_river_rows_per_s=r)
            fig["cli_vs_river"] = value / r
            print(
                f"farout stream, {args.cli_rows:,} rows x 16 floats: {value:,.0f} rows/s "
                f"(river on 16 features {r:,.0f} rows/s: {value / r:.1f}x)",
                flush=True,
            )
    if args.memory:
        samples, seconds = memory(
            args.memory, entities=args.entities, max_entities=args.max_entities
        )
        fig["memory_rows"], fig["memory_seconds"] = args.memory, seconds
        fig["memory_entities"], fig["memory_max_entities"] = args.entities, args.max_entities
        fig["memory_rss_mib"] = samples
        print(
            f"memory over {args.memory:,} rows ({seconds:.0f} s): RSS "
            + ", ".join(f"{rss:.0f}" for _, rss, _ in samples)
            + f" MiB; peak {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB",
            flush=True,
        )
    print(json.dumps(fig, indent=2, default=float))
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(fig, handle, indent=2, default=float)


if __name__ == "__main__":
    main()
