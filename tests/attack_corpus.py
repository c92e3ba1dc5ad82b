"""The attack corpus (tests/fixtures/attacks/*.yaml): load it, run it as a restricted role
against the sample database, and search everything the role receives for raw personal values.

Used by ``tests/test_attack_corpus.py`` (one test per group of cases) and as a script that
prints the corpus table for the README's governance docs::

    .venv/bin/python tests/attack_corpus.py            # markdown table + the leaked case ids
    .venv/bin/python tests/attack_corpus.py --slow     # the long tail too

Why a harness of its own and not one test per case: running the CLI once per case costs
~0.15 s of wall time, so SQL cases of a group go through one ``nl2sql shell`` run (one line per
statement, a marker command between cases) and only commands the shell has no equivalent for
(``schema``, ``catalog``, ``audit``, ``extract``, ``scan-pii``, exit-code checks) run alone.

What counts as a raw value (:class:`Secrets`): every value of the columns the role may not
see in clear, read from the database as the steward sees it (phones, e-mails, ID numbers,
birth dates; names too where the policy is "whatever the scanner finds"), and every value the
scanner's detectors (``pii_detect.find_all``) find inside any text column (phones, e-mails,
IDs, cards, IPs and addresses inside reviews and transcripts). Output is searched normalised:
case-folded, HTML and ``\\uXXXX`` escapes decoded, and dashes/spaces between digits dropped, so
``138-1234-5678`` and ``13812345678`` are the same value; reversed forms count too.
A value the case typed itself (a probe literal) is not a leak of that case.
"""

from __future__ import annotations

import hashlib
import html
import re
import shutil
import sys
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ATTACKS_DIR = Path(__file__).resolve().parent / "fixtures" / "attacks"
MARKER = "zz_case_"
EXPECTS = ("refused", "contained")
#: Run kinds: batched through one shell per group, or a CLI command of their own.
BATCHED = ("sql", "ask", "shell")
#: The eleven categories of the table (the issue's ten routes; masks on structured columns as
#: the regression baseline the issue says held).
ROUTES = {
    "1-free-text": "personal data inside free text",
    "2-profiles": "profiles: schema, catalog, describe, scan-pii, cache",
    "3-extract-laundering": "extraction laundering into the workspace",
    "4-audit-history": "audit log and shell history",
    "5-roles-environment": "roles from the environment",
    "6-untrusted-files": "untrusted database files",
    "7-writes": "writes through the workspace and outputs",
    "8-resources": "resources: width, memory, wide queries",
    "9-secure-default": "secure by default (no policy)",
    "10-extract-sample": "extract --sample output",
    "0-masks": "masks and denies on structured columns (SQL tricks)",
}
#: ``over:`` axes: a case with ``over: text`` runs once per free-text column.
AXES: dict[str, list[dict[str, str]]] = {
    "text": [{"label": "reviews", "table": "reviews", "text": "review_text", "key": "review_id"},
             {"label": "tickets", "table": "support_tickets", "text": "transcript",
              "key": "ticket_id"}],
    "masked": [{"label": "phone", "col": "phone"}, {"label": "email", "col": "email"},
               {"label": "id", "col": "id_number"}],
    "personal": [{"label": "phone", "col": "phone"}, {"label": "email", "col": "email"},
                 {"label": "id", "col": "id_number"}, {"label": "birth", "col": "birth_date"}],
    "format": [{"label": f, "format": f} for f in ("table", "json", "csv", "markdown")],
}
CANARY = "NL2SQL-CANARY-5e1f0c9a"
TIMING = re.compile(r"\d+(?:\.\d+)? ?ms|\"(?:elapsed_ms|draft|guard|execute|context|open)\": [\d.]+")


