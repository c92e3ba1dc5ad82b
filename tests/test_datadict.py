"""The data dictionary, ``nl2sql catalog``: content, policy per role, no leaks, escaping,
a self-contained HTML page that renders in headless Chromium, and the command itself.

The sample database is the session's (``sample_db_path``) with the real ``schemas/``
folder; outputs are built once per module through the real CLI entry point.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from conftest import assert_no_traceback, clean_environ, load_yaml, run_cli_in_process

from nl2sql.catalog import Catalog, Column, ForeignKey, Profile, Role, Table
from nl2sql.governance import datadict

if TYPE_CHECKING:
    from conftest import IsolatedEnv

REPO_ROOT = Path(__file__).resolve().parent.parent
SCHEMAS = REPO_ROOT / "schemas"
SHOP_YAML = SCHEMAS / "shop.yaml"
FORMATS = ("markdown", "html", "json")
CHROMIUM_TIMEOUT = 90


# --------------------------------------------------------------------------- helpers


def run_cli(cwd: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """``nl2sql *args`` (in this process, isolated); a traceback fails the test."""
    result = run_cli_in_process(args, cwd=cwd, env=env)
    assert_no_traceback(args, result)
    return result


@pytest.fixture(scope="module")
def outputs(sample_db_path: Path, shared_cache_dir: Path,
            tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The sample's dictionary in every format, from the real command."""
    cwd = tmp_path_factory.mktemp("datadict-cwd")
    env = {**clean_environ(shared_cache_dir), "NL2SQL_SCHEMAS": str(SCHEMAS)}
    found = {}
    for fmt in FORMATS:
        result = run_cli(cwd, env, "catalog", "--db", str(sample_db_path), "--format", fmt)
        assert result.returncode == 0, result.stderr
        found[fmt] = result.stdout
    return found


@pytest.fixture(scope="module")
def doc(outputs: dict[str, str]) -> dict[str, Any]:
    return dict(json.loads(outputs["json"]))


@pytest.fixture(scope="module")
def db_columns(sample_db_path: Path) -> dict[str, list[str]]:
    """Every table and its columns, straight from DuckDB (read-only)."""
    import duckdb

    con = duckdb.connect(str(sample_db_path), read_only=True)
    try:
        rows = con.execute("SELECT table_name, column_name FROM information_schema.columns "
                           "ORDER BY table_name, ordinal_position").fetchall()
    finally:
        con.close()
    found: dict[str, list[str]] = {}
    for table, column in rows:
        found.setdefault(table, []).append(column)
    return found


def table_of(doc: dict[str, Any], name: str) -> dict[str, Any]:
    return next(t for t in doc["tables"] if t["name"] == name)


def column_of(doc: dict[str, Any], table: str, name: str) -> dict[str, Any]:
    return next(c for c in table_of(doc, table)["columns"] if c["name"] == name)


def markdown_row(markdown: str, table: str, column: str) -> list[str]:
    """The cells of ``column``'s row in ``table``'s section of the Markdown."""
    section = markdown.split(f"\n## {datadict.markdown.escape(table)}\n", 1)[1].split("\n## ", 1)[0]
    row = next(line for line in section.splitlines() if line.startswith(f"| `{column}` |"))
    return [cell.strip() for cell in row.strip("|").split(" | ")]


def semantic_policy() -> dict[str, dict[str, Any]]:
    """``table.column`` → its spec in schemas/shop.yaml (the expected policy)."""
    data = load_yaml(SHOP_YAML.read_text(encoding="utf-8"))
    return {f"{t}.{c}": spec or {} for t, tspec in data["tables"].items()
            for c, spec in (tspec.get("columns") or {}).items()}


# --------------------------------------------------------------------------- content


