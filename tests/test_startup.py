"""Start-up: ``custseg --help``, ``--version`` and argument errors answer without the scientific stack.

Each case runs ``python -X importtime -m custseg ...`` in a fresh interpreter and reads the
modules it imported from the import-time log on stderr: importing pandas, NumPy, scikit-learn,
SciPy, DuckDB, PyArrow, Plotly or Jinja2 there would cost seconds before the first line of
help. Timings are measured by ``bench/run.py``, never asserted here.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from custseg.cli import app

#: top-level packages that only a command's work may import
HEAVY = frozenset(
    {"pandas", "numpy", "sklearn", "scipy", "duckdb", "pyarrow", "plotly", "jinja2", "kneed"}
)


def imported_by(*args: str) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    """Run ``python -X importtime -m custseg *args``; the process and its imported modules."""
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "custseg", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={"COLUMNS": "120", "PATH": "/usr/bin:/bin"},
    )
    modules = {
        line.rsplit("|", 1)[1].strip()
        for line in proc.stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    }
    return proc, modules


def heavy(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if m.split(".")[0] in HEAVY)


def test_import_time_log_is_read() -> None:
    # the parser sees the modules: typer itself is always imported
    _, modules = imported_by("--version")
    assert "typer" in modules
    assert "custseg.cli" in modules


COMMAND_NAMES = sorted(c.name or c.callback.__name__ for c in app.registered_commands if c.callback)


@pytest.mark.parametrize(
    "args",
    [
        ("--help",),
        ("--version",),
        (),  # no arguments: the help
        ("no-such-command",),
        *[(name, "--help") for name in COMMAND_NAMES],
        ("run", "--no-such-option"),
        ("run",),  # missing argument and --out
        ("run", "x.csv", "--out", "o", "--seed", "many"),  # not an integer
    ],
    ids=lambda args: " ".join(args) or "(none)",
)
def test_answers_without_the_scientific_stack(args: tuple[str, ...]) -> None:
    proc, modules = imported_by(*args)
    assert proc.returncode in {0, 2}, proc.stderr[-2000:]
    assert "custseg.cli" in modules
    assert heavy(modules) == [], f"`custseg {' '.join(args)}` imported {heavy(modules)[:8]}"


@pytest.mark.parametrize(
    "args", [("--help",), ("--version",), ("run", "--no-such-option"), ("no-such-command",)]
)
def test_answers_before_any_parameter_is_coerced(args: tuple[str, ...]) -> None:
    # typer coerces parameter values with pydantic (a tenth of a second to import); help,
    # the version and unknown names answer before any value is coerced
    proc, modules = imported_by(*args)
    assert proc.returncode in {0, 2}, proc.stderr[-2000:]
    assert "pydantic" not in modules


def test_version_prints_the_package_version() -> None:
    from custseg.version import __version__

    proc, _ = imported_by("--version")
    assert proc.returncode == 0
    assert proc.stdout.strip() == f"custseg {__version__}"


def test_import_custseg_is_light_and_public_names_resolve() -> None:
    code = (
        "import sys, custseg\n"
        f"light = sorted(m for m in sys.modules if m.split('.')[0] in {set(HEAVY)!r})\n"
        "names = [getattr(custseg, n) for n in custseg.__all__]\n"
        "from custseg.pipeline import segment\n"
        "from custseg.model.run import RunModel\n"
        "assert custseg.segment is segment and custseg.load_model == RunModel.load\n"
        "assert set(custseg.__all__) <= set(dir(custseg))\n"
        "assert custseg.model.load is __import__('custseg.model').model.load\n"
        "print(light)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "[]"


def test_unknown_attribute_is_an_attribute_error() -> None:
    import custseg

    with pytest.raises(AttributeError, match="no_such_name"):
        _ = custseg.no_such_name  # type: ignore[attr-defined]
