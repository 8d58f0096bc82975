"""--previous: what changed since an earlier run, saved in changes.json and shown in the summary.

Synthetic lines (custseg.datasets.make_transactions): run A on the lines before 1 July 2024,
run B on all of them with A as its previous run. changes.json must hold the numbers computed
directly from the two runs' segments.parquet; the report's summary says them in English and
French; a run without --previous is unchanged; a bad previous run is refused in one line.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

import custseg
from custseg.cli import app
from custseg.datasets import make_transactions
from custseg.errors import InputError
from custseg.lifecycle.compare import BY_CENTROID, BY_NUMBER, CHANGES_FORMAT
from tests.conftest import customers

CUT = pd.Timestamp("2024-07-01")


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("changes")
    lines, _ = make_transactions(1500, seed=1)
    lines[pd.to_datetime(lines["InvoiceDate"]) < CUT].to_csv(base / "first_half.csv", index=False)
    lines.to_csv(base / "all.csv", index=False)
    custseg.run(base / "first_half.csv", base / "a", seed=0, k=4)
    args = ["run", str(base / "all.csv"), "--out", str(base / "b"), "--k", "4"]
    result = CliRunner().invoke(app, [*args, "--previous", str(base / "a")])
    assert result.exit_code == 0, result.output
    return {"base": base, "a": base / "a", "b": base / "b", "all": base / "all.csv"}


def _segments(folder: Path) -> pd.Series:
    table = pd.read_parquet(folder / "segments.parquet")
    return pd.Series(table["segment"].to_numpy(), index=table["customer_id"].astype(str))


def test_changes_json_equals_a_direct_computation(runs: dict[str, Path]) -> None:
    a, b = _segments(runs["a"]), _segments(runs["b"])
    doc = json.loads((runs["b"] / "changes.json").read_text())
    assert doc["format"] == CHANGES_FORMAT
    assert doc["previous"]["input"] == "first_half.csv"
    assert doc["previous"]["as_of"] == json.loads((runs["a"] / "model.json").read_text())["as_of"]
    both = a.index.intersection(b.index)
    assert (doc["customers_before"], doc["customers_after"]) == (len(a), len(b))
    assert doc["common"] == len(both)
    assert doc["new"] == len(b.index.difference(a.index)) == len(b) - len(both) > 0
    assert doc["gone"] == len(a.index.difference(b.index))
    # stayed: a customer of both runs whose new segment is the one matched to their old one
    after_of = {s["segment"]: s["matched"] for s in doc["segments_before"]}
    stayed = int((b.loc[both].to_numpy() == a.loc[both].map(after_of).to_numpy()).sum())
    assert doc["stayed"] == stayed
    assert doc["stayed_share"] == pytest.approx(stayed / len(both), abs=1e-6)
    names_a = json.loads((runs["a"] / "model.json").read_text())["segment_names"]
    names_b = json.loads((runs["b"] / "model.json").read_text())["segment_names"]
    assert doc["matching"] == (BY_NUMBER if names_a == names_b else BY_CENTROID)
    for s in doc["segments"]:
        assert s["share_after"] == pytest.approx((b == s["segment"]).mean(), abs=1e-6)
        assert s["share_before"] == pytest.approx((a == s["matched"]).mean(), abs=1e-6)
    for s in doc["segments_before"]:
        assert s["share"] == pytest.approx((a == s["segment"]).mean(), abs=1e-6)
    # sealed with the run
    assert "changes.json" in json.loads((runs["b"] / "manifest.json").read_text())["files"]


def test_summary_says_what_changed_in_english(runs: dict[str, Path]) -> None:
    html = (runs["b"] / "report.html").read_text()
    doc = json.loads((runs["b"] / "changes.json").read_text())
    summary = html[html.index('<section id="summary">') : html.index("</section>")]
    assert 'id="summary-changes"' in summary
    assert "What changed since the run of 1 Jul 2024" in summary
    assert (
        f"{doc['customers_before']:,} customers then, {doc['customers_after']:,} customers now: "
        f"{doc['new']:,} new, {doc['gone']:,} gone. Of {doc['common']:,} customers in both runs, "
        f"{100 * doc['stayed_share']:.1f} % kept their segment" in summary
    )
    assert "Share then → now" in summary and "first_half.csv" in summary
    for s in doc["segments"]:
        assert f"{100 * s['share_before']:.1f} % → <b>{100 * s['share_after']:.1f} %</b>" in summary


def test_report_is_rebuilt_from_the_folder_alone_in_french(
    runs: dict[str, Path], tmp_path: Path
) -> None:
    folder = tmp_path / "b"
    shutil.copytree(runs["b"], folder)
    aside = tmp_path / "a-moved"
    shutil.move(runs["a"], aside)  # the previous run is not read again
    try:
        result = CliRunner().invoke(app, ["report", str(folder), "--lang", "fr"])
    finally:
        shutil.move(aside, runs["a"])
    assert result.exit_code == 0, result.output
    html = (folder / "report.html").read_text()
    summary = html[html.index('<section id="summary">') : html.index("</section>")]
    assert "Ce qui a changé depuis l’exécution du 1er juil. 2024" in summary
    assert "clients aujourd’hui" in summary and "ont gardé leur segment" in summary
    assert "Part alors → aujourd’hui" in summary
    assert (folder / "changes.json").read_bytes() == (runs["b"] / "changes.json").read_bytes()


def test_a_run_without_previous_has_no_changes(runs: dict[str, Path]) -> None:
    assert not (runs["a"] / "changes.json").exists()
    html = (runs["a"] / "report.html").read_text()
    assert "summary-changes" not in html and "changes-col" not in html
    assert "What changed" not in html


def test_same_data_same_bytes_and_matched_by_number(runs: dict[str, Path], tmp_path: Path) -> None:
    for name in ("c1", "c2"):
        custseg.run(runs["all"], tmp_path / name, seed=0, k=4, previous=runs["b"])
    first, second = tmp_path / "c1", tmp_path / "c2"
    for file in ("changes.json", "report.html", "manifest.json"):
        assert (first / file).read_bytes() == (second / file).read_bytes(), file
    doc = json.loads((first / "changes.json").read_text())
    # the same lines, seed and k: the same segments, everyone kept theirs
    assert doc["matching"] == BY_NUMBER
    assert doc["new"] == doc["gone"] == 0 and doc["stayed_share"] == 1.0
    assert all(s["share_before"] == s["share_after"] for s in doc["segments"])
    html = (first / "report.html").read_text()
    assert "segments matched by number and name" in html and "100.0 % kept" in html


def test_save_with_previous(runs: dict[str, Path], tmp_path: Path) -> None:
    result = custseg.segment(runs["all"], seed=0, k=5)
    custseg.save(result, tmp_path / "k5", previous=runs["a"])
    doc = json.loads((tmp_path / "k5" / "changes.json").read_text())
    assert doc["matching"] == BY_CENTROID and (doc["k_before"], doc["k_after"]) == (4, 5)
    html = (tmp_path / "k5" / "report.html").read_text()
    assert "the runs differ in k, 4 and 5 segments" in html


def _fails(args: list[str], *needles: str) -> None:
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1, result.output
    message = " ".join(result.output.split())
    for needle in needles:
        assert needle in message, message


def test_bad_previous_is_refused_before_any_work(runs: dict[str, Path], tmp_path: Path) -> None:
    run = ["run", str(runs["all"]), "--out"]
    missing = tmp_path / "nope"
    _fails([*run, str(tmp_path / "o1"), "--previous", str(missing)], f"--previous {missing}")
    assert not (tmp_path / "o1").exists()
    junk = tmp_path / "junk"
    junk.mkdir()
    (junk / "notes.txt").write_text("x")
    _fails(
        [*run, str(tmp_path / "o2"), "--previous", str(junk)],
        f"--previous {junk}: not a custseg run folder",
    )
    assert not (tmp_path / "o2").exists()
    # a run whose files changed after it is not one whole run
    tampered = tmp_path / "tampered"
    shutil.copytree(runs["a"], tampered)
    (tampered / "profiles.csv").write_text("x\n")
    _fails(
        [*run, str(tmp_path / "o3"), "--previous", str(tampered)],
        f"--previous {tampered}",
        "profiles.csv does not match",
    )
    _fails(
        [*run, str(tmp_path / "o4"), "--previous", str(runs["a"]), "--split", "lifecycle"],
        "a run split by lifecycle (--split) cannot be compared",
    )
    assert not (tmp_path / "o4").exists()
    with pytest.raises(InputError, match="is not a folder"):
        custseg.run(runs["all"], tmp_path / "o5", previous=missing)


def test_previous_of_another_kind_or_split_is_refused(
    runs: dict[str, Path], tmp_path: Path
) -> None:
    table = customers(300)
    table.insert(0, "customer_id", [f"c{i}" for i in range(len(table))])
    table.to_csv(tmp_path / "crm.csv", index=False)
    custseg.run(tmp_path / "crm.csv", tmp_path / "crm", kind="customers", k=3)
    run = ["run", str(runs["all"]), "--out"]
    # kind given: refused before any work; kind found from the input: before writing
    _fails(
        [*run, str(tmp_path / "o1"), "--kind", "transactions", "--previous", str(tmp_path / "crm")],
        f"--previous {tmp_path / 'crm'} is a run on a customer table, this run on a "
        "transactions file",
    )
    _fails(
        [*run, str(tmp_path / "o2"), "--previous", str(tmp_path / "crm")],
        f"--previous {tmp_path / 'crm'} is a run on a customer table",
    )
    assert not (tmp_path / "o1").exists() and not (tmp_path / "o2").exists()
    custseg.run(runs["all"], tmp_path / "split", split="lifecycle", k=3)
    _fails(
        [*run, str(tmp_path / "o3"), "--previous", str(tmp_path / "split")],
        f"--previous {tmp_path / 'split'} is a run split by lifecycle",
    )
    assert not (tmp_path / "o3").exists()


def test_summary_with_changes_renders_in_chromium(runs: dict[str, Path], tmp_path: Path) -> None:
    pytest.importorskip("playwright.sync_api", reason="playwright is in the dev extra")
    from custseg.outputs.folder import rewrite_report
    from custseg.report.browser import open_report, wait_rendered

    french = tmp_path / "fr"
    shutil.copytree(runs["b"], french)
    rewrite_report(french, "fr")
    for lang, report in (("en", runs["b"] / "report.html"), ("fr", french / "report.html")):
        with open_report(report, width=1300) as (page, log):
            page.goto(report.resolve().as_uri())
            wait_rendered(page)
            block = page.locator("#summary-changes")
            assert block.count() == 1 and block.is_visible()
            box = page.locator("section#summary").bounding_box()
            assert box is not None and box["height"] < 900 * 1.2, box  # about one screen
            cells = page.locator("#summary td.changes-col")
            assert cells.count() == len(
                json.loads((runs["b"] / "changes.json").read_text())["segments"]
            )
            shot = tmp_path / f"summary_{lang}.png"
            page.locator("section#summary").screenshot(path=str(shot))
            assert shot.stat().st_size > 20_000
        assert log.console_errors == [] and log.page_errors == [], (
            log.console_errors,
            log.page_errors,
        )
        assert log.blocked == []