def test_every_table_and_column_appears(doc: dict[str, Any], outputs: dict[str, str],
                                        db_columns: dict[str, list[str]]) -> None:
    assert [t["name"] for t in doc["tables"]] == sorted(db_columns)
    for table, columns in db_columns.items():
        assert [c["name"] for c in table_of(doc, table)["columns"]] == columns
        assert f"\n## {datadict.markdown.escape(table)}\n" in outputs["markdown"], table
        assert f'data-table="{table}"' in outputs["html"], table
        for column in columns:
            assert markdown_row(outputs["markdown"], table, column)[0] == f"`{column}`"
            assert f'data-column="{table}.{column}"' in outputs["html"]
    assert doc["summary"]["tables"] == len(db_columns)
    assert doc["summary"]["columns"] == sum(len(c) for c in db_columns.values())


def test_header_roles_terms_and_examples(doc: dict[str, Any], outputs: dict[str, str]) -> None:
    spec = load_yaml(SHOP_YAML.read_text(encoding="utf-8"))
    db = doc["database"]
    assert db["name"] == "shop" and db["description"] == spec["description"]
    assert db["dialect"] == "duckdb" and db["source"].endswith("shop.duckdb")
    assert [Path(f).name for f in db["semantic_files"]] == ["shop.yaml"]
    generated = dt.datetime.fromisoformat(db["generated_at"])
    assert abs((dt.datetime.now(dt.UTC) - generated).total_seconds()) < 600
    assert [r["name"] for r in doc["roles"]] == list(spec["roles"])
    assert [r["name"] for r in doc["roles"] if r["default"]] == ["analyst"]
    assert doc["terms"][0] == {"name": "sales", "sql": "sum(orders.total_amount)",
                               "synonyms": spec["terms"]["sales"]["synonyms"],
                               "description": spec["terms"]["sales"]["description"]}
    assert [t["name"] for t in doc["terms"]] == list(spec["terms"])
    assert doc["examples"] == {"count": len(spec["examples"])}
    markdown = outputs["markdown"]
    assert markdown.startswith("# Data dictionary: shop\n")
    assert "| analyst | Business analysts." in markdown
    assert "yes (the most restricted role)" in markdown
    assert f"Verified examples (question → SQL pairs): {len(spec['examples'])}." in markdown
    assert "| sales | `sum(orders.total_amount)` |" in markdown


def test_keys_and_foreign_keys_in_both_directions(doc: dict[str, Any],
                                                  outputs: dict[str, str]) -> None:
    customers = table_of(doc, "customers")
    assert customers["primary_key"] == ["customer_id"]
    assert {(r["table"], tuple(r["columns"])) for r in customers["referenced_by"]} == {
        ("orders", ("customer_id",)), ("reviews", ("customer_id",)),
        ("support_tickets", ("customer_id",))}
    assert customers["references"] == []
    items = table_of(doc, "order_items")
    assert items["primary_key"] == ["order_id", "line_no"]
    assert {r["table"] for r in items["references"]} == {"orders", "products"}
    assert column_of(doc, "order_items", "order_id")["key"] == "PK, FK → orders.order_id"
    assert column_of(doc, "order_items", "product_id")["key"] == "FK → products.product_id"
    assert column_of(doc, "orders", "status")["key"] is None
    assert {r["table"] for r in table_of(doc, "orders")["referenced_by"]} == {
        "order_items", "support_tickets"}
    markdown = outputs["markdown"]
    assert markdown_row(markdown, "order_items", "order_id")[3] == "PK, FK → orders.order\\_id"
    assert "- **referenced by:** orders.customer\\_id → customer\\_id; " in markdown
    assert "- **references:** customer\\_id → customers.customer\\_id" in markdown


