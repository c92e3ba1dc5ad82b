"""nl2sql: ask a database questions in plain language."""