# ---------------------------------------------------------------------------------------
# The corpus
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """One attack: how to run it, as whom, after what, and what must come of it."""

    id: str
    category: str
    run: str  # sql | ask | shell | cli
    text: tuple[str, ...]  # the SQL, the question, the shell lines or the CLI arguments
    expect: str
    role: str = "default"  # default (no role given) | analyst (NL2SQL_ROLE=analyst)
    setup: str = "none"
    format: str = "table"
    probe: str | None = None  # run twice, with a real and a made-up value: outputs must match
    channels: tuple[str, ...] = ()  # extra channels: audit_log, cache, history
    db_unchanged: bool = False
    slow: bool = False
    env: tuple[tuple[str, str], ...] = ()
    note: str = ""

    @property
    def batched(self) -> bool:
        return self.run in BATCHED

    @property
    def group(self) -> str:
        return f"{self.category}/{self.setup}" + ("/slow" if self.slow else "")


@dataclass(frozen=True)
class Setup:
    """What a group of cases starts from: which database, which policy, which steps first."""

    name: str
    db: str = "sample"  # sample | copy | renamed | untrusted
    policy: str = "default"  # default | steward_limited
    secrets: str = "policy"  # policy | scanner (no policy: names are personal data too)
    steps: tuple[dict[str, Any], ...] = ()


def _expand(raw: Mapping[str, Any], category: str, defaults: Mapping[str, Any]) -> list[Case]:
    merged = {**defaults, **raw}
    axis = merged.pop("over", None)
    bindings = AXES[axis] if axis else [{"label": ""}]
    # the long tail: bindings after the first ``fast_bindings`` run with the slow marker
    fast = int(merged.pop("fast_bindings", len(bindings))) if axis else 1
    cases = []
    for number, binding in enumerate(bindings):
        def fill(value: str, binding: dict[str, str] = binding) -> str:
            for key, sub in binding.items():
                value = value.replace("{" + key + "}", sub)
            return value

        kinds = [k for k in ("sql", "ask", "shell", "cli") if k in merged]
        assert len(kinds) == 1, f"{merged['id']}: one of sql/ask/shell/cli, not {kinds}"
        body = merged[kinds[0]]
        text = (body,) if isinstance(body, str) else tuple(body)
        label = binding["label"]
        fmt = fill(str(merged.get("format", "table")))
        cases.append(Case(
            id=merged["id"] + (f"@{label}" if label else ""), category=category, run=kinds[0],
            text=tuple(fill(t) for t in text), expect=merged["expect"],
            role=merged.get("role", "default"), setup=merged.get("setup", "none"), format=fmt,
            probe=fill(merged["probe"]) if merged.get("probe") else None,
            channels=tuple(merged.get("channels", ())),
            db_unchanged=bool(merged.get("db_unchanged", False)),
            slow=bool(merged.get("slow", False)) or number >= fast,
            env=tuple(sorted((k, fill(str(v))) for k, v in merged.get("env", {}).items())),
            note=merged.get("note", "")))
    return cases


def load_corpus(folder: Path = ATTACKS_DIR) -> tuple[list[Case], dict[str, Setup]]:
    """Every case of every ``*.yaml`` in ``folder`` and the setups they name."""
    from conftest import load_yaml

    cases: list[Case] = []
    setups: dict[str, Setup] = {"none": Setup("none")}
    for path in sorted(folder.glob("*.yaml")):
        data = load_yaml(path.read_text(encoding="utf-8"))
        for name, spec in (data.get("setups") or {}).items():
            assert name not in setups, f"{path.name}: setup {name} defined twice"
            setups[name] = Setup(name, db=spec.get("db", "sample"),
                                 policy=spec.get("policy", "default"),
                                 secrets=spec.get("secrets", "policy"),
                                 steps=tuple(spec.get("steps", ())))
        category = data["category"]
        assert category in ROUTES, f"{path.name}: unknown category {category}"
        for raw in data["cases"]:
            cases.extend(_expand(raw, category, data.get("defaults", {})))
    ids = Counter(c.id for c in cases)
    assert not [i for i, n in ids.items() if n > 1], [i for i, n in ids.items() if n > 1]
    for case in cases:
        assert case.expect in EXPECTS and case.setup in setups, case
        assert case.role in ("default", "analyst"), case
    return cases, setups


