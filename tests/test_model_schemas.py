"""The JSON Schemas of the saved files are valid JSON Schema (draft 2020-12).

``custseg.model.schema`` builds its validators without checking the schemas on every run;
this is where they are checked.
"""

from __future__ import annotations

import pytest
from jsonschema import Draft202012Validator

from custseg.model.schema import SCHEMAS


@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_schema_is_valid_json_schema(name: str) -> None:
    Draft202012Validator.check_schema(SCHEMAS[name])
