"""The ``nl2sql`` program (and ``python -m nl2sql``).

Kept free of imports: loading the CLI takes a few hundred milliseconds, and a Ctrl-C in
that time must end like a Ctrl-C anywhere else, with one line and exit status 130
(:class:`nl2sql.errors.Interrupted`), not a Python traceback. It ranks with the
interfaces in the layer order (``tests/test_layers.py``).
"""

import sys

INTERRUPTED_EXIT = 130  # nl2sql.errors.Interrupted.exit_code, without importing it here


def main() -> None:
    try:
        from nl2sql.interfaces.cli import main as cli_main
    except KeyboardInterrupt:
        sys.stderr.write("error (interrupted): interrupted\n")
        raise SystemExit(INTERRUPTED_EXIT) from None
    cli_main()


if __name__ == "__main__":
    main()
