"""Who is running nl2sql: the name the audit log and the access policy's ``users:`` use.

It comes from the operating system's account of the process's real user id, never from
variables a caller can set (``LOGNAME``, ``USER``): otherwise ``LOGNAME=steward nl2sql …``
would pass a ``users:`` limit and sign the audit log with someone else's name.
"""

from __future__ import annotations

import os
import pwd


def current_user() -> str:
    """The real user's login name; the numeric uid when the account has none (containers)."""
    uid = os.getuid()
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)
