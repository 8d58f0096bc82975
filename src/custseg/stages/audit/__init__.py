"""Audit and clean transaction lines: every input row is kept or dropped with a reason.

:func:`audit` runs the rules of :mod:`~custseg.stages.audit.rules` (value parsing in
:mod:`~custseg.stages.audit.parse`), part by part for large inputs
(:mod:`~custseg.stages.audit.partition`), and returns the :class:`~custseg.stages.ledger.Ledger`.
"""

from custseg.stages.audit.clean import Collector, audit, keep_lines
from custseg.stages.audit.rules import CONDITIONAL_REASONS, RULE_ORDER, CleaningRules

__all__ = ["CONDITIONAL_REASONS", "RULE_ORDER", "CleaningRules", "Collector", "audit", "keep_lines"]
