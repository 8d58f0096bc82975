"""Tests for column recognition and ``--map`` overrides (custseg.sources.schema)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from threadpoolctl import threadpool_limits

import custseg
from custseg.errors import SchemaError
from custseg.sources.schema import (
    CANONICAL,
    REQUIRED,
    normalize_name,
    parse_mapping,
    resolve_columns,
)

UCI = [
    "InvoiceNo",
    "StockCode",
    "Description",
    "Quantity",
    "InvoiceDate",
    "UnitPrice",
    "CustomerID",
    "Country",
]
RETAIL_II = [
    "Invoice",
    "StockCode",
    "Description",
    "Quantity",
    "InvoiceDate",
    "Price",
    "Customer ID",
    "Country",
]
SNAKE = ["order_id", "customer_id", "order_date", "qty", "unit_price", "product_id"]
AMOUNT_ONLY = ["invoice_id", "client", "date", "amount"]
FRENCH = ["facture", "id_client", "date_facture", "quantite", "prix_unitaire"]
FRENCH_ACCENTED = ["Code client", "Date", "Quantité", "Prix unitaire", "Désignation", "Pays"]


def _full(**present: str) -> dict[str, str | None]:
    """The complete ColumnMap content: every canonical role, None where absent."""
    return {canonical: present.get(canonical) for canonical in CANONICAL}


# --- alias recognition -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("columns", "expected"),
    [
        (
            UCI,
            _full(
                invoice="InvoiceNo",
                product="StockCode",
                description="Description",
                quantity="Quantity",
                date="InvoiceDate",
                price="UnitPrice",
                customer_id="CustomerID",
                country="Country",
            ),
        ),
        (
            RETAIL_II,
            _full(
                invoice="Invoice",
                product="StockCode",
                description="Description",
                quantity="Quantity",
                date="InvoiceDate",
                price="Price",
                customer_id="Customer ID",
                country="Country",
            ),
        ),
        (
            SNAKE,
            _full(
                invoice="order_id",
                customer_id="customer_id",
                date="order_date",
                quantity="qty",
                price="unit_price",
                product="product_id",
            ),
        ),
        (
            AMOUNT_ONLY,
            _full(invoice="invoice_id", customer_id="client", date="date", amount="amount"),
        ),
        (
            FRENCH,
            _full(
                invoice="facture",
                customer_id="id_client",
                date="date_facture",
                quantity="quantite",
                price="prix_unitaire",
            ),
        ),
        (
            FRENCH_ACCENTED,
            _full(
                customer_id="Code client",
                date="Date",
                quantity="Quantité",
                price="Prix unitaire",
                description="Désignation",
                country="Pays",
            ),
        ),
    ],
    ids=[
        "uci-online-retail",
        "online-retail-ii",
        "snake-case",
        "amount-only",
        "french",
        "french-accented",
    ],
)
def test_aliases_map_real_world_headers(columns: list[str], expected: dict) -> None:
    assert resolve_columns(columns).columns == expected
    # the column order of the file does not matter
    assert resolve_columns(list(reversed(columns))).columns == expected


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("Customer ID", "customerid"),
        ("customer_id", "customerid"),
        ("CUSTOMER-ID", "customerid"),
        ("Quantité", "quantite"),
        ("  Prix unitaire ", "prixunitaire"),
        ("Désignation", "designation"),
    ],
    ids=["spaced", "snake", "upper-dashed", "accent", "padded", "accent-inner"],
)
def test_normalize_name_folds_case_accents_and_punctuation(name: str, key: str) -> None:
    assert normalize_name(name) == key


def test_each_source_column_plays_at_most_one_role() -> None:
    # "Price" could be a price alias only once; "Total" is the amount, not a second price
    cmap = resolve_columns(["CustomerID", "InvoiceDate", "Price", "Quantity", "Total"])
    present = cmap.present()
    assert present == {
        "customer_id": "CustomerID",
        "date": "InvoiceDate",
        "quantity": "Quantity",
        "price": "Price",
        "amount": "Total",
    }
    assert len(set(present.values())) == len(present)
    assert cmap["invoice"] is None
    assert cmap["amount"] == "Total"


# --- --map overrides -------------------------------------------------------------------------


def test_map_override_wins_over_alias() -> None:
    cmap = resolve_columns(UCI, {"customer_id": "Country"})
    assert cmap["customer_id"] == "Country"
    # the column taken by --map is not handed to its alias role as well
    assert cmap["country"] is None
    # the other roles are still recognised by alias
    assert cmap["date"] == "InvoiceDate"
    assert cmap["price"] == "UnitPrice"


def test_map_override_picks_a_column_no_alias_knows() -> None:
    columns = [*SNAKE, "account_no"]
    assert resolve_columns(columns)["customer_id"] == "customer_id"
    cmap = resolve_columns(columns, {"customer_id": "account_no"})
    assert cmap["customer_id"] == "account_no"
    assert "customer_id" not in cmap.present().values()


@pytest.mark.parametrize(
    ("mapping", "role", "column"),
    [
        ({"customer_id": "customer id"}, "customer_id", "Customer ID"),
        ({"customer_id": "CUSTOMER_ID"}, "customer_id", "Customer ID"),
        ({"date": "invoice date"}, "date", "InvoiceDate"),
        ({"amount": "PRICE"}, "amount", "Price"),
    ],
    ids=["lower-spaced", "upper-snake", "spaced-camel", "upper-other-role"],
)
def test_map_by_differently_cased_or_spaced_name(
    mapping: dict[str, str], role: str, column: str
) -> None:
    cmap = resolve_columns(RETAIL_II, mapping)
    # the real column name of the file is used, not the spelling given to --map
    assert cmap[role] == column
    assert column in RETAIL_II


def test_map_unknown_role_is_named() -> None:
    with pytest.raises(SchemaError, match=r"unknown column role\(s\) client, when") as info:
        resolve_columns(UCI, {"when": "InvoiceDate", "client": "CustomerID"})
    # the message lists the valid roles
    for canonical in CANONICAL:
        assert canonical in str(info.value)


def test_map_unknown_source_column_is_named() -> None:
    with pytest.raises(
        SchemaError, match=r"^sales\.csv: --map customer_id=Kundennummer .*'Kundennummer'"
    ) as info:
        resolve_columns(UCI, {"customer_id": "Kundennummer"}, source="sales.csv")
    # the message lists the columns there are
    assert ", ".join(UCI) in str(info.value)


@pytest.mark.parametrize(
    ("columns", "missing"),
    [
        (["InvoiceNo", "InvoiceDate", "Quantity", "UnitPrice"], "customer_id"),
        (["InvoiceNo", "CustomerID", "Quantity", "UnitPrice"], "date"),
        (["InvoiceNo", "CustomerID", "InvoiceDate", "Quantity"], "amount (or quantity and price)"),
        (["CustomerID", "InvoiceDate", "UnitPrice"], "amount (or quantity and price)"),
        (["Kunde", "Datum", "Betrag"], "customer_id, date, amount (or quantity and price)"),
    ],
    ids=["no-customer", "no-date", "no-price", "no-quantity", "nothing-known"],
)
def test_missing_required_columns_are_named_and_map_suggested(
    columns: list[str], missing: str
) -> None:
    pattern = rf"^export\.csv: no column found for {re.escape(missing)};"
    with pytest.raises(SchemaError, match=pattern) as info:
        resolve_columns(columns, source="export.csv")
    message = str(info.value)
    assert "--map" in message
    assert ", ".join(columns) in message
    assert "\n" not in message


@pytest.mark.parametrize(
    ("columns", "role"),
    [
        (["InvoiceNo", "CustomerID", "Quantity", "UnitPrice"], "date"),
        (["InvoiceNo", "CustomerID", "InvoiceDate"], "amount"),
    ],
    ids=["date", "amount"],
)
def test_missing_column_map_example_names_the_missing_role(columns: list[str], role: str) -> None:
    with pytest.raises(SchemaError, match=rf"--map {role}=<column>"):
        resolve_columns(columns, source="export.csv")


def test_required_roles_are_customer_and_date() -> None:
    assert REQUIRED == ("customer_id", "date")
    assert set(REQUIRED) <= set(CANONICAL)


def test_amount_alone_satisfies_the_value_requirement() -> None:
    cmap = resolve_columns(["client", "date", "montant"])
    assert cmap["amount"] == "montant"
    assert cmap["quantity"] is None and cmap["price"] is None


# --- parse_mapping ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("items", "expected"),
    [
        (
            ["customer_id=Client Number", "date=Jour"],
            {"customer_id": "Client Number", "date": "Jour"},
        ),
        ([" customer_id  =  Client Number "], {"customer_id": "Client Number"}),
        (["amount=a=b"], {"amount": "a=b"}),
        ([], {}),
    ],
    ids=["two", "padded", "equals-in-value", "none"],
)
def test_parse_mapping(items: list[str], expected: dict[str, str]) -> None:
    assert parse_mapping(items) == expected


@pytest.mark.parametrize(
    "item",
    ["customer_id", "=ClientNo", "customer_id=", "customer_id=   ", "   =x", "", "customer_id:X"],
    ids=["no-equals", "no-role", "no-column", "blank-column", "blank-role", "empty", "colon"],
)
def test_parse_mapping_rejects_malformed_items(item: str) -> None:
    with pytest.raises(
        SchemaError, match=rf"^--map {re.escape(repr(item))} is not of the form canonical=source"
    ):
        parse_mapping(["date=Jour", item])


def test_parsed_mapping_drives_resolution() -> None:
    mapping = parse_mapping(["customer_id = Kunde", "date=Datum", "amount=BETRAG"])
    cmap = resolve_columns(["Kunde", "Datum", "Betrag"], mapping)
    assert cmap.present() == {"customer_id": "Kunde", "date": "Datum", "amount": "Betrag"}


def test_map_end_to_end_on_unrecognised_headers(tmp_path: Path) -> None:
    path = tmp_path / "kunden.csv"
    lines = ["Kunde,Datum,Betrag,Beleg"]
    for c in range(6):
        for j in range(c % 3 + 1):
            lines.append(f"K{c},2024-0{j + 1}-1{c} 10:00:00,{10 * (c + 1) + j}.50,B{c}{j}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")

    with pytest.raises(SchemaError, match=r"kunden\.csv: no column found for customer_id, date"):
        custseg.segment(path, k=2)

    mapping = parse_mapping(["customer_id=kunde", "date=DATUM", "amount=Betrag", "invoice=Beleg"])
    with threadpool_limits(limits=1):  # tiny data: OpenMP threads only add overhead
        result = custseg.segment(path, k=2, k_max=3, mapping=mapping)
    assert result.ledger.columns == {
        "customer_id": "Kunde",
        "date": "Datum",
        "amount": "Betrag",
        "invoice": "Beleg",
    }
    seg = result.segments.set_index("customer_id")
    assert sorted(seg.index) == [f"K{c}" for c in range(6)]
    assert seg.loc["K2", "frequency"] == 3
    assert seg.loc["K2", "monetary"] == pytest.approx(30.5 + 31.5 + 32.5)
