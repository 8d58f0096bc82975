"""Baseline (a): the seed notebook's pipeline, as a script.

    python bench/baseline_notebook.py data/online_retail.parquet

pandas read_parquet → drop missing CustomerID, cancellations (InvoiceNo starting with "C"),
Quantity <= 0 or UnitPrice <= 0, exact duplicates → groupby customer: recency (days from the
last purchase to the last date + 1 day), frequency (distinct invoices), monetary (sum of
Quantity * UnitPrice) → log1p → StandardScaler → KMeans(n_init=10, random_state=0) for
k = 2..10 scored by silhouette (all customers up to 50 000, a seeded 10 000 sample beyond),
Calinski-Harabasz and Davies-Bouldin → final fit at the best-silhouette k.

The groupby uses named (vectorised) aggregations, not a Python lambda per customer, so this is
the notebook written reasonably, not at its slowest. Prints one JSON object on stdout: the
customer count, the chosen k, the scores and the time of each step (seconds, in-process; the
caller measures the whole process, imports included).
"""

from __future__ import annotations

import json
import sys
import time

T_START = time.perf_counter()

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from sklearn.cluster import KMeans  # noqa: E402
from sklearn.metrics import (  # noqa: E402
    calinski_harabasz_score,
    davies_bouldin_score,
    silhouette_score,
)
from sklearn.preprocessing import StandardScaler  # noqa: E402

FULL_SILHOUETTE_MAX = 50_000
SILHOUETTE_SAMPLE = 10_000
K_RANGE = range(2, 11)


def main(path: str) -> dict[str, object]:
    times: dict[str, float] = {"imports": time.perf_counter() - T_START}
    t = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal t
        now = time.perf_counter()
        times[name] = now - t
        t = now

    df = pd.read_parquet(path)
    lines = len(df)
    lap("read")

    df = df.dropna(subset=["CustomerID"])
    df = df[~df["InvoiceNo"].astype(str).str.startswith("C")]
    df = df[(df["Quantity"] > 0) & (df["UnitPrice"] > 0)]
    df = df.drop_duplicates()
    lap("clean")

    df["TotalPrice"] = df["Quantity"] * df["UnitPrice"]
    snapshot = df["InvoiceDate"].max() + pd.Timedelta(days=1)
    rfm = df.groupby("CustomerID").agg(
        last=("InvoiceDate", "max"),
        frequency=("InvoiceNo", "nunique"),
        monetary=("TotalPrice", "sum"),
    )
    rfm["recency"] = (snapshot - rfm["last"]).dt.days
    rfm = rfm[["recency", "frequency", "monetary"]]
    del df
    lap("rfm")

    X = StandardScaler().fit_transform(np.log1p(rfm.to_numpy(dtype=float)))
    lap("scale")

    n = len(X)
    scores: dict[int, dict[str, float]] = {}
    for k in K_RANGE:
        labels = KMeans(n_clusters=k, n_init=10, random_state=0).fit_predict(X)
        if n <= FULL_SILHOUETTE_MAX:
            sil = silhouette_score(X, labels)
        else:
            sil = silhouette_score(X, labels, sample_size=SILHOUETTE_SAMPLE, random_state=0)
        scores[k] = {
            "silhouette": float(sil),
            "calinski_harabasz": float(calinski_harabasz_score(X, labels)),
            "davies_bouldin": float(davies_bouldin_score(X, labels)),
        }
    lap("sweep")

    best_k = max(scores, key=lambda k: scores[k]["silhouette"])
    final = KMeans(n_clusters=best_k, n_init=10, random_state=0).fit(X)
    sizes = np.bincount(final.labels_, minlength=best_k).tolist()
    lap("final_fit")

    return {
        "lines": lines,
        "customers": n,
        "best_k": best_k,
        "sizes": sizes,
        "silhouette_on": n if n <= FULL_SILHOUETTE_MAX else SILHOUETTE_SAMPLE,
        "scores": scores,
        "times": times,
    }


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python bench/baseline_notebook.py TRANSACTIONS.parquet")
    print(json.dumps(main(sys.argv[1])))
