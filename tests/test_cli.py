"""Tests of the ``custseg`` command line (custseg.cli), end to end through the real pipeline.

Everything goes through :class:`typer.testing.CliRunner`: no mock, the real library runs on the
shipped Online Retail file (once, module-scoped) and on small seeded synthetic CSVs.
"""

from __future__ import annotations

import inspect
import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import typer
from typer.models import CommandInfo
from typer.testing import CliRunner, Result

from custseg.cli import app
from custseg.datasets import make_transactions
from custseg.outputs.folder import OUTPUT_FILES

REPO = Path(__file__).resolve().parents[1]
REAL_DATA = REPO / "data" / "online_retail.parquet"
REAL_ROWS = 541_909
EXPECTED_OUTPUTS = {
    "segments.parquet",
    "segments.csv",
    "profiles.csv",
    "model.json",
    "audit.json",
    "exploration.json",
    "report.html",
    "rules.csv",
    "rules.sql",
}
# the file with unrecognisable column names: role -> column
GERMAN = {
    "customer_id": "Kunde",
    "date": "Tag",
    "invoice": "Beleg",
    "quantity": "Menge",
    "price": "Preis",
}

# wide terminal so Rich neither wraps sentences nor truncates table headers
runner = CliRunner(env={"COLUMNS": "200"})


def invoke(*args: str | Path) -> Result:
    return runner.invoke(app, [str(a) for a in args])


def stderr_of(result: Result) -> str:
    """stderr when the runner captures it apart, else the merged output (older Click)."""
    try:
        return result.stderr
    except ValueError:  # Click < 8.2 without mix_stderr=False
        return result.output


def assert_ok(result: Result) -> None:
    assert result.exit_code == 0, f"exit {result.exit_code}: {result.exception!r}\n{result.output}"


def assert_clean_error(result: Result, *needles: str) -> str:
    """Exit code 1, no traceback, one line starting with ``error:`` that names ``needles``."""
    assert result.exit_code == 1, f"exit {result.exit_code}\n{result.output}"
    # an uncaught exception is also exit 1 under CliRunner: insist on a deliberate exit
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    err = stderr_of(result)
    assert "Traceback" not in result.output
    assert "Traceback" not in err
    message = err.strip()
    assert message.startswith("error:"), message
    assert len(message.splitlines()) == 1, message
    for needle in needles:
        assert needle in message, f"{needle!r} not in {message!r}"
    return message


# --- data ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def lines() -> pd.DataFrame:
    frame, _ = make_transactions(200, seed=1)
    return frame


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cli_data")


@pytest.fixture(scope="module")
def small_csv(lines: pd.DataFrame, data_dir: Path) -> Path:
    path = data_dir / "small.csv"
    lines.to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def german_csv(lines: pd.DataFrame, data_dir: Path) -> Path:
    path = data_dir / "german.csv"
    source = {
        "customer_id": "CustomerID",
        "date": "InvoiceDate",
        "invoice": "InvoiceNo",
        "quantity": "Quantity",
        "price": "UnitPrice",
    }
    lines[list(source.values())].rename(
        columns={source[role]: col for role, col in GERMAN.items()}
    ).to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def bad_files(lines: pd.DataFrame, data_dir: Path) -> dict[str, Path]:
    garbage = data_dir / "garbage.parquet"
    garbage.write_bytes(b"\x00\x01PAR? this is not parquet \xff\xfe" * 40)
    no_customer = data_dir / "no_customer.csv"
    lines.assign(CustomerID="").to_csv(no_customer, index=False)
    two = lines["CustomerID"].dropna().unique()[:2]
    two_customers = data_dir / "two_customers.csv"
    lines[lines["CustomerID"].isin(two)].to_csv(two_customers, index=False)
    return {
        "missing": data_dir / "does_not_exist.csv",
        "garbage": garbage,
        "no_customer": no_customer,
        "two_customers": two_customers,
    }


@pytest.fixture(scope="module")
def real_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Result, Path]:
    """The one real-data run of the module."""
    out = tmp_path_factory.mktemp("real") / "run"
    result = invoke("run", REAL_DATA, "--out", out, "--seed", "0")
    return result, out


@pytest.fixture
def out(tmp_path: Path) -> Path:
    return tmp_path / "out"


# --- the real data file ----------------------------------------------------------------------


@pytest.mark.slow
def test_real_run_succeeds_and_prints_verdict_and_table(real_run: tuple[Result, Path]) -> None:
    result, out_dir = real_run
    assert_ok(result)
    text = result.stdout
    assert "Data audit" in text
    assert "k = " in text
    assert "Customer segments" in text  # table title
    assert "Name" in text and "Customers" in text  # table header
    profiles = pd.read_csv(out_dir / "profiles.csv")
    for name in profiles["segment_name"]:
        assert name in text, f"segment {name!r} missing from the printed table"
    assert f"Written to {out_dir}" in text
    assert "error:" not in stderr_of(result)


