"""The terminal summary of a run (Rich)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table

from custseg import i18n

if TYPE_CHECKING:
    from custseg.pipeline import Exploration, SegmentationResult


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
        f"{i18n.t(lang, 'rows_dropped')} {n(dropped, lang)}"
        + (
            " ("
            + ", ".join(f"{i18n.reason(lang, r)} {n(c, lang)}" for r, c in led.dropped.items() if c)
            + ")"
            if dropped
            else ""
        )
    )
    console.print(result.verdict)
    if result.kind == "transactions" and "lifecycle" in result.profiles:
        from custseg.explain.lifecycle import group_label  # a run split by lifecycle

        for group, rows in result.profiles.groupby("lifecycle", sort=False):
            _rfm_table(result, console, rows, group_label(str(group), lang))
    elif result.kind == "transactions":
        _rfm_table(result, console)
    else:
        _persona_table(result, console)
    if getattr(result, "comparison", None) is not None:
        _comparison_table(result, console)


def _comparison_table(result: SegmentationResult, console: Console) -> None:
    """The algorithms compared side by side, then the recommendation and why."""
    from custseg.explain.methods import recommendation_sentence

    lang = result.lang
    n = i18n.number
    found = result.comparison
    assert found is not None
    # below 160 columns the headers are abbreviated (explained in the caption), the sizes
    # wrap and the seconds are left out, so that the table keeps whole headers in 80 columns
    narrow = console.width < 160
    table = Table(
        title=i18n.t(lang, "algos_title"),
        caption=i18n.t(lang, "compare_short_note") if narrow else None,
    )
    short = {"compare_k": "k", "silhouette": "Sil.", "davies_bouldin": "DB"}
    short |= {"calinski_harabasz": "CH", "compare_stability": "ARI", "compare_atypical": "Atyp."}
    for key, justify in (
        ("compare_algorithm", "left"),
        ("compare_k", "right"),
        ("compare_sizes", "left"),
        ("compare_atypical", "right"),
        ("silhouette", "right"),
        ("davies_bouldin", "right"),
        ("calinski_harabasz", "right"),
        ("compare_stability", "right"),
    ):
        header = short.get(key, i18n.t(lang, key)) if narrow else i18n.t(lang, key)
        table.add_column(
            header,
            justify=justify,  # type: ignore[arg-type]
            no_wrap=key != "compare_sizes" or not narrow,
            min_width=max(len(w) for w in header.split()),
            ratio=1 if key == "compare_sizes" else None,
        )
    if not narrow:
        table.add_column("s", justify="right", no_wrap=True)
    for r in found.rows:
        mark = " ✓" if r["algorithm"] == found.recommended else ""
        name = f"{r['algorithm']}{mark}"
        seconds = n(found.seconds.get(r["algorithm"], 0.0), lang, 1)
        if r["error"]:
            failed = i18n.t(lang, "compare_failed", error=r["error"])
            table.add_row(name, "", failed, *[""] * (5 if narrow else 6))
            continue

        def num(v: float | None, d: int) -> str:
            return "—" if v is None else n(v, lang, d)

        share = r["atypical_share"]
        table.add_row(
            name,
            f"{r['segments']}" + (" + 1" if r["atypical_segment"] else ""),
            " ".join(map(str, r["sizes"])),
            "—" if share is None else n(100 * share, lang, 1) + " %",
            num(r["silhouette"], 3),
            num(r["davies_bouldin"], 3),
            num(r["calinski_harabasz"], 0),
            num(r["stability"], 3),
            *([] if narrow else [seconds]),
        )
    console.print(table)
    console.print(recommendation_sentence(found.to_dict(), lang))


def _size_cells(p: Any, lang: str) -> list[str]:
    """The cells both summaries start with: number, name, customers and their share."""
    n = i18n.number
    return [
        str(p["segment"]),
        str(p["segment_name"]),
        n(p["customers"], lang),
        n(100 * p["share_customers"], lang, 1),
    ]


def _rfm_table(
    result: SegmentationResult,
    console: Console,
    rows: Any = None,
    group: str | None = None,
) -> None:
    """The segments table; with ``rows`` and ``group``, one group of a split run."""
    lang = result.lang
    n = i18n.number
    title = i18n.t(lang, "summary_title") + (f" · {group}" if group else "")
    table = Table(title=title, caption=i18n.t(lang, "medians_note"))
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
        header = i18n.t(lang, key)
        # numbers never wrap and keep their whole header; the name wraps to make room
        table.add_column(
            header,
            justify=justify,  # type: ignore[arg-type]
            no_wrap=key != "name",
            min_width=None if key == "name" else max(len(w) for w in header.split()),
            ratio=1 if key == "name" else None,
        )
    for _, p in (result.profiles if rows is None else rows).iterrows():
        table.add_row(
            *_size_cells(p, lang),
            n(100 * p["share_revenue"], lang, 1),
            n(p["median_recency_days"], lang),
            n(p["median_frequency"], lang, 1 if p["median_frequency"] % 1 else 0),
            n(p["median_monetary"], lang),
        )
    console.print(table)


def _persona_table(result: SegmentationResult, console: Console) -> None:
    """Customer tables: size, share and the persona of every segment."""
    lang = result.lang
    table = Table(title=i18n.t(lang, "summary_title"))
    for key in ("segment_short", "customers", "share_customers"):
        header = i18n.t(lang, key)
        if key == "customers":
            table.add_column(i18n.t(lang, "name"), ratio=2)
        table.add_column(
            header, justify="right", no_wrap=True, min_width=max(map(len, header.split()))
        )
    table.add_column(i18n.t(lang, "description_col"), ratio=3)
    for _, p in result.profiles.iterrows():
        table.add_row(*_size_cells(p, lang), str(p["description"]))
    console.print(table)


def print_exploration(
    exploration: Exploration, lang: str = "en", console: Console | None = None
) -> None:
    """Print the data-quality summary of ``custseg explore``: ledger, distributions, countries, months."""
    console = console or Console()
    n = i18n.number
    t = lambda key: i18n.t(lang, key)  # noqa: E731
    led = exploration.ledger
    ledger = Table(title=t("quality_title"))
    for key, justify in (
        ("reason", "left"),
        ("rows", "right"),
        ("share_rows", "right"),
        ("money", "right"),
    ):
        ledger.add_column(t(key), justify=justify)  # type: ignore[arg-type]
    money = led.money
    ledger.add_row(t("rows_in"), n(led.input_rows, lang), "100", n(money["input_total"], lang, 2))
    ledger.add_row(
        t("rows_kept"),
        n(led.kept_rows, lang),
        n(100 * led.kept_rows / led.input_rows, lang, 1),
        n(money["kept_net"], lang, 2),
    )
    for r, rows in led.dropped.items():
        if rows:
            ledger.add_row(
                f"{t('dropped_prefix')} {i18n.reason(lang, r)}",
                n(rows, lang),
                n(100 * rows / led.input_rows, lang, 1),
                n(money["dropped_by_reason"][r], lang, 2),
            )
    console.print(ledger)
    summary = exploration.summary
    dist = Table(title=t("explore_distributions"))
    dist.add_column(t("col_measure"))
    cols = ("min", "q1", "median", "q3", "max", "mean")
    dist.add_column(t("col_n"), justify="right")
    for c in cols:
        dist.add_column(t(f"col_{c}"), justify="right")
    for name, d in summary["distributions"].items():
        if d is not None:
            dist.add_row(
                t(f"dist_{name}"),
                n(d["n"], lang),
                *(n(d["box"][c], lang, 2) if d["box"][c] is not None else "—" for c in cols),
            )
    console.print(dist)
    if summary["has_country"]:
        countries = Table(title=t("fig_countries"))
        for key in ("country", "customers", "lines", "revenue"):
            countries.add_column(t(key), justify="left" if key == "country" else "right")
        for row in summary["countries"]:
            countries.add_row(
                row["country"],
                n(row["customers"], lang),
                n(row["lines"], lang),
                n(row["revenue"], lang),
            )
        other = summary["other_countries"]
        if other:
            countries.add_row(
                t("other_countries").format(n=other["countries"]),
                n(other["customers"], lang),
                n(other["lines"], lang),
                n(other["revenue"], lang),
            )
        console.print(countries)
    months = Table(title=t("fig_months"))
    for key in ("month", "orders", "customers", "revenue"):
        months.add_column(t(key), justify="left" if key == "month" else "right")
    for m in summary["months"]:
        months.add_row(
            m["month"], n(m["orders"], lang), n(m["customers"], lang), n(m["revenue"], lang)
        )
    console.print(months)
