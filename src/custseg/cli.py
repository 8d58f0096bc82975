"""The ``custseg`` command: a thin layer over the library.

Each command calls one library function; a :class:`~custseg.errors.CustsegError` becomes a
one-line message on stderr and exit code 1.

Start-up stays light: at module level this file imports only the standard library, typer,
``custseg.errors``, ``custseg.i18n`` and ``custseg.version``; rich and every other custseg
module are imported inside the command that uses them, so that ``--help``, ``--version`` and
argument errors answer without loading pandas, NumPy, scikit-learn, SciPy or DuckDB
(``tests/test_startup.py`` checks it).
"""

from __future__ import annotations

import copy
import inspect
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperCommand, TyperGroup

from custseg import i18n
from custseg.errors import CustsegError
from custseg.version import __version__


class _Typer(typer.Typer):
    """The application. Run as a command, it builds only the group; each subcommand's click
    command is built when the command line names it (see :class:`_Group`). Typer builds every
    command up front, reading each function's parameters and evaluating their annotations:
    measured with cProfile, 75 ms of the 0.17 s of ``custseg --help`` for 8 commands, where
    ``python -c "import typer"`` takes about 0.08 s.

    ``typer.testing.CliRunner`` builds the whole tree (``typer.main.get_command``); both paths
    give the same commands and the same help."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        shell = copy.copy(self)
        shell.registered_commands = []
        return typer.Typer.__call__(shell, *args, **kwargs)


app = _Typer(
    name="custseg",
    help="Customer segmentation from raw purchase data: audited, explained, actionable segments.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # click's plain help and error formatting: typer's rich formatting imports rich.markdown
    # and more, which alone doubles the start-up time of --help
    rich_markup_mode=None,
    # use the terminal's width (click stops at 80 columns otherwise)
    context_settings={"max_content_width": 200},
)


class _LazyConsole:
    """A :class:`rich.console.Console` created on first use, so that importing the CLI does
    not import rich; every attribute is the real console's."""

    def __init__(self, **options: Any) -> None:
        self._options = options
        self._console: Any = None

    def __getattr__(self, name: str) -> Any:
        if self._console is None:
            from rich.console import Console

            self._console = Console(**self._options)
        return getattr(self._console, name)


err = _LazyConsole(stderr=True)


#: ``--map canonical=source``, shared by the commands that read a transactions file
MapOption = Annotated[
    list[str] | None,
    typer.Option("--map", help="Column mapping canonical=source, repeatable."),
]


#: ``--engine``, ``--table`` and ``--query``, shared by the commands that read transaction lines
EngineOption = Annotated[
    str | None,
    typer.Option(
        "--engine",
        help="Engine that reads INPUT and runs the cleaning and the features: duckdb (default; "
        "embedded, no server), postgres (inside the PostgreSQL server of a postgresql:// "
        "INPUT, which implies it) or spark (files, or a table of Spark's catalog with --table "
        "and no INPUT).",
        show_default=False,
    ),
]
TableOption = Annotated[
    str | None,
    typer.Option(
        "--table",
        help="With a postgresql:// INPUT: the table of lines (schema.name); with --engine spark "
        "and no INPUT: a table of Spark's catalog (db.name).",
    ),
]
QueryOption = Annotated[
    str | None,
    typer.Option(
        "--query",
        help="With a postgresql:// INPUT, or --engine spark and no INPUT: a query giving the "
        'lines ("SELECT …", in the engine\'s SQL).',
    ),
]
SparkMasterOption = Annotated[
    str | None,
    typer.Option(
        "--spark-master",
        help="With --engine spark: local[N] or local[*] (default: in this process), a cluster "
        "URL (spark://host:7077, yarn) or sc://host:15002 for Spark Connect.",
        show_default=False,
    ),
]