@pytest.mark.slow
def test_real_run_writes_every_output(real_run: tuple[Result, Path]) -> None:
    result, out_dir = real_run
    assert_ok(result)
    assert set(OUTPUT_FILES) == EXPECTED_OUTPUTS
    for name in EXPECTED_OUTPUTS:
        path = out_dir / name
        assert path.is_file(), f"{name} not written"
        assert path.stat().st_size > 0, f"{name} is empty"
    # no temporary or stray files left behind; the folder is sealed by its manifest
    assert {p.name for p in out_dir.iterdir()} == EXPECTED_OUTPUTS | {"manifest.json"}
    assert not [p for p in out_dir.parent.iterdir() if p.name.startswith(".")]
    html = (out_dir / "report.html").read_text(encoding="utf-8")
    assert html.lstrip().lower().startswith("<!doctype html")
    json.loads((out_dir / "model.json").read_text(encoding="utf-8"))


@pytest.mark.slow
def test_real_run_audit_accounts_for_every_row(real_run: tuple[Result, Path]) -> None:
    result, out_dir = real_run
    assert_ok(result)
    audit = json.loads((out_dir / "audit.json").read_text(encoding="utf-8"))
    assert audit["input_rows"] == REAL_ROWS
    assert audit["kept_rows"] + sum(audit["dropped"].values()) == REAL_ROWS
    assert 0 < audit["kept_rows"] < REAL_ROWS  # the real file has dirt to drop
    assert f"{REAL_ROWS:,}" in result.stdout  # the audit line shows the rows read


@pytest.mark.slow
def test_real_run_outputs_agree(real_run: tuple[Result, Path]) -> None:
    result, out_dir = real_run
    assert_ok(result)
    audit = json.loads((out_dir / "audit.json").read_text(encoding="utf-8"))
    segments = pd.read_csv(out_dir / "segments.csv")
    profiles = pd.read_csv(out_dir / "profiles.csv")
    model = json.loads((out_dir / "model.json").read_text(encoding="utf-8"))
    assert len(segments) == audit["customers"]
    assert len(pd.read_parquet(out_dir / "segments.parquet")) == len(segments)
    assert int(profiles["customers"].sum()) == len(segments)
    assert sorted(profiles["segment"]) == sorted(segments["segment"].unique())
    k = len(profiles)
    assert f"k = {k}" in result.stdout
    assert set(model["segment_names"]) == {str(s) for s in profiles["segment"]}
    assert model["input"]["name"] == REAL_DATA.name


# --- options -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fr_run(small_csv: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Result, Path]:
    out = tmp_path_factory.mktemp("fr") / "run"
    return invoke("run", small_csv, "--out", out, "--seed", "0", "--lang", "fr"), out


def test_lang_fr_prints_french(fr_run: tuple[Result, Path]) -> None:
    result, out = fr_run
    assert_ok(result)
    text = result.stdout
    assert "Audit des données" in text
    assert "Segments de clients" in text
    assert "Écrit dans" in text
    assert "Data audit" not in text and "Customer segments" not in text
    assert json.loads((out / "model.json").read_text(encoding="utf-8"))["lang"] == "fr"


def test_lang_fr_descriptions_use_french_decimal_comma(fr_run: tuple[Result, Path]) -> None:
    result, out = fr_run
    assert_ok(result)
    profiles = pd.read_csv(out / "profiles.csv")
    # precondition: this seeded file has a segment with a fractional median frequency
    assert (profiles["median_frequency"] % 1 != 0).any()
    for description in profiles["description"]:
        assert not re.search(r"\d\.\d", description), description


def test_k_forces_the_number_of_segments(small_csv: Path, out: Path) -> None:
    result = invoke("run", small_csv, "--out", out, "--seed", "0", "--k", "3")
    assert_ok(result)
    profiles = pd.read_csv(out / "profiles.csv")
    assert len(profiles) == 3
    assert sorted(profiles["segment"]) == [1, 2, 3]
    assert pd.read_csv(out / "segments.csv")["segment"].nunique() == 3
    assert "k = 3 was set by the user" in result.stdout


