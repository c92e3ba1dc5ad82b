"""The pipeline, stage by stage: introspect → semantic layer → context → prompt →
draft → guard → repair → execute → answer.

A :class:`Session` (:mod:`.session`) holds what is worth keeping between questions (the
catalog, the role's policy and the confined engine); :func:`ask` and :func:`run_sql`
(:mod:`.answer`) are the two ways in.
"""

from nl2sql.pipeline.answer import ask, run_sql
from nl2sql.pipeline.session import (
    PolicyDefaults,
    Session,
    choose_drafter,
    load_catalog,
    model_client,
    open_session,
    role_policy,
    switch_role,
)

__all__ = ["PolicyDefaults", "Session", "ask", "choose_drafter", "load_catalog", "model_client",
           "open_session", "role_policy", "run_sql", "switch_role"]