def _source(text: str | None, spark_master: str | None = None) -> str | Path | None:
    """INPUT as the library takes it: a database URL as text, anything else as a path
    (``None`` when left out: a table of Spark's catalog). ``--spark-master`` is handed to the
    library as its setting (``CUSTSEG_SPARK_MASTER``)."""
    import os

    from custseg.engines import is_database_url

    if spark_master is not None:
        from custseg.config import settings

        os.environ["CUSTSEG_SPARK_MASTER"] = spark_master
        settings.cache_clear()
    if text is None:
        return None
    return text if is_database_url(text) else Path(text)


def _fail(message: str) -> None:
    from rich.markup import escape

    err.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code=1)


def _read_roles(path: Path) -> dict[str, Any]:
    """The --roles file: a JSON object mapping a role to a column or a list of columns."""
    import json

    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        _fail(f'--roles {path}: cannot be read as JSON ({exc}); write e.g. {{"id": "client"}}')
    if not isinstance(data, dict) or not all(
        isinstance(v, str) or (isinstance(v, list) and all(isinstance(x, str) for x in v))
        for v in data.values()
    ):
        _fail(f"--roles {path}: expected an object of role → column name or list of names")
    return data


INPUT_HELP = (
    "Transactions or customer file: CSV/TSV (also compressed: .csv.gz, .csv.zst, .csv.bz2, "
    ".csv.xz), Parquet or Excel; a quoted glob or a folder of CSV or Parquet parts with the "
    "same columns (Hive folders such as year=2011/ become columns); or - for standard input; "
    "or a PostgreSQL database, postgresql://user@host:port/db, with --table or --query "
    "(the cleaning and the features then run inside the server). Left out with --engine spark "
    "--table db.name (a table of Spark's catalog)."
)


class _Group(TyperGroup):
    """The command group. It answers ``--version`` itself, before any parameter is processed:
    typer coerces option values with pydantic, whose import would then precede every command
    line, argument errors included.

    Its commands are the ones registered on :data:`app`, each built on first use (typer's
    ``get_command_from_info``); the list of commands in the help is written from light
    stand-ins holding only the name and the docstring, so that ``custseg --help`` builds none."""

    _listing = False

    def list_commands(self, ctx: Any) -> list[str]:
        return [_command_name(info) for info in app.registered_commands]

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        command = self.commands.get(cmd_name)
        if command is not None:
            return command
        info = _registered(cmd_name)
        if info is None:
            return None
        if self._listing:
            return _stand_in(info, cmd_name)
        command = typer.main.get_command_from_info(
            info,
            pretty_exceptions_short=app.pretty_exceptions_short,
            rich_markup_mode=app.rich_markup_mode,
        )
        self.commands[cmd_name] = command
        return command

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        if args and self.get_command(ctx, args[0]) is None:
            # an unknown name: typer suggests close names from ``self.commands``
            built = self.commands
            self.commands = {
                name: built.get(name) or _stand_in(_registered(name), name)
                for name in self.list_commands(ctx)
            }
            try:
                return super().resolve_command(ctx, args)
            finally:
                self.commands = built
        return super().resolve_command(ctx, args)

    def format_commands(self, ctx: Any, formatter: Any) -> None:
        self._listing = True
        try:
            super().format_commands(ctx, formatter)
        finally:
            self._listing = False

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if args[:1] == ["--version"]:
            typer.echo(f"custseg {__version__}")
            ctx.exit()
        rest: list[str] = super().parse_args(ctx, args)
        return rest

    def get_help_option(self, ctx: Any) -> Any:
        option = super().get_help_option(ctx)
        if option is not None and option.default is None:
            # False, a bool, is not coerced by typer: parsing a command line does not import
            # pydantic before the command's own parameters are read
            option.default = False
        return option

    def format_epilog(self, ctx: Any, formatter: Any) -> None:
        super().format_epilog(ctx, formatter)
        formatter.write_paragraph()
        formatter.write_text("custseg --version prints the version.")


app.info.cls = _Group


def _command_name(info: Any) -> str:
    """A registered command's name, as typer gives it."""
    name: str = info.name or typer.main.get_command_name(info.callback.__name__)
    return name