def test_policy_per_role_follows_the_semantic_layer(doc: dict[str, Any],
                                                    outputs: dict[str, str]) -> None:
    specs = semantic_policy()
    expected_analyst = {"customers.phone": "masked (partial)", "customers.email": "masked (partial)",
                        "customers.id_number": "masked (partial)", "customers.birth_date": "denied",
                        "reviews.review_text": "text redacted",
                        "support_tickets.transcript": "text redacted"}
    for table in doc["tables"]:
        assert table["policy"]["roles"]["analyst"]["access"] == "visible"
        for column in table["columns"]:
            ref = f"{table['name']}.{column['name']}"
            roles = column["policy"]["roles"]
            assert roles["analyst"] == expected_analyst.get(ref, "visible"), ref
            assert roles["steward"] == "visible", ref
            spec = specs.get(ref, {})
            base = "denied" if spec.get("deny") else {"partial": "masked (partial)"}.get(
                spec.get("mask", "none"), "text redacted" if spec.get("redact_text") else "visible")
            assert column["policy"]["base"] == base, ref
    markdown = outputs["markdown"]
    assert "| base policy | analyst (default) | steward |" in markdown
    for column, label in (("phone", "masked (partial)"), ("birth_date", "denied")):
        assert markdown_row(markdown, "customers", column)[-3:] == [label, label, "visible"]
    assert markdown_row(markdown, "customers", "city")[-3:] == ["visible"] * 3


def test_pii_tags_and_withheld_profiles(doc: dict[str, Any], outputs: dict[str, str]) -> None:
    for ref, spec in semantic_policy().items():
        table, name = ref.split(".")
        column = column_of(doc, table, name)
        assert column["pii"] == spec.get("pii"), ref
        if spec.get("pii"):
            assert column["withheld"] == f"values withheld (personal data: {spec['pii']})"
            profile = column["profile"]
            assert profile["top_values"] == [] and profile["min"] is None
            assert profile["max"] is None and column["values"] == {}
    phone = markdown_row(outputs["markdown"], "customers", "phone")
    assert "values withheld (personal data: phone)" in phone[7]
    assert phone[8] == "pii: phone"
    assert "PII: phone" in outputs["html"]
    # agents.name is not tagged, but the detector recognises the names it would show
    assert column_of(doc, "agents", "name")["withheld"] == \
        "values withheld (looks like personal data: person_name)"


def test_profiles_of_ordinary_columns_are_shown(doc: dict[str, Any], outputs: dict[str, str],
                                                gold: Any) -> None:
    status = column_of(doc, "orders", "status")
    counted = dict(gold("SELECT status, count(*) FROM orders GROUP BY 1"))
    assert status["withheld"] is None
    assert status["profile"]["top_values"]
    for value, count in status["profile"]["top_values"]:
        assert counted[value] == count
    ((low, high),) = gold("SELECT min(signup_date), max(signup_date) FROM customers")
    signup = column_of(doc, "customers", "signup_date")["profile"]
    assert (signup["min"], signup["max"]) == (low.isoformat(), high.isoformat())
    city = column_of(doc, "customers", "city")
    assert city["values"]["Shanghai"][0] == "上海"
    row = markdown_row(outputs["markdown"], "customers", "city")
    assert "Shanghai: 上海, 上海市" in row[6]
    top_city, top_count = city["profile"]["top_values"][0]
    assert f"top: {top_city} ({top_count:,})" in row[7]


# --------------------------------------------------------------------------- no leaks


@pytest.fixture(scope="module")
def personal_values(sample_db_path: Path) -> list[str]:
    """Every phone, e-mail, ID number, birth date and customer (and agent) name."""
    import duckdb

    con = duckdb.connect(str(sample_db_path), read_only=True)
    try:
        rows = con.execute("SELECT phone, email, id_number, birth_date, name FROM customers")
        values = {str(v.isoformat() if isinstance(v, dt.date) else v)
                  for row in rows.fetchall() for v in row if v is not None}
        values |= {r[0] for r in con.execute("SELECT name FROM agents").fetchall()}
    finally:
        con.close()
    # A value the semantic layer itself spells out is in the output because of the file.
    text = SHOP_YAML.read_text(encoding="utf-8")
    kept = sorted(v for v in values if v not in text)
    assert len(kept) > 1500 and len(values) - len(kept) < 5
    return kept


