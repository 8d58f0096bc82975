"""Benchmark every clustering algorithm at 40 k and 400 k customers.

    python bench/algorithms_bench.py                         # 40k and 400k, every algorithm
    python bench/algorithms_bench.py --customers 40000 --algorithms kmeans gmm

Customers: the Online Retail customers' features (recency, frequency, monetary), resampled
with replacement to the size asked and jittered by 5 % (seeded), so the shape of the data is
that of real customers. Each algorithm is fitted by ``CustomerSegmenter(algorithm=...)`` with
its defaults (k chosen in 2–10 for the algorithms that take one; the sweep on 20 k customers,
Ward's tree on 5 k, density methods on 10 k, as the library does), then scores every customer
(``predict``). Prints a Markdown table of wall seconds (fit, of which the k sweep, and
predict), k and the share of atypical customers. Nothing is asserted; the machine's 1-minute
load average is printed, since the shared 2-core machines are noisy.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
FEATURES = ["recency_days", "frequency", "monetary"]


def customers(n: int, seed: int = 0) -> pd.DataFrame:
    """``n`` customers drawn from Online Retail's, jittered (seeded)."""
    import custseg

    with tempfile.TemporaryDirectory() as tmp:
        base = custseg.run(ROOT / "data" / "online_retail.parquet", tmp, seed=0, k=4).segments
    rng = np.random.default_rng(seed)
    rows = base[FEATURES].to_numpy(dtype=float)[rng.integers(0, len(base), n)]
    rows *= rng.normal(1.0, 0.05, rows.shape)
    frame = pd.DataFrame(rows, columns=FEATURES)
    frame["recency_days"] = frame["recency_days"].clip(lower=0)
    frame["frequency"] = frame["frequency"].clip(lower=1)
    return frame


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--customers", type=int, nargs="+", default=[40_000, 400_000])
    parser.add_argument(
        "--algorithms", nargs="+", default=["kmeans", "gmm", "ward", "dbscan", "hdbscan"]
    )
    args = parser.parse_args()
    from custseg.model.segmenter import CustomerSegmenter

    print(f"load average at start: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores\n")
    print("| customers | algorithm | k | atypical | fit s | of which sweep s | predict s |")
    print("|---:|---|---:|---:|---:|---:|---:|")
    for n in args.customers:
        frame = customers(n)
        for name in args.algorithms:
            started = time.perf_counter()
            model = CustomerSegmenter(FEATURES, algorithm=name, random_state=0).fit(frame)
            fit = time.perf_counter() - started
            started = time.perf_counter()
            labels = model.predict(frame)
            scored = time.perf_counter() - started
            noise = model.noise_label_
            share = "—" if noise is None else f"{100 * np.mean(labels == noise):.1f} %"
            print(
                f"| {n:,} | {name} | {model.k_} | {share} | {fit:.1f} | "
                f"{model.fit_seconds_['sweep']:.1f} | {scored:.1f} |",
                flush=True,
            )
    print(f"\nload average at end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