def _registered(name: str) -> Any:
    """The command registered on :data:`app` under ``name``, or ``None``."""
    return next((i for i in app.registered_commands if _command_name(i) == name), None)


def _stand_in(info: Any, name: str) -> Any:
    """A click command holding what the list of commands shows of ``info`` (its short help,
    from the docstring as typer reads it), without its parameters."""
    doc = info.help if info.help is not None else inspect.getdoc(info.callback)
    return TyperCommand(
        name,
        help=inspect.cleandoc(doc) if doc else doc,
        short_help=info.short_help,
        hidden=info.hidden,
        deprecated=info.deprecated,
    )


@app.callback()
def main() -> None:
    """custseg: customer segments from transaction lines."""


@app.command()
def run(
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for the outputs.")],
    input: Annotated[
        str | None, typer.Argument(help=INPUT_HELP, metavar="INPUT", show_default=False)
    ] = None,
    seed: Annotated[
        int, typer.Option(help="Random seed (≥ 0); same input and seed, same output.")
    ] = 0,
    table: TableOption = None,
    query: QueryOption = None,
    engine: EngineOption = None,
    spark_master: SparkMasterOption = None,
    k: Annotated[
        int | None, typer.Option("--k", help="Number of segments (default: chosen).")
    ] = None,
    k_min: Annotated[int, typer.Option("--k-min", help="Smallest k tried.")] = 2,
    k_max: Annotated[int, typer.Option("--k-max", help="Largest k tried.")] = 10,
    map_: MapOption = None,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="Recency measured to this date (YYYY-MM-DD).")
    ] = None,
    lang: Annotated[str, typer.Option("--lang", help="Language: en or fr.")] = "en",
    kind: Annotated[
        str,
        typer.Option(
            "--kind",
            help="transactions, customers (one row per customer) or auto (customers when "
            "there is no invoice/date pair).",
        ),
    ] = "auto",
    outliers: Annotated[
        str,
        typer.Option(help="Customer tables: clip (default), drop or keep flagged outliers."),
    ] = "clip",
    roles: Annotated[
        Path | None,
        typer.Option(
            help='Customer tables: JSON file declaring column roles, e.g. {"id": "client", '
            '"spend": ["wine", "meat"], "birth_year": "born"}.'
        ),
    ] = None,
    split: Annotated[
        str | None,
        typer.Option(
            "--split",
            help="lifecycle: segment one-invoice and repeat customers apart (each group its "
            "own features, k and names), combined in one output with a lifecycle column.",
        ),
    ] = None,
    algorithm: Annotated[
        str,
        typer.Option(
            "--algorithm",
            help="Clustering algorithm: kmeans (default), gmm, ward, dbscan or hdbscan "
            "(density methods find k and put noise in an 'atypical customers' segment). "
            "With categorical columns, kmeans on their one-hot encoding is the K-Prototypes "
            "equivalent.",
        ),
    ] = "kmeans",
    currency: Annotated[
        str | None,
        typer.Option(
            "--currency",
            help="Currency of the money amounts (ISO 4217: EUR, GBP, USD…), shown on every money "
            "figure and table and saved in model.json. Default: the currency of the country "
            "holding most of the revenue, when the data has countries; otherwise none.",
        ),
    ] = None,
    compare: Annotated[
        str | None,
        typer.Option(
            "--compare",
            help="Also fit these algorithms (comma-separated, e.g. kmeans,gmm,hdbscan) and "
            "compare them side by side; written to compare.json and compare.csv.",
        ),
    ] = None,
    previous: Annotated[
        Path | None,
        typer.Option(
            "--previous",
            help="An earlier run's --out folder: what changed since it (customers new and gone, "
            "who kept their segment, each segment's share then and now) is written to "
            "changes.json and shown in the report's summary.",
        ),
    ] = None,
) -> None:
    """Segment the customers of a transactions file and write the outputs to --out.

    Example: custseg run data/online_retail.parquet --out runs/retail --seed 0

    Example (customer table): custseg run customers.csv --kind customers --out runs/crm

    Example (first-time and repeat customers apart): custseg run orders.csv --out runs/lc
    --split lifecycle

    Example (on Spark): custseg run "lake/sales/year=*/*.parquet" --engine spark --out runs/lake

    Example (inside PostgreSQL): custseg run postgresql://ann@db:5432/shop --table sales.lines
    --out runs/shop

    Example (what changed since June): custseg run data/december.parquet --out runs/december
    --previous runs/june
    """
    from rich.console import Console

    from custseg.outputs.folder import run as run_pipeline
    from custseg.report import print_summary
    from custseg.sources.schema import parse_mapping
    from custseg.stages.customers import CustomerRules

    console = Console()
    try:
        if seed < 0:
            _fail(f"--seed {seed} is negative; give a seed of 0 or more")
        if kind not in {"auto", "transactions", "customers"}:
            _fail(f"--kind {kind!r} is not known; use transactions, customers or auto")
        if split is not None and split != "lifecycle":
            _fail(f"--split {split!r} is not known; use lifecycle")
        if outliers not in {"clip", "drop", "keep"}:
            _fail(f"--outliers {outliers!r} is not known; use clip, drop or keep")
        if lang not in i18n.LANGUAGES:
            _fail(f"--lang {lang!r} is not available; use one of {', '.join(i18n.LANGUAGES)}")
        if as_of is not None:
            try:
                if len(as_of) != 10 or as_of[4] != "-" or as_of[7] != "-":
                    raise ValueError(as_of)
                date.fromisoformat(as_of)
            except ValueError:
                _fail(f"--as-of {as_of!r} is not a date; write it as YYYY-MM-DD")
        mapping = parse_mapping(map_ or [])
        declared = _read_roles(roles) if roles is not None else None
        with console.status("") as status:

            def on_step(name: str, info: dict[str, Any]) -> None:
                status.update(i18n.t(lang, f"step_{name}", **info))

            result = run_pipeline(
                _source(input, spark_master),
                out,
                engine=engine,
                table=table,
                query=query,
                seed=seed,
                k=k,
                k_min=k_min,
                k_max=k_max,
                mapping=mapping,
                as_of=as_of,
                lang=lang,
                on_step=on_step,
                kind=kind,
                customer_rules=CustomerRules(outliers=outliers),
                roles=declared,
                **({"split": split} if split is not None else {}),
                currency=currency or "",
                algorithm=algorithm,
                compare=[a.strip() for a in (compare or "").split(",") if a.strip()],
                previous=previous,
            )
    except CustsegError as exc:
        _fail(str(exc))
    print_summary(result, console)
    if result.changes is not None:
        from custseg.report.summary import changed

        block = changed(result.changes, lang)
        console.print(f"{block['heading']}: {block['sentence']}", soft_wrap=True)
    console.print(i18n.t(lang, "written", out=out))


