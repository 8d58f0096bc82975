"""The audit stage: every input row is kept or dropped with a reason, money reconciled.

transactions → :func:`audit` → a :class:`~custseg.stages.ledger.Ledger`, plus the partial
aggregates the features and the data-quality summary are computed from.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from custseg.engines.base import Engine
from custseg.errors import EmptyDataError
from custseg.sources.readers import Source
from custseg.sources.schema import ColumnMap
from custseg.stages import relations as rel
from custseg.stages.audit.parse import (
    choose_formats,
)
from custseg.stages.audit.partition import (
    partitions,
    split_parts,
)
from custseg.stages.audit.rules import (
    CONDITIONAL_REASONS,
    RULE_ORDER,
    CleaningRules,
    build_lines,
)
from custseg.stages.ledger import (
    DateFence,
    Ledger,
    accumulate,
    collect_ledger,
    date_fence,
    extremes,
    implausible_dates,
)

#: called as ``collector(con, part)`` on the cleaned lines of every part (see :func:`audit`)
Collector = Callable[[Engine, int], None]


def audit(
    con: Engine,
    src: Source,
    colmap: ColumnMap,
    rules: CleaningRules | None = None,
    *,
    as_of: date | str | None = None,
    collectors: Sequence[Collector] = (),
) -> Ledger:
    """Clean the source's lines and account for every row.

    transactions → :class:`Ledger`. Each of ``collectors`` is called in turn on the cleaned
    lines of every part (:data:`~custseg.stages.relations.LINES`), after the ledger's own
    aggregates, to keep partial aggregates of its own (the features' per-customer totals, the
    data-quality summary): the stage does not know them. The per-part relations
    (:data:`~custseg.stages.relations.PER_PART`) are dropped after each part's collectors;
    when the input is cleaned in one part, the cleaned lines stay in
    :data:`~custseg.stages.relations.LINES` (same row count as the input). Raises
    :class:`EmptyDataError` when no row survives.

    Dates: a text date column is read as :func:`~custseg.stages.audit.parse.read_dates`
    decides (ISO 8601 values always as ISO; the day/month order from the values; a column
    mixing both orders is refused); an order assumed for lack of a deciding value is noted in
    the ledger. Lines dated far outside the others (beyond the fence of
    :func:`~custseg.stages.ledger.date_fence`, e.g. one line of 2099 or 1900 among lines of
    2010–2011) are dropped as ``implausible_date``, counted with their money, and the
    ledger's ``dates["implausible"]`` gives the rule and the dates: the lines are then
    cleaned again, so that the default as-of date (the day after the last kept line) and every
    feature are computed without them. The reason is listed only when it drops lines, and
    inputs without such lines are cleaned once, as before.
    """
    rules = rules or CleaningRules()
    given_as_of = None
    if as_of is not None:
        given_as_of = as_of if isinstance(as_of, date) else date.fromisoformat(str(as_of))
    memo: dict[str, Any] = {}
    date_format = _clean(con, src, colmap, rules, given_as_of, memo, collectors, None)
    fence = None
    found = date_fence(con)
    if found is not None and found[1]:
        # lines dated far outside the others: cleaned again, dropping them, so that they move
        # neither the as-of date nor any feature (the fence is the same on the second pass:
        # it is computed from every dated line, whatever its reason)
        fence = found[0]
        date_format = _clean(con, src, colmap, rules, given_as_of, memo, collectors, fence)
    counts = _counts(con, src.label, dropped_only_if=CONDITIONAL_REASONS)
    dropped = counts.dropped
    money_exact = counts.money
    bought = counts.kind_money.get("purchase", Decimal(0))
    net_kept = money_exact.get("kept", Decimal(0))
    returned = bought - net_kept
    money_by = {r: round(float(m), 2) for r, m in money_exact.items()}
    total_in = [sum(money_exact.values(), Decimal(0))]
    input_rows, kept, kinds = counts.input_rows, counts.kept, counts.kinds
    first, last, customers = con.row(
        f"SELECT min(first), max(last), CAST(sum(customers) AS BIGINT) FROM {rel.SPAN}"
    ) or (None, None, 0)
    as_of_date = given_as_of or last.date() + timedelta(days=1)
    notes: list[str] = []
    dates: dict[str, Any] = {}
    reading = memo["date"][1]
    if reading is not None and reading.order is not None:
        column = colmap.present()["date"]
        dates["order"] = {"column": column, "order": reading.order, "decided_by": reading.proof}
        if reading.assumed:
            notes.append(
                f"date column {column!r}: no value tells the day from the month (every first "
                f"and second field is at most 12), so dates were read {reading.order} "
                f"({reading.format}), the usual order outside the United States; write dates as "
                "YYYY-MM-DD to be sure"
            )
    if fence is not None:
        dates["implausible"] = implausible_dates(con, fence)
        notes.append(
            f"{dropped['implausible_date']} lines are dropped as implausible_date, "
            f"{fence.rule()}; the as-of date and the features are computed without them"
        )
    if dropped["after_as_of"]:
        notes.append(
            f"{dropped['after_as_of']} lines are dated on or after the as-of date {as_of_date}: "
            "outside the observation period, they are dropped"
        )
    ledger = Ledger(
        source=src.label,
        input_rows=input_rows,
        kept_rows=kept,
        dropped=dropped,
        kept_by_kind={k: int(kinds.get(k, 0)) for k in ("purchase", "cancellation", "return")},
        money={
            "input_total": round(float(total_in[0] or 0.0), 2) if total_in else 0.0,
            "kept_net": round(float(net_kept or 0.0), 2),
            "kept_purchases": round(float(bought or 0.0), 2),
            "kept_returns": round(float(returned or 0.0), 2),
            "dropped_by_reason": {r: money_by.get(r, 0.0) for r in dropped},
            "note": "sums of quantity × price (or amount) over rows whose value can be computed",
        },
        as_of=as_of_date.isoformat(),
        period={
            "first": first.isoformat() if first else None,
            "last": last.isoformat() if last else None,
        },
        customers=int(customers),
        columns=colmap.present(),
        date_format=date_format,
        flagged=extremes(con, rules.extreme_iqr),
        rules=rules.to_dict(),
        notes=notes,
        dates=dates,
    )
    ledger.check()
    return ledger


def keep_lines(con: Engine, part: int) -> None:
    """A collector (see :func:`audit`) keeping the cleaned lines of every part in
    :data:`~custseg.stages.relations.AUDITED_LINES`: the lines of an input cleaned in parts
    are otherwise dropped part by part. Columns: those of
    :data:`~custseg.stages.relations.LINES` but the row hash, ``ts`` named ``date``."""
    accumulate(
        con,
        rel.AUDITED_LINES,
        "SELECT ts AS date, customer_id, invoice, product, country, quantity, price, value, "
        f"kind, reason, line_no FROM {rel.LINES}",
        part,
    )


def _clean(
    con: Engine,
    src: Source,
    colmap: ColumnMap,
    rules: CleaningRules,
    as_of: date | None,
    memo: dict[str, Any],
    collectors: Sequence[Collector],
    fence: DateFence | None,
) -> str | None:
    """Clean every part and run the collectors on it; return the date format."""
    parts = partitions(con, src)
    date_format = None
    if parts > 1:  # formats are chosen from the whole input, before it is split
        choose_formats(con, src, colmap, memo)
    with split_parts(con, src, colmap, parts) as plan:
        for index, (part_src, part) in enumerate(plan):
            date_format = build_lines(
                con, part_src, colmap, rules, as_of, part=part, memo=memo, fence=fence
            )
            collect_ledger(con, index)
            for collect in collectors:
                collect(con, index)
            for name in rel.PER_PART + ((rel.LINES,) if parts > 1 else ()):
                con.drop(name)
    return date_format


@dataclass
class _Counts:
    """Rows and exact (DECIMAL) money per drop reason (``kept`` for kept lines) and kind."""

    input_rows: int
    kept: int
    dropped: dict[str, int]
    money: dict[str, Decimal]
    kinds: dict[str, int]
    kind_money: dict[str, Decimal]


def _counts(con: Engine, label: str, dropped_only_if: Sequence[str] = ()) -> _Counts:
    """Sum the parts' ledger aggregates; raise :class:`EmptyDataError` when nothing is kept.

    The reasons of ``dropped_only_if`` are listed only when they drop lines.
    """
    groups = con.rows(
        f"SELECT reason, kind, CAST(sum(n) AS BIGINT), SUM(total) FROM {rel.LEDGER} "
        "GROUP BY reason, kind"
    )
    by_reason: dict[str, int] = {}
    money_exact: dict[str, Decimal] = {}
    kinds: dict[str, int] = {}
    kind_money: dict[str, Decimal] = {}
    for reason, kind, count, total in groups:
        by_reason[reason] = by_reason.get(reason, 0) + int(count)
        money_exact[reason] = money_exact.get(reason, Decimal(0)) + (total or Decimal(0))
        if reason == "kept":
            kinds[kind] = int(count)
            kind_money[kind] = total or Decimal(0)
    input_rows = int(sum(by_reason.values()))
    kept = int(by_reason.pop("kept", 0))
    dropped = {
        r: int(by_reason.get(r, 0))
        for r in RULE_ORDER
        if r not in dropped_only_if or by_reason.get(r, 0)
    }
    if input_rows == 0:
        raise EmptyDataError(f"{label}: the file has a header but no rows; nothing to segment")
    if kept == 0:
        worst = max(dropped, key=lambda r: dropped[r])
        raise EmptyDataError(
            f"{label}: no valid transaction line after cleaning ({input_rows} rows, most "
            f"dropped as {worst}); check the column mapping with --map and the file's content"
        )
    return _Counts(input_rows, kept, dropped, money_exact, kinds, kind_money)
