"""What the report says, checked against the data: summary first, honest numbers, plain words.

One Online Retail run and one customer-table run (marketing_campaign.csv) per module; the
pages are rendered in English and French from their folders.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest
from markupsafe import escape
from rich.console import Console

import custseg
from custseg import i18n
from custseg.explain import labels
from custseg.report import formats, print_summary, summary_html
from custseg.report.html import render_dir
from tests.conftest import SHARED_DATA

MARKETING = SHARED_DATA / "customer_personality" / "marketing_campaign.csv"


@pytest.fixture(scope="module")
def retail(online_retail: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("retail")
    custseg.run(online_retail, out, seed=0)
    return out


@pytest.fixture(scope="module")
def customers(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not MARKETING.is_file():
        pytest.skip(f"{MARKETING} is absent (shared data sets)")
    out = tmp_path_factory.mktemp("customers")
    custseg.run(MARKETING, out, seed=0)
    return out


def _figures(html: str) -> dict[str, dict]:
    m = re.search(
        r'<script id="custseg-figures" type="application/json">(.*?)</script>', html, re.S
    )
    assert m
    return json.loads(m.group(1).replace("<\\/", "</"))


def _text(html: str) -> str:
    """The page's visible text, tags and scripts removed."""
    body = re.sub(r"<script.*?</script>|<style.*?</style>", "", html, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", body))


@pytest.mark.parametrize("lang", ["en", "fr"])
def test_summary_comes_first_and_method_last(retail: Path, lang: str) -> None:
    html = render_dir(retail, lang)
    order = [
        html.index(f'<section id="{s}"')
        for s in (
            "summary",
            "segment-details",
            "segments-compared",
            "choosing-k",
            "data-quality",
            "method",
        )
    ]
    assert order == sorted(order)
    summary = html[order[0] : order[1]]
    profiles = pd.read_csv(retail / "profiles.csv")
    # every segment with its size, revenue share and first action; ordered by revenue share
    shown = [int(s) for s in re.findall(r'href="#segment-(\d+)"', summary)]
    assert shown == profiles.sort_values("share_revenue", ascending=False)["segment"].tolist()
    for _, row in profiles.iterrows():
        assert i18n.number(int(row["customers"]), lang) in summary
        assert i18n.number(100 * row["share_revenue"], lang, 1) + " %" in summary
    assert ("£ (GBP)" in summary) and ("2010" in summary and "2011" in summary)
    assert "1er déc. 2010" in summary if lang == "fr" else "1 Dec 2010" in summary


def test_extreme_values_show_each_measure_against_the_data(
    retail: Path, online_retail: Path
) -> None:
    data = pd.read_parquet(
        online_retail, columns=["StockCode", "Quantity", "UnitPrice", "CustomerID"]
    )
    # product lines of known customers (38,970.00 is a "Manual" line, dropped as non-product)
    product = data["StockCode"].astype(str).str.match(r"^\d")
    kept = data[data["CustomerID"].notna() & (data["UnitPrice"] > 0) & product]
    largest_price = float(kept["UnitPrice"].max())
    largest_quantity = int(kept["Quantity"].abs().max())
    assert largest_price == 649.5
    html = render_dir(retail, "en")
    table = html[html.index('<table class="flagged">') :]
    table = table[: table.index("</table>")]
    rows = {re.sub(r"<[^>]+>", "", r.split("</td>")[0]): r for r in table.split("<tr>")[2:]}
    assert "649.50" in rows["Unit price (£)"] and "38,970" not in rows["Unit price (£)"]
    assert f"{largest_quantity:,}" in rows["Quantity"]
    assert "168,469" not in rows["Quantity"]  # money is not a quantity
    assert "168,469.60" in rows["Line value (£)"]


def test_axes_are_honest(retail: Path) -> None:
    figs = _figures(render_dir(retail, "en"))
    months = figs["fig-months"]
    assert months["layout"]["yaxis"]["rangemode"] == "tozero"
    assert months["layout"]["yaxis2"]["rangemode"] == "tozero"
    assert "Revenue (£)" in months["layout"]["yaxis2"]["title"]["text"]
    # the data stop on 9 December 2011: the last month is marked partial and drawn lighter
    assert months["data"][0]["x"][-1].endswith("*")
    assert months["data"][0]["marker"]["opacity"][-1] < 1
    assert "partial: 9 days" in months["layout"]["annotations"][0]["text"]
    # log axes say so, and show decades only (no minor "2" meaning 20)
    assert figs["fig-countries"]["layout"]["xaxis"]["title"]["text"] == "Customers (log scale)"
    assert figs["fig-countries"]["layout"]["xaxis"]["dtick"] == 1
    for fid, fig in figs.items():
        for axis in ("xaxis", "yaxis"):
            a = fig["layout"].get(axis, {})
            if a.get("type") == "log":
                assert "log scale" in a["title"]["text"], fid
    assert figs["fig-sizes"]["layout"]["xaxis"]["rangemode"] == "tozero"


def test_words_per_language() -> None:
    assert i18n.plural("en", "customers", 1) == "1 customer"
    assert i18n.plural("en", "customers", 2) == "2 customers"
    assert i18n.plural("fr", "customers", 1) == "1 client"
    assert i18n.plural("fr", "customers", 4334) == "4\u202f334 clients"
    assert formats.date_text("2011-12-09T12:50:00", "en") == "9 Dec 2011"
    assert formats.date_text("2011-12-09T12:50:00", "fr") == "9 déc. 2011"
    assert formats.money(-1234.5, "en", "GBP", 2) == "-£1,234.50"
    assert formats.money(1234.5, "fr", "EUR") == "1\u202f234\u00a0€"
    assert labels.value("1.0", "en") == "yes" and labels.value("0.0", "fr") == "non"


def test_no_raw_timestamps_or_bad_plurals(retail: Path, customers: Path) -> None:
    for run in (retail, customers):
        for lang in ("en", "fr"):
            text = _text(render_dir(run, lang))
            assert not re.search(r"\d{4}-\d\d-\d\dT\d\d:", text)
            assert not re.search(r"(?<![\d,.\u202f])1 (customers|clients)\b", text)
            assert "of 4334 of 4334" not in text


def test_customer_table_report(customers: Path) -> None:
    html = render_dir(customers, "en")
    quality = html[html.index('<section id="data-quality"') :]
    quality = _text(quality[: quality.index("</section>")])
    # the customer ledger: 24 imputed incomes, the 666,666 income, ages above 110, the
    # grouped marital statuses, constant and identifier columns, the near-duplicate rows
    assert "Missing values filled Income 24" in quality
    assert "666,666" in quality and "121" in quality
    assert "Absurd, Alone, YOLO" in quality
    assert "Z_CostContact, Z_Revenue" in quality and "identifier" in quality
    assert "182 rows" in quality
    figs = _figures(html)
    sizes = figs["fig-sizes"]["data"]
    assert len(sizes) == 2 and "total spend" in sizes[1]["name"]
    # plain words: no raw column names or float flags in segment names or category legends
    doc = json.loads((customers / "model.json").read_text(encoding="utf-8"))
    for name in doc["segment_names"].values():
        assert not re.search(r"Mnt|Num[A-Z]|_|\d\.0", name), name
    legends = {
        t["name"] for f, fig in figs.items() if f.startswith("fig-cat-") for t in fig["data"]
    }
    assert {"yes", "no"} <= legends and not legends & {"0.0", "1.0"}
    # segments listed by their share of total spend
    profiles = pd.read_csv(customers / "profiles.csv")
    summary = html[
        html.index('<section id="summary"') : html.index('<section id="segment-details"')
    ]
    shown = [int(s) for s in re.findall(r'href="#segment-(\d+)"', summary)]
    assert shown == profiles.sort_values("share_revenue", ascending=False)["segment"].tolist()


def test_customer_personas_in_french(tmp_path: Path) -> None:
    if not MARKETING.is_file():
        pytest.skip(f"{MARKETING} is absent (shared data sets)")
    result = custseg.segment(MARKETING, seed=0, lang="fr")
    for name in result.segment_names.values():
        assert not re.search(r"Mnt|share|high|low|\(e\)", name), name
    assert any("vins" in n for n in result.segment_names.values())


def test_terminal_summary_fits_80_columns(online_retail: Path) -> None:
    result = custseg.segment(online_retail, seed=0)
    for width in (80, 120):
        console = Console(width=width, record=True)
        print_summary(result, console)
        text = console.export_text()
        table = [line for line in text.splitlines() if line.startswith(("┃", "│"))]
        assert table and not any("…" in line for line in table)  # no header or cell cut
        assert max(len(line) for line in text.splitlines()) <= width
        assert "Customers" in text and "Recency (d)" in text


def test_result_displays_its_summary_in_jupyter(online_retail: Path) -> None:
    result = custseg.segment(online_retail, seed=0, lang="fr")
    html = result._repr_html_()
    assert html == summary_html(result)
    assert 'id="summary"' in html and "En bref" in html
    for name in result.segment_names.values():
        assert escape(name) in html
