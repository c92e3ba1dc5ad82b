"""``.ci/run``: CI runs with the thorough test profile, and a pytest that collected nothing
(exit 5) fails CI with a message instead of a bare status."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

CI_RUN = Path(__file__).resolve().parent.parent / ".ci" / "run"


def run_with_last_line(tmp_path: Path, last: str) -> subprocess.CompletedProcess[str]:
    """``.ci/run`` with its command line (the last one) replaced by ``last``."""
    lines = CI_RUN.read_text(encoding="utf-8").rstrip("\n").splitlines()
    script = tmp_path / ".ci" / "run"
    script.parent.mkdir()
    script.write_text("\n".join([*lines[:-1], last]) + "\n", encoding="utf-8")
    return subprocess.run(["bash", str(script)], capture_output=True, text=True, timeout=30,
                          check=False)


@pytest.mark.parametrize(("last", "code", "said"), [
    ("true", 0, False),
    ("(exit 5)", 5, True),
    ("(exit 1)", 1, False),
    ("false && true", 1, False),  # a failure early in the && chain still fails CI
])
def test_exit_codes_pass_through(tmp_path: Path, last: str, code: int, said: bool) -> None:
    result = run_with_last_line(tmp_path, last)
    assert result.returncode == code, result.stderr
    assert ("collected no tests" in result.stderr) is said, result.stderr


def test_ci_uses_the_thorough_profile(tmp_path: Path) -> None:
    result = run_with_last_line(tmp_path, 'echo "CI=$CI"')
    assert result.returncode == 0 and result.stdout.strip() == "CI=true"