def test_map_reads_unrecognisable_column_names(german_csv: Path, out: Path) -> None:
    maps = [arg for role, col in GERMAN.items() for arg in ("--map", f"{role}={col}")]
    result = invoke("run", german_csv, "--out", out, "--seed", "0", *maps)
    assert_ok(result)
    assert "k = " in result.stdout
    model = json.loads((out / "model.json").read_text(encoding="utf-8"))
    assert model["columns"] == GERMAN
    audit = json.loads((out / "audit.json").read_text(encoding="utf-8"))
    assert audit["kept_rows"] > 0
    assert audit["kept_rows"] + sum(audit["dropped"].values()) == audit["input_rows"]


def test_unrecognisable_columns_without_map_fail_naming_the_role(
    german_csv: Path, out: Path
) -> None:
    result = invoke("run", german_csv, "--out", out)
    assert_clean_error(result, str(german_csv), "customer_id", "--map", "Kunde")
    assert not out.exists()


# --- errors --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("case", "extra", "needles"),
    [
        pytest.param("missing", [], ["does_not_exist.csv", "no such file"], id="missing-file"),
        pytest.param(
            "garbage", [], ["garbage.parquet", "is not a Parquet file"], id="unreadable-file"
        ),
        pytest.param(
            "no_customer",
            [],
            ["no_customer.csv", "no valid transaction line"],
            id="all-rows-invalid",
        ),
        pytest.param(
            "two_customers", ["--k", "3"], ["2 customers", "k = 3"], id="k-above-customers"
        ),
        pytest.param(
            "small",
            ["--as-of", "2024-13-45"],
            ["--as-of", "'2024-13-45'", "YYYY-MM-DD"],
            id="bad-as-of",
        ),
        pytest.param("small", ["--lang", "de"], ["--lang", "'de'", "en", "fr"], id="bad-lang"),
        pytest.param(
            "small",
            ["--map", "customer_id"],
            ["--map", "'customer_id'", "canonical=source"],
            id="map-without-equals",
        ),
        pytest.param("small", ["--map", "=Kunde"], ["--map", "'=Kunde'"], id="map-without-role"),
        pytest.param(
            "small",
            ["--map", "shoe_size=CustomerID"],
            ["--map", "shoe_size", "customer_id"],
            id="map-unknown-role",
        ),
        pytest.param(
            "small",
            ["--map", "customer_id=Kunde"],
            ["small.csv", "'Kunde'", "CustomerID"],
            id="map-unknown-column",
        ),
        pytest.param(
            "small",
            ["--k-min", "5", "--k-max", "3"],
            ["[5, 3]", "--k-min"],
            id="empty-k-range",
        ),
        pytest.param(
            "small", ["--k", "0"], ["'k' parameter", "range [1, inf)", "Got 0"], id="k-zero"
        ),
    ],
)
def test_errors_are_one_clean_line(
    case: str,
    extra: list[str],
    needles: list[str],
    bad_files: dict[str, Path],
    small_csv: Path,
    out: Path,
) -> None:
    source = small_csv if case == "small" else bad_files[case]
    result = invoke("run", source, "--out", out, *extra)
    assert_clean_error(result, *needles)
    assert not out.exists(), "a failed run must not leave outputs behind"


def test_out_that_is_a_file_is_refused(small_csv: Path, tmp_path: Path) -> None:
    target = tmp_path / "taken.txt"
    target.write_text("keep me")
    assert_clean_error(invoke("run", small_csv, "--out", target), "--out", str(target))
    assert target.read_text() == "keep me"


def test_out_that_would_overwrite_the_input_is_refused(small_csv: Path, tmp_path: Path) -> None:
    folder = tmp_path / "previous_run"
    folder.mkdir()
    source = folder / "segments.csv"
    shutil.copy(small_csv, source)
    before = source.read_bytes()
    assert_clean_error(invoke("run", source, "--out", folder), "--out", "overwrite")
    assert source.read_bytes() == before


def test_out_that_would_overwrite_an_input_named_profiles_csv_is_refused(
    small_csv: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "previous_run"
    folder.mkdir()
    source = folder / "profiles.csv"
    shutil.copy(small_csv, source)
    before = source.read_bytes()
    result = invoke("run", source, "--out", folder)
    assert source.read_bytes() == before, "the input file was overwritten"
    assert_clean_error(result, "--out", "overwrite")


def test_negative_seed_is_a_clean_error(small_csv: Path, out: Path) -> None:
    assert_clean_error(invoke("run", small_csv, "--out", out, "--seed", "-1"), "seed")


@pytest.mark.parametrize(
    ("name", "extra", "needle"),
    [
        pytest.param("sales[eu].csv", [], "sales[eu].csv", id="path-with-brackets"),
        pytest.param("small", ["--map", "customer_id=[client]"], "[client]", id="map-brackets"),
        pytest.param("small", ["--lang", "[/]"], "[/]", id="lang-closing-tag"),
    ],
)
def test_error_messages_show_brackets_verbatim(
    name: str, extra: list[str], needle: str, small_csv: Path, tmp_path: Path, out: Path
) -> None:
    source = small_csv if name == "small" else tmp_path / name
    assert_clean_error(invoke("run", source, "--out", out, *extra), needle)


# --- help ----------------------------------------------------------------------------------


def _commands(
    typer_app: typer.Typer, prefix: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], CommandInfo]]:
    for info in typer_app.registered_commands:
        assert info.callback is not None
        name = info.name or info.callback.__name__.replace("_", "-")
        yield (*prefix, name), info
    for group in typer_app.registered_groups:
        sub = group.typer_instance
        assert sub is not None
        yield from _commands(sub, (*prefix, group.name or sub.info.name or ""))


