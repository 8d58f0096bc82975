"""Canonical transaction columns and the aliases they are recognised by.

A transactions file names its columns in many ways (``InvoiceNo``, ``Invoice``, ``order_id``…).
:func:`resolve_columns` maps the file's columns onto the canonical names below, using an explicit
mapping first, then the alias table, and explains what is missing when it fails.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from custseg.errors import SchemaError

#: canonical name -> aliases, most specific first. Matching ignores case, accents, spaces and
#: punctuation, so ``Customer ID``, ``customer_id`` and ``CustomerID`` are one alias.
ALIASES: dict[str, tuple[str, ...]] = {
    "invoice": (
        "InvoiceNo",
        "Invoice",
        "invoice_no",
        "invoice_id",
        "invoice_number",
        "order_id",
        "order_no",
        "order_number",
        "order",
        "transaction_id",
        "receipt",
        "receipt_id",
        "bill_no",
        "facture",
        "numero_facture",
        "num_facture",
        "commande",
        "id_commande",
    ),
    "customer_id": (
        "CustomerID",
        "Customer ID",
        "customer_id",
        "customer",
        "customer_no",
        "customer_number",
        "client",
        "client_id",
        "clientid",
        "id_client",
        "code_client",
        "user_id",
        "member_id",
    ),
    "date": (
        "InvoiceDate",
        "invoice_date",
        "order_date",
        "order_datetime",
        "transaction_date",
        "purchase_date",
        "order_purchase_timestamp",
        "date",
        "datetime",
        "timestamp",
        "date_facture",
        "date_commande",
        "date_achat",
    ),
    "quantity": ("Quantity", "qty", "quantities", "units", "quantite", "qte", "nb_articles"),
    "price": (
        "UnitPrice",
        "unit_price",
        "Price",
        "price_per_unit",
        "item_price",
        "prix_unitaire",
        "prix",
        "pu",
    ),
    "amount": (
        "amount",
        "line_amount",
        "line_total",
        "total",
        "total_amount",
        "sales",
        "revenue",
        "value",
        "montant",
        "montant_ttc",
        "montant_ht",
        "chiffre_affaires",
        "ca",
    ),
    "product": (
        "StockCode",
        "stock_code",
        "product_id",
        "product",
        "product_code",
        "sku",
        "item_id",
        "item",
        "article",
        "code_article",
        "produit",
        "id_produit",
        "ref",
        "reference",
    ),
    "country": ("Country", "country_code", "country_name", "pays"),
    "description": ("Description", "product_name", "item_name", "libelle", "designation"),
}

CANONICAL: tuple[str, ...] = tuple(ALIASES)
#: columns without which transactions cannot be turned into customers
REQUIRED: tuple[str, ...] = ("customer_id", "date")


def normalize_name(name: str) -> str:
    """Fold a column name to its matching key.

    Examples
    --------
    >>> normalize_name("Customer ID")
    'customerid'
    >>> normalize_name("Quantité")
    'quantite'
    """
    folded = unicodedata.normalize("NFKD", str(name)).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]", "", folded.lower())


@dataclass(frozen=True)
class ColumnMap:
    """Which source column plays which canonical role (``None`` when absent)."""

    columns: dict[str, str | None]
    #: roles named explicitly by the user (``--map``), as opposed to recognised from aliases
    explicit: frozenset[str] = frozenset()

    def __getitem__(self, canonical: str) -> str | None:
        return self.columns.get(canonical)

    def present(self) -> dict[str, str]:
        """Canonical roles found in the source, with their source column."""
        return {k: v for k, v in self.columns.items() if v is not None}


def parse_mapping(items: Sequence[str]) -> dict[str, str]:
    """Parse ``canonical=source`` strings given on the command line.

    Examples
    --------
    >>> parse_mapping(["customer_id=Client Number", "date=Jour"])
    {'customer_id': 'Client Number', 'date': 'Jour'}
    """
    mapping: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key or not value.strip():
            raise SchemaError(
                f"--map {item!r} is not of the form canonical=source, e.g. customer_id=ClientNo"
            )
        mapping[key] = value.strip()
    return mapping


def resolve_columns(
    columns: Sequence[str], mapping: Mapping[str, str] | None = None, *, source: str = "input"
) -> ColumnMap:
    """Map source column names onto the canonical transaction columns.

    Parameters
    ----------
    columns : the source's column names, in order.
    mapping : explicit ``{canonical: source_column}`` choices; they win over aliases.
    source : how to name the source in error messages (usually the file path).

    Examples
    --------
    >>> resolve_columns(["Invoice", "Customer ID", "InvoiceDate", "Quantity", "Price"]).present()
    {'invoice': 'Invoice', 'customer_id': 'Customer ID', 'date': 'InvoiceDate', \
'quantity': 'Quantity', 'price': 'Price'}
    """
    mapping = dict(mapping or {})
    unknown = sorted(set(mapping) - set(CANONICAL))
    if unknown:
        raise SchemaError(
            f"--map names unknown column role(s) {', '.join(unknown)}; "
            f"use one of: {', '.join(CANONICAL)}"
        )
    by_key: dict[str, str] = {}
    for col in columns:
        by_key.setdefault(normalize_name(col), col)
    chosen: dict[str, str | None] = {}
    used: set[str] = set()
    for canonical, source_col in mapping.items():
        if source_col not in columns:
            match = by_key.get(normalize_name(source_col))
            if match is None:
                raise SchemaError(
                    f"{source}: --map {canonical}={source_col} but there is no column "
                    f"{source_col!r}; columns are: {', '.join(map(str, columns))}"
                )
            source_col = match
        chosen[canonical] = source_col
        used.add(source_col)
    for canonical in CANONICAL:
        if canonical in chosen:
            continue
        chosen[canonical] = None
        for alias in ALIASES[canonical]:
            found = by_key.get(normalize_name(alias))
            if found is not None and found not in used:
                col = found
                chosen[canonical] = col
                used.add(col)
                break
    missing = [c for c in REQUIRED if chosen[c] is None]
    if chosen["amount"] is None and (chosen["quantity"] is None or chosen["price"] is None):
        missing.append("amount (or quantity and price)")
    if missing:
        raise SchemaError(
            f"{source}: no column found for {', '.join(missing)}; columns are: "
            f"{', '.join(map(str, columns))}. Name it with --map, e.g. "
            f"--map {missing[0].split(' ')[0]}=<column>"
        )
    return ColumnMap(chosen, frozenset(mapping))


def check_unique_names(names: Sequence[object], source: str) -> None:
    """Refuse two columns of the same header (case aside; empty headers are not compared).

    Examples
    --------
    >>> check_unique_names(["id", "Price", "price"], "a.csv")
    Traceback (most recent call last):
    ...
    custseg.errors.SchemaError: a.csv: the header 'price' names two columns (columns 2 and 3); \
