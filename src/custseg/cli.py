"""The ``custseg`` command: a thin layer over the library.

Each command calls one library function; a :class:`~custseg.errors.CustsegError` becomes a
one-line message on stderr and exit code 1.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from custseg import i18n
from custseg.errors import CustsegError

app = typer.Typer(
    name="custseg",
    help="Customer segmentation from raw purchase data: audited, explained, actionable segments.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
err = Console(stderr=True)


#: ``--map canonical=source``, shared by the commands that read a transactions file
MapOption = Annotated[
    list[str] | None,
    typer.Option("--map", help="Column mapping canonical=source, repeatable."),
]


def _fail(message: str) -> None:
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
    "same columns (Hive folders such as year=2011/ become columns); or - for standard input."
)


@app.callback()
def main() -> None:
    """custseg: customer segments from transaction lines."""


@app.command()
def run(
    input: Annotated[Path, typer.Argument(help=INPUT_HELP)],
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for the outputs.")],
    seed: Annotated[
        int, typer.Option(help="Random seed (≥ 0); same input and seed, same output.")
    ] = 0,
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
    compare: Annotated[
        str | None,
        typer.Option(
            "--compare",
            help="Also fit these algorithms (comma-separated, e.g. kmeans,gmm,hdbscan) and "
            "compare them side by side; written to compare.json and compare.csv.",
        ),
    ] = None,
) -> None:
    """Segment the customers of a transactions file and write the outputs to --out.

    Example: custseg run data/online_retail.parquet --out runs/retail --seed 0

    Example (customer table): custseg run customers.csv --kind customers --out runs/crm
    """
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
                input,
                out,
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
                algorithm=algorithm,
                compare=[a.strip() for a in (compare or "").split(",") if a.strip()],
            )
    except CustsegError as exc:
        _fail(str(exc))
    print_summary(result, console)
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


@app.command()
def explore(
    input: Annotated[Path, typer.Argument(help=INPUT_HELP)],
    html: Annotated[
        Path | None, typer.Option("--html", help="Also write the data-quality page here.")
    ] = None,
    map_: MapOption = None,
    lang: Annotated[str, typer.Option("--lang", help="Language: en or fr.")] = "en",
) -> None:
    """Audit a transactions file and print its data quality, without segmenting.

    Example: custseg explore data/online_retail.parquet --html quality.html --lang fr
    """
    from custseg.outputs.files import write_text
    from custseg.pipeline import explore as explore_source
    from custseg.report import print_exploration, render_quality
    from custseg.sources.schema import parse_mapping

    console = Console()
    try:
        if lang not in i18n.LANGUAGES:
            _fail(f"--lang {lang!r} is not available; use one of {', '.join(i18n.LANGUAGES)}")
        result = explore_source(input, mapping=parse_mapping(map_ or []))
        print_exploration(result, lang, console)
        if html is not None:
            write_text(html, render_quality(result, lang))
            console.print(i18n.t(lang, "html_written", path=html))
    except CustsegError as exc:
        _fail(str(exc))