@app.command()
def report(
    folder: Annotated[Path, typer.Argument(help="A run's --out folder.")],
    lang: Annotated[
        str | None, typer.Option("--lang", help="Language: en or fr (default: the run's).")
    ] = None,
    png: Annotated[
        bool, typer.Option("--png", help="Also write key figures to FOLDER/figures/*.png.")
    ] = False,
) -> None:
    """Rebuild report.html from a run's outputs, without the input and without re-fitting.

    The folder must hold one whole run (checked against its manifest.json); it is sealed
    again with the new report.

    Example: custseg report runs/retail --lang fr --png
    """
    from rich.console import Console

    from custseg.outputs.folder import rewrite_report

    console = Console()
    try:
        if lang is not None and lang not in i18n.LANGUAGES:
            _fail(f"--lang {lang!r} is not available; use one of {', '.join(i18n.LANGUAGES)}")
        if not folder.is_dir():
            _fail(f"{folder} is not a folder; give the --out folder of custseg run")
        path, files = rewrite_report(folder, lang, png)
        shown = lang or "en"
        console.print(i18n.t(shown, "report_written", path=path))
        if png:
            console.print(i18n.t(shown, "figures_written", n=len(files), path=folder / "figures"))
    except CustsegError as exc:
        _fail(str(exc))


