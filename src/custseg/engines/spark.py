"""The Spark engine: the audit and the features run in Spark (local mode, a cluster or Spark
Connect), where the lines lie; only the customer table comes back.

The only module of custseg that imports :mod:`pyspark`. The stages write their SQL once, in
DuckDB's dialect; every statement is transpiled here by sqlglot (:func:`to_spark`, cached per
text), with rewrites where DuckDB's functions have no Spark equivalent that sqlglot knows
(``isfinite``, ``hash``, ``try_strptime``, ``regexp_full_match``, Unicode ``TRIM``…), as the
PostgreSQL engine does for its dialect.

Relations are temporary views of a session of the engine's own (:meth:`SparkSession.newSession`:
its views and settings are not seen by another engine of the same process). A *table* is a view
over a local checkpoint of its rows (kept by Spark's block manager, in memory and spilled to
``spark.local.dir``): a snapshot, as the contract asks. A *view* is stored as SQL text and read
again at every use. Spark has no ``UPDATE`` of a view: :meth:`SparkEngine.update` rebuilds the
table. Spark's session runs in ANSI mode (a failed ``CAST`` is an error, as in DuckDB and PostgreSQL;
the stages write ``TRY_CAST`` where a value may not convert), with timestamps without time zone,
in UTC.
"""

from __future__ import annotations

import contextlib
import csv
import gzip
import os
import re
import shutil
import tempfile
import threading
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from functools import lru_cache
from itertools import count
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from custseg.config import Settings, settings
from custseg.engines.base import Engine, Params
from custseg.engines.sql import PARAM, ident, transpile
from custseg.errors import EngineError, EngineStopped, InputError

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    import pyarrow as pa
    from pyspark.sql import DataFrame, SparkSession

#: Spark type names (``simpleString``) → the DuckDB names the stages read
_TYPES: dict[str, str] = {
    "string": "VARCHAR",
    "bigint": "BIGINT",
    "int": "INTEGER",
    "smallint": "SMALLINT",
    "tinyint": "TINYINT",
    "double": "DOUBLE",
    "float": "FLOAT",
    "boolean": "BOOLEAN",
    "date": "DATE",
    "timestamp_ntz": "TIMESTAMP",
    "timestamp": "TIMESTAMP WITH TIME ZONE",
    "binary": "BLOB",
    "void": "NULL",
}

#: characters DuckDB's ``TRIM(x)`` removes at both ends (Unicode spaces), as a Java class
_SPACES = "[\\s\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]"

#: strftime fields → Java's (single letters read one or two digits, as DuckDB's do)
_FORMAT = {
    "%Y": "yyyy",
    "%y": "yy",
    "%m": "M",
    "%d": "d",
    "%H": "H",
    "%I": "h",
    "%M": "m",
    "%S": "s",
    "%f": "SSSSSS",
    "%p": "a",
    "%b": "MMM",
    "%B": "MMMM",
    "%%": "%",
}

#: the master used when none is given (all the machine's cores, in this process's JVM)
DEFAULT_MASTER = "local[*]"

# pyspark's note on pandas 3 at each conversion: of no use to a user of custseg
warnings.filterwarnings(
    "ignore", message="PySpark does not yet fully support pandas", category=FutureWarning
)

#: the Spark session of the process (one JVM per process), made on first use
_SESSION: dict[str, Any] = {}
_SESSION_LOCK = threading.Lock()
_names = count()


def java_format(fmt: str) -> str:
    """A strftime format (DuckDB's ``strptime``) as a Java ``DateTimeFormatter`` pattern.

    Letters other than the fields are quoted, so that they are read as they are.

    Examples
    --------
    >>> java_format("%d/%m/%Y %H:%M")
    'd/M/yyyy H:m'
    >>> java_format("%Y-%m-%dT%H:%M:%S")
    "yyyy-M-d'T'H:m:s"
    """
    out = []
    i = 0
    while i < len(fmt):
        field = fmt[i : i + 2]
        if field in _FORMAT:
            out.append(_FORMAT[field])
            i += 2
            continue
        if field.startswith("%"):
            raise EngineError(f"no Spark equivalent of the date field {field!r} in {fmt!r}")
        char = fmt[i]
        out.append(f"'{char}'" if char.isalpha() else ("''" if char == "'" else char))
        i += 1
    return "".join(out)


