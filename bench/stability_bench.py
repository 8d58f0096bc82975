"""Does the chosen segmentation hold when the customers change? (issue 13: a k that holds)

    python bench/stability_bench.py                  # 10 samples of 80 % of Online Retail
    python bench/stability_bench.py --samples 20 --fraction 0.8 --seed 7

Segments Online Retail once, then refits the whole choice (k chosen automatically, the same
settings as ``custseg run``) on ``--samples`` seeded samples of ``--fraction`` of the
customers, without replacement. Each refitted model labels every customer; prints the k each
sample chose, the pairwise adjusted Rand index between those labelings (mean, minimum), and
the seconds the stability vote adds to the k sweep of the full run (sweep timed with and
without it). The acceptance of issue 13 is a pairwise ARI of at least 0.9. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import itertools
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=10)
    parser.add_argument("--fraction", type=float, default=0.8)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    from sklearn.metrics import adjusted_rand_score

    from custseg.model import RFM_FEATURES, CustomerSegmenter
    from custseg.model.selection import sweep
    from custseg.pipeline import segment

    result = segment(ROOT / "data" / "online_retail.parquet", seed=0)
    customers = result.segments
    n = len(customers)
    print(f"Online Retail: {n:,} customers, k = {result.model.k_} chosen on all of them")
    labelings, chosen = [], []
    started = time.perf_counter()
    for b in range(args.samples):
        rng = np.random.default_rng([args.seed, b])
        rows = np.sort(rng.choice(n, round(args.fraction * n), replace=False))
        model = CustomerSegmenter(list(RFM_FEATURES), random_state=b).fit(customers.iloc[rows])
        labelings.append(model.predict(customers))
        chosen.append(model.k_)
    aris = [adjusted_rand_score(a, c) for a, c in itertools.combinations(labelings, 2)]
    print(f"k chosen on each {args.fraction:.0%} sample: {chosen}")
    print(
        f"pairwise ARI of the final segmentations ({len(aris)} pairs): "
        f"mean {np.mean(aris):.3f}, min {np.min(aris):.3f}, max {np.max(aris):.3f} "
        f"({time.perf_counter() - started:.1f} s)"
    )
    X = np.asarray(result.model.transform(customers), dtype=float)
    ks = list(range(2, 11))
    for repeats in (0, 10):
        t = time.perf_counter()
        sweep(X, ks, random_state=0, stability_repeats=repeats)
        label = "with the stability vote" if repeats else "without stability"
        print(f"k sweep {label}: {time.perf_counter() - t:.2f} s")


if __name__ == "__main__":
    main()