#: how the heading of ``explore --sql`` names an engine's SQL dialect (sqlglot's name)
DIALECT_NAMES = {"duckdb": "DuckDB", "postgres": "PostgreSQL", "spark": "Spark SQL"}


@app.command()
def explore(
    input: Annotated[
        str | None, typer.Argument(help=INPUT_HELP, metavar="INPUT", show_default=False)
    ] = None,
    html: Annotated[
        Path | None, typer.Option("--html", help="Also write the data-quality page here.")
    ] = None,
    map_: MapOption = None,
    lang: Annotated[str, typer.Option("--lang", help="Language: en or fr.")] = "en",
    show_sql: Annotated[
        bool,
        typer.Option(
            "--sql",
            help="Also print the SQL statements the exploration ran (in the engine's dialect), "
            "to start queries of your own from.",
        ),
    ] = False,
    engine: EngineOption = None,
    spark_master: SparkMasterOption = None,
    table: TableOption = None,
    query: QueryOption = None,
) -> None:
    """Audit a transactions file and print its data quality, without segmenting.

    Example: custseg explore data/online_retail.parquet --html quality.html --lang fr

    Example (inside PostgreSQL): custseg explore postgresql://ann@db:5432/shop --table
    sales.lines --sql
    """
    from rich.console import Console

    from custseg.outputs.files import write_text
    from custseg.pipeline import explore as explore_source
    from custseg.report import print_exploration, render_quality
    from custseg.sources.schema import parse_mapping

    console = Console()
    try:
        if lang not in i18n.LANGUAGES:
            _fail(f"--lang {lang!r} is not available; use one of {', '.join(i18n.LANGUAGES)}")
        result = explore_source(
            _source(input, spark_master),
            mapping=parse_mapping(map_ or []),
            log_sql=show_sql,
            engine=engine,
            table=table,
            query=query,
        )
        print_exploration(result, lang, console)
        if show_sql:
            typer.echo()
            dialect = DIALECT_NAMES.get(result.dialect, result.dialect)
            typer.echo(i18n.t(lang, "sql_queries", dialect=dialect))
            for statement in result.queries:
                typer.echo(f"\n{statement};")
        if html is not None:
            write_text(html, render_quality(result, lang))
            console.print(i18n.t(lang, "html_written", path=html))
    except CustsegError as exc:
        _fail(str(exc))