@lru_cache(maxsize=4096)
def to_spark(sql: str) -> str:
    """A statement of DuckDB's dialect in Spark's (cached: the stages repeat theirs).

    sqlglot transpiles; before it writes, DuckDB's functions Spark lacks are rewritten:
    ``isfinite``/``isinf`` as comparisons, ``hash(a, b…)`` as ``xxhash64`` (64 bits, as
    DuckDB's), ``try_strptime`` as ``try_to_timestamp`` with a Java pattern,
    ``regexp_full_match`` as an anchored ``RLIKE``, ``TRIM(x)`` as one that also removes the
    Unicode spaces DuckDB's does, ``strlen``/``suffix`` as ``octet_length``/``endswith``,
    ``to_seconds`` as a day-time interval and ``row_number() OVER ()`` (input order) as
    ``monotonically_increasing_id()`` (increasing in input order; the stages use it to order
    lines, never as a count) and ``quantile_cont(x, q)`` as ``percentile(x, q)``.
    """
    from sqlglot import exp

    def fn(name: str, *args: exp.Expression) -> exp.Expression:
        return exp.Anonymous(this=name, expressions=list(args))

    def inf(sign: str) -> exp.Expression:
        return exp.Cast(this=exp.Literal.string(f"{sign}Infinity"), to=exp.DataType.build("double"))

    def rewrite(node: exp.Expression, visit: Any) -> exp.Expression:
        name = node.name.lower() if isinstance(node, exp.Anonymous) else ""
        args = [e.transform(visit) for e in node.expressions] if name else []
        if name in {"isfinite", "isinf", "is_inf"} or isinstance(node, exp.IsInf):
            value = args[0] if args else node.this.transform(visit)
            infinite = exp.In(this=value.copy(), expressions=[inf(""), inf("-")])
            if name == "isfinite":
                return exp.Not(this=exp.paren(exp.or_(fn("isnan", value), infinite)))
            return exp.paren(infinite)
        if isinstance(node, exp.Div) and not node.args.get("typed"):
            # DuckDB's `/` gives a DOUBLE, whatever its operands; Spark's keeps a DECIMAL
            # (rounded to 6 places past the scale it can hold)
            left = exp.Cast(this=node.this.transform(visit), to=exp.DataType.build("double"))
            return exp.Div(this=left, expression=node.expression.transform(visit))
        if isinstance(node, exp.Avg):
            value = exp.Avg(this=node.this.transform(visit))
            return exp.Cast(this=value, to=exp.DataType.build("double"))
        if isinstance(node, exp.RegexpReplace):
            return _regexp_replace(node, visit)
        if isinstance(node, exp.PercentileCont) and node.args.get("expression") is not None:
            # DuckDB's quantile_cont(x, q): Spark's exact, interpolated percentile(x, q)
            return fn("percentile", node.this.transform(visit), node.expression.transform(visit))
        if name == "hash":
            return fn("xxhash64", *args)
        if name == "strlen":
            return fn("octet_length", *args)
        if name == "suffix":
            return fn("endswith", *args)
        if name == "to_seconds":
            zero = exp.Literal.number(0)
            return fn("make_dt_interval", zero, zero, zero, args[0])
        if name == "try_strptime" or isinstance(node, exp.StrToTime):
            value = args[0] if name else node.this.transform(visit)
            fmt = args[1] if name else node.args["format"]
            if not isinstance(fmt, exp.Literal):
                raise EngineError("try_strptime with a format that is not a literal")
            pattern = exp.Literal.string(java_format(fmt.name))
            return fn("try_to_timestamp", value, pattern)
        if isinstance(node, exp.Window) and not node.args.get("partition_by"):
            inner = node.this
            if (
                isinstance(inner, exp.RowNumber)
                and not node.args.get("order")
                and not node.args.get("spec")
            ):
                return exp.Add(
                    this=fn("monotonically_increasing_id"), expression=exp.Literal.number(1)
                )
        if isinstance(node, exp.Table) and isinstance(node.this, exp.GenerateSeries):
            series = node.this  # DuckDB's range(a, b) table: Spark's range, end excluded
            end = series.args["end"].transform(visit)
            if not series.args.get("is_end_exclusive"):
                end = exp.Add(this=end, expression=exp.Literal.number(1))
            call = fn("range", series.args["start"].transform(visit), end)
            return exp.Table(this=call, alias=node.args.get("alias"))
        if isinstance(node, exp.Trim) and not node.args.get("expression"):
            pattern = exp.Literal.string(f"^{_SPACES}+|{_SPACES}+$")
            return fn("regexp_replace", node.this.transform(visit), pattern, exp.Literal.string(""))
        return node

    out = transpile(sql, "spark", rewrite)
    return out.replace(f"`{PARAM}`", "?").replace(PARAM, "?")


