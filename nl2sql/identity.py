"""Who is running nl2sql: the name the audit log and the access policy's ``users:`` use."""

from __future__ import annotations

import getpass
import os


def current_user() -> str:
    """The OS user name; the numeric uid when there is none (containers)."""
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return str(os.getuid())