@app.command("sql")
def sql_command(
    args: Annotated[
        list[str],
        typer.Argument(
            metavar="[INPUT] QUERY",
            help="The transactions (a file, folder or postgresql:// URL, as for run) and one "
            "read-only SELECT in the engine's SQL, quoted; with --run, or --engine spark "
            "--table, the input may be left out.",
            show_default=False,
        ),
    ],
    run_dir: Annotated[
        Path | None,
        typer.Option(
            "--run", help="A run's --out folder: the view segments (its segments.parquet)."
        ),
    ] = None,
    map_: MapOption = None,
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of",
            help="Features of customers as of this date (YYYY-MM-DD; default: the run's, else "
            "the day after the last kept line).",
        ),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option("--output", help="Write every row to this .csv or .parquet file."),
    ] = None,
    limit: Annotated[int, typer.Option("--limit", help="Rows printed (default 50).")] = 50,
    lang: Annotated[str, typer.Option("--lang", help="Language: en or fr.")] = "en",
    engine: EngineOption = None,
    spark_master: SparkMasterOption = None,
    table: TableOption = None,
    lines_query: QueryOption = None,
) -> None:
    """Run one read-only SQL query over the views of a transactions input and/or a run.

    Views: lines (the input as read, mapped columns under their canonical names: customer_id,
    invoice, date, quantity, price...), clean_lines (lines the audit kept), dropped_lines (lines
    it dropped, with their reason), customers (one row of features per customer) and, with
    --run, segments. Only one SELECT (or WITH ... SELECT) over these views is run, in the SQL
    of the engine (DuckDB's, PostgreSQL's or Spark's); statements that write, configure or
    read files are refused.

    Example: custseg sql data/online_retail.parquet "SELECT reason, count(*) FROM dropped_lines
    GROUP BY reason"

    Example: custseg sql --run runs/retail "SELECT segment_name, count(*) FROM segments GROUP BY 1"

    Example (inside PostgreSQL): custseg sql postgresql://ann@db:5432/shop --table sales.lines
    "SELECT country, sum(value) FROM clean_lines GROUP BY 1"
    """
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from custseg.outputs.query import query_views, write_result
    from custseg.sources.schema import parse_mapping

    console = Console()
    try:
        if lang not in i18n.LANGUAGES:
            _fail(f"--lang {lang!r} is not available; use one of {', '.join(i18n.LANGUAGES)}")
        if limit < 0:
            _fail(f"--limit {limit} is negative; give a number of rows of 0 or more")
        catalog = table is not None or lines_query is not None
        if len(args) > 2 or (len(args) == 1 and run_dir is None and not catalog):
            _fail(
                "give INPUT and QUERY (or, with --run, QUERY alone), the query quoted as one "
                'argument, e.g. custseg sql data.csv "SELECT count(*) FROM lines"'
            )
        if output is not None and output.suffix.lower() not in {".csv", ".parquet"}:
            _fail(f"--output {output}: write to a .csv or a .parquet file")
        text, query = (args[0], args[1]) if len(args) == 2 else (None, args[0])
        result = query_views(
            _source(text, spark_master),
            query,
            run=run_dir,
            mapping=parse_mapping(map_ or []),
            as_of=as_of,
            engine=engine,
            table=table,
            lines_query=lines_query,
        )
        frame = result.frame
        if output is not None:
            write_result(frame, output)
    except CustsegError as exc:
        _fail(str(exc))
    grid = Table(show_edge=False, pad_edge=False)
    for col in frame.columns:
        numeric = frame[col].dtype.kind in "iuf"
        grid.add_column(str(col), justify="right" if numeric else "left")
    shown = frame.head(limit)
    for row in shown.itertuples(index=False):
        grid.add_row(*(Text(_cell(v)) for v in row))  # as written, never read as markup
    console.print(grid)
    n = i18n.number(len(frame), lang)
    if len(frame) > len(shown):
        console.print(i18n.t(lang, "sql_rows_shown", n=n, shown=i18n.number(len(shown), lang)))
    elif len(frame) == 1:
        console.print(i18n.t(lang, "sql_row"))
    else:
        console.print(i18n.t(lang, "sql_rows", n=n))
    if output is not None:
        console.print(i18n.t(lang, "written", out=output))


def _cell(value: Any) -> str:
    """A cell as printed: NULL for SQL's NULL (None, or the NaN/NaT pandas reads it as),
    floats to 4 decimals (the file written with --output keeps every digit)."""
    if value is None or value != value:  # NaN and NaT differ from themselves
        return "NULL"
    if isinstance(value, float):
        return str(round(value, 4))
    return str(value)


