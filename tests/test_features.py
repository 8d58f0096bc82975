"""Customer features: hand-computed values, money conservation, the naive query, other dialects."""

from __future__ import annotations

from datetime import date

import pytest
import sqlglot
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from custseg.engines import connect
from custseg.sources.readers import open_source
from custseg.sources.schema import resolve_columns
from custseg.stages.audit import audit
from custseg.stages.features import TRANSACTION_FEATURES, customer_features, customer_features_sql
from tests.conftest import COLLECTORS, lines, run_audit


def test_hand_computed_customer() -> None:
    frame = lines(
        [
            ("1", "P1", 2, "2011-01-01 10:00", 5.0, 1.0),  # 10
            ("1", "P2", 1, "2011-01-01 10:00", 10.0, 1.0),  # 10 -> invoice 1 = 20
            ("2", "P1", 4, "2011-01-11 09:00", 5.0, 1.0),  # invoice 2 = 20
            ("C3", "P1", -2, "2011-01-12 09:00", 5.0, 1.0),  # cancellation 10
            ("4", "P3", 1, "2011-01-31 12:00", 40.0, 1.0),  # invoice 4 = 40
            ("5", "P1", 1, "2011-01-21 12:00", 7.0, 2.0),  # other customer
        ]
    )
    ledger, _, con = run_audit(frame, as_of="2011-02-01")
    f = customer_features(con, ledger.as_of).set_index("customer_id")
    one = f.loc["1"]
    assert one["recency_days"] == 1
    assert one["frequency"] == 3
    assert one["monetary"] == pytest.approx(70.0)
    assert one["tenure_days"] == 31
    assert one["avg_basket"] == pytest.approx(80.0 / 3)
    assert one["product_breadth"] == 3
    assert one["return_rate"] == pytest.approx(10.0 / 80.0)
    assert one["mean_days_between"] == pytest.approx(30.0 / 2)
    two = f.loc["2"]
    assert (two["frequency"], two["recency_days"], two["mean_days_between"]) == (1, 11, 0.0)
    assert list(f.columns) == list(TRANSACTION_FEATURES)


def test_two_level_aggregation_equals_count_distinct(online_retail) -> None:
    con = connect()
    src = open_source(con, online_retail)
    ledger = audit(con, src, resolve_columns(src.columns), collectors=COLLECTORS)
    ours = customer_features(con, ledger.as_of).set_index("customer_id")
    naive = (
        con.frame("""
        SELECT customer_id,
               COUNT(DISTINCT invoice) FILTER (WHERE kind = 'purchase') AS frequency,
               COUNT(DISTINCT product) FILTER (WHERE kind = 'purchase') AS product_breadth,
               CAST(SUM(value) AS DOUBLE) AS monetary
        FROM lines WHERE reason IS NULL GROUP BY customer_id
        HAVING COUNT(*) FILTER (WHERE kind = 'purchase') > 0
    """)
        .set_index("customer_id")
        .loc[ours.index]
    )
    assert len(ours) == ledger.customers
    assert (ours["frequency"].to_numpy() == naive["frequency"].to_numpy()).all()
    assert (ours["product_breadth"].to_numpy() == naive["product_breadth"].to_numpy()).all()
    assert ours["monetary"].to_numpy() == pytest.approx(naive["monetary"].to_numpy())
    # money reconciles with the cleaned lines to the penny
    assert round(ours["monetary"].sum(), 2) == pytest.approx(ledger.money["kept_net"], abs=0.005)
    assert (ours["recency_days"] >= 0).all()
    assert (ours["recency_days"] <= ours["tenure_days"]).all()


@pytest.mark.parametrize("dialect", ["spark", "snowflake", "bigquery", "postgres"])
def test_feature_query_transpiles(dialect: str) -> None:
    sql = customer_features_sql(date(2011, 12, 10), dialect=dialect)
    tree = sqlglot.parse_one(sql, read=dialect)
    names = {e.alias_or_name for e in tree.expressions}
    assert set(TRANSACTION_FEATURES) <= names


line = st.tuples(
    st.sampled_from(["1", "2", "3", "C4", "5"]),
    st.sampled_from(["P1", "P2", "POST"]),
    st.integers(min_value=-5, max_value=20),
    st.datetimes(
        min_value=__import__("datetime").datetime(2020, 1, 1),
        max_value=__import__("datetime").datetime(2020, 12, 31),
    ).map(lambda d: d.isoformat()),
    st.sampled_from([0.0, 0.5, 1.25, 9.99]),
    st.sampled_from([1.0, 2.0, 3.0, None]),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(line, min_size=1, max_size=25))
def test_properties_recency_and_money(rows: list[tuple]) -> None:
    frame = lines(rows)
    try:
        ledger, table, con = run_audit(frame)
    except Exception as exc:  # only "nothing valid" may stop a random frame
        assert "no valid transaction line" in str(exc)
        return
    assert ledger.kept_rows + sum(ledger.dropped.values()) == len(rows)
    f = customer_features(con, ledger.as_of)
    assert (f["recency_days"] >= 0).all()
    assert (f["frequency"] >= 1).all()
    assert round(f["monetary"].sum(), 6) == pytest.approx(
        float(table.loc[table["reason"].isna(), "value"].sum())
    )
