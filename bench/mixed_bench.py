"""Benchmark customer tables with mixed columns: 100 k rows, numeric and categorical.

    python bench/mixed_bench.py               # 100,000 customers
    python bench/mixed_bench.py --rows 20000

Writes a seeded synthetic customer table (bench/.cache/), then times, in this process:

* the floor: one K-Means fit (n_init=10) at the chosen k on the encoded features;
* custseg: ``custseg.segment(path, kind="customers")`` end to end (read, clean, encode,
  k sweep with silhouette/CH/DB, final fit, personas);
* if the ``kmodes`` package is installed, its K-Prototypes on growing samples, to show how it
  scales (it is not run on the whole table: it takes hours there).

Printed: seconds and ratios against the floor measured in the same run. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / "bench" / ".cache"


def make_table(rows: int, seed: int = 0) -> pd.DataFrame:
    """Customers of four latent kinds with 5 numeric and 5 categorical columns."""
    rng = np.random.default_rng(seed)
    kind = rng.integers(0, 4, rows)
    centre = np.array(
        [[25, 20_000, 2, 5], [40, 60_000, 8, 30], [55, 90_000, 15, 60], [70, 30_000, 4, 10]]
    )
    c = centre[kind]
    frame = pd.DataFrame(
        {
            "customer_id": [f"C{i:07d}" for i in range(rows)],
            "Age": np.clip(rng.normal(c[:, 0], 6), 18, 95).round(),
            "Income": rng.lognormal(np.log(c[:, 1]), 0.25).round(),
            "Visits": rng.poisson(c[:, 2]),
            "Spend": rng.lognormal(np.log(c[:, 3] * 20.0), 0.4).round(2),
            "Tenure_Years": rng.gamma(2.0, 2.0, rows).round(1),
        }
    )
    cats = {
        "Gender": (["F", "M"], None),
        "Region": (["North", "South", "East", "West", "Centre"], None),
        "Channel": (
            ["Web", "Store", "App"],
            [[0.6, 0.1, 0.3], [0.3, 0.4, 0.3], [0.2, 0.6, 0.2], [0.1, 0.8, 0.1]],
        ),
        "Profession": (["Student", "Employee", "Manager", "Retired", "Artist", "Doctor"], None),
        "Married": (["Yes", "No"], [[0.1, 0.9], [0.6, 0.4], [0.8, 0.2], [0.7, 0.3]]),
    }
    for col, (values, probs) in cats.items():
        if probs is None:
            frame[col] = rng.choice(values, rows)
        else:
            u = rng.random(rows)
            cum = np.cumsum(np.asarray(probs)[kind], axis=1)
            frame[col] = np.asarray(values)[(u[:, None] > cum).sum(axis=1)]
    return frame


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()
    from sklearn.cluster import KMeans

    import custseg

    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / f"mixed_{args.rows}.parquet"
    if not path.exists():
        make_table(args.rows).to_parquet(path, index=False)
    start = time.perf_counter()
    result = custseg.segment(path, kind="customers", seed=0)
    ours = time.perf_counter() - start
    X = result.model.transform(result.segments)
    start = time.perf_counter()
    KMeans(result.model.k_, n_init=10, random_state=0).fit(X)
    floor = time.perf_counter() - start
    print(
        f"rows {args.rows:,} · numeric {len(result.model.features)} · categorical "
        f"{len(result.model.categorical)} · chosen k {result.model.k_}"
    )
    print("| step | seconds | × floor |\n|---|---|---|")
    print(f"| floor: one K-Means fit at k={result.model.k_} | {floor:.2f} | 1.0 |")
    print(f"| custseg segment, end to end | {ours:.2f} | {ours / floor:.1f} |")
    try:
        from kmodes.kprototypes import KPrototypes
    except ImportError:
        print("(kmodes not installed: K-Prototypes not measured)")
        return
    frame = pd.read_parquet(path)
    cat_idx = [frame.columns.get_loc(c) - 1 for c in result.model.categorical]
    for n in (1_000, 4_000):
        sample = frame.drop(columns="customer_id").head(n).to_numpy()
        start = time.perf_counter()
        KPrototypes(n_clusters=result.model.k_, n_init=10, random_state=0).fit(
            sample, categorical=cat_idx
        )
        took = time.perf_counter() - start
        print(f"| kmodes K-Prototypes on {n:,} rows | {took:.2f} | {took / floor:.1f} |")


if __name__ == "__main__":
    main()