@app.command()
def score(
    model: Annotated[Path, typer.Argument(help="A run's --out folder, or its model.json.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for the scores.")],
    input: Annotated[
        str | None, typer.Argument(help=INPUT_HELP, metavar="INPUT", show_default=False)
    ] = None,
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of",
            help="Features as of this date (YYYY-MM-DD; default: the day after the input's "
            "last line).",
        ),
    ] = None,
    map_: MapOption = None,
    lang: Annotated[
        str | None, typer.Option("--lang", help="Language: en or fr (default: the run's).")
    ] = None,
    engine: EngineOption = None,
    spark_master: SparkMasterOption = None,
    table: TableOption = None,
    query: QueryOption = None,
) -> None:
    """Score new customers with a run's model; write the scores and their drift to --out.

    Writes scores.parquet, scores.csv (segment, distance, far), audit.json (the ledger of
    INPUT), drift.json and drift.html. With a postgresql:// INPUT the run's cleaning and
    features run inside the server; the scoring reads model.json, as for a file.

    Example: custseg score runs/retail new_lines.csv --out runs/retail-scores

    Example (inside PostgreSQL): custseg score runs/retail postgresql://ann@db:5432/shop
    --query "SELECT * FROM sales.lines WHERE day >= '2012-01-01'" --out runs/retail-scores
    """
    from rich.console import Console

    from custseg.outputs.scores import score as score_input
    from custseg.report.drift import print_drift
    from custseg.sources.schema import parse_mapping

    console = Console()
    try:
        if lang is not None and lang not in i18n.LANGUAGES:
            _fail(f"--lang {lang!r} is not available; use one of {', '.join(i18n.LANGUAGES)}")
        result = score_input(
            model,
            _source(input, spark_master),
            out,
            as_of=as_of,
            mapping=parse_mapping(map_ or []),
            lang=lang,
            engine=engine,
            table=table,
            query=query,
        )
        shown = lang or "en"
        print_drift(result.drift, shown, console)
        console.print(i18n.t(shown, "written", out=out))
    except CustsegError as exc:
        _fail(str(exc))


@app.command("export-sql")
def export_sql(
    model: Annotated[Path, typer.Argument(help="A run's --out folder, or its model.json.")],
    dialect: Annotated[
        str,
        typer.Option(help="SQL dialect: duckdb, postgres, spark, snowflake or bigquery."),
    ] = "duckdb",
    table: Annotated[
        str | None,
        typer.Option(
            help="Table of raw rows, schema.table allowed (default: transactions, or "
            "customers for a customer-table model)."
        ),
    ] = None,
    map_: Annotated[
        list[str] | None,
        typer.Option(
            "--map",
            help="Column mapping canonical=source (customer tables: run column=table column), "
            "repeatable.",
        ),
    ] = None,
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of",
            help="Transactions: features as of this date (YYYY-MM-DD; default: the day after "
            "the table's last line, computed in the query).",
        ),
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", help="Write the SQL here (default: print it).")
    ] = None,
) -> None:
    """Print (or write) one SQL SELECT that scores every customer of a table like the run.

    The query computes the run's features from raw rows, applies its preparation and gives
    each customer the nearest centroid's segment number and name; no user-defined function.

    Example: custseg export-sql runs/retail --dialect postgres --table sales.lines --output score.sql
    """
    from rich.console import Console

    from custseg.lifecycle.sql_export import export_sql as compile_sql
    from custseg.model.run import RunModel
    from custseg.outputs.files import write_text
    from custseg.pipeline import check_as_of

    try:
        mapping: dict[str, str] = {}
        for item in map_ or []:
            name, sep, column = item.partition("=")
            if not sep or not name.strip() or not column.strip():
                _fail(f"--map {item!r}: write it as name=column")
            mapping[name.strip()] = column.strip()
        sql = compile_sql(
            RunModel.load(model),
            dialect=dialect,
            table=table,
            mapping=mapping,
            as_of=check_as_of(as_of),
        )
        if output is None:
            typer.echo(sql, nl=False)
        else:
            write_text(output, sql)
            Console().print(i18n.t("en", "written", out=output))
    except CustsegError as exc:
        _fail(str(exc))


