"""Tests of the HTML report, the data-quality exploration and their commands (custseg.report).

A small seeded synthetic run (module-scoped) is rendered; browser checks are in
test_report_browser.py.
"""

from __future__ import annotations

import json
import re
import string
from importlib import resources
from pathlib import Path

import pytest
from typer.testing import CliRunner

import custseg
from custseg import i18n
from custseg.cli import app
from custseg.datasets import make_transactions
from custseg.explain.actions import actions_catalog
from custseg.report.html import SECTIONS, render_dir, to_json

runner = CliRunner(env={"COLUMNS": "200"})
FIGURES = [f for ids in SECTIONS.values() for f in ids]


@pytest.fixture(scope="module")
def small_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    frame, _ = make_transactions(400, seed=5)
    data = tmp_path_factory.mktemp("data") / "tx.csv"
    frame.to_csv(data, index=False)
    out = tmp_path_factory.mktemp("run")
    custseg.run(data, out, seed=0, k_max=6)
    return out


def test_report_has_every_section_and_figure(small_run: Path) -> None:
    html = (small_run / "report.html").read_text(encoding="utf-8")
    for section in SECTIONS:
        assert f'<section id="{section}">' in html, section
    for fig in FIGURES:
        assert f'<div class="fig" id="{fig}"></div>' in html, fig
    figures = json.loads(
        re.search(r'id="custseg-figures" type="application/json">(.*?)</script>', html, re.S).group(
            1
        )
    )
    assert sorted(figures) == sorted(FIGURES)
    assert html.count("plotly.js v") == 1  # the bundle is embedded exactly once
    assert not re.search(r"<(script|link|img|iframe)[^>]+(src|href)=", html)
    assert "heuristic" in html
    assert (small_run / "exploration.json").is_file()


def test_report_rebuilds_byte_identical(small_run: Path) -> None:
    before = (small_run / "report.html").read_bytes()
    result = runner.invoke(app, ["report", str(small_run)])
    assert result.exit_code == 0, result.output
    assert (small_run / "report.html").read_bytes() == before


def test_report_in_french_is_translated(small_run: Path) -> None:
    fr = render_dir(small_run, "fr")
    en = (small_run / "report.html").read_text(encoding="utf-8")
    assert '<html lang="fr">' in fr and fr != en
    body = fr.split("<script>", 1)[0]
    catalogue_en, catalogue_fr = i18n.catalog("en")["text"], i18n.catalog("fr")["text"]
    for key, text in catalogue_en.items():
        if text != catalogue_fr[key] and len(text) > 12 and "{" not in text:
            assert text not in body, f"untranslated English text for {key!r}"
    assert "Qualité des données" in body and "Actions recommandées" in body


def _keys(d: dict, prefix: str = "") -> set[str]:
    out = set()
    for k, v in d.items():
        out |= _keys(v, f"{prefix}{k}.") if isinstance(v, dict) else {prefix + k}
    return out


def test_languages_have_the_same_keys_and_placeholders() -> None:
    en, fr = i18n.catalog("en"), i18n.catalog("fr")
    assert _keys(en) == _keys(fr)
    for key, text in en["text"].items():
        fields = {f for _, f, _, _ in string.Formatter().parse(text) if f}
        assert fields == {f for _, f, _, _ in string.Formatter().parse(fr["text"][key]) if f}, key
    actions = actions_catalog()
    for slug in [*actions["segments"].values(), actions["default"]]:
        assert set(slug["actions"]) == set(i18n.LANGUAGES)
        assert len(slug["actions"]["en"]) == len(slug["actions"]["fr"])


def test_every_text_key_used_by_the_report_exists() -> None:
    root = resources.files("custseg.report")
    sources = [p.read_text(encoding="utf-8") for p in root.joinpath("templates").iterdir()]
    sources += [
        root.joinpath(f).read_text(encoding="utf-8")
        for f in ("figures.py", "figures_segments.py", "html.py", "terminal.py")
    ]
    used = {k for s in sources for k in re.findall(r'\bt\("([a-z0-9_]+)"\s*[,)]', s)}
    assert len(used) > 50
    for lang in i18n.LANGUAGES:
        missing = used - set(i18n.catalog(lang)["text"])
        assert not missing, (lang, missing)


#: words of the templates that are the same in every language (names, code, units)
TECHNICAL = {
    "k",
    "n",
    "sha256",
    "K-Means",
    "n_init",
    "custseg",
    "run",
    "--out",
    "DIR",
    "--seed",
    "--k",
    "--k-min",
    "--k-max",
    "--as-of",
    "--lang",
    "--currency",
    "--split",
    "lifecycle",
    "rules",  # rules.sql, the file the rules section shows
    "sql",
    "%",
}


@pytest.mark.parametrize(
    "template",
    [
        "base.html",
        "report.html",
        "quality.html",
        "quality_page.html",
        "macros.html",
        "compare.html",
        "algorithms.html",
        "summary.html",
        "details.html",
        "rules.html",
        "map.html",
        "k.html",
        "stability.html",
        "quality_customers.html",
        "method.html",
        "split_report.html",
        "lifecycle.html",
    ],
)
def test_templates_have_no_untranslated_text(template: str) -> None:
    text = resources.files("custseg.report").joinpath("templates", template).read_text("utf-8")
    text = re.sub(r"<(style|script)[^>]*>.*?</\1>", " ", text, flags=re.S)
    text = re.sub(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", " ", text, flags=re.S)
    text = re.sub(r"<[^>]+>", " ", text)
    words = [w for w in re.split(r"[\s·→()–,:;.✓=]+", text) if re.search(r"[A-Za-z]", w)]
    assert [w for w in words if w not in TECHNICAL] == []


def test_figures_json_is_compact_and_safe() -> None:
    assert to_json({"x": [1.234567, 0.000123456, float("nan")], "s": "</script>"}) == (
        '{"x":[1.235,0.0001235,null],"s":"<\\/script>"}'
    )


def test_report_command_errors_are_one_line(tmp_path: Path) -> None:
    result = runner.invoke(app, ["report", str(tmp_path)])
    assert result.exit_code == 1
    assert "not a custseg run folder" in result.output and "Traceback" not in result.output


def test_explore_prints_and_writes_html(tmp_path: Path) -> None:
    frame, _ = make_transactions(150, seed=2)
    data = tmp_path / "tx.csv"
    frame.to_csv(data, index=False)
    page = tmp_path / "quality.html"
    result = runner.invoke(app, ["explore", str(data), "--html", str(page), "--lang", "fr"])
    assert result.exit_code == 0, result.output
    for title in ("Qualité des données", "Distributions des lignes", "Commandes et chiffre"):
        assert title in result.output
    html = page.read_text(encoding="utf-8")
    assert '<section id="data-quality">' in html
    for fig in (
        "fig-ledger",
        "fig-dist-quantity",
        "fig-dist-price",
        "fig-dist-order_value",
        "fig-months",
    ):
        assert f'id="{fig}"' in html
    assert not list(tmp_path.glob("*.parquet"))  # nothing segmented, nothing else written
