"""Settings are read once from the environment, into one object."""

from __future__ import annotations

import os

import pytest

from custseg.config import PARTITION_LINES, Settings, settings, usable_cores
from custseg.engines import connect
from custseg.errors import CustsegError


def test_defaults_when_nothing_is_set() -> None:
    s = Settings.from_env({"TMPDIR": "/somewhere"})
    assert s == Settings(None, None, PARTITION_LINES, "/somewhere")
    assert s.workers == usable_cores()


@pytest.mark.parametrize(
    ("env", "threads", "memory", "lines"),
    [
        ({"CUSTSEG_THREADS": "1"}, 1, None, PARTITION_LINES),
        ({"CUSTSEG_THREADS": "0", "CUSTSEG_PARTITION_LINES": ""}, None, None, PARTITION_LINES),
        ({"CUSTSEG_MEMORY_LIMIT": " 2GB ", "CUSTSEG_PARTITION_LINES": "1000"}, None, "2GB", 1000),
    ],
    ids=["threads", "zero-and-empty-mean-unset", "memory-and-parts"],
)
def test_values_from_the_environment(
    env: dict[str, str], threads: int | None, memory: str | None, lines: int
) -> None:
    s = Settings.from_env(env)
    assert (s.threads, s.memory_limit, s.partition_lines) == (threads, memory, lines)


def test_a_bad_number_names_the_variable() -> None:
    with pytest.raises(CustsegError, match=r"CUSTSEG_THREADS='two' is not a whole number"):
        Settings.from_env({"CUSTSEG_THREADS": "two"})


def test_threads_cap_the_workers() -> None:
    assert Settings(threads=1).workers == 1


def test_read_once_until_cleared(setenv) -> None:
    setenv("CUSTSEG_PARTITION_LINES", "123")
    first = settings()
    assert first.partition_lines == 123
    os.environ["CUSTSEG_PARTITION_LINES"] = "456"  # restored by setenv's monkeypatch
    assert settings() is first
    settings.cache_clear()
    assert settings().partition_lines == 456


def test_the_engine_applies_its_settings(tmp_path) -> None:
    with connect(settings=Settings(threads=1, memory_limit="1GB", temp_dir=str(tmp_path))) as e:
        assert e.scalar("SELECT current_setting('threads')") == 1
        assert e.scalar("SELECT current_setting('temp_directory')").startswith(str(tmp_path))
        assert e.scalar("SELECT current_setting('memory_limit')") in ("1.0 GiB", "953.6 MiB")
    with connect(settings=Settings(threads=1), threads=2) as e:
        assert e.settings.threads == 2
