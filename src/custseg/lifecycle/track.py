"""Stability over time: how long a frozen segmentation stays as good as a fresh fit.

transactions → a reference model fitted as of a date T0 → at each later date T0 + Δ, every
customer's features recomputed as of that date (the reference's own cleaning rules, lines
before the date only) and assigned both by the frozen reference and by fresh fits → the ARI
between the reference and the fresh fits on the same customers, the seed-to-seed ARI of the
fresh fits (the noise floor: how much two fits differing only by their seed disagree),
segment shares, centroid drift, and the migration of customers between consecutive dates →
a retraining cadence: the largest Δ up to which the ARI stays above the threshold (and, where
the fresh fits are themselves noisier than the threshold, above the noise floor).

Examples
--------
>>> Every.parse("2W").after(date(2024, 1, 1), 3)
datetime.date(2024, 2, 12)
>>> Every.parse("1M").label("fr", 3)
'3 mois'
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from itertools import combinations
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import adjusted_rand_score

from custseg import i18n
from custseg.errors import CustsegError, InputError, SchemaError
from custseg.lifecycle.compare import Migration, migration
from custseg.model import CustomerSegmenter
from custseg.model.run import RunModel
from custseg.pipeline import check_as_of, explore, segment
from custseg.sources.inputs import choose_input
from custseg.stages.audit import CleaningRules

_EVERY = re.compile(r"^\s*(\d{1,3})\s*([DWMdwm])\s*$")
#: fresh fits per date (their seeds follow the reference's)
FRESH_FITS = 3


@dataclass(frozen=True)
class Every:
    """A tracking step: ``n`` days (``D``), weeks (``W``) or months (``M``)."""

    n: int
    unit: str

    @classmethod
    def parse(cls, text: str) -> Every:
        """``"1M"``, ``"2W"``, ``"10D"`` → a step; anything else is a one-line error."""
        m = _EVERY.match(str(text))
        if not m or int(m.group(1)) < 1:
            raise CustsegError(
                f"--every {text!r} is not a step; write a number and D, W or M (e.g. 1M, 2W, 10D)"
            )
        return cls(int(m.group(1)), m.group(2).upper())

    def after(self, start: date, steps: int) -> date:
        """The date ``steps`` steps after ``start`` (months keep the day, clipped to the
        month's end)."""
        if self.unit == "D":
            return start + timedelta(days=self.n * steps)
        if self.unit == "W":
            return start + timedelta(weeks=self.n * steps)
        stamp = pd.Timestamp(start) + pd.DateOffset(months=self.n * steps)
        return stamp.date()

    def label(self, lang: str, steps: int = 1) -> str:
        """``steps`` steps in words ("3 months", "6 semaines")."""
        count = self.n * steps
        unit = {"D": "day", "W": "week", "M": "month"}[self.unit]
        word = i18n.t(lang, f"track_{unit}{'s' if count != 1 else ''}")
        return f"{count} {word}"

    def __str__(self) -> str:
        return f"{self.n}{self.unit}"


def mean_ari(first: Sequence[np.ndarray], second: Sequence[np.ndarray] | None = None) -> float:
    """Mean ARI over every pair (``second`` ``None``: the pairs within ``first``).

    Examples
    --------
    >>> mean_ari([np.array([0, 0, 1, 1])], [np.array([1, 1, 0, 0])])
    1.0
    """
    pairs = (
        list(combinations(first, 2)) if second is None else [(a, b) for a in first for b in second]
    )
    if not pairs:
        return 1.0
    return float(np.mean([adjusted_rand_score(a, b) for a, b in pairs]))


@dataclass
class TrackResult:
    """What ``custseg track`` found (see the module's description).

    Attributes
    ----------
    start : the reference's as-of date T0.
    end : the last date of the data (the day after its last kept line).
    every : the step Δ.
    threshold : ARI the frozen model must keep.
    k : segments of the reference (and of every fresh fit).
    seed : the reference's seed; fresh fits use the following ones.
    lang : language of names and sentences.
    names : the reference's segment names (number → name).
    steps : one row per date (step 0 is T0): ``step``, ``as_of``, ``delta``, ``customers``,
        ``new_customers``, ``ari``, ``noise_floor``, ``held``, ``share_<s>``, ``drift_<s>``
        and ``max_drift``.
    migrations : customers between the reference's segments at consecutive dates.
    cadence : the recommendation, as numbers (``steps`` held, the Δ, the ARIs around it).
    sentence : the recommendation in one sentence with its numbers.
    """

    start: date
    end: date
    every: Every
    threshold: float
    k: int
    seed: int
    lang: str
    names: dict[int, str]
    steps: pd.DataFrame
    migrations: list[Migration] = field(default_factory=list)
    cadence: dict[str, Any] = field(default_factory=dict)
    sentence: str = ""
    source: str = ""

    def table(self) -> pd.DataFrame:
        """The content of ``track.csv``: one row per date."""
        return self.steps.copy()

    def to_dict(self) -> dict[str, Any]:
        """The content of ``track.json``."""
        rows = self.steps.to_dict(orient="records")
        return {
            "format": "custseg.track/1",
            "source": self.source,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "every": str(self.every),
            "threshold": self.threshold,
            "k": self.k,
            "seed": self.seed,
            "fresh_fits": FRESH_FITS,
            "lang": self.lang,
            "segments": {str(s): n for s, n in self.names.items()},
            "cadence": self.cadence,
            "sentence": self.sentence,
            "steps": [{k: _plain(v) for k, v in row.items()} for row in rows],
            "migrations": [
                {
                    "from": str(self.steps["as_of"].iloc[i]),
                    "to": str(self.steps["as_of"].iloc[i + 1]),
                    **m.to_dict(),
                }
                for i, m in enumerate(self.migrations)
            ],
        }


def _plain(value: Any) -> Any:
    if isinstance(value, np.bool_ | bool):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        # a segment without customers at a date has no drift: null in JSON
        return round(float(value), 6) if np.isfinite(value) else None
    return value


def _default_start(first: date, end: date) -> date:
    """Half of the history behind: the day halfway between the first line and ``end``."""
    return first + timedelta(days=(end - first).days // 2)


def track(
    source: str | os.PathLike[str] | pd.DataFrame,
    *,
    start: date | str | None = None,
    every: str | Every = "1M",
    k: int | None = None,
    threshold: float = 0.8,
    seed: int = 0,
    k_min: int = 2,
    k_max: int = 10,
    mapping: Mapping[str, str] | None = None,
    rules: CleaningRules | None = None,
    lang: str = "en",
    on_step: Callable[[str, dict[str, Any]], None] | None = None,
    engine: str | None = None,
    table: str | None = None,
    query: str | None = None,
) -> TrackResult:
    """Track how long a segmentation fitted as of ``start`` stays as good as a fresh fit.

    Parameters
    ----------
    source : transaction lines (a file or a DataFrame).
    start : T0, the reference's as-of date (YYYY-MM-DD); default halfway through the history.
    every : the step Δ between dates (``"1M"``, ``"2W"``, ``"10D"``).
    k : segments of the reference; ``None`` chooses it in ``[k_min, k_max]`` at T0. Fresh
        fits always use the reference's k, so that their ARI compares like with like.
    threshold : the ARI the frozen model must keep (0 < threshold ≤ 1).
    seed : the reference's seed; the :data:`FRESH_FITS` fresh fits of each date use the
        following seeds.
    mapping, rules : as for :func:`custseg.segment`.
    lang : ``"en"`` or ``"fr"``.
    on_step : called as ``on_step(name, info)`` before each date (for progress).
    engine, table, query : the engine that reads ``source`` and computes the features of
        every date, as for :func:`custseg.segment` (a ``postgresql://`` URL with the
        ``table`` or the ``query`` of the lines: inside PostgreSQL); the fits run in Python.

    Returns
    -------
    TrackResult
    """
    i18n.catalog(lang)
    if not 0.0 < float(threshold) <= 1.0:
        raise CustsegError(f"--threshold {threshold} must be above 0 and at most 1 (e.g. 0.8)")
    step_every = every if isinstance(every, Every) else Every.parse(every)
    found = choose_input(source, engine=engine, table=table, query=query)
    label = found.label
    report = on_step or (lambda name, info: None)
    report("read", {"source": label})
    try:
        t_start = check_as_of(start)
    except CustsegError:
        raise CustsegError(
            f"--start {start!r} is not a date; write it as YYYY-MM-DD (e.g. 2011-06-01)"
        ) from None
    try:
        span = explore(
            source, mapping=mapping, rules=rules, engine=found.engine, table=table, query=query
        ).ledger
    except SchemaError as exc:
        raise SchemaError(
            f"{exc} (track follows transaction lines over time: it needs their dates, so a "
            "table of one row per customer cannot be tracked)"
        ) from exc
    end = date.fromisoformat(str(span.as_of))
    first_text = (span.period or {}).get("first")
    if not first_text:
        raise InputError(f"{label}: no kept line with a date; nothing to track")
    first = datetime.fromisoformat(str(first_text)).date()
    t0 = t_start or _default_start(first, end)
    if not first < t0 < end:
        raise CustsegError(
            f"--start {t0.isoformat()} is outside the data ({first.isoformat()} to "
            f"{end.isoformat()}); choose a date strictly between them"
        )
    dates = [t0]
    while (nxt := step_every.after(t0, len(dates))) <= end:
        dates.append(nxt)
    if len(dates) < 2:
        raise CustsegError(
            f"--every {step_every}: no date after --start {t0.isoformat()} within the data "
            f"(it ends {end.isoformat()}); choose an earlier start or a shorter step"
        )
    report("reference", {"as_of": t0.isoformat()})
    if k is not None:
        k_min = k_max = k  # nothing to choose: no sweep over other k
    ref = segment(
        source, seed=seed, k=k, k_min=k_min, k_max=k_max, mapping=mapping, as_of=t0,
        rules=rules, lang=lang, kind="transactions", engine=found.engine, table=table,
        query=query,
    )  # fmt: skip
    frozen = RunModel.from_document(ref.model_document())
    k_ref = int(ref.model.k_)
    names = {s: ref.segment_names.get(s, str(s)) for s in range(1, k_ref + 1)}
    rows: list[dict[str, Any]] = []
    labels: list[pd.Series] = []
    for i, when in enumerate(dates):
        report("date", {"as_of": when.isoformat(), "step": i, "steps": len(dates) - 1})
        customers = dataclasses.replace(frozen, as_of=when).features(
            source, engine=found.engine, table=table, query=query
        )
        if len(customers) <= k_ref:
            raise InputError(
                f"{label}: only {len(customers)} customers as of {when.isoformat()}, too few "
                f"for {k_ref} segments; choose a later --start"
            )
        rows.append(
            _measure(frozen.segmenter, customers, k_ref, seed, names, when, i, step_every, lang)
        )
        labels.append(
            pd.Series(
                frozen.segmenter.predict(customers) + 1,
                index=pd.Index(customers["customer_id"].astype(str)),
            )
        )
        if i:
            rows[-1]["new_customers"] = len(labels[-1].index.difference(labels[-2].index))
    steps = pd.DataFrame(rows)
    moves = [migration(labels[i], labels[i + 1], names, names) for i in range(len(labels) - 1)]
    result = TrackResult(
        start=t0, end=end, every=step_every, threshold=float(threshold), k=k_ref, seed=seed,
        lang=lang, names=names, steps=steps, migrations=moves, source=label,
    )  # fmt: skip
    result.cadence, result.sentence = cadence(result)
    return result


def _measure(
    reference: CustomerSegmenter,
    table: pd.DataFrame,
    k: int,
    seed: int,
    names: dict[int, str],
    when: date,
    step: int,
    every: Every,
    lang: str,
) -> dict[str, Any]:
    """The numbers of one date: ARI frozen vs fresh, noise floor, shares, centroid drift."""
    frozen = reference.predict(table)
    fresh = [
        CustomerSegmenter(
            reference.features,
            categorical=getattr(reference, "categorical", ()),
            k=k,
            k_min=k,
            k_max=k,
            random_state=seed + 1 + j,
        )
        .fit(table)
        .labels_
        for j in range(FRESH_FITS)
    ]
    xt = np.asarray(reference.transform(table), dtype=float)
    centres = np.asarray(reference.cluster_centers_, dtype=float)
    row: dict[str, Any] = {
        "step": step,
        "as_of": when.isoformat(),
        "delta": every.label(lang, step) if step else "0",
        "customers": len(table),
        "new_customers": 0,
        "ari": mean_ari([frozen], fresh),
        "noise_floor": mean_ari(fresh),
    }
    drift = []
    for s in names:
        members = frozen == s - 1
        row[f"share_{s}"] = float(members.mean())
        move = (
            float(np.linalg.norm(xt[members].mean(axis=0) - centres[s - 1]))
            if members.any()
            else float("nan")
        )
        row[f"drift_{s}"] = move
        drift.append(move)
    row["max_drift"] = float(np.nanmax(drift)) if not np.all(np.isnan(drift)) else float("nan")
    return row


def held(ari: float, floor: float, threshold: float) -> bool:
    """Whether the frozen model still holds at a date: its ARI with a fresh fit is at least
    the threshold, or, where the fresh fits disagree with each other more than that (noise
    floor below the threshold), at least the noise floor (retraining could not do better).

    Examples
    --------
    >>> held(0.85, 0.99, 0.8), held(0.7, 0.99, 0.8), held(0.7, 0.65, 0.8)
    (True, False, True)
    """
    return bool(ari >= min(threshold, floor) - 1e-9)


def cadence(result: TrackResult) -> tuple[dict[str, Any], str]:
    """The retraining cadence of a tracking, as numbers and as one sentence.

    The largest Δ such that the frozen model :func:`held` at every date up to it.
    """
    lang = result.lang
    steps = result.steps
    ok = [
        held(a, f, result.threshold)
        for a, f in zip(steps["ari"], steps["noise_floor"], strict=True)
    ]
    steps["held"] = ok
    last = 0
    for i in range(1, len(ok)):
        if not ok[i]:
            break
        last = i
    n = len(ok) - 1
    num = lambda v: i18n.number(float(v), lang, 2)  # noqa: E731
    info: dict[str, Any] = {
        "steps_held": last,
        "steps_tracked": n,
        "every": str(result.every),
        "retrain_every": str(Every(result.every.n * last, result.every.unit)) if last else None,
        "threshold": result.threshold,
        "ari_at_cadence": float(steps["ari"].iloc[last]) if last else None,
        "noise_floor_at_cadence": float(steps["noise_floor"].iloc[last]) if last else None,
        "first_failure": steps["as_of"].iloc[last + 1] if last < n else None,
        "ari_at_failure": float(steps["ari"].iloc[last + 1]) if last < n else None,
    }
    common = {
        "t0": result.start.isoformat(),
        "threshold": num(result.threshold),
        "k": result.k,
    }
    if last == n:
        key = "track_cadence_all"
        values = {
            "delta": result.every.label(lang, n),
            "ari": num(steps["ari"].iloc[1:].min()),
            "floor": num(steps["noise_floor"].iloc[1:].min()),
        }
    elif last == 0:
        key = "track_cadence_none"
        values = {
            "delta": result.every.label(lang, 1),
            "ari": num(steps["ari"].iloc[1]),
            "floor": num(steps["noise_floor"].iloc[1]),
        }
    else:
        key = "track_cadence"
        values = {
            "delta": result.every.label(lang, last),
            "ari": num(steps["ari"].iloc[last]),
            "floor": num(steps["noise_floor"].iloc[last]),
            "next_delta": result.every.label(lang, last + 1),
            "next_ari": num(steps["ari"].iloc[last + 1]),
        }
    return info, i18n.t(lang, key, **common, **values)
