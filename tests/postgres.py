"""A throwaway PostgreSQL server for tests: a cluster in a temporary folder, on a free port.

:func:`start` runs ``initdb`` and ``pg_ctl`` (PostgreSQL 15 as the machine image ships it,
``/usr/lib/postgresql/15/bin`` or on ``PATH``) and returns a :class:`Server` whose
:meth:`~Server.connect` gives a psycopg connection; :meth:`~Server.stop` stops it and removes
the folder. PostgreSQL refuses to run as root: when the tests run as root the server runs as
the ``postgres`` (or ``nobody``) user, through ``runuser``. :func:`unavailable` says why no
server can be started (no binaries, no psycopg), for ``pytest.skip``.

The session fixture ``postgres`` of ``tests/conftest.py`` starts one server for the whole
test session.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: where the machine image puts PostgreSQL's server programs
BIN_DIRS = (Path("/usr/lib/postgresql/15/bin"), Path("/usr/local/bin"))
#: non-root users the server may run as when the tests run as root, in order of preference
USERS = ("postgres", "nobody")


def _program(name: str) -> str | None:
    for folder in BIN_DIRS:
        if (folder / name).is_file():
            return str(folder / name)
    return shutil.which(name)


def _runner() -> list[str]:
    """The command prefix that runs a program as a non-root user (empty when not root)."""
    if os.geteuid() != 0:
        return []
    for user in USERS:
        try:
            pwd.getpwnam(user)
        except KeyError:
            continue
        runuser = shutil.which("runuser")
        if runuser:
            return [runuser, "-u", user, "--"]
    raise RuntimeError("running as root and no postgres or nobody user to run PostgreSQL as")


def unavailable() -> str | None:
    """Why no PostgreSQL server can be started here (``None``: one can)."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "psycopg is not installed (pip install 'custseg[postgres]')"
    for name in ("initdb", "pg_ctl"):
        if _program(name) is None:
            return f"PostgreSQL's {name} is not on this machine"
    if os.geteuid() == 0 and (shutil.which("runuser") is None):
        return "running as root without runuser to start PostgreSQL as another user"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    """A running throwaway cluster."""

    folder: Path
    port: int
    prefix: list[str]

    def connect(self, **kwargs: Any) -> Any:
        """A psycopg connection to the ``postgres`` database as the superuser ``postgres``."""
        import psycopg

        return psycopg.connect(
            host="127.0.0.1", port=self.port, user="postgres", dbname="postgres", **kwargs
        )

    def stop(self) -> None:
        """Stop the server at once and remove its folder."""
        pg_ctl = _program("pg_ctl")
        subprocess.run(
            [
                *self.prefix,
                str(pg_ctl),
                "-D",
                str(self.folder / "data"),
                "-m",
                "immediate",
                "-w",
                "stop",
            ],
            capture_output=True,
            check=False,
        )
        shutil.rmtree(self.folder, ignore_errors=True)


def start() -> Server:
    """Create a cluster in a temporary folder and start it on a free port (trust auth, local)."""
    prefix = _runner()
    folder = Path(tempfile.mkdtemp(prefix="custseg-pg-"))
    data = folder / "data"
    if prefix:  # the server's user must own its folder
        user = prefix[2]
        entry = pwd.getpwnam(user)
        os.chown(folder, entry.pw_uid, entry.pw_gid)
    os.chmod(folder, 0o700)
    run = lambda *args: subprocess.run(  # noqa: E731
        [*prefix, *args], capture_output=True, text=True, check=True, cwd=folder
    )
    try:
        run(str(_program("initdb")), "-D", str(data), "-U", "postgres", "--auth=trust",
            "--encoding=UTF8", "--locale=C", "--no-sync")  # fmt: skip
        port = _free_port()
        options = (
            f"-p {port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={folder} "
            "-c fsync=off -c full_page_writes=off"
        )
        run(str(_program("pg_ctl")), "-D", str(data), "-o", options, "-l",
            str(folder / "server.log"), "-w", "-t", "60", "start")  # fmt: skip
    except subprocess.CalledProcessError as exc:
        log = folder / "server.log"
        detail = log.read_text()[-2000:] if log.exists() else ""
        shutil.rmtree(folder, ignore_errors=True)
        raise RuntimeError(f"PostgreSQL did not start: {exc.stderr or exc} {detail}") from exc
    return Server(folder, port, prefix)


def load_frame(conn: Any, name: str, frame: Any) -> None:
    """Create table ``name`` from a pandas DataFrame (numbers, text, timestamps) and fill it."""
    import pandas as pd

    def pg_type(series: pd.Series) -> str:
        if pd.api.types.is_bool_dtype(series):
            return "BOOLEAN"
        if pd.api.types.is_integer_dtype(series):
            return "BIGINT"
        if pd.api.types.is_float_dtype(series):
            return "DOUBLE PRECISION"
        if pd.api.types.is_datetime64_any_dtype(series):
            return "TIMESTAMP"
        return "TEXT"

    def quote(ident: str) -> str:
        return '"' + ident.replace('"', '""') + '"'

    columns = ", ".join(f"{quote(str(c))} {pg_type(frame[c])}" for c in frame.columns)
    with conn.cursor() as cur:
        cur.execute(f"DROP TABLE IF EXISTS {quote(name)}")
        cur.execute(f"CREATE TABLE {quote(name)} ({columns})")
        cols = ", ".join(quote(str(c)) for c in frame.columns)
        with cur.copy(f"COPY {quote(name)} ({cols}) FROM STDIN") as copy:
            for row in frame.itertuples(index=False, name=None):
                copy.write_row([None if pd.isna(v) else v for v in row])
    conn.commit()