def _regexp_replace(node: Any, rewrite: Any) -> Any:
    """DuckDB's ``regexp_replace(x, p, r[, 'g'])`` as Spark's: groups in the replacement are
    written ``$1`` (Java) rather than ``\\1``, and Spark always replaces every match, so a
    call without ``'g'`` (first match only) is accepted only where one match is possible (an
    anchored pattern)."""
    from sqlglot import exp

    pattern, replacement = node.expression, node.args.get("replacement")
    modifiers = node.args.get("modifiers")
    every = modifiers is not None and "g" in modifiers.name
    if not isinstance(pattern, exp.Literal) or not isinstance(replacement, exp.Literal):
        raise EngineError("regexp_replace with a pattern or replacement that is not a literal")
    if not every and not (pattern.name.startswith("^") or pattern.name.endswith("$")):
        raise EngineError(
            f"regexp_replace of the first match of {pattern.name!r}: Spark replaces every match"
        )
    text = re.sub(r"\\(\d)", r"$\1", replacement.name.replace("$", "\\$"))
    return exp.RegexpReplace(
        this=node.this.transform(rewrite),
        expression=pattern.copy(),
        replacement=exp.Literal.string(text),
    )


def _first_line(exc: BaseException) -> str:
    text = getattr(exc, "getMessage", lambda: str(exc))()
    text = next((ln.strip() for ln in str(text).splitlines() if ln.strip()), type(exc).__name__)
    # Spark's messages open with their error class and close with the plan: keep the sentence
    return re.sub(r"\s*SQLSTATE: \w+.*$", "", text).rstrip(";. ")


@contextlib.contextmanager
def _errors() -> Iterator[None]:
    """Spark's failures (analysis, parsing, execution, the JVM's) as one-line EngineErrors."""
    from py4j.protocol import Py4JError
    from pyspark.errors import PySparkException

    try:
        yield
    except (PySparkException, Py4JError) as exc:
        cause = _java_cause(exc)
        if any(sign in cause for sign in _STOPPED):
            raise EngineStopped(
                f"Spark stopped while it ran ({cause}); give it more memory "
                "(CUSTSEG_MEMORY_LIMIT, its driver's heap: now "
                f"{_SESSION.get('memory', 'the default')}) or run it on a cluster "
                f"(--spark-master); its log: {_SESSION.get('log', 'none')}"
            ) from exc
        raise EngineError(_first_line(exc)) from exc


#: what Spark's errors say when Spark itself, not the statement, failed
_STOPPED = (
    "SparkContext was shut down",
    "OutOfMemoryError",
    "Java gateway process exited",
    "Answer from Java side is empty",
    "SparkContext has been shutdown",
    "stopped SparkContext",
)


def _java_cause(exc: BaseException) -> str:
    """The first line of the Java exception behind a py4j error, else of the error itself."""
    java = getattr(exc, "java_exception", None)
    if java is not None:
        with contextlib.suppress(Exception):
            return str(java.toString()).splitlines()[0]
    return _first_line(exc)


def master_of(master: str | None, settings_: Settings | None = None) -> str:
    """The Spark master to use: the one given, else the settings' (``CUSTSEG_SPARK_MASTER``),
    else :data:`DEFAULT_MASTER`."""
    return master or (settings_ or settings()).spark_master or DEFAULT_MASTER


