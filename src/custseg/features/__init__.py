"""Customer features, written once as SQL and run by the engine where the data lives."""

from custseg.features.transactions import (
    FEATURE_DESCRIPTIONS,
    TRANSACTION_FEATURES,
    customer_features,
    customer_features_sql,
)

__all__ = [
    "FEATURE_DESCRIPTIONS",
    "TRANSACTION_FEATURES",
    "customer_features",
    "customer_features_sql",
]
