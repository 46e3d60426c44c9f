"""Where the time of `farout score` on Parquet goes, stage by stage, and the
throughput each stage allows on this machine's cores.

Runs farout's own read (`jobs.blocks.open_blocks`), scoring (`jobs.scoring._score_arrow`,
for the default model and for a single clustering scored D / sigma) and
write (`io.TableWriter.write_arrow`) one after the other
on one thread, timing each with that thread's CPU clock, and also a write of
the input columns alone (a file copied through Arrow, no results). Each stage
is the median of several runs; the bound on rows per second is the number of
cores times the rows per core-second of the stages a job needs, i.e. perfect
parallel use of every core with nothing else running.

Data: the same generated file as stream.py (16 float32 columns, a label).

Run:  python benchmarks/parquet_stages.py [--rows 2000000] [--repeats 5]
"""

import argparse
import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from stream import COLUMNS, generate  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--chunksize", type=int, default=262_144)
    parser.add_argument("--cores", type=int, default=os.cpu_count())
    args = parser.parse_args(argv)

    import numba
    import pandas as pd
    import pyarrow as pa
    from threadpoolctl import threadpool_limits

    from farout import KMeansAnomalyDetector
    from farout.io import TableWriter
    from farout.jobs import blocks as file_blocks
    from farout.jobs import scoring

    folder = tempfile.mkdtemp(prefix="farout-parquet-stages-")
    src = os.path.join(folder, "in.parquet")
    generate(args.rows, None, src, seed=1)
    frame = pd.read_parquet(src)[COLUMNS]
    detectors = {
        "default model (ensemble)": KMeansAnomalyDetector(random_state=0).fit(frame),
        "single clustering, D / sigma": KMeansAnomalyDetector(
            score_mode="normalized", random_state=0
        ).fit(frame),
    }
    del frame
    numba.set_num_threads(1)  # as on the file job's workers: one level of parallelism

    def one_run(detector):
        tiers = [name for name, _ in detector.tiers_]
        read = score = write = copy = 0.0
        blocks, tables = [], []
        clock = time.thread_time()
        for block in file_blocks.open_blocks(src, "parquet", args.chunksize, {})[1]:
            blocks.append(block)
        read = time.thread_time() - clock
        for block in blocks:
            clock = time.thread_time()
            scored = scoring._score_arrow(detector, block, "flagged", 3, tiers)
            score += time.thread_time() - clock
            tables.append(scored)
        for name, outs in (("write", tables), ("copy", blocks)):
            out = os.path.join(folder, f"{name}.parquet")
            clock = time.thread_time()
            with TableWriter(out) as writer:
                for item in outs:
                    if name == "write":
                        writer.write_arrow(item.out, item.index)
                    else:
                        writer.write_arrow(pa.Table.from_batches([item[1]]), None)
            spent = time.thread_time() - clock
            write, copy = (spent, copy) if name == "write" else (write, spent)
            os.remove(out)
        return read, score, write, copy

    per = 2_000_000 / args.rows

    def bound(core_seconds):
        return args.cores * args.rows / core_seconds / 1e6

    print(f"{args.rows:,} rows x 16 float32, chunks of {args.chunksize:,}, {args.cores} cores")
    for label, detector in detectors.items():
        with threadpool_limits(1, user_api="blas"):
            one_run(detector)  # loads the kernels
            runs = [one_run(detector) for _ in range(args.repeats)]
        read, score, write, copy = (statistics.median(r[i] for r in runs) for i in range(4))
        print(f"{label}: core-seconds per 2M rows (median of {args.repeats} runs)")
        print(f"  read (decode)                {read * per:.3f}")
        print(f"  score                        {score * per:.3f}")
        print(f"  write input + results        {write * per:.3f}")
        print(f"  write input columns only     {copy * per:.3f}")
        print(f"  bound on rows/s, {args.cores} cores fully used, nothing else running:")
        print(f"    copy the file (read + write input only)   {bound(read + copy):.2f} M")
        print(f"    read + write with results, no scoring     {bound(read + write):.2f} M")
        print(f"    the scoring job (read + score + write)    {bound(read + score + write):.2f} M")
    os.remove(src)
    os.rmdir(folder)


if __name__ == "__main__":
    main()
