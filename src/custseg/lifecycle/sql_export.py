"""A run's scoring as one SQL SELECT, runnable inside a warehouse.

:func:`export_sql` compiles a :class:`~custseg.model.run.RunModel` into one self-contained
``SELECT`` (common table expressions, no user-defined function) over a table of raw rows:

- transactions: the run's cleaning rules (the audit's own row rules,
  :func:`custseg.stages.audit.rules.row_rules_sql`; exact duplicate rows kept once; returns
  of customers without a purchase left out; lines dated outside the fence of plausible dates
  computed from the table as :func:`custseg.stages.ledger.date_fence` does) and the feature
  stage's one SQL definition (:func:`custseg.stages.features.customer_features_sql`), as of a
  given date or, by default, the day after the table's last kept line (as ``custseg score``);
- customer tables: the fitted preparation (engineered variables, ordinal ranks, categories
  with rare values grouped, outlier fences, median imputation);

then the segmenter's preparation (clipping, Yeo-Johnson, scaling, one-hot dummies) and the
nearest centroid: one row per customer with its features, ``segment`` (1..k),
``segment_name`` and ``distance``. The SQL is written in DuckDB's dialect and transpiled by
sqlglot to the others (:data:`DIALECTS`).

What the SQL expects of the table: its columns named as in the run (or mapped with
``mapping``), typed as a warehouse types them: dates as DATE or TIMESTAMP, quantities,
prices and numeric customer columns as numbers, the rest as text (the text conventions the
Python reader recognises, such as ``1.250,00`` or day-first dates, are not re-parsed).
Exact duplicates are compared over every column of the table. The labels equal Python
scoring's for every customer but exact ties: a customer at the same distance (to 1e-12) from
two centroids, or a value that lies on an outlier fence or a decile to the last bit, may fall
on the other side, floating-point operations being done in another order.

Examples
--------
>>> import tempfile, custseg
>>> from custseg.datasets import make_transactions
>>> from custseg.engines import connect
>>> from custseg.model.run import RunModel
>>> lines, _ = make_transactions(60, seed=3)
>>> with tempfile.TemporaryDirectory() as out:
...     result = custseg.run(lines, out, seed=0, k=3)
...     sql = export_sql(RunModel.load(out), table="lines")
>>> with connect() as engine:
...     engine.register("lines", lines)
...     scored = engine.frame(sql)
>>> scored["segment"].tolist() == result.segments["segment"].tolist()
True
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from custseg.engines.sql import ident, literal, portable_pattern
from custseg.errors import ModelError, SchemaError
from custseg.model.algorithms import get_algorithm
from custseg.model.run import RunModel
from custseg.stages.audit.rules import PER_INVOICE_SQL, row_rules_sql
from custseg.stages.customers.encode import OTHER, UNKNOWN
from custseg.stages.features import TRANSACTION_FEATURES, customer_features_sql
from custseg.stages.ledger import DATE_FENCE_IQR, DATE_FENCE_MIN_DAYS, DateFence

#: the dialects :func:`export_sql` writes (sqlglot's names)
DIALECTS: tuple[str, ...] = ("duckdb", "postgres", "spark", "snowflake", "bigquery")
#: a date the feature SQL is written with, replaced by the as-of date computed from the table
_SENTINEL = date(1111, 11, 11)
#: the category of a number never seen in training (then grouped as unseen categories are)
UNSEEN = "(custseg: a value unseen in training)"
_DAY = "date_diff('day', DATE '1970-01-01', CAST(ts AS DATE))"


@dataclass(frozen=True)
class _TableFence(DateFence):
    """The date fence, its bounds read from the ``fence`` columns computed in the query."""

    def outside_sql(self) -> str:
        return f"({_DAY} < fence_low OR {_DAY} > fence_high)"


def table_name(name: str) -> str:
    """A table name, possibly qualified (``schema.table``), each part quoted.

    Examples
    --------
    >>> print(table_name("sales.lines"))
    "sales"."lines"
    """
    parts = name.split(".")
    if not name or any(not p for p in parts):
        raise SchemaError(f"--table {name!r} is not a table name; write e.g. sales.lines")
    return ".".join(ident(p) for p in parts)


def _num(x: float) -> str:
    """A float literal exact to the last bit (17 significant digits)."""
    if not math.isfinite(x):
        raise ModelError(f"model value {x!r} is not finite; re-run custseg run")
    return f"CAST({float(x)!r} AS DOUBLE)"


def _is_number(text: str) -> bool:
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False


def _transactions_sql(
    model: RunModel, table: str, mapping: Mapping[str, str], as_of: date | None
) -> tuple[str, list[str]]:
    """CTEs (without ``WITH``) ending in ``features``: customer_id and the transaction features."""
    cols = {**model.columns, **dict(mapping)}
    for role in ("customer_id", "date"):
        if role not in cols:
            raise ModelError(f"model.json: the run maps no {role} column")
    rules = model.rules
    assert rules is not None
    rules = type(rules)(
        cancellation_prefix=rules.cancellation_prefix,
        adjustment_pattern=portable_pattern(rules.adjustment_pattern),
        adjustment_descriptions=rules.adjustment_descriptions,
        non_product_codes=rules.non_product_codes,
        non_product_pattern=portable_pattern(rules.non_product_pattern),
        extreme_iqr=rules.extreme_iqr,
    )
    use_amount = "amount" in cols and ("quantity" not in cols or "price" not in cols)

    def text(role: str) -> str:
        if role not in cols:
            return "CAST(NULL AS VARCHAR)"
        return f"NULLIF(TRIM(CAST({ident(cols[role])} AS VARCHAR)), '')"

    def number(role: str) -> str:
        return f"CAST({ident(cols[role])} AS DOUBLE)" if role in cols else "CAST(NULL AS DOUBLE)"

    cid = text("customer_id")
    customer = f"NULLIF(regexp_replace({cid}, '\\.0+$', ''), '')"
    value = "a" if use_amount else "q * p"
    reason = row_rules_sql(
        rules, use_amount=use_amount, as_of=as_of, fence=_TableFence(0, 0, 0.0, 0.0)
    )
    inf = " OR isinf(CAST(v AS DOUBLE))"
    if inf not in reason:  # pragma: no cover - the audit's rule changed: follow it here
        raise ModelError("the audit's invalid-value rule changed; update sql_export")
    reason = reason.replace(inf, "")
    width = f"GREATEST(q3 - q1, {DATE_FENCE_MIN_DAYS})"
    ctes = [
        "dated AS (\n  SELECT date_diff('day', DATE '1970-01-01', "
        f"CAST(CAST({ident(cols['date'])} AS TIMESTAMP) AS DATE)) AS day FROM {table}"
        f" WHERE {ident(cols['date'])} IS NOT NULL\n)",
        "quartiles AS (\n  SELECT QUANTILE_CONT(day, 0.25) AS q1, QUANTILE_CONT(day, 0.75) AS q3"
        " FROM dated\n)",
        f"fence AS (\n  SELECT FLOOR(q1 - {DATE_FENCE_IQR} * {width}) AS fence_low,"
        f" CEIL(q3 + {DATE_FENCE_IQR} * {width}) AS fence_high FROM quartiles\n)",
        f"distinct_rows AS (\n  SELECT DISTINCT * FROM {table}\n)",
        f"raw AS (\n  SELECT CAST({ident(cols['date'])} AS TIMESTAMP) AS ts, {customer} AS customer_id,"
        f" {text('invoice')} AS invoice_in, {text('product')} AS product,"
        f" {text('description')} AS descr, {number('quantity')} AS q, {number('price')} AS p,"
        f" {number('amount') if use_amount else 'CAST(NULL AS DOUBLE)'} AS a"
        "\n  FROM distinct_rows\n)",
        "x AS (\n  SELECT *, COALESCE(invoice_in, customer_id || '@' || CAST(ts AS VARCHAR)) AS invoice,"
        f" CAST({value} AS DECIMAL(18, 6)) AS v FROM raw\n)",
        f"r AS (\n  SELECT *, {reason} AS reason FROM x CROSS JOIN fence\n)",
        "k AS (\n  SELECT ts, customer_id, invoice, product, v AS value, reason,"
        " CASE WHEN reason IS NOT NULL THEN NULL WHEN v > 0 THEN 'purchase'"
        f" WHEN starts_with(invoice, {literal(rules.cancellation_prefix)}) THEN 'cancellation'"
        " ELSE 'return' END AS kind FROM r\n)",
        "buyers AS (\n  SELECT DISTINCT customer_id FROM k WHERE kind = 'purchase'\n)",
        "lines AS (\n  SELECT * FROM k WHERE reason IS NULL"
        " AND customer_id IN (SELECT customer_id FROM buyers)\n)",
    ]
    if as_of is None:
        ctes.append(
            "as_of_date AS (\n  SELECT CAST(CAST(MAX(ts) AS DATE) + INTERVAL 1 DAY AS DATE) AS as_of"
            " FROM lines\n)"
        )
        sql = customer_features_sql(_SENTINEL, lines="lines")
        sentinel = f"CAST('{_SENTINEL.isoformat()}' AS DATE)"
        if sql.count(sentinel) != 2:  # pragma: no cover - the feature SQL changed
            raise ModelError("the feature SQL changed; update sql_export")
        sql = sql.replace(sentinel, "(SELECT as_of FROM as_of_date)")
    else:
        sql = customer_features_sql(as_of, lines="lines")
    if PER_INVOICE_SQL.format(lines="lines").strip() not in sql:  # pragma: no cover
        raise ModelError("the feature SQL changed; update sql_export")
    head, select = sql.strip().split("\nSELECT c.customer_id", 1)
    select = "SELECT c.customer_id" + select.rsplit("ORDER BY", 1)[0]
    ctes.append(head.removeprefix("WITH ").strip())
    ctes.append(f"features AS ({select})")
    return ",\n".join(ctes), list(TRANSACTION_FEATURES)


def _customers_sql(
    model: RunModel, table: str, mapping: Mapping[str, str]
) -> tuple[str, list[str]]:
    """CTEs (without ``WITH``) ending in ``features``: customer_id and the prepared features."""
    prep = model.preparation
    assert prep is not None
    if prep.id_ is None:
        raise ModelError(
            "this customer-table model numbers customers by row (its table had no id column): "
            "rows have no order in SQL, so it cannot be exported"
        )
    if prep.enrolment_ is not None and prep.enrolment_["numbers"] is not None:
        raise ModelError(
            f"enrolment dates written as numbers ({prep.enrolment_['numbers']}) cannot be "
            "exported; store them as dates"
        )

    def col(name: str) -> str:
        return ident(mapping.get(name, name))

    read = [c for c in prep.reading_ if c in set(prep.required_columns())]
    if prep.id_ not in read:
        read.insert(0, prep.id_)
    ctes = [
        f"distinct_rows AS (\n  SELECT DISTINCT {', '.join(f'{col(c)} AS {ident(c)}' for c in read)}"
        f" FROM {table}\n)",
        f"rows_in AS (\n  SELECT *, NULLIF(TRIM(CAST({ident(prep.id_)} AS VARCHAR)), '') AS customer_id"
        " FROM distinct_rows\n)",
    ]
    made: dict[str, str] = {}
    wanted = [*prep.numeric_, *prep.categorical_]
    for d in prep.columns_:
        name, op, sources = d["name"], d["op"], d["sources"]
        if d.get("optional"):
            continue
        src = [f"CAST({ident(s)} AS DOUBLE)" for s in sources]
        first = ident(sources[0])
        if op == "age":
            assert prep.as_of_ is not None
            expr = f"{prep.as_of_.year} - {src[0]}"
        elif op == "days_since":
            assert prep.as_of_ is not None
            expr = (
                f"CAST(date_diff('day', CAST({first} AS DATE), DATE "
                f"{literal(prep.as_of_.isoformat())}) AS DOUBLE)"
            )
        elif op == "sum":
            expr = (
                f"CASE WHEN {' AND '.join(f'{s} IS NULL' for s in src)} THEN NULL ELSE "
                + " + ".join(f"COALESCE({s}, 0)" for s in src)
                + " END"
            )
        elif op == "share":
            expr = f"COALESCE({src[0]} / NULLIF({made[d['total']]}, 0), 0)"
        elif op == "number":
            expr = src[0]
        elif op == "ordinal":
            cases = " ".join(
                f"WHEN {literal(v)} THEN CAST({i} AS DOUBLE)" for i, v in enumerate(d["vocabulary"])
            )
            expr = f"CASE lower(TRIM(CAST({first} AS VARCHAR))) {cases} ELSE NULL END"
        elif op == "category":
            cat = f"NULLIF(TRIM(CAST({first} AS VARCHAR)), '')"
            if prep.reading_.get(sources[0], {}).get("parse") == "number":
                # categories of a numeric column are the text of its numbers as Python wrote
                # them (0.0, 1.0): matched by value, so that every engine finds them
                x = f"CAST({first} AS DOUBLE)"
                cases = " ".join(
                    f"WHEN {x} = {_num(float(v))} THEN {literal(v)}"
                    for v in d["seen"]
                    if _is_number(v)
                )
                cat = f"(CASE WHEN {x} IS NULL THEN NULL {cases} ELSE {literal(UNSEEN)} END)"
            seen = ", ".join(literal(v) for v in d["seen"]) or "NULL"
            rare = ", ".join(literal(v) for v in d["rare"])
            unseen = literal(OTHER) if d["rare"] else literal(UNKNOWN)
            expr = (
                f"CASE WHEN {cat} IS NULL THEN {literal(UNKNOWN)} "
                f"WHEN {cat} NOT IN ({seen}) THEN {unseen} "
                + (f"WHEN {cat} IN ({rare}) THEN {literal(OTHER)} " if rare else "")
                + f"ELSE {cat} END"
            )
        else:
            continue  # copies (label, outcomes) are not clustered
        made[name] = f"({expr})"
    missing = [c for c in wanted if c not in made]
    if missing:  # pragma: no cover - from_dict checks every feature has a definition
        raise ModelError(f"customer preparation: no definition of {', '.join(missing)}")
    policy = prep.rules_.outliers
    held: dict[str, str] = {}
    keep: list[str] = []
    for c in wanted:
        x = made[c]
        if c in prep.fences_:
            lo, hi = (_num(v) for v in prep.fences_[c])
            if policy == "clip":
                x = f"(CASE WHEN {x} IS NULL THEN NULL WHEN {x} < {lo} THEN {lo} WHEN {x} > {hi} THEN {hi} ELSE {x} END)"
            elif policy == "drop":
                keep.append(f"NOT COALESCE({x} < {lo} OR {x} > {hi}, FALSE)")
        med = prep.medians_.get(c)
        if med is not None and c in prep.numeric_:
            x = f"COALESCE({x}, {_num(med)})"
        held[c] = x
    where = " AND ".join(["customer_id IS NOT NULL", *keep])
    ctes.append(
        "features AS (\n  SELECT customer_id, "
        + ", ".join(f"{x} AS {ident(c)}" for c, x in held.items())
        + f"\n  FROM rows_in WHERE {where}\n)"
    )
    return ",\n".join(ctes), wanted


def _scoring_sql(model: RunModel, shown: list[str]) -> list[str]:
    """CTEs ``scaled``, ``distances`` and the final SELECT: the segmenter applied in SQL."""
    seg = model.segmenter
    dims: list[str] = []
    for j, f in enumerate(seg.numeric_features_):
        x = f"CAST({ident(f)} AS DOUBLE)"
        if math.isfinite(seg.lower_[j]):
            x = f"GREATEST({x}, {_num(seg.lower_[j])})"
        lam = float(seg.lambdas_[j])
        if abs(lam) < 2.220446049250313e-16:
            pos = f"LN({x} + 1)"
        else:
            pos = f"(EXP({_num(lam)} * LN({x} + 1)) - 1) / {_num(lam)}"
        if abs(lam - 2) < 2.220446049250313e-16:
            neg = f"-LN(1 - {x})"
        else:
            neg = f"-(EXP({_num(2 - lam)} * LN(1 - {x})) - 1) / {_num(2 - lam)}"
        yj = (
            pos
            if math.isfinite(seg.lower_[j]) and seg.lower_[j] >= 0
            else (f"CASE WHEN {x} >= 0 THEN {pos} ELSE {neg} END")
        )
        dims.append(f"(({yj}) - {_num(seg.mean_[j])}) / {_num(seg.scale_[j])}")
    for c in seg.categorical:
        for v in seg.categories_[c]:
            dims.append(
                f"CASE WHEN CAST({ident(c)} AS VARCHAR) = {literal(v)} THEN CAST(1 AS DOUBLE) "
                "ELSE CAST(0 AS DOUBLE) END"
            )
    names = [f"z{i}" for i in range(len(dims))]
    scaled = ",\n         ".join(f"{e} AS {n}" for e, n in zip(dims, names, strict=True))
    k = len(seg.cluster_centers_)
    dist = []
    for s in range(k):
        # a product, not POWER(…, 2): DuckDB's POWER calls pow() per value, which made the
        # distances 4x slower (measured: 1.52 s → 0.37 s of CPU for 2 M customers, k = 5)
        terms = " + ".join(
            f"({n} - {_num(c)}) * ({n} - {_num(c)})"
            for n, c in zip(names, seg.cluster_centers_[s], strict=True)
        )
        dist.append(f"{terms} AS d{s + 1}")
    pick = " ".join(
        f"WHEN {' AND '.join(f'd{s} <= d{o}' for o in range(s + 1, k + 1))} THEN {s}"
        for s in range(1, k)
    )
    label = f"CASE {pick} ELSE {k} END" if k > 1 else "1"
    smallest = "CASE " + " ".join(f"WHEN segment = {s} THEN d{s}" for s in range(1, k + 1)) + " END"
    names_sql = " ".join(
        f"WHEN {s} THEN {literal(model.segment_names.get(s, str(s)))}" for s in range(1, k + 1)
    )
    cols = ", ".join(ident(c) for c in shown)
    return [
        f"scaled AS (\n  SELECT customer_id, {cols},\n         {scaled}\n  FROM features\n)",
        f"distances AS (\n  SELECT customer_id, {cols},\n         "
        + ",\n         ".join(dist)
        + "\n  FROM scaled\n)",
        f"labelled AS (\n  SELECT *, {label} AS segment FROM distances\n)",
        "SELECT customer_id, "
        + cols
        + f", segment, CASE segment {names_sql} END AS segment_name, SQRT({smallest}) AS distance"
        "\nFROM labelled\nORDER BY customer_id",
    ]


def export_sql(
    model: RunModel,
    *,
    dialect: str = "duckdb",
    table: str | None = None,
    mapping: Mapping[str, str] | None = None,
    as_of: date | None = None,
) -> str:
    """The run's scoring as one SQL SELECT in ``dialect`` (see the module docstring).

    Parameters
    ----------
    model : the run.
    dialect : one of :data:`DIALECTS`.
    table : the table of raw rows (``schema.table`` allowed); default ``transactions`` or
        ``customers``.
    mapping : canonical role (transactions) or column of the run (customer tables) → the
        column's name in ``table``.
    as_of : transactions: features as of this date; default the day after the table's last
        kept line, computed in the query.
    """
    if dialect not in DIALECTS:
        raise SchemaError(f"--dialect {dialect!r} unknown; use one of {', '.join(DIALECTS)}")
    _check_exportable(model)
    source = table_name(table or ("customers" if model.kind == "customers" else "transactions"))
    mapping = dict(mapping or {})
    if model.kind == "customers":
        ctes, shown = _customers_sql(model, source, mapping)
    else:
        ctes, shown = _transactions_sql(model, source, mapping, as_of)
    *more, final = _scoring_sql(model, shown)
    sql = "WITH " + ctes + ",\n" + ",\n".join(more) + "\n" + final
    if dialect == "duckdb":
        return _header(model, dialect) + sql + ";\n"
    import sqlglot

    try:
        tree = sqlglot.parse_one(sql, read="duckdb")
        if dialect == "spark":
            tree = tree.transform(_spark_percentile)
        out = tree.sql(dialect=dialect, pretty=True)
    except sqlglot.errors.SqlglotError as exc:  # pragma: no cover - a sqlglot without a rule
        raise ModelError(f"the scoring SQL cannot be written for {dialect}: {exc}") from exc
    return _header(model, dialect) + out + ";\n"


def _spark_percentile(node: Any) -> Any:
    """``QUANTILE_CONT(x, q)`` as Spark's ``percentile(x, q)`` (interpolated, as DuckDB's):
    sqlglot writes ``PERCENTILE_CONT(x, q)``, which Spark reads only as ``PERCENTILE_CONT(q)
    WITHIN GROUP (ORDER BY x)`` (found by running the SQL on Spark)."""
    from sqlglot import exp

    if isinstance(node, exp.PercentileCont) and node.args.get("expression") is not None:
        return exp.Anonymous(this="percentile", expressions=[node.this, node.expression])
    return node


def _check_exportable(model: RunModel) -> None:
    """Refuse, in one line, a model whose scoring this module cannot write as SQL."""
    if model.groups:
        raise ModelError(
            "export-sql writes the scoring of one model; this run is split by lifecycle "
            "(--split lifecycle): score its customers with custseg score, or export a run "
            "made without --split"
        )
    algo = get_algorithm(model.segmenter.algorithm)
    if algo.rule != "nearest-centroid":
        raise ModelError(
            f"export-sql writes nearest-centroid scoring (K-Means, Ward); this run used "
            f"{algo.label}, which scores by the {algo.rule} rule: score its customers with "
            "custseg score, or export a run made with --algorithm kmeans or ward"
        )


def _header(model: RunModel, dialect: str) -> str:
    segs = ", ".join(f"{s} {n}" for s, n in sorted(model.segment_names.items()))
    return (
        f"-- custseg scoring of a {model.kind} model ({dialect}): one row per customer with its "
        f"features, segment, segment_name and distance\n-- segments: {segs}\n"
    )


def describe(model: RunModel) -> dict[str, Any]:
    """What the exported query reads: the kind of table and the columns it needs."""
    if model.kind == "customers":
        assert model.preparation is not None
        return {"table": "customers", "columns": model.preparation.required_columns()}
    return {"table": "transactions", "columns": dict(model.columns)}
