"""The terminal summary of a run (Rich)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table

from custseg import i18n

if TYPE_CHECKING:
    from custseg.pipeline import SegmentationResult


def print_summary(result: SegmentationResult, console: Console | None = None) -> None:
    """Print the audit line, the verdict on k and the segments table."""
    console = console or Console()
    lang = result.lang
    led = result.ledger
    dropped = led.input_rows - led.kept_rows
    n = i18n.number
    console.print(
        f"[bold]{i18n.t(lang, 'audit_title')}[/]: {i18n.t(lang, 'rows_in')} "
        f"{n(led.input_rows, lang)} · {i18n.t(lang, 'rows_kept')} {n(led.kept_rows, lang)} · "
        f"{i18n.t(lang, 'rows_dropped')} {n(dropped, lang)} ("
        + ", ".join(f"{i18n.reason(lang, r)} {n(c, lang)}" for r, c in led.dropped.items() if c)
        + ")"
    )
    console.print(result.verdict)
    table = Table(title=i18n.t(lang, "summary_title"), caption=i18n.t(lang, "medians_note"))
    for key, justify in (
        ("segment_short", "right"),
        ("name", "left"),
        ("customers", "right"),
        ("share_customers", "right"),
        ("share_revenue", "right"),
        ("recency_short", "right"),
        ("frequency_short", "right"),
        ("monetary_short", "right"),
    ):
        table.add_column(
            i18n.t(lang, key),
            justify=justify,  # type: ignore[arg-type]
            no_wrap=key == "name",
        )
    for _, p in result.profiles.iterrows():
        table.add_row(
            str(p["segment"]),
            str(p["segment_name"]),
            n(p["customers"], lang),
            n(100 * p["share_customers"], lang, 1),
            n(100 * p["share_revenue"], lang, 1),
            n(p["median_recency_days"], lang),
            n(p["median_frequency"], lang, 1 if p["median_frequency"] % 1 else 0),
            n(p["median_monetary"], lang),
        )
    console.print(table)
