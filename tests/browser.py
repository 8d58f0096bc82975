"""What the test modules that drive a real browser share (the report, drift, track, compare pages).

Playwright drives Debian's chromium through ``executable_path`` (:mod:`custseg.report.browser`);
``make test`` installs chromium where it is missing.
"""

from __future__ import annotations

from pathlib import Path

import pytest

#: Debian's chromium
CHROMIUM = Path("/usr/bin/chromium")


def browser_module() -> list[pytest.MarkDecorator]:
    """Skip the calling test module when Playwright is not installed; return its marks: slow,
    and skipped with a reason where chromium is missing. Call it as
    ``pytestmark = browser_module()``."""
    pytest.importorskip("playwright.sync_api", reason="playwright is in the dev extra")
    return [
        pytest.mark.slow,
        pytest.mark.skipif(
            not CHROMIUM.is_file(), reason="Debian's chromium is missing; `make test` installs it"
        ),
    ]