@app.command()
def track(
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for the outputs.")],
    input: Annotated[
        str | None, typer.Argument(help=INPUT_HELP, metavar="INPUT", show_default=False)
    ] = None,
    start: Annotated[
        str | None,
        typer.Option(help="Date the reference model is fitted as of (default: mid-history)."),
    ] = None,
    every: Annotated[
        str, typer.Option(help="Step between dates: a number and D, W or M (1M, 2W, 10D).")
    ] = "1M",
    k: Annotated[
        int | None, typer.Option("--k", help="Number of segments (default: chosen at --start).")
    ] = None,
    threshold: Annotated[
        float, typer.Option(help="ARI the frozen model must keep with a fresh fit.")
    ] = 0.8,
    seed: Annotated[int, typer.Option(help="Seed of the reference; fresh fits use the next.")] = 0,
    map_: MapOption = None,
    lang: Annotated[str, typer.Option("--lang", help="Language: en or fr.")] = "en",
    engine: EngineOption = None,
    spark_master: SparkMasterOption = None,
    table: TableOption = None,
    query: QueryOption = None,
) -> None:
    """Track how long a segmentation stays as good as a fresh fit: the retraining cadence.

    Writes track.csv, track.json, migrations.csv and track.html to --out. With a
    postgresql:// INPUT each date's features are computed inside the server.

    Example: custseg track data/online_retail.parquet --out runs/track --every 1M --k 4

    Example (inside PostgreSQL): custseg track postgresql://ann@db:5432/shop --table
    sales.lines --out runs/track --k 4
    """
    from rich.console import Console
    from rich.table import Table

    from custseg.outputs.lifecycle import track as track_run
    from custseg.sources.schema import parse_mapping

    console = Console()
    try:
        if seed < 0:
            _fail(f"--seed {seed} is negative; give a seed of 0 or more")
        if lang not in i18n.LANGUAGES:
            _fail(f"--lang {lang!r} is not available; use one of {', '.join(i18n.LANGUAGES)}")
        with console.status("") as status:

            def on_step(name: str, info: dict[str, Any]) -> None:
                status.update(" ".join(f"{v}" for v in (name, *info.values())))

            result = track_run(
                _source(input, spark_master),
                out,
                engine=engine,
                table=table,
                query=query,
                start=start,
                every=every,
                k=k,
                threshold=threshold,
                seed=seed,
                mapping=parse_mapping(map_ or []),
                lang=lang,
                on_step=on_step,
            )
    except CustsegError as exc:
        _fail(str(exc))
    grid = Table(show_edge=False, pad_edge=False)
    for col in ("as_of", "Δ", "customers", "ARI", "floor", "held"):
        grid.add_column(col, justify="left" if col in ("as_of", "Δ") else "right")
    for row in result.steps.itertuples():
        grid.add_row(
            str(row.as_of),
            str(row.delta),
            i18n.number(row.customers, lang),
            i18n.number(row.ari, lang, 3),
            i18n.number(row.noise_floor, lang, 3),
            "✓" if row.held else "✗",
        )
    console.print(grid)
    console.print(result.sentence, soft_wrap=True)
    console.print(i18n.t(lang, "written", out=out))


@app.command()
def compare(
    run_a: Annotated[Path, typer.Argument(help="The first run's --out folder.")],
    run_b: Annotated[Path, typer.Argument(help="The second run's --out folder.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for the outputs.")],
    lang: Annotated[
        str | None, typer.Option("--lang", help="Language: en or fr (default: run B's).")
    ] = None,
) -> None:
    """How customers moved between the segments of two runs: transition matrix and Sankey.

    Writes transitions.csv, compare.json and compare.html to --out.

    Example: custseg compare runs/june runs/december --out runs/moves
    """
    from rich.console import Console

    from custseg.outputs.lifecycle import compare as compare_runs

    console = Console()
    try:
        if lang is not None and lang not in i18n.LANGUAGES:
            _fail(f"--lang {lang!r} is not available; use one of {', '.join(i18n.LANGUAGES)}")
        result = compare_runs(run_a, run_b, out, lang=lang)
    except CustsegError as exc:
        _fail(str(exc))
    console.print(result.sentence, soft_wrap=True)
    console.print(i18n.t(result.lang, "written", out=out))