rename one of them so that each column has its own name
    """
    seen: dict[str, int] = {}
    for position, name in enumerate(names, 1):
        key = str(name).strip().casefold()
        if not key:
            continue
        if key in seen:
            raise SchemaError(
                f"{source}: the header {str(name).strip()!r} names two columns (columns "
                f"{seen[key]} and {position}); rename one of them so that each column has its "
                "own name"
            )
        seen[key] = position


#: the roles that only a transaction line has (a customer table has none of them)
TRANSACTION_ROLES: tuple[str, ...] = ("invoice", "date", "quantity", "price")


def transaction_roles(columns: Sequence[str]) -> dict[str, str]:
    """The roles of :data:`TRANSACTION_ROLES` that ``columns`` name through their aliases,
    with the column that names each.

    Examples
    --------
    >>> transaction_roles(["InvoiceNo", "CustomerID", "Quantity", "UnitPrice"])
    {'invoice': 'InvoiceNo', 'quantity': 'Quantity', 'price': 'UnitPrice'}
    >>> transaction_roles(["ID", "Income", "Dt_Customer"])
    {}
    """
    by_key: dict[str, str] = {}
    for col in columns:
        by_key.setdefault(normalize_name(col), col)
    found: dict[str, str] = {}
    for role in TRANSACTION_ROLES:
        for alias in ALIASES[role]:
            if normalize_name(alias) in by_key:
                found[role] = by_key[normalize_name(alias)]
                break
    return found