def spark_session(master: str | None, settings_: Settings) -> SparkSession:
    """The process's Spark session, started on first use (the JVM's start-up, seconds).

    ``master``: ``local[N]``/``local[*]`` (this process), a cluster URL (``spark://…``,
    ``yarn``…), or ``sc://host:port`` for Spark Connect. A session already started is reused,
    whatever master is asked (a JVM has one).
    """
    wanted = master_of(master, settings_)
    with _SESSION_LOCK:
        found = _SESSION.get("session")
        if found is not None and not _stopped(found):
            return found  # type: ignore[no-any-return]
        try:
            from pyspark.sql import SparkSession
        except ImportError as exc:  # pyspark is the spark extra
            raise EngineError(
                f"running on Spark needs pyspark ({exc}); install it with "
                "pip install 'custseg[spark]'"
            ) from None
        if wanted.startswith("sc://"):
            builder = SparkSession.builder.remote(wanted)
        else:
            if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
                raise EngineError(
                    "Spark needs Java 17 or later: install it (apt-get install "
                    "openjdk-17-jre-headless) or set JAVA_HOME"
                )
            local = Path(settings_.temp_dir) / "custseg-spark"
            local.mkdir(parents=True, exist_ok=True)

            builder = (
                SparkSession.builder.master(wanted)
                .appName("custseg")
                .config("spark.ui.enabled", "false")
                .config("spark.ui.showConsoleProgress", "false")
                .config("spark.local.dir", str(local))
                .config("spark.sql.warehouse.dir", str(local / "warehouse"))
                .config("spark.driver.extraJavaOptions", f"-Djava.io.tmpdir={local}")
            )
            # the driver's heap holds what local Spark checkpoints (1 GB by default: 10 M lines
            # stopped it); half the machine's memory unless CUSTSEG_MEMORY_LIMIT says otherwise
            memory = _java_memory(settings_)
            builder = builder.config("spark.driver.memory", memory)
            _SESSION["memory"] = memory
            _SESSION["log"] = str(local / "jvm.log")
        quiet_python_logs()
        try:
            with _errors(), _jvm_output(Path(settings_.temp_dir) / "custseg-spark" / "jvm.log"):
                session = builder.getOrCreate()
        except EngineError as exc:
            if not wanted.startswith("sc://"):
                raise
            raise EngineError(
                f"{wanted}: cannot reach Spark Connect ({exc}); it needs pip install "
                "'pyspark[connect]' and a Spark Connect server listening there"
            ) from None
        with contextlib.suppress(Exception):
            # a failed query is the caller's one-line error, not a logged stack
            session.sparkContext.setLogLevel("OFF")
        _SESSION["session"] = session
        return session


def quiet_python_logs() -> None:
    """pyspark logs every failed query with its stack on stderr: the failure reaches the
    user as the one-line error of the statement instead."""
    import logging

    from pyspark.logger import PySparkLogger

    for name in ("SQLQueryContextLogger", "DataFrameQueryContextLogger"):
        PySparkLogger.getLogger(name).setLevel(logging.CRITICAL + 1)


@contextlib.contextmanager
def _jvm_output(log: Path) -> Iterator[None]:
    """The JVM started meanwhile writes its output (start-up banner, warnings) to ``log``
    rather than to the terminal: it inherits the file descriptors of this process."""
    log.parent.mkdir(parents=True, exist_ok=True)
    saved = [os.dup(1), os.dup(2)]
    try:
        with log.open("ab") as sink:
            os.dup2(sink.fileno(), 1)
            os.dup2(sink.fileno(), 2)
            yield
    finally:
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in saved:
            os.close(fd)


def _stopped(session: Any) -> bool:
    try:
        return bool(session.sparkContext._jsc is None)
    except Exception:  # Spark Connect has no SparkContext
        return False


def _java_memory(settings_: Settings) -> str:
    """The settings' memory limit ("4GB", "512MiB"…) in the JVM's spelling ("4096m"); half the
    machine's memory when none is set."""
    if not settings_.memory_limit:
        try:
            total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        except (ValueError, OSError, AttributeError):
            return "2048m"
        return f"{max(total // 2 // 2**20, 1024)}m"
    text = str(settings_.memory_limit).strip().lower().replace("ib", "b")
    match = re.fullmatch(r"([0-9.]+)\s*([kmgt]?)b?", text)
    if not match:
        return "2048m"
    number, unit = float(match.group(1)), match.group(2) or "b"
    megabytes = number * {"b": 1 / 2**20, "k": 1 / 1024, "m": 1, "g": 1024, "t": 2**20}[unit]
    return f"{max(int(megabytes), 512)}m"