# ---------------------------------------------------------------------------------------
# Raw values and how they are searched for
# ---------------------------------------------------------------------------------------

_BETWEEN_DIGITS = re.compile(r"(?<=\d)[\s\-]+(?=\d)")
_UNICODE_ESCAPE = re.compile(r"\\u([0-9a-fA-F]{4})")


def normalise(text: str) -> str:
    """What a value or an output is compared as: escapes decoded, case folded, no dashes or
    spaces between digits."""
    if "\\u" in text:
        text = _UNICODE_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), text)
    text = html.unescape(text).lower()
    return _BETWEEN_DIGITS.sub("", text)


@dataclass(frozen=True)
class Needle:
    kind: str  # phone, email, ... ; "reversed phone" for a reversed form
    source: str  # table.column it came from
    value: str  # normalised


class Secrets:
    """Every raw personal value of one database, ready to be searched for.

    Not a dataclass: Hypothesis prints a failing example's arguments, dataclasses field by
    field (2,800 values), other objects by their ``repr``."""

    def __init__(self, needles: list[Needle], samples: dict[str, str]) -> None:
        self.needles = needles
        self.samples = samples  # placeholder -> a real raw value

    def __repr__(self) -> str:
        return f"Secrets({len(self.needles)} values)"

    def find(self, output: str, typed: str = "") -> list[Needle]:
        """The needles in ``output`` that the case did not type itself (``typed``)."""
        hay, own = normalise(output), normalise(typed)
        return [n for n in self.needles if n.value in hay and n.value not in own]


def _needle_forms(kind: str, source: str, raw: str) -> Iterable[Needle]:
    value = normalise(raw.strip())
    if kind in ("phone", "id_number", "bank_card"):
        value = "".join(ch for ch in value if ch.isdigit() or ch == "x")
        if kind == "phone" and len(value) == 13 and value.startswith("86"):
            value = value[2:]
    if kind == "birth_date":
        value = value.replace("-", "")[:8]
    if len(value) < (2 if kind == "person_name" else 6):  # too short to mean anything
        return
    yield Needle(kind, source, value)
    if kind in ("phone", "id_number", "email", "bank_card"):
        yield Needle("reversed " + kind, source, value[::-1])


#: Columns the sample policy keeps from the analyst (mask or deny): their every value is raw.
POLICY_COLUMNS = {("customers", "phone"): "phone", ("customers", "email"): "email",
                  ("customers", "id_number"): "id_number", ("customers", "birth_date"): "birth_date"}
#: Kinds found inside free text that count as raw values: every kind the scanner finds in
#: prose (on the sample: phones, e-mails and postal addresses).
EMBEDDED_SECRET_KINDS = ("phone", "email", "id_number", "bank_card", "ip_address", "address")
#: With no policy, what the scanner finds is personal: the names as well.
SCANNER_COLUMNS = {**POLICY_COLUMNS, ("customers", "name"): "person_name",
                   ("agents", "name"): "person_name"}


