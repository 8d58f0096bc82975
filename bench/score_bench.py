"""Benchmark scoring new customers from a saved model.json.

    python bench/score_bench.py                      # 4 M customers, model fitted on Online Retail
    python bench/score_bench.py --customers 1000000

Fits (or reuses) the Online Retail model, then scores synthetic customers drawn around the
training distribution with ``custseg.model.load(model.json).predict`` — transform
(clip, Yeo-Johnson, scaling) and nearest centroid — and, as the baseline measured in the same
run, scikit-learn's ``KMeans.predict`` on the already-transformed features (the nearest-centroid
step alone). Prints customers per second, median of ``--repeat`` runs after one warm-up.
Nothing is asserted.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=4_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    from sklearn.cluster import KMeans

    import custseg

    with tempfile.TemporaryDirectory() as tmp:
        result = custseg.run(ROOT / "data" / "online_retail.parquet", tmp, seed=0)
        model = custseg.model.load(Path(tmp) / "model.json")
    train = result.segments
    rng = np.random.default_rng(0)
    rows = rng.integers(0, len(train), args.customers)
    X = pd.DataFrame(
        {
            c: train[c].to_numpy()[rows] * rng.lognormal(0.0, 0.1, args.customers)
            for c in model.features
        }
    )
    km = KMeans(n_clusters=model.k_, n_init=1, init=model.cluster_centers_, max_iter=1)
    km.fit(model.cluster_centers_)  # a fitted KMeans whose centroids are the model's
    Xt = model.transform(X)

    def rate(fn: object) -> float:
        fn()  # type: ignore[operator]
        times = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            fn()  # type: ignore[operator]
            times.append(time.perf_counter() - start)
        return args.customers / statistics.median(times)

    ours = rate(lambda: model.predict(X))
    base = rate(lambda: km.predict(Xt))
    same = bool((model.predict(X) == km.predict(Xt)).mean() > 0.9999)
    print(f"customers {args.customers:,} · k {model.k_} · features {len(model.features)}")
    print("| scoring | M customers/s | × baseline |\n|---|---|---|")
    print(f"| baseline: KMeans.predict on transformed features | {base / 1e6:.2f} | 1.0 |")
    print(
        f"| custseg: model.json → transform + nearest centroid | {ours / 1e6:.2f} | {ours / base:.2f} |"
    )
    print(f"same segments as the baseline: {'yes' if same else 'NO'}")


if __name__ == "__main__":
    main()