def sniff_delimiter(path: Path) -> str:
    """The field separator of a CSV file, read from its first lines (``,`` by default).

    Spark's reader is told the separator; DuckDB's finds it (its sniffer), so the Spark engine
    finds it here, among ``,``, ``;``, tab and ``|``, with Python's :class:`csv.Sniffer`.
    """
    opener: Any = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8", errors="replace", newline="") as fh:
        sample = fh.read(1 << 16)
    try:
        return csv.Sniffer().sniff(sample, delimiters=",;\t|").delimiter
    except csv.Error:
        counts = {d: sample.split("\n", 1)[0].count(d) for d in ",;\t|"}
        best = max(counts, key=lambda d: counts[d])
        return best if counts[best] else ","


class SparkEngine(Engine):
    """A Spark session of custseg's own; its relations are temporary views.

    Examples
    --------
    ``SparkEngine(master="local[2]")``: the stages' SQL runs in a local Spark of two cores;
    ``SparkEngine(master="sc://spark:15002")`` sends it to a Spark Connect server.
    """

    dialect = "spark"
    clusters = True

    def __init__(
        self,
        settings_: Settings | None = None,
        *,
        threads: int | None = None,
        memory_limit: str | None = None,
        master: str | None = None,
    ) -> None:
        base = settings_ or settings()
        # parts are for memory on this machine: Spark holds the lines, so one part
        self.settings = replace(
            base,
            threads=threads or base.threads,
            memory_limit=memory_limit or base.memory_limit,
            partition_lines=1 << 62,
        )
        self.master = master_of(master, self.settings)
        if self.master == DEFAULT_MASTER and self.settings.threads:
            self.master = f"local[{int(self.settings.threads)}]"
        self.label = f"spark ({self.master})"
        shared = spark_session(self.master, self.settings)
        with _errors():
            self._spark = shared if self.master.startswith("sc://") else shared.newSession()
            for key, value in {
                "spark.sql.ansi.enabled": "true",
                "spark.sql.session.timeZone": "UTC",
                "spark.sql.timestampType": "TIMESTAMP_NTZ",
                "spark.sql.legacy.timeParserPolicy": "CORRECTED",
                "spark.sql.shuffle.partitions": str(max(2, 2 * (self.settings.threads or 2))),
                "spark.sql.caseSensitive": "false",
                "spark.sql.execution.arrow.pyspark.enabled": "true",
            }.items():
                self._spark.conf.set(key, value)
        #: relation name → "table" | "view" | "frame"
        self._relations: dict[str, str] = {}
        self._tables: dict[str, DataFrame] = {}
        self._scratch: str | None = None
        self._closed = False

    # ---- helpers -------------------------------------------------------------------------
    def _check_open(self) -> None:
        if self._closed:
            raise EngineError("the Spark engine is closed")

    def _sql(self, sql: str, params: Params) -> DataFrame:
        self._check_open()
        text = to_spark(sql)
        self._log(text, params)
        with _errors():
            if params is not None:
                return self._spark.sql(text, args=list(params))
            return self._spark.sql(text)

    def _materialise(self, name: str, query: str, params: Params) -> None:
        """The rows of ``query`` kept as the table ``name`` (logged as ``CACHE TABLE``, the
        Spark statement that does the same)."""
        self._check_open()
        text = to_spark(query)
        self._log(f"CACHE TABLE `{name}` AS {text}", params)
        with _errors():
            if params is not None:
                frame = self._spark.sql(text, args=list(params))
            else:
                frame = self._spark.sql(text)
        self._keep(name, frame, "table")

    def _keep(self, name: str, frame: DataFrame, kind: str) -> None:
        """Materialise ``frame`` (a local checkpoint) as the relation ``name``."""
        with _errors():
            if kind == "table":
                frame = frame.localCheckpoint(eager=True)
            self._drop_view(name)
            frame.createOrReplaceTempView(name)
        self._relations[name] = kind
        self._tables[name] = frame

    def _drop_view(self, name: str) -> None:
        with _errors():
            self._spark.catalog.dropTempView(name)
        old = self._tables.pop(name, None)
        if old is not None:
            with contextlib.suppress(Exception):
                old.unpersist()

    def _scratch_file(self, name: str) -> Path:
        if self._scratch is None:
            self._scratch = tempfile.mkdtemp(prefix="custseg-spark-", dir=self.settings.temp_dir)
        return Path(self._scratch) / f"{next(_names)}-{name}"

    # ---- sources -------------------------------------------------------------------------
    def source(self, name: str, *, table: str | None = None, query: str | None = None) -> None:
        """Expose a table of Spark's catalog (``db.name``) or the rows of a query in Spark's
        own SQL as the view ``name``; never written to."""
        if (table is None) == (query is None):
            raise ValueError("give a table or a query")
        self._check_open()
        try:
            if table is not None:
                frame = self._spark.table(table)
            else:
                frame = self._spark.sql(str(query).strip().rstrip(";"))
            frame.schema  # noqa: B018 (resolves the names now, for a one-line error)
        except Exception as exc:  # AnalysisException, ParseException
            what = f"no table {table!r}" if table is not None else "the query cannot be run"
            raise InputError(
                f"{self.label}: {what} ({_first_line(exc)}); check it in spark-sql"
                + (', or pass --query "SELECT …"' if table is not None else "")
            ) from None
        self._keep(name, frame, "view")

    def register(self, name: str, frame: pd.DataFrame | pa.Table) -> None:
        import pyarrow as pa

        self._check_open()
        table = frame if isinstance(frame, pa.Table) else pa.Table.from_pandas(frame)
        table = table.replace_schema_metadata(None)
        # large strings and nanosecond times read as Spark's strings and microseconds
        fields = []
        for field in table.schema:
            kind = field.type
            if pa.types.is_large_string(kind) or pa.types.is_string_view(kind):
                kind = pa.string()
            elif pa.types.is_timestamp(kind):
                kind = pa.timestamp("us")
            elif pa.types.is_dictionary(kind):
                kind = kind.value_type
            fields.append(pa.field(field.name, kind))
        table = table.cast(pa.schema(fields))
        self.drop(name)
        with _errors():
            df = self._spark.createDataFrame(table)
        self._keep(name, df, "frame")

    def scan(
        self,
        name: str,
        path: str | PathLike[str] | Sequence[str | PathLike[str]],
        *,
        format: Literal["parquet", "csv"],
        parallel: bool = True,
        delimiter: str | None = None,
        skip: int = 0,
    ) -> None:
        self._check_open()
        # absolute: a Spark Connect server or a cluster resolves a relative path from its own
        # working folder
        given = [path] if isinstance(path, str | PathLike) else list(path)
        paths = [Path(os.path.abspath(p)) for p in given]
        if format == "parquet":
            base = _hive_base(paths)
            with _errors():
                reader = self._spark.read
                if base is not None:
                    reader = reader.option("basePath", str(base))
                df = reader.parquet(*[str(p) for p in paths])
        elif format == "csv":
            ready = [self._readable_csv(p, skip) for p in paths]
            sep = delimiter if delimiter is not None else sniff_delimiter(ready[0])
            with _errors():
                df = self._spark.read.csv(
                    [str(p) for p in ready],
                    header=True,
                    sep=sep,
                    quote='"',
                    escape='"',
                    inferSchema=False,
                    mode="PERMISSIVE",
                    multiLine=not parallel,
                    encoding="UTF-8",
                    enforceSchema=False,
                )
        else:
            raise ValueError(f"format {format!r} unknown; use parquet or csv")
        self._keep(name, df, "view")

    def _readable_csv(self, path: Path, skip: int) -> Path:
        """``path``, or a plain copy of it in the scratch folder where Spark cannot read it as
        it is: lines to skip before the header (Spark has no option for them), or a
        compression Spark reads only with Hadoop's native library (``.zst``)."""
        if not skip and path.suffix != ".zst":
            return path
        target = self._scratch_file(path.stem if path.suffix == ".zst" else path.name)
        if path.suffix == ".zst":
            try:
                import zstandard  # type: ignore[import-not-found, unused-ignore]
            except ImportError:
                raise InputError(
                    f"{path}: Spark reads .zst files only through Python's zstandard; "
                    "pip install zstandard, or decompress the file first"
                ) from None
            source: Any = zstandard.open(path, "rb")
        elif path.suffix == ".gz":
            source = gzip.open(path, "rb")  # noqa: SIM115 (closed by the with below)
        else:
            source = path.open("rb")
        with source as fh, target.open("wb") as out:
            for _ in range(skip):
                fh.readline()
            shutil.copyfileobj(fh, out, 4 << 20)
        return target

    # ---- relations -----------------------------------------------------------------------
    def create(self, name: str, query: str, params: Params = None, *, view: bool = False) -> None:
        if view and params is None:
            text = to_spark(query)
            self._log(f"CREATE OR REPLACE TEMP VIEW `{name}` AS {text}", None)
            self._check_open()
            self._drop_view(name)
            with _errors():
                self._spark.sql(f"CREATE OR REPLACE TEMP VIEW `{name}` AS {text}")
            self._relations[name] = "view"
            return
        self._materialise(name, query, params)

    def append(self, name: str, query: str, params: Params = None) -> None:
        old = self._table(name)
        new = self._sql(query, params)
        with _errors():
            both = old.union(new.toDF(*old.columns))
        self._keep(name, both, "table")

    def _table(self, name: str) -> DataFrame:
        self._check_open()
        with _errors():
            return self._spark.table(f"`{name}`")

    def update(
        self, name: str, assignments: Mapping[str, str], where: str, params: Params = None
    ) -> None:
        """The table rebuilt in one pass: the rows satisfying ``where`` get their new values
        (Spark updates no view in place); ``where`` is evaluated once per row, subqueries
        and all."""
        columns = list(self.describe(name))
        hit = "_cs_hit"
        changed = ", ".join(
            f"CASE WHEN {hit} THEN {assignments[c]} ELSE {ident(c)} END AS {ident(c)}"
            if c in assignments
            else ident(c)
            for c in columns
        )
        sql = (
            f"SELECT {changed} FROM (SELECT *, COALESCE(({where}), FALSE) AS {hit} "
            f"FROM {ident(name)}) AS u"
        )
        self._materialise(name, sql, params)

    def split(self, name: str, query: str, key: str, parts: int) -> list[str]:
        names = [f"{name}_{i}" for i in range(parts)]
        whole = self._sql(f"SELECT *, {key} AS _cs_part FROM ({query}) AS q", None)
        with _errors():
            whole = whole.localCheckpoint(eager=True)
        for i, part in enumerate(names):
            with _errors():
                self._keep(part, whole.filter(f"_cs_part = {i}").drop("_cs_part"), "table")
        return names

    def drop(self, name: str) -> None:
        self._check_open()
        if name in self._relations or self._exists(name):
            self._drop_view(name)
        self._relations.pop(name, None)

    def _exists(self, name: str) -> bool:
        with _errors():
            return bool(self._spark.catalog.tableExists(name))

    def exists(self, name: str) -> bool:
        self._check_open()
        return name in self._relations or self._exists(name)

    def describe(self, name: str) -> dict[str, str]:
        if not self.exists(name):
            raise EngineError(f"no relation {name!r}")
        with _errors():
            schema = self._table(name).schema
        return {f.name: _duck_type(f.dataType.simpleString()) for f in schema.fields}

    # ---- statements and results ------------------------------------------------------------
    def execute(self, sql: str, params: Params = None) -> None:
        frame = self._sql(sql, params)
        with _errors():
            frame.collect()

    def rows(self, sql: str, params: Params = None) -> list[tuple[Any, ...]]:
        frame = self._sql(sql, params)
        with _errors():
            return [tuple(r) for r in frame.collect()]

    def row(self, sql: str, params: Params = None) -> tuple[Any, ...] | None:
        found = self.rows(sql, params)
        return found[0] if found else None

    def arrow(self, sql: str, params: Params = None) -> pa.Table:
        frame = self._sql(sql, params)
        with _errors():
            return frame.toArrow()

    def frame(self, sql: str, params: Params = None) -> pd.DataFrame:
        return _pandas(self.arrow(sql, params))

    def read_only_frame(self, sql: str) -> pd.DataFrame:
        """The rows of a query of Spark's SQL, run as given. Spark has no read-only session:
        the query is held to a list of functions and relations before (``custseg sql``), and a
        query (``SELECT``) of Spark's SQL cannot write."""
        self._check_open()
        self._log(sql, None)
        with _errors():
            # ${…} in the text would be replaced before Spark parses it (a setting, the
            # environment): the text runs as it was checked
            self._spark.conf.set("spark.sql.variable.substitute", "false")
            return _pandas(self._spark.sql(sql).toArrow())

    def numpy(self, sql: str, params: Params = None) -> dict[str, np.ndarray]:
        import numpy as np

        frame = self.frame(sql, params)
        return {str(c): np.asarray(frame[c].to_numpy()) for c in frame.columns}

    def write_parquet(self, sql: str, folder: str | PathLike[str]) -> list[Path]:
        """The rows written by Spark itself, a file per partition of the result (a sorted
        result's partitions are ranges, so the files in name order hold the rows in order).

        The folder must be reachable at the same path by Spark and by this process: true of a
        local master and of a Spark Connect server on this machine.
        """
        out = Path(folder).absolute()
        frame = self._sql(sql, None)
        with _errors():
            frame.write.mode("errorifexists").parquet(str(out))
        return sorted(out.glob("part-*.parquet"))

    def kmeans(
        self,
        relation: str,
        columns: Sequence[str],
        k: int,
        *,
        seed: int,
        max_iter: int = 300,
        tol: float = 1e-4,
    ) -> np.ndarray:
        """Spark MLlib's K-Means (``pyspark.ml.clustering.KMeans``, initialised by k-means||
        with ``seed``) on every row of ``relation``; its centroids in MLlib's order."""
        import numpy as np
        from pyspark.ml.clustering import KMeans
        from pyspark.ml.feature import VectorAssembler

        self._check_open()
        self._log(
            f"-- MLlib KMeans(k={k}, seed={seed}, maxIter={max_iter}, tol={tol}) on "
            f"{', '.join(columns)} of {relation}",
            None,
        )
        with _errors():
            rows = self._spark.table(relation).select(*columns)
            vectors = VectorAssembler(inputCols=list(columns), outputCol="_custseg_x").transform(
                rows
            )
            model = KMeans(
                k=k,
                seed=seed,
                maxIter=max_iter,
                tol=tol,
                initMode="k-means||",
                featuresCol="_custseg_x",
            ).fit(vectors.select("_custseg_x"))
            return np.array([np.asarray(c, dtype=float) for c in model.clusterCenters()])

    # ---- resources -----------------------------------------------------------------------
    def forbid_external_access(self, allowed: Sequence[str | PathLike[str]] = ()) -> None:
        """Refused: a Spark session cannot lock itself against reading or writing files; a
        user's query is held to a list of functions and relations instead (``custseg sql``)
        and run with :meth:`read_only_frame`."""
        raise EngineError(
            "the Spark engine cannot lock its session against file access; run a user's "
            "query with read_only_frame, its functions checked first"
        )

    def close(self) -> None:
        if self._closed:
            return
        for name in list(self._relations):
            with contextlib.suppress(Exception):
                self._drop_view(name)
        self._relations.clear()
        self._tables.clear()
        if self._scratch is not None:
            shutil.rmtree(self._scratch, ignore_errors=True)
            self._scratch = None
        self._closed = True


def _pandas(table: pa.Table) -> pd.DataFrame:
    """An Arrow result as a DataFrame, decimals as floats, as DuckDB gives them."""
    import pyarrow as pa

    fields = [
        pa.field(f.name, pa.float64()) if pa.types.is_decimal(f.type) else f for f in table.schema
    ]
    return table.cast(pa.schema(fields)).to_pandas()


def _duck_type(name: str) -> str:
    """A Spark type name in DuckDB's spelling (``decimal(18,6)`` → ``DECIMAL(18,6)``)."""
    return _TYPES.get(name, name.upper())


def _hive_base(paths: list[Path]) -> Path | None:
    """The folder above the first ``key=value`` folder of the paths, when they lie in such
    folders (Spark then reads the keys as columns, as DuckDB does)."""
    for part in paths[0].parents:
        if "=" not in part.name:
            below = [q for q in paths[0].parents if q.parent == part]
            if below and "=" in below[0].name:
                return part
    return None


__all__ = ["DEFAULT_MASTER", "SparkEngine", "java_format", "sniff_delimiter", "to_spark"]
