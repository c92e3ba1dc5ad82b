"""Access policy: which tables, columns and rows a role may see, and how values are masked.

The rules live in ``schemas/<database>.yaml`` (README, "Access policy"): per column
``mask: none|partial|hash|redact``, ``redact_text: all|[kinds]`` (phones, e-mails, IDs
and card numbers inside free text read as ``[phone]``-style tokens) and ``deny: true``,
per table ``deny: true`` and ``row_filter: "<condition>"``, and under ``roles:`` what each
role changes. A role's :class:`AccessPolicy` is enforced three times over:

1. the drafters see a catalog without the denied tables and columns (:func:`visible`);
2. the guard refuses any reference to a denied column or table, also through ``*``,
   aliases, subqueries and CTEs, with a reason (:func:`check_refs`);
3. every reference to a restricted table in the query that runs is replaced by a derived
   table exposing only the allowed columns, masked, and only the permitted rows
   (:func:`rewrite`). Masking thus also holds inside WHERE, JOIN and functions, so an
   analyst cannot find a phone number by filtering on it, and no construct the guard did
   not foresee (a whole-row reference, ``COLUMNS(*)``) can reach a raw value.

Column lineage (``sqlglot.lineage``) then says which output columns carry masked data
(:func:`masking`), for the answer's notes and the audit log.

The package has one module per job: :mod:`.roles` (which policy applies),
:mod:`.visible` (the drafters' catalog), :mod:`.enforce` (the guard's refusals),
:mod:`.rewrite` (secure views and masks) and :mod:`.lineage` (the masking report).
Callers use the names re-exported here, as ``policy.X``. The functions ``rewrite`` and
``visible`` share their module's name and win as attributes of the package, so import
the modules themselves by their full path (``from nl2sql.safety.policy.rewrite import ...``).
"""

from nl2sql.safety.policy.enforce import PLAIN_TABLE_ARGS, check_refs, row_references
from nl2sql.safety.policy.lineage import masking
from nl2sql.safety.policy.rewrite import (
    PARTIAL_TEXT,
    mask_expression,
    redact_expression,
    rewrite,
    row_condition,
    secure_view,
)
from nl2sql.safety.policy.roles import (
    ALL_TEXT_KINDS,
    DEFAULT_ROLE,
    STRENGTH,
    AccessPolicy,
    default_role,
    for_role,
    load_key,
    resolve,
    role_names,
)
from nl2sql.safety.policy.visible import visible

__all__ = [
    "ALL_TEXT_KINDS", "DEFAULT_ROLE", "PARTIAL_TEXT", "PLAIN_TABLE_ARGS", "STRENGTH",
    "AccessPolicy", "check_refs", "default_role", "for_role", "load_key", "mask_expression",
    "masking", "redact_expression", "resolve", "rewrite", "role_names", "row_condition",
    "row_references",
    "secure_view", "visible",
]