def secrets_of(db: Path, profile: str = "policy", canary: bool = False) -> Secrets:
    """The raw values of ``db`` as the steward sees them (read directly, not through nl2sql)."""
    import duckdb

    from nl2sql.governance.pii_detect import find_all

    needles: list[Needle] = []
    samples: dict[str, str] = {}
    con = duckdb.connect(str(db), read_only=True)
    try:
        columns = POLICY_COLUMNS if profile == "policy" else SCANNER_COLUMNS
        free_text: list[str] = []
        for (table, column), kind in columns.items():
            for (value,) in con.execute(f'SELECT CAST("{column}" AS VARCHAR) FROM "{table}" '
                                        f"WHERE \"{column}\" IS NOT NULL ORDER BY 1").fetchall():
                needles.extend(_needle_forms(kind, f"{table}.{column}", value))
        text_columns = con.execute(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE data_type = 'VARCHAR' AND table_schema = 'main' ORDER BY 1, 2").fetchall()
        for table, column in text_columns:
            if (table, column) in columns:
                continue
            for (value,) in con.execute(f'SELECT "{column}" FROM "{table}" WHERE "{column}" '
                                        "IS NOT NULL").fetchall():
                found = find_all(value)
                if len(value) > 40:
                    free_text.append(value)
                for match in found:
                    if match.kind not in EMBEDDED_SECRET_KINDS:
                        continue
                    needles.extend(_needle_forms(match.kind, f"{table}.{column}", match.text))
                    samples.setdefault(f"text_{match.kind}", match.text)
                    samples.setdefault(f"{table}_{match.kind}", match.text)
        if profile == "scanner":
            # a name that also occurs inside prose ("收件人王嘉") is not what a column mask
            # covers; such names are left out rather than reported from the prose
            prose = "\n".join(free_text)
            needles = [n for n in needles if n.kind != "person_name" or n.value not in prose]
        row = con.execute("SELECT name, phone, email, id_number, CAST(birth_date AS VARCHAR) "
                          "FROM customers ORDER BY customer_id LIMIT 1").fetchone()
        assert row is not None
        samples.update(zip(("name", "phone", "email", "id_number", "birth_date"), row,
                           strict=True))
    finally:
        con.close()
    if canary:
        needles.append(Needle("canary", "file", CANARY.lower()))
        needles.append(Needle("canary", "/etc/passwd", "root:x:0:0"))
    unique = {(n.kind, n.value): n for n in needles}
    return Secrets(list(unique.values()), samples)


def fake_of(kind: str, value: str, secrets: Secrets) -> str:
    """A made-up value of the same shape as ``value`` that is nobody's."""
    taken = {n.value for n in secrets.needles}
    for salt in range(10):
        if "email" in kind or "@" in value:
            fake = f"zq{salt}{value}"
        else:
            digits = list(value)
            for i in range(3, min(len(digits) - 2, 8)):
                if digits[i].isdigit():
                    digits[i] = str((int(digits[i]) + 3 + salt) % 10)
            fake = "".join(digits)
        if normalise(fake) not in taken:
            return fake
    raise AssertionError(f"no fake value for {value}")


# ---------------------------------------------------------------------------------------
# Running a group of cases
# ---------------------------------------------------------------------------------------


@dataclass
class Outcome:
    case: Case
    result: str  # refused | contained | leaked | failed
    leaks: list[str] = field(default_factory=list)  # "channel: kind from source"
    detail: str = ""

    @property
    def ok(self) -> bool:
        if self.result == "leaked":
            return False
        if self.case.expect == "refused":
            return self.result == "refused"
        return self.result in ("refused", "contained")


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else "absent"


def prepare_db(setup: Setup, sample_db: Path, folder: Path) -> Path:
    """The database file the group attacks (the shared sample one is never written)."""
    if setup.db == "sample":
        return sample_db
    name = "big.duckdb" if setup.db == "renamed" else "shop.duckdb"
    target = folder / "db" / name
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(sample_db, target)
    if setup.db == "untrusted":
        import duckdb

        secret = folder / "secret.txt"
        secret.write_text(f"{CANARY}\n", encoding="utf-8")
        con = duckdb.connect(str(target))
        try:
            for statement in (
                f"CREATE VIEW v_text AS SELECT content FROM read_text('{secret}')",
                f"CREATE VIEW v_csv AS SELECT * FROM read_csv('{secret}', header=false)",
                "CREATE VIEW v_passwd AS SELECT * FROM read_csv('/etc/passwd', sep=':', "
                "header=false)",
                "CREATE VIEW v_glob AS SELECT * FROM glob('/etc/*')",
                f"CREATE VIEW v_blob AS SELECT content FROM read_blob('{secret}')",
                "CREATE VIEW v_join AS SELECT c.customer_id, t.content FROM customers c, "
                f"read_text('{secret}') t",
            ):
                con.execute(statement)
        finally:
            con.close()
    return target


def steward_limited_policy(folder: Path) -> Path:
    """A copy of the sample policy whose steward role only alice-the-steward may take."""
    import yaml
    from conftest import load_yaml

    from nl2sql.settings import PROJECT_ROOT

    data = load_yaml((PROJECT_ROOT / "schemas" / "shop.yaml").read_text(encoding="utf-8"))
    data["roles"]["steward"]["users"] = ["alice-the-steward"]
    target = folder / "schemas"
    target.mkdir(parents=True, exist_ok=True)
    (target / "shop.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    shutil.copytree(PROJECT_ROOT / "schemas" / "extract", target / "extract")
    return target


@dataclass
class Group:
    """Cases that share a setup (one shell run per role for the batched ones)."""

    setup: Setup
    cases: list[Case]


def groups_of(cases: list[Case], setups: Mapping[str, Setup]) -> dict[str, Group]:
    groups: dict[str, Group] = {}
    for case in cases:
        group = groups.setdefault(case.group, Group(setups[case.setup], []))
        group.cases.append(case)
    return groups


_WIDE = re.compile(r"\{wide:(\d+):([^{}]+)\}")


def _place(text: str, values: Mapping[str, str]) -> str:
    """Placeholders filled in; ``{wide:N:EXPR}`` is N columns ``EXPR AS c1, ...``."""
    text = _WIDE.sub(lambda m: ", ".join(f"{m.group(2)} AS c{i}"
                                         for i in range(1, int(m.group(1)) + 1)), text)
    for key, value in values.items():
        text = text.replace("{" + key + "}", value)
    return text


def _file_text(path: Path) -> str:
    """What a written file says, as text (Parquet read back through DuckDB)."""
    if path.suffix == ".parquet":
        import duckdb

        con = duckdb.connect()
        try:
            rows = con.execute("SELECT * FROM read_parquet(?)", [str(path)]).fetchall()
        finally:
            con.close()
        return repr(rows)
    return path.read_bytes().decode("utf-8", errors="replace")


def _files_under(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


class Runner:
    """Runs groups of the corpus in private folders with the in-process CLI."""

    def __init__(self, sample_db: Path, workdir: Path, cache_dir: Path,
                 server_url: str | None = None) -> None:
        self.sample_db = sample_db
        self.workdir = workdir
        self.cache_dir = cache_dir
        # Ask a server holding the same rows instead of the file (issue 14): the needles
        # still come from the file, which is what was loaded into the server.
        self.server_url = server_url
        self._secrets: dict[tuple[str, str, bool], Secrets] = {}

    def secrets(self, db: Path, profile: str, canary: bool) -> Secrets:
        key = (str(db), profile, canary)
        if key not in self._secrets:
            self._secrets[key] = secrets_of(db, profile, canary)
        return self._secrets[key]

    def cli(self, env: dict[str, str], cwd: Path, args: list[str], input: str | None = None,  # noqa: A002
            ) -> Any:
        from conftest import run_cli_in_process

        return run_cli_in_process(args, cwd=cwd, env=env, input=input)

    def run_group(self, name: str, group: Group) -> list[Outcome]:
        from conftest import clean_environ

        folder = self.workdir / re.sub(r"[^A-Za-z0-9_.-]", "_", name)
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir(parents=True)
        cwd = folder / "cwd"
        cwd.mkdir()
        setup = group.setup
        db = prepare_db(setup, self.sample_db, folder)
        secrets = self.secrets(db, setup.secrets, setup.db == "untrusted")
        env = clean_environ(self.cache_dir) | {
            "XDG_STATE_HOME": str(folder / "xdg-state"), "XDG_DATA_HOME": str(folder / "xdg-data"),
            "COLUMNS": "4000", "NL2SQL_DB": self.server_url or str(db)}
        if self.server_url:  # a server shares the test machine's cores with the workers:
            env["NL2SQL_QUERY_TIMEOUT"] = "60"  # a loaded one is slow, not an answer's change
        if setup.policy == "steward_limited":
            env["NL2SQL_SCHEMAS"] = str(steward_limited_policy(folder))
        elif setup.policy == "none":  # no semantic-layer file at all (extraction specs kept)
            from nl2sql.settings import PROJECT_ROOT

            shutil.copytree(PROJECT_ROOT / "schemas" / "extract", folder / "schemas" / "extract")
            env["NL2SQL_SCHEMAS"] = str(folder / "schemas")
        places = {**secrets.samples, "db": str(db), "dbdir": str(db.parent),
                  "folder": str(folder), "canary": CANARY}
        for step in setup.steps:
            if "symlink" in step or "hardlink" in step:
                source, target = (Path(_place(p, places)) for p in
                                  step.get("symlink") or step["hardlink"])
                (target.symlink_to if "symlink" in step else target.hardlink_to)(source)
                continue
            step_env = env | {k: _place(str(v), places) for k, v in step.get("env", {}).items()}
            args = [_place(a, places) for a in step["cli"]]
            stdin = "\n".join(_place(line, places) for line in step.get("input", [])) or None
            self.cli(step_env, cwd, args, input=(stdin + "\n") if stdin else None)
        outcomes: dict[str, Outcome] = {}
        for role in ("default", "analyst"):
            role_env = env | ({"NL2SQL_ROLE": "analyst"} if role == "analyst" else {})
            batched = [c for c in group.cases if c.batched and c.role == role]
            if batched:
                outcomes.update(self._run_batch(batched, role_env, cwd, folder, db, places,
                                                secrets))
        for case in group.cases:
            if not case.batched:
                role_env = env | ({"NL2SQL_ROLE": "analyst"} if case.role == "analyst" else {})
                outcomes[case.id] = self._run_alone(case, role_env, cwd, folder, db, places,
                                                    secrets)
        return [outcomes[c.id] for c in group.cases]

    # -- one shell for many cases ------------------------------------------------------

    def _lines_of(self, case: Case, places: Mapping[str, str], out: Path) -> list[str]:
        values = {**places, "out": str(out)}
        if case.run == "shell":
            return [_place(line, values) for line in case.text]
        lines = [_place(line, values) for line in case.text]
        if case.format != "table":
            lines = [f"\\format {case.format}", *lines, "\\format table"]
        return lines

    def _run_batch(self, cases: list[Case], env: dict[str, str], cwd: Path, folder: Path,
                   db: Path, places: Mapping[str, str], secrets: Secrets,
                   ) -> dict[str, Outcome]:
        script: list[str] = []
        plan: list[tuple[Case, str, Path, str, str]] = []  # case, variant, out, typed, probe
        for case in cases:
            variants = [("", places)]
            if case.probe:
                real = secrets.samples[case.probe]
                variants = [("real", {**places, "probe": real}),
                            ("fake", {**places, "probe": fake_of(case.probe, real, secrets)})]
            for variant, values in variants:
                out = folder / "out" / f"{env.get('NL2SQL_ROLE', 'default')}-{len(plan)}"
                out.mkdir(parents=True)
                lines = self._lines_of(case, values, out)
                script.extend([*lines, f"\\describe {MARKER}{len(plan)}"])
                plan.append((case, variant, out, "\n".join(lines), values.get("probe", "")))
        before = digest(db)
        result = self.cli(env, cwd, ["shell"], input="\n".join(script) + "\n")
        segments = split_segments(result.stdout, len(plan))
        outcomes: dict[str, Outcome] = {}
        probes: dict[str, dict[str, str]] = {}
        for index, (case, variant, out, typed, probe) in enumerate(plan):
            said = segments[index]
            leaks = [f"stdout: {n.kind} from {n.source}" for n in secrets.find(said, typed)]
            leaks += self._channels(case, out, folder, secrets, typed)
            if index == len(plan) - 1:  # shell-wide stderr goes to the last case
                leaks += [f"stderr: {n.kind} from {n.source}"
                          for n in secrets.find(result.stderr, typed)]
            if case.db_unchanged and digest(db) != before:
                leaks.append("database file changed")
            if "Traceback (most recent call last)" in said:
                leaks.append("traceback")
            refused = is_refusal(said)
            outcome = Outcome(case, "leaked" if leaks else "refused" if refused else "contained",
                              sorted(set(leaks)), said[-600:])
            if variant:
                probes.setdefault(case.id, {})[variant] = TIMING.sub("", said.replace(probe, "?"))
                previous = outcomes.get(case.id)
                if previous and previous.result == "leaked":
                    continue
            outcomes[case.id] = outcome
        for case_id, seen in probes.items():
            real, fake = (_strip_echo(seen[v]) for v in ("real", "fake"))
            if real != fake and outcomes[case_id].result != "leaked":
                outcomes[case_id] = Outcome(outcomes[case_id].case, "leaked",
                                            ["oracle: the real value answers differently"],
                                            f"real:\n{real[-300:]}\nfake:\n{fake[-300:]}")
        return outcomes

    # -- a command of its own ----------------------------------------------------------

    def _run_alone(self, case: Case, env: dict[str, str], cwd: Path, folder: Path, db: Path,
                   places: Mapping[str, str], secrets: Secrets) -> Outcome:
        out = folder / "out" / re.sub(r"[^A-Za-z0-9_.-]", "_", case.id)
        out.mkdir(parents=True, exist_ok=True)
        values = {**places, "out": str(out)}
        args = [_place(a, values) for a in case.text]
        if case.role == "analyst" and args and args[0] in ("sql", "ask", "extract", "shell") \
                and "--role" not in args:
            args += ["--role", "analyst"]
        case_env = env | {k: _place(v, values) for k, v in case.env}
        typed = "\n".join(args)
        before = digest(db)
        result = self.cli(case_env, cwd, args)
        leaks = [f"stdout: {n.kind} from {n.source}" for n in secrets.find(result.stdout, typed)]
        leaks += [f"stderr: {n.kind} from {n.source}" for n in secrets.find(result.stderr, typed)]
        leaks += self._channels(case, out, folder, secrets, typed)
        if case.db_unchanged and digest(db) != before:
            leaks.append("database file changed")
        said = result.stdout + result.stderr
        if "Traceback (most recent call last)" in said:
            leaks.append("traceback")
        if leaks:
            kind = "leaked"
        elif result.returncode != 0:
            kind = "refused" if is_refusal(said) else "failed"
        else:
            kind = "contained"
        return Outcome(case, kind, sorted(set(leaks)),
                       f"exit {result.returncode}\n{said[-600:]}")

    def _channels(self, case: Case, out: Path, folder: Path, secrets: Secrets,
                  typed: str) -> list[str]:
        """Files the case wrote, and the extra channels it names."""
        files = [(f"file {p.name}", p) for p in _files_under(out)]
        if "cache" in case.channels:
            files += [(f"cache {p.name}", p) for p in _files_under(self.cache_dir)]
        if "history" in case.channels:
            files += [(f"history {p.name}", p)
                      for p in _files_under(folder / "xdg-data" / "nl2sql")
                      if p.name.startswith("history-") and "steward" not in p.name]
        if "audit_log" in case.channels:
            files += [(f"audit log {p.name}", p) for p in _files_under(folder / "xdg-state")]
        leaks = []
        for label, path in files:
            leaks += [f"{label}: {n.kind} from {n.source}"
                      for n in secrets.find(_file_text(path), typed)]
        return leaks


def _strip_echo(text: str) -> str:
    """A probe's output without the lines that echo its own SQL."""
    return "\n".join(line for line in text.splitlines()
                     if not line.lstrip().upper().startswith(("SELECT", "WITH", "{\"QUESTION")))


def split_segments(stdout: str, count: int) -> list[str]:
    """The shell's output cut at the marker lines: one piece per planned case."""
    pieces: list[str] = [""] * count
    current: list[str] = []
    seen = 0
    for line in stdout.splitlines():
        m = re.search(MARKER + r"(\d+)\b", line)
        # the next marker's error line; \history echoes earlier marker commands, not errors
        if m and int(m.group(1)) == seen and "\\describe" not in line:
            index = seen
            pieces[index] = "\n".join(current)
            current = []
            seen += 1
            continue
        if re.fullmatch(r"format: \w+", line.strip()):
            continue
        current.append(line)
    assert seen == count, f"the shell printed {seen} of {count} markers"
    return pieces


def is_refusal(said: str) -> bool:
    """One error line and nothing else (``--format json``: one object whose key is error)."""
    import json

    lines = [line for line in said.splitlines() if line.strip()]
    if len(lines) != 1:
        return False
    if lines[0].startswith("{"):
        try:
            return "error" in json.loads(lines[0])
        except ValueError:
            return False
    return lines[0].startswith("error")


# ---------------------------------------------------------------------------------------
# The table
# ---------------------------------------------------------------------------------------


def table(outcomes: Iterable[Outcome]) -> str:
    """The corpus table: category, cases, refused, contained, leaked (markdown)."""
    rows: dict[str, Counter[str]] = {}
    for outcome in outcomes:
        rows.setdefault(outcome.case.category, Counter())[outcome.result] += 1
    lines = ["| category | cases | refused | contained | leaked |", "|---|---:|---:|---:|---:|"]
    total: Counter[str] = Counter()
    for category in sorted(rows, key=lambda c: int(c.split("-")[0])):
        counts = rows[category]
        total.update(counts)
        contained = counts["contained"] + counts["failed"]
        lines.append(f"| {category}: {ROUTES[category]} | {sum(counts.values())} | "
                     f"{counts['refused']} | {contained} | {counts['leaked']} |")
    lines.append(f"| **all** | {sum(total.values())} | {total['refused']} | "
                 f"{total['contained'] + total['failed']} | {total['leaked']} |")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    """Build the sample database, run the corpus, print the table and the leaked ids."""
    import os
    import tempfile

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from conftest import SAMPLE_SCALE

    from sample_db.generate import build

    include_slow = "--slow" in argv
    cases, setups = load_corpus()
    with tempfile.TemporaryDirectory(prefix="nl2sql-attacks-") as tmp:
        root = Path(tmp)
        os.environ["XDG_STATE_HOME"] = str(root / "xdg-state")
        os.environ["XDG_DATA_HOME"] = str(root / "xdg-data")
        db = Path(build(root / "sample" / "shop.duckdb", scale=SAMPLE_SCALE))
        runner = Runner(db, root / "groups", root / "cache")
        outcomes: list[Outcome] = []
        for name, group in groups_of(cases, setups).items():
            if group.cases[0].slow and not include_slow:
                continue
            outcomes.extend(runner.run_group(name, group))
    print(table(outcomes))
    bad = [o for o in outcomes if not o.ok]
    if bad:
        print(f"\n{len(bad)} cases not held:")
        for outcome in bad:
            what = "; ".join(outcome.leaks) or f"{outcome.result}, expected {outcome.case.expect}"
            print(f"- `{outcome.case.id}` ({outcome.case.category}): {what}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