@pytest.mark.parametrize("fmt", FORMATS)
def test_no_personal_data_value_leaks(outputs: dict[str, str], personal_values: list[str],
                                      fmt: str) -> None:
    text = outputs[fmt]
    unescaped = json.dumps(json.loads(text), ensure_ascii=False) if fmt == "json" else text
    leaked = [v for v in personal_values if v in unescaped]
    assert not leaked, f"{fmt} output shows personal data: {leaked[:5]}"
    assert "values withheld (personal data: phone)" in unescaped


def test_labels_rare_values_and_other_modes_stay_out() -> None:
    """Pure functions over a hand-made catalog: profile labels never appear, rare values
    are left out, hash/redact/denied tables, row filters and composite keys are shown."""
    secret = Column("code", "VARCHAR", profile=Profile(
        distinct=3, top_values=[("common", 50), ("rare-one", 1)], labels=["LABEL-SECRET-1"]))
    table = Table("t", [Column("id", "INTEGER", primary_key=True), secret,
                        Column("h", "VARCHAR", tags={"mask": "hash"},
                               profile=Profile(top_values=[("hashme", 90)])),
                        Column("r", "VARCHAR", tags={"mask": "redact"})],
                  primary_key=["id"], tags={"row_filter": "id > 0"})
    child = Table("c", [Column("a", "INTEGER"), Column("b", "VARCHAR")],
                  foreign_keys=[ForeignKey(["a", "b"], "t", ["id", "code"])],
                  tags={"deny": True})
    catalog = Catalog(name="x", tables={"t": table, "c": child}, roles={
        "ops": Role("ops", allow=["c"], row_filters={"t": None}, users=["alice"]),
        "viewer": Role("viewer", unmask=["t.h"], deny_tables=["t"], default=True)})
    built = datadict.build(catalog, dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC))
    doc = built.to_json()
    assert doc["database"]["generated_at"] == "2026-01-02T03:04:05+00:00"
    code = next(c for c in doc["tables"][0]["columns"] if c["name"] == "code")
    # t is denied to viewer, so every t column counts as restricted and is withheld
    assert code["withheld"] == "values withheld (masked or denied for some roles)"
    policy = {c["name"]: c["policy"] for c in doc["tables"][0]["columns"]}
    assert policy["h"] == {"base": "hashed", "roles": {"ops": "hashed", "viewer": "denied"}}
    assert policy["r"]["base"] == "redacted"
    t_access = doc["tables"][0]["policy"]
    assert t_access["base"] == {"access": "visible", "row_filter": "id > 0"}
    assert t_access["roles"] == {"ops": {"access": "visible", "row_filter": None},
                                 "viewer": {"access": "denied", "row_filter": "id > 0"}}
    c_access = doc["tables"][1]["policy"]["roles"]
    assert (c_access["ops"]["access"], c_access["viewer"]["access"]) == ("visible", "denied")
    assert [c["key"] for c in doc["tables"][1]["columns"]] == ["FK → t.id", "FK → t.code"]
    assert doc["tables"][0]["referenced_by"] == [
        {"table": "c", "columns": ["a", "b"], "ref_columns": ["id", "code"]}]
    assert [(r["name"], r["default"], r["users"]) for r in doc["roles"]] == [
        ("ops", False, ["alice"]), ("viewer", True, [])]
    for text in (datadict.render(built, f) for f in FORMATS):
        assert "LABEL-SECRET-1" not in text and "hashme" not in text and "rare-one" not in text
    assert json.loads(datadict.render(built, "json")) == doc
    markdown = datadict.render(built, "markdown")
    assert "viewer: denied, rows where `id > 0`" in markdown
    assert "| anyone |" in markdown and "| alice |" in markdown
    # without a restricting role, frequent values show and rare ones are counted, not shown
    open_catalog = Catalog(name="y", tables={"t": Table("t", [secret])})
    shown = datadict.build(open_catalog, dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    profile = shown.tables[0].columns[0].profile
    assert profile is not None
    assert profile.top_values == [("common", 50)] and profile.rare_values_left_out == 1
    assert shown.to_json()["roles"][0] == {"name": "default", "description": None,
                                           "default": True,
                                           "default_reason": "no roles defined: the base policy",
                                           "users": []}
    assert "common (50)" in datadict.render(shown, "markdown")
    assert "LABEL-SECRET-1" not in datadict.render(shown, "html")


# --------------------------------------------------------------------------- HTML


def test_html_is_one_self_contained_page(outputs: dict[str, str], doc: dict[str, Any]) -> None:
    page = outputs["html"]
    assert page.startswith("<!DOCTYPE html>")
    assert '<meta charset="utf-8">' in page
    assert not re.search(r"""(?:src|href)\s*=\s*["']?\s*(?:[a-z]+:)?//""", page, re.I)
    assert "http://" not in page and "https://" not in page
    assert "<link" not in page.lower() and "<script" not in page.lower()
    assert "<img" not in page.lower() and "url(" not in page and "@import" not in page
    assert "@media print" in page
    for table in doc["tables"]:  # table of contents: every link has its target
        assert f'<a href="#{table["anchor"]}">{table["name"]}</a>' in page
        assert f'id="{table["anchor"]}"' in page
    assert "客户" in page  # Chinese synonyms, as UTF-8 text


@pytest.fixture
def hostile_schemas(tmp_path: Path) -> Path:
    folder = tmp_path / "schemas"
    folder.mkdir()
    (folder / "shop.yaml").write_text(
        "database: shop\n"
        "description: 'Shop <b>bold</b> & \"quoted\" 商店'\n"
        "tables:\n"
        "  customers:\n"
        "    description: '<script>alert(1)</script> 客户表'\n"
        "    synonyms: ['<img src=x onerror=alert(2)>']\n"
        "    columns:\n"
        "      city:\n"
        "        description: '<script>alert(1)</script> | 城市'\n"
        "        values:\n"
        "          Shanghai: ['</td><td>上海']\n"
        "roles:\n"
        "  '<i>r</i>':\n"
        "    description: '<script>alert(3)</script>'\n", encoding="utf-8")
    return folder


def test_every_text_is_escaped(isolated_env: IsolatedEnv, sample_db_path: Path,
                               hostile_schemas: Path) -> None:
    env = {"NL2SQL_SCHEMAS": str(hostile_schemas)}
    page = isolated_env.run("catalog", "--db", str(sample_db_path), "-f", "html", env=env)
    assert page.returncode == 0, page.stderr
    html_text = page.stdout
    assert "<script" not in html_text and "<img" not in html_text and "<b>" not in html_text
    assert "&lt;script&gt;alert(1)&lt;/script&gt; 客户表" in html_text
    assert "&lt;script&gt;alert(1)&lt;/script&gt; | 城市" in html_text
    assert "&lt;img src=x onerror=alert(2)&gt;" in html_text
    assert "&lt;/td&gt;&lt;td&gt;上海" in html_text
    assert "Shop &lt;b&gt;bold&lt;/b&gt; &amp; &quot;quoted&quot; 商店" in html_text
    assert 'data-role="&lt;i&gt;r&lt;/i&gt;"' in html_text
    markdown = isolated_env.run("catalog", "--db", str(sample_db_path), env=env).stdout
    without_anchors = re.sub(r'^<a id="t-[\w-]+"></a>$', "", markdown, flags=re.M)
    assert not re.search(r"(?<!\\)<", without_anchors), "unescaped < in the Markdown"
    assert "\\<script\\>alert(1)\\</script\\> 客户表" in markdown
    row = markdown_row(markdown, "customers", "city")
    assert row[4] == "\\<script\\>alert(1)\\</script\\> \\| 城市"  # the pipe does not split the row
    data = json.loads(isolated_env.run("catalog", "--db", str(sample_db_path), "-f", "json",
                                       env=env).stdout)
    customers = next(t for t in data["tables"] if t["name"] == "customers")
    assert customers["description"] == "<script>alert(1)</script> 客户表"


def chromium() -> str:
    """The Chromium binary; the render test fails (never skips) without one."""
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    pytest.fail("Chromium is not installed, and the HTML data dictionary is checked by "
                "rendering it in headless Chromium: install it with `apt-get install chromium` "
                "(Debian; `chromium-browser` on Ubuntu)", pytrace=False)


def headless(browser: str, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
               "--no-first-run", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", f"--user-data-dir={profile}",
               *args]
    result = subprocess.run(command, capture_output=True, text=True, encoding="utf-8",
                            errors="replace", timeout=CHROMIUM_TIMEOUT, check=False)
    assert result.returncode == 0, f"chromium exit {result.returncode}: {result.stderr[-2000:]}"
    return result


class Cells(HTMLParser):
    """From a rendered DOM: per ``tr[data-column]``, the text of each ``td[data-role]``; and
    the ``data-table`` of each section."""

    def __init__(self) -> None:
        super().__init__()
        self.columns: dict[str, dict[str, str]] = {}
        self.tables: list[str] = []
        self._row: str | None = None
        self._role: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "section" and found.get("data-table"):
            self.tables.append(str(found["data-table"]))
        if tag == "tr" and found.get("data-column"):
            self._row = str(found["data-column"])
            self.columns[self._row] = {}
        elif tag == "td" and self._row and found.get("data-role"):
            self._role = str(found["data-role"])
            self.columns[self._row][self._role] = ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "td":
            self._role = None
        elif tag == "tr":
            self._row = None

    def handle_data(self, data: str) -> None:
        if self._row and self._role:
            self.columns[self._row][self._role] += data


def render_page(outputs: dict[str, str], tmp_path: Path) -> tuple[str, Path]:
    """The sample's HTML dictionary rendered by headless Chromium: the DOM and a screenshot."""
    browser = chromium()
    page = tmp_path / "shop dictionary.html"
    page.write_text(outputs["html"], encoding="utf-8")
    dom = headless(browser, tmp_path / "profile", "--dump-dom", page.as_uri()).stdout
    shot = tmp_path / "shot.png"
    headless(browser, tmp_path / "profile", f"--screenshot={shot}", "--window-size=1280,2000",
             "--hide-scrollbars", page.as_uri())
    return dom, shot


@pytest.mark.slow
def test_html_renders_in_headless_chromium(outputs: dict[str, str], tmp_path: Path,
                                           db_columns: dict[str, list[str]]) -> None:
    dom, shot = render_page(outputs, tmp_path)
    cells = Cells()
    cells.feed(dom)
    assert cells.tables == sorted(db_columns)
    assert set(cells.columns) == {f"{t}.{c}" for t, cs in db_columns.items() for c in cs}
    assert cells.columns["customers.phone"] == {
        "base": "masked (partial)", "analyst": "masked (partial)", "steward": "visible"}
    assert cells.columns["customers.birth_date"] == {
        "base": "denied", "analyst": "denied", "steward": "visible"}
    assert cells.columns["orders.status"]["analyst"] == "visible"
    assert "PII: phone" in dom and "values withheld (personal data: phone)" in dom
    assert "客户" in dom  # read as UTF-8, not mangled
    assert "Data dictionary: shop" in dom
    # the screenshot is a real picture of a page, not an empty canvas
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    import matplotlib.image

    pixels = matplotlib.image.imread(str(shot))
    assert pixels.shape[:2] == (2000, 1280)
    assert len({tuple(p) for p in pixels[::7, ::7].reshape(-1, pixels.shape[2])}) > 20


# --------------------------------------------------------------------------- the command


def one_error_line(result: Any, code: int) -> str:
    assert result.returncode == code, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error (config)"), result.stderr
    assert result.stdout == ""
    return lines[0]


def test_output_file(isolated_env: IsolatedEnv, sample_db_path: Path,
                     outputs: dict[str, str]) -> None:
    target = isolated_env.cwd / "shop.html"
    target.write_text("old", encoding="utf-8")
    result = isolated_env.run("catalog", "--db", str(sample_db_path), "-f", "html",
                              "--output", str(target), env={"NL2SQL_SCHEMAS": str(SCHEMAS)})
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert result.stderr.strip() == f"wrote the data dictionary of shop (7 tables) to {target}"
    written = target.read_text(encoding="utf-8")
    stamp = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00")
    assert stamp.sub("T", written) == stamp.sub("T", outputs["html"])
    assert sorted(p.name for p in isolated_env.cwd.iterdir()) == ["shop.html"]  # no temp file


def test_formats_on_standard_output(outputs: dict[str, str]) -> None:
    assert outputs["markdown"].startswith("# Data dictionary: shop\n")
    assert outputs["html"].startswith("<!DOCTYPE html>") and outputs["html"].endswith("</html>\n")
    data = json.loads(outputs["json"])
    assert list(data) == ["version", "database", "summary", "roles", "tables", "terms",
                          "examples"]
    assert list(data["tables"][0]["columns"][0]) == [
        "name", "type", "nullable", "primary_key", "references", "key", "description",
        "synonyms", "values", "pii", "pii_mentions", "withheld", "profile", "policy"]


def test_bad_format_is_one_line(isolated_env: IsolatedEnv, sample_db_path: Path) -> None:
    result = isolated_env.run("catalog", "--db", str(sample_db_path), "--format", "xml")
    line = one_error_line(result, 2)
    assert "markdown, html, json" in line and "'xml'" in line


def test_unknown_database(isolated_env: IsolatedEnv) -> None:
    missing = isolated_env.cwd / "nowhere" / "x.duckdb"
    one_error_line(isolated_env.run("catalog", "--db", str(missing)), 2)
    result = isolated_env.run("catalog", "--db", str(missing), "-f", "json")
    assert result.returncode == 2
    assert json.loads(result.stdout)["error"]["kind"] == "config"


def test_output_folder_missing(isolated_env: IsolatedEnv, sample_db_path: Path) -> None:
    target = isolated_env.cwd / "no" / "such" / "dir" / "d.md"
    line = one_error_line(isolated_env.run("catalog", "--db", str(sample_db_path), "-o",
                                           str(target)), 2)
    assert "cannot write" in line and not target.exists()


def test_ci_runs_the_readme_test_command() -> None:
    """``.ci/run`` runs exactly the README's second command, which installs Chromium when
    it is missing (the render test needs it)."""
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    commands = re.findall(r"```sh\n(.*?)\n```", readme, re.S)
    ci = (REPO_ROOT / ".ci" / "run").read_text(encoding="utf-8").strip().splitlines()
    assert ci[-1] == commands[1]
    assert commands[1].startswith("command -v chromium >/dev/null || ")
    assert "apt-get install" in commands[1] and "pytest" in commands[1]
    assert "chromium" not in commands[0]
    assert os.access(REPO_ROOT / ".ci" / "run", os.X_OK)


@pytest.mark.parametrize(("exact", "shown"), [(True, "2,308 distinct"), (False, "≈2,308 distinct")])
def test_estimated_distinct_counts_are_labelled(exact: bool, shown: str) -> None:
    from nl2sql.governance.datadict.wording import profile_text

    column = Column("note", "VARCHAR", profile=Profile(distinct=2308, distinct_exact=exact))
    doc = datadict.build(Catalog(name="x", tables={"t": Table("t", [column])}),
                         dt.datetime(2026, 1, 2, tzinfo=dt.UTC))
    [described] = doc.tables[0].columns
    assert described.profile is not None and described.profile.distinct_exact is exact
    assert doc.to_json()["tables"][0]["columns"][0]["profile"]["distinct_exact"] is exact
    assert profile_text(described).startswith(shown)
