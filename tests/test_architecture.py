"""The layers of the package: imports flow one way, and only the engines speak to DuckDB.

The contracts live in pyproject.toml (``[tool.importlinter]``) and ``make lint`` checks them
too; running them here makes a broken contract a failing test with its import chain.
"""

from __future__ import annotations

import os
import sys
import textwrap
from pathlib import Path

import pytest

importlinter_cli = pytest.importorskip("importlinter.cli")

ROOT = Path(__file__).resolve().parents[1]


def _lint(folder: Path, config: str | None = None) -> int:
    """Run import-linter from ``folder`` (its config: ``config`` or pyproject.toml)."""
    here = Path.cwd()
    os.chdir(folder)
    try:
        return int(importlinter_cli.lint_imports(config_filename=config, no_cache=True))
    finally:
        os.chdir(here)


def test_the_package_keeps_its_import_contracts() -> None:
    assert _lint(ROOT) == 0, "an import breaks a layer contract; run `make lint` for the chain"


def test_the_check_sees_imports_inside_functions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A lower layer importing a higher one inside a function body is caught, like at the top."""
    pkg = tmp_path / "layered"
    (pkg / "low").mkdir(parents=True)
    (pkg / "high").mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "high" / "__init__.py").write_text("VALUE = 1\n")
    (pkg / "low" / "__init__.py").write_text("")
    (pkg / "low" / "mod.py").write_text(
        textwrap.dedent("""
            def value() -> int:
                from layered.high import VALUE  # upward, hidden in a function

                return VALUE
        """)
    )
    (tmp_path / ".importlinter").write_text(
        textwrap.dedent("""
            [importlinter]
            root_package = layered

            [importlinter:contract:layers]
            name = layers
            type = layers
            layers =
                layered.high
                layered.low
        """)
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    assert _lint(tmp_path, ".importlinter") == 1
    (pkg / "low" / "mod.py").write_text("def value() -> int:\n    return 1\n")
    sys.modules.pop("layered", None)
    assert _lint(tmp_path, ".importlinter") == 0