COMMANDS = list(_commands(app))


def test_app_has_commands() -> None:
    assert COMMANDS, "custseg.cli.app registers no command"
    assert ("run",) in [path for path, _ in COMMANDS]


@pytest.mark.parametrize(("path", "info"), COMMANDS, ids=[" ".join(p) for p, _ in COMMANDS])
def test_every_command_help_has_an_example(path: tuple[str, ...], info: CommandInfo) -> None:
    help_text = info.help or inspect.getdoc(info.callback) or ""
    assert "Example" in help_text or "custseg " in help_text, (
        f"`custseg {' '.join(path)}` has no example in its help text"
    )
    example = next(
        line.strip() for line in help_text.splitlines() if "Example" in line or "custseg " in line
    )
    result = invoke(*path, "--help")
    assert_ok(result)
    # the example is rendered by --help, not cut off (e.g. by a \f in the docstring); the help
    # text may be wrapped to the terminal's width
    assert " ".join(example.split()) in " ".join(result.output.split())


# --- determinism ---------------------------------------------------------------------------


def test_same_input_and_seed_give_byte_identical_outputs(small_csv: Path, tmp_path: Path) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    assert_ok(invoke("run", small_csv, "--out", first, "--seed", "7"))
    assert_ok(invoke("run", small_csv, "--out", second, "--seed", "7"))
    for name in ("segments.csv", "profiles.csv", "model.json"):
        assert (first / name).read_bytes() == (second / name).read_bytes(), f"{name} differs"


def test_currency_is_saved_and_shown(tmp_path: Path) -> None:
    """--currency: kept in model.json, on the report's money figures and its reproduce line;
    a value that is not a currency code is a one-line error before any work."""
    lines, _ = make_transactions(200, seed=8)
    data = tmp_path / "lines.parquet"
    lines.to_parquet(data)
    out = tmp_path / "run"
    ok = runner.invoke(app, ["run", str(data), "--out", str(out), "--k", "3", "--currency", "eur"])
    assert ok.exit_code == 0, ok.output
    assert json.loads((out / "model.json").read_text())["currency"] == "EUR"
    page = (out / "report.html").read_text()
    assert "--currency EUR" in page and "(€)" in page
    # the portraits' spend carries the sign, the language's way (not "759EUR")
    portraits = pd.read_csv(out / "profiles.csv")["description"]
    assert portraits.str.contains(r"€[0-9][0-9,.]* net spend").all(), list(portraits)
    plain = tmp_path / "plain"
    assert runner.invoke(app, ["run", str(data), "--out", str(plain), "--k", "3"]).exit_code == 0
    assert "currency" not in json.loads((plain / "model.json").read_text())
    bad = runner.invoke(app, ["run", str(data), "--out", str(tmp_path / "bad"), "--currency", "€"])
    assert bad.exit_code == 1
    assert (
        bad.output.strip().count("\n") == 0
        and "--currency '€' is not a currency code" in bad.output
    )
    assert not (tmp_path / "bad").exists()


@pytest.mark.parametrize("lang", ["en", "fr"])
def test_algorithms_table_fits_80_columns(lang: str) -> None:
    """The --compare table keeps whole headers and every line within 80 columns."""
    import io

    from rich.console import Console

    import custseg
    from custseg.report.terminal import _comparison_table

    lines, _ = make_transactions(300, seed=3)
    result = custseg.segment(lines, seed=0, k=3, compare=["kmeans", "ward"], lang=lang)
    console = Console(width=80, record=True, file=io.StringIO())
    _comparison_table(result, console)
    text = console.export_text()
    assert max(len(line) for line in text.splitlines()) <= 80
    header = next(line for line in text.splitlines() if "Sil." in line)
    for word in ("Sil.", "DB", "CH", "ARI", "Atyp."):
        assert f" {word} " in header
    assert "…" not in text
