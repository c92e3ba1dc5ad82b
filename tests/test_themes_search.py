"""``nl2sql themes`` and ``nl2sql search`` end to end: grouping, naming, the workspace
tables questions read, the remote embedder through the loopback server (what it is sent),
the restricted role on every channel, bad input, and the local model for real (slow).

The remote "model" answers with vectors made from the text's topic words
(:func:`topic_vector`), so grouping is checkable without a real model.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import numpy as np
import pytest
from chat_server import ChatServer
from conftest import one_fast

from nl2sql.embeddings.embedder import normalised
from nl2sql.errors import Interrupted
from nl2sql.extract import search, themes
from nl2sql.settings import Settings

if TYPE_CHECKING:
    from conftest import IsolatedEnv

TOPICS = {  # topic -> words that mark it (Chinese and English)
    "delivery": ("物流", "快递", "delivery", "parcel", "包裹", "courier"),
    "refund": ("退款", "refund", "money back", "到账"),
    "account": ("账号", "登录", "password", "login", "account", "密码"),
}
PHONE = re.compile(r"1[3-9][0-9]{9}")


def topic_vector(text: str) -> list[float]:
    """A unit-ish vector: one axis per topic the text mentions, plus a little of its hash."""
    lowered = text.lower()
    axes = [float(any(w in lowered for w in words)) for words in TOPICS.values()]
    noise = [((hash(text) >> (8 * i)) & 0xFF) / 255.0 * 0.05 for i in range(5)]
    return [*axes, 0.2 if not any(axes) else 0.0, *noise]


class TopicEmbedder:
    """The in-process stand-in (local: no redaction), counting what it embeds."""

    model_id = "fake:topics"
    dimensions: int | None = 9
    remote = False

    def __init__(self, stop_after: int | None = None) -> None:
        self.seen: list[str] = []
        self.stop_after = stop_after

    def embed(self, texts: Sequence[str], role: str) -> np.ndarray:
        if self.stop_after is not None and len(self.seen) >= self.stop_after:
            raise KeyboardInterrupt
        self.seen += list(texts)
        return normalised(np.array([topic_vector(t) for t in texts]))


NOTES = [
    ("delivery", "快递三天了还没到，物流信息一直不更新"), ("delivery", "物流太慢了，包裹丢了"),
    ("delivery", "The courier left my parcel at the wrong door"),
    ("delivery", "Delivery took two weeks, parcel box crushed"),
    ("delivery", "快递员态度差，包裹被扔在门口"), ("delivery", "物流很慢，快递一直没送到"),
    ("refund", "退款申请一周了还没到账"), ("refund", "I want my money back, refund still pending"),
    ("refund", "退款被拒绝了，请尽快处理退款"), ("refund", "Refund promised but nothing arrived"),
    ("refund", "申请退款三次，钱还没到账，电话13912345678"),
    ("refund", "Refund for order 77 never came, call 13812345678"),
    ("account", "账号被锁，无法登录"), ("account", "忘记密码，登录不了账号"),
    ("account", "Cannot login, account locked after password reset"),
    ("account", "My account password does not work"), ("account", "登录时提示密码错误，账号异常"),
    ("account", "Account login fails with the new password"),
]


@pytest.fixture(scope="module")
def notes_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("notes") / "notes.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE tickets (id INTEGER PRIMARY KEY, body VARCHAR, stars INTEGER, "
                "topic VARCHAR)")
    con.execute("CREATE TABLE scores (id INTEGER PRIMARY KEY, value INTEGER)")
    rows = [(i + 1, text, 1 + i % 5, topic) for i, (topic, text) in enumerate(NOTES)]
    rows += [(100, None, 3, "none"), (101, "   ", 3, "none")]
    con.executemany("INSERT INTO tickets VALUES (?, ?, ?, ?)", rows)
    con.execute("INSERT INTO scores VALUES (1, 5)")
    con.close()
    return path


@pytest.fixture
def notes_settings(notes_db: Path, tmp_path: Path, shared_cache_dir: Path) -> Settings:
    return Settings(db=str(notes_db), cache_dir=shared_cache_dir,
                    workspace=tmp_path / "ws.duckdb", audit_log=tmp_path / "audit.jsonl")


def run_themes(settings: Settings, embedder: Any = None, **request: Any) -> themes.Outcome:
    job = themes.prepare(settings, themes.Request(**request))
    return themes.run(job, embedder=embedder or TopicEmbedder())


def test_themes_group_by_topic_and_are_named_by_their_words(notes_settings: Settings) -> None:
    outcome = run_themes(notes_settings, source="tickets.body")
    assert outcome.k == 3 and outcome.k_chosen_by == "silhouette" and outcome.grouped == 18
    assert outcome.selected == 20 and "2 empty texts skipped" in " ".join(outcome.notes)
    ws = duckdb.connect(str(notes_settings.workspace), read_only=True)
    topics = dict(duckdb.connect(str(notes_settings.db), read_only=True).execute(
        "SELECT id, topic FROM tickets").fetchall())
    members = ws.execute("SELECT id, theme_id FROM tickets_themes_members").fetchall()
    by_theme: dict[int, set[str]] = {}
    for key, theme in members:
        by_theme.setdefault(theme, set()).add(topics[key])
    assert sorted(map(len, by_theme.values())) == [1, 1, 1]  # every theme is one topic
    names = {topics[k]: name for k, name in ws.execute(
        "SELECT m.id, t.name FROM tickets_themes_members m JOIN tickets_themes t "
        "USING (theme_id)").fetchall()}
    assert any(w in names["delivery"] for w in ("物流", "快递", "包裹", "parcel"))
    assert any(w in names["account"] for w in ("账号", "密码", "登录", "password", "account"))
    assert {t.named_by for t in outcome.themes} == {"words"}
    assert sum(t.size for t in outcome.themes) == 18
    examples = [e for t in outcome.themes for e in t.examples]
    assert examples and not any(PHONE.search(e) for e in examples)  # written redacted
    ws.close()


def test_a_rerun_embeds_nothing_and_k_can_be_given(notes_settings: Settings) -> None:
    first = TopicEmbedder()
    run_themes(notes_settings, embedder=first, source="tickets.body")
    again = TopicEmbedder()
    outcome = run_themes(notes_settings, embedder=again, source="tickets.body", k=2)
    assert len(first.seen) == 18 and again.seen == [] and outcome.k == 2
    assert outcome.embedding["cached"] == 18 and outcome.k_chosen_by == "--k"


def test_where_selects_through_the_guard(notes_settings: Settings) -> None:
    outcome = run_themes(notes_settings, source="tickets.body", where="stars <= 2", k=2)
    ws = duckdb.connect(str(notes_settings.workspace), read_only=True)
    keys = {r[0] for r in ws.execute("SELECT id FROM tickets_themes_members").fetchall()}
    expected = {i + 1 for i in range(len(NOTES)) if 1 + i % 5 <= 2}
    assert keys == expected and outcome.grouped == len(expected)
    ws.close()


def test_ctrl_c_keeps_the_embedded_batches(notes_settings: Settings,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    from nl2sql.embeddings import store

    monkeypatch.setattr(store, "BATCH", 4)
    monkeypatch.setattr(store.VectorStore.__init__, "__defaults__", (None, 4, store.INDEX_FROM))
    with pytest.raises(Interrupted, match="8 of 18 texts embedded and kept"):
        run_themes(notes_settings, embedder=TopicEmbedder(stop_after=8), source="tickets.body")
    resumed = TopicEmbedder()
    run_themes(notes_settings, embedder=resumed, source="tickets.body")
    assert len(resumed.seen) == 10


def test_jieba_keeps_its_cache_in_our_cache_folder(notes_settings: Settings) -> None:
    from nl2sql.extract.theme_names import distinctive

    words = distinctive([["快递三天了还没到，物流信息一直不更新", "物流太慢了，快递丢了"],
                         ["退款申请一周了还没到账", "退款被拒绝了"]], notes_settings.cache_dir)
    assert words[0][0] in ("物流", "快递") and words[1][0] == "退款"
    assert (notes_settings.cache_dir / "jieba" / "jieba.cache").is_file()


def test_search_ranks_by_meaning_with_keys_and_scores(notes_settings: Settings) -> None:
    request = search.Request(query="包裹在哪里", source="tickets.body", limit=4)
    chosen = search.prepare(notes_settings, request)
    outcome = search.run(notes_settings, request, chosen, embedder=TopicEmbedder())
    topics = dict(duckdb.connect(str(notes_settings.db), read_only=True).execute(
        "SELECT id, topic FROM tickets").fetchall())
    assert [topics[m.key] for m in outcome.matches] == ["delivery"] * 4
    assert [m.rank for m in outcome.matches] == [1, 2, 3, 4] and outcome.searched == 18
    scores = [m.score for m in outcome.matches]
    assert scores == sorted(scores, reverse=True) and outcome.index == "exact"


# --------------------------------------------------------------------------------------
# bad input: one line, the right exit code, nothing written
# --------------------------------------------------------------------------------------

BAD = [
    (["themes", "--from", "tickets"], 2, "--from must be TABLE.COLUMN"),
    (["themes", "--from", "nope.body"], 2, "no table 'nope'"),
    (["themes", "--from", "tickets.nope"], 2, "no column 'nope' (its text columns: body, topic)"),
    (["themes", "--from", "tickets.stars"], 2, "tickets.stars is not text (INTEGER)"),
    (["themes", "--from", "scores.value"], 2, "table scores has no text column"),
    (["themes", "--from", "tickets.body", "--k", "1"], 2, "--k must be between 2 and 100"),
    (["themes", "--from", "tickets.body", "--k", "many"], 2, "--k must be a number"),
    (["themes", "--from", "tickets.body", "--where", "stars = 1; DROP TABLE tickets"], 3,
     "one condition"),
    (["themes", "--from", "tickets.body", "--where", "read_csv('/etc/passwd') IS NULL"], 3, ""),
    (["themes", "--from", "tickets.body", "--where", "id > 1000"], 2,
     "at least 2 non-empty texts"),
    (["search", "  ", "--in", "tickets.body"], 2, "the search text is empty"),
    (["search", "x", "--in", "scores.value"], 2, "table scores has no text column"),
    (["search", "x", "--in", "tickets.nope"], 2, "--in: table tickets has no column 'nope'"),
]


# each case is a CLI run: the first few in the fast subset, the rest with the slow ones
@pytest.mark.parametrize("args,code,message", BAD[:3] + one_fast(BAD[3:]))
def test_bad_input_is_one_line_and_an_exit_code(isolated_env: IsolatedEnv, notes_db: Path,
                                                tmp_path: Path, args: list[str], code: int,
                                                message: str) -> None:
    ws = tmp_path / "ws.duckdb"
    result = isolated_env.run(*args, "--db", str(notes_db), "--workspace", str(ws))
    assert result.returncode == code, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error (") and message in lines[0]
    if ws.exists():  # nothing grouped, no table written
        con = duckdb.connect(str(ws), read_only=True)
        assert not con.execute("SELECT * FROM duckdb_tables() WHERE table_name LIKE "
                               "'tickets_themes%'").fetchall()
        con.close()


# --------------------------------------------------------------------------------------
# the remote embedder through the loopback server, on the shop, under roles
# --------------------------------------------------------------------------------------


@pytest.fixture
def remote(chat_server: ChatServer, isolated_env: IsolatedEnv, sample_db_path: Path,
           tmp_path: Path) -> dict[str, str]:
    chat_server.embedder = topic_vector
    chat_server.responder = lambda request: json.dumps({"name": "物流问题"})
    return {"OPENAI_API_KEY": "test", "OPENAI_BASE_URL": chat_server.base_url,
            "NL2SQL_EMBEDDING_MODEL": "test-embed", "NL2SQL_MODEL_RETRIES": "0",
            "NL2SQL_DB": str(sample_db_path), "NL2SQL_WORKSPACE": str(tmp_path / "ws.duckdb")}


def phones_in(sample_db_path: Path, sql: str) -> set[str]:
    con = duckdb.connect(str(sample_db_path), read_only=True)
    found = {p for (text,) in con.execute(sql).fetchall() for p in PHONE.findall(text or "")}
    con.close()
    return found


TICKETS = ("--from", "support_tickets.transcript", "--where", "ticket_id <= 160", "--k", "3")


@pytest.mark.parametrize("role", one_fast(["analyst", "steward"]))
def test_remote_themes_send_no_personal_data_and_write_none(
        isolated_env: IsolatedEnv, chat_server: ChatServer, remote: dict[str, str],
        sample_db_path: Path, role: str) -> None:
    phones = phones_in(sample_db_path, "SELECT transcript FROM support_tickets "
                                       "WHERE ticket_id <= 160")
    assert phones  # the selection holds personal data, or the test proves nothing
    result = isolated_env.run("themes", *TICKETS, "--role", role, "-f", "json", env=remote)
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["k"] == 3 and document["embedding"]["model"].startswith("remote:test-embed")
    assert {t["named_by"] for t in document["themes"]} == {"model:gpt-4o-mini"}
    sent = json.dumps([r["json"] for r in chat_server.requests], ensure_ascii=False)
    assert chat_server.embedding_requests() and not any(p in sent for p in phones)
    assert "[phone]" in sent  # replaced by its kind, not dropped
    assert not any(p in result.stdout for p in phones)
    written = isolated_env.run("sql", "SELECT name, examples FROM support_tickets_themes",
                               "--role", "steward", "-f", "json", env=remote)
    assert written.returncode == 0 and not any(p in written.stdout for p in phones)


def test_a_restricted_role_reads_redacted_text_in_search_results(
        isolated_env: IsolatedEnv, remote: dict[str, str], sample_db_path: Path) -> None:
    phones = phones_in(sample_db_path, "SELECT review_text FROM reviews WHERE review_id <= 300")
    args = ("search", "call me back at my phone", "--in", "reviews.review_text", "--where",
            "review_id <= 300", "--limit", "300", "-f", "json")
    analyst = json.loads(isolated_env.run(*args, "--role", "analyst", env=remote).stdout)
    texts = " ".join(m["text"] for m in analyst["matches"])
    assert "[phone]" in texts and not any(p in texts for p in phones)
    steward = json.loads(isolated_env.run(*args, "--role", "steward", env=remote).stdout)
    assert any(p in " ".join(m["text"] for m in steward["matches"]) for p in phones)


@pytest.mark.parametrize("args", one_fast([
    ["themes", "--from", "customers.phone"],
    ["search", "138", "--in", "customers.phone"],
    ["search", "x", "--in", "customers.email", "--where", "email LIKE '%qq%'"],
    ["themes", "--from", "customers.city", "--where", "birth_date > DATE '2000-01-01'"],
]))
def test_a_restricted_role_never_groups_or_searches_what_it_may_not_read(
        isolated_env: IsolatedEnv, remote: dict[str, str], chat_server: ChatServer,
        tmp_path: Path, sample_db_path: Path, args: list[str]) -> None:
    result = isolated_env.run(*args, "--role", "analyst", env=remote)
    assert result.returncode == 3, result.stderr
    assert not chat_server.embedding_requests()  # refused before anything was sent
    con = duckdb.connect(str(sample_db_path), read_only=True)
    values = {str(v) for row in con.execute("SELECT phone, email, name FROM customers "
                                            "LIMIT 50").fetchall() for v in row}
    con.close()
    log = (tmp_path / "xdg-state" / "nl2sql" / "audit.jsonl").read_text(encoding="utf-8")
    record = json.loads(log.strip().splitlines()[-1])
    assert record["command"] == args[0] and record["decision"] == "refused"
    assert not any(v in result.stderr + log for v in values if len(v) > 3)


def test_search_is_audited_without_texts_or_keys(isolated_env: IsolatedEnv,
                                                 remote: dict[str, str], tmp_path: Path) -> None:
    result = isolated_env.run("search", "我的电话是13912345678，物流太慢", "--in",
                              "reviews.review_text", "--where", "review_id <= 50", "--role",
                              "analyst", env=remote)
    assert result.returncode == 0, result.stderr
    record = json.loads((tmp_path / "xdg-state" / "nl2sql" / "audit.jsonl")
                        .read_text(encoding="utf-8").strip().splitlines()[-1])
    assert record["command"] == "search" and record["role"] == "analyst"
    assert record["decision"] == "accepted"
    assert record["columns"] == ["reviews.review_id", "reviews.review_text"]
    assert "13912345678" not in json.dumps(record, ensure_ascii=False)
    assert record["extract"]["written"] == 10 and "matches" not in record["extract"]
    assert isolated_env.run("audit", "--command", "search", env=remote).returncode == 0


@pytest.mark.slow  # the store's own tests cover it in the fast subset
def test_a_vector_size_change_between_runs_is_refused(isolated_env: IsolatedEnv,
                                                      chat_server: ChatServer,
                                                      remote: dict[str, str]) -> None:
    chat_server.embedder = None  # hash vectors of embedding_dimensions numbers
    args = ("search", "x", "--in", "reviews.review_text", "--where", "review_id <= 20")
    assert isolated_env.run(*args, env=remote).returncode == 0
    chat_server.embedding_dimensions = 6
    result = isolated_env.run(*args, "--where", "review_id <= 30", env=remote)
    assert result.returncode == 5
    assert "6 numbers" in result.stderr and "8 before" in result.stderr


@pytest.mark.slow  # the store's own tests cover it in the fast subset
def test_a_model_change_embeds_again_and_keeps_both(isolated_env: IsolatedEnv,
                                                    chat_server: ChatServer,
                                                    remote: dict[str, str],
                                                    tmp_path: Path) -> None:
    args = ("search", "x", "--in", "reviews.review_text", "--where", "review_id <= 20")
    assert isolated_env.run(*args, env=remote).returncode == 0
    before = len(chat_server.embedding_requests())
    assert isolated_env.run(*args, env=remote).returncode == 0  # nothing new: the query only
    assert len(chat_server.embedding_requests()) == before + 1
    other = remote | {"NL2SQL_EMBEDDING_MODEL": "other-embed"}
    assert isolated_env.run(*args, env=other).returncode == 0
    con = duckdb.connect(str(tmp_path / "ws.duckdb"), read_only=True)
    models = con.execute("SELECT model_id, count(*) FROM _nl2sql_vectors_9 GROUP BY 1 "
                         "ORDER BY 1").fetchall()
    con.close()
    assert [n for _, n in models] == [20, 20] and "other-embed" in models[0][0]


def test_questions_see_the_theme_tables_under_the_source_policy(
        isolated_env: IsolatedEnv, remote: dict[str, str]) -> None:
    assert isolated_env.run("themes", *TICKETS, "--role", "steward", env=remote).returncode == 0
    sql = ("SELECT t.theme_id, t.name, avg(s.satisfaction) AS avg_satisfaction, count(*) AS n "
           "FROM support_tickets_themes_members m JOIN support_tickets_themes t USING "
           "(theme_id) JOIN support_tickets s USING (ticket_id) GROUP BY t.theme_id, t.name")
    result = isolated_env.run("sql", sql, "--role", "analyst", "-f", "json", env=remote)
    assert result.returncode == 0, result.stderr
    assert sum(r[3] for r in json.loads(result.stdout)["rows"]) == 160
    catalog = isolated_env.run("catalog", "--format", "json", env=remote)
    assert "support_tickets_themes_members" in catalog.stdout
    # the offline drafter joins through the members table; a question it cannot read it
    # declines with help, never answering from another table
    asked = isolated_env.run("ask", "How many tickets are in each theme?", "-f", "json",
                             env=remote | {"NL2SQL_DRAFTER": "offline"})
    assert asked.returncode == 0, asked.stderr
    answer = json.loads(asked.stdout)
    assert "support_tickets_themes_members" in answer["sql"]
    assert sum(r[-1] for r in answer["rows"]) == 160
    # the members table holds one row per ticket (its key is the ticket's), so averaging
    # a ticket column per theme repeats nothing and is answered, equal to the SQL above
    average = isolated_env.run("ask", "每个主题的平均满意度", "-f", "json",
                               env=remote | {"NL2SQL_DRAFTER": "offline"})
    assert average.returncode == 0, average.stdout + average.stderr
    by_theme = {r[0]: r[2] for r in json.loads(result.stdout)["rows"]}
    assert {r[0]: r[2] for r in json.loads(average.stdout)["rows"]} == pytest.approx(by_theme)
    # reviews were never grouped: reaching the ticket themes from them (reviews →
    # customers → tickets) would count each review under its customer's ticket themes
    for question in ("Which theme has the most reviews?", "每个主题有多少条评价"):
        other = isolated_env.run("ask", question, "-f", "json",
                                 env=remote | {"NL2SQL_DRAFTER": "offline"})
        assert other.returncode == 6, other.stdout
        message = json.loads(other.stdout)["error"]["message"]
        assert "support_tickets_themes" in message and "describes support_tickets rows" \
            in message and "nl2sql themes --from reviews." in message, message
        assert "add the missing words" not in message  # nothing is missing: it is declined
        assert json.loads(other.stdout)["error"]["suggestion"] == \
            "nl2sql themes --from reviews.<column>"


def test_shell_search_uses_the_current_role(remote: dict[str, str], sample_db_path: Path,
                                           tmp_path: Path, shared_cache_dir: Path) -> None:
    import io

    from rich.console import Console

    from nl2sql import pipeline
    from nl2sql.interfaces import shell

    settings = Settings(db=str(sample_db_path), cache_dir=shared_cache_dir,
                        workspace=tmp_path / "ws.duckdb", api_key="test",
                        base_url=remote["OPENAI_BASE_URL"], embedding_model="test-embed",
                        audit_log=tmp_path / "audit.jsonl", role="steward")
    with pipeline.open_session(settings) as session:
        console = Console(file=io.StringIO(), width=240, color_system=None)
        state = shell.State(session=session, console=console, drafter="offline")
        line = "\\search 'call me' --in reviews.review_text --where 'review_id <= 300' --limit 300"
        shell.run_line(state, line)
        shell.run_line(state, "\\role analyst")
        shell.run_line(state, line)
        shell.run_line(state, "\\search x --in customers.phone")
        text = console.file.getvalue()  # type: ignore[attr-defined]
    phones = phones_in(sample_db_path, "SELECT review_text FROM reviews WHERE review_id <= 300")
    steward, analyst = text.split("role analyst", 1)
    assert any(p in steward for p in phones) and "300 of 300 texts" in steward
    assert "[phone]" in analyst and not any(p in analyst for p in phones)
    assert "customers.phone is masked for role analyst" in analyst


# --------------------------------------------------------------------------------------
# the local model for real
# --------------------------------------------------------------------------------------


@pytest.mark.slow
def test_local_search_finds_slow_delivery_in_chinese_and_english(
        isolated_env: IsolatedEnv, sample_db_path: Path, tmp_path: Path) -> None:
    result = isolated_env.run("search", "物流太慢", "--in", "reviews.review_text", "--where",
                              "review_id <= 60", "--limit", "3", "--db", str(sample_db_path),
                              "--workspace", str(tmp_path / "ws.duckdb"), "-f", "json")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["embedding"]["model"] == "local:multilingual-e5-small-q4"
    top = document["matches"][0]["text"].lower()
    assert any(w in top for w in ("物流", "快递", "慢", "delivery", "shipping", "arrived", "days"))


@pytest.mark.slow
def test_local_themes_over_transcripts_follow_the_categories(
        isolated_env: IsolatedEnv, sample_db_path: Path, tmp_path: Path) -> None:
    ws = tmp_path / "ws.duckdb"
    result = isolated_env.run("themes", "--from", "support_tickets.transcript", "--where",
                              "ticket_id <= 60", "--db", str(sample_db_path), "--workspace",
                              str(ws), "-f", "json")
    assert result.returncode == 0, result.stderr
    con = duckdb.connect(":memory:")
    con.execute(f"ATTACH '{sample_db_path}' AS shop (READ_ONLY)")
    con.execute(f"ATTACH '{ws}' AS ws (READ_ONLY)")
    pairs = con.execute("SELECT m.theme_id, s.category FROM ws.support_tickets_themes_members m "
                        "JOIN shop.support_tickets s USING (ticket_id)").fetchall()
    by_theme: dict[int, list[str]] = {}
    for theme, category in pairs:
        by_theme.setdefault(theme, []).append(category)
    majority = sum(max(c.count(x) for x in set(c)) for c in by_theme.values())
    assert len(pairs) == 60 and majority / 60 >= 0.6


def test_a_row_filtered_role_reads_its_members_and_never_the_theme_summaries(
        isolated_env: IsolatedEnv, remote: dict[str, str], sample_db_path: Path,
        tmp_path: Path) -> None:
    shop = (Path(__file__).resolve().parent.parent / "schemas" / "shop.yaml").read_text(
        encoding="utf-8")
    semantic = tmp_path / "shop.yaml"
    semantic.write_text(shop.replace("  steward:\n", "  phone_desk:\n    description: Phone "
                                     "tickets only.\n    row_filters:\n      support_tickets: "
                                     "\"channel = 'phone'\"\n  steward:\n", 1), encoding="utf-8")
    env = remote | {"NL2SQL_SEMANTIC": str(semantic)}
    assert isolated_env.run("themes", *TICKETS, "--role", "steward", env=env).returncode == 0
    summary = isolated_env.run("sql", "SELECT name, size FROM support_tickets_themes",
                               "--role", "phone_desk", env=env)
    assert summary.returncode == 3 and "reads through a row filter" in summary.stderr
    members = isolated_env.run("sql", "SELECT count(*) FROM support_tickets_themes_members",
                               "--role", "phone_desk", "-f", "csv", env=env)
    con = duckdb.connect(str(sample_db_path), read_only=True)
    phone = con.execute("SELECT count(*) FROM support_tickets WHERE ticket_id <= 160 AND "
                        "channel = 'phone'").fetchone()
    con.close()
    assert phone is not None and 0 < phone[0] < 160
    assert members.returncode == 0 and members.stdout.splitlines()[-1] == str(phone[0])


def test_the_hint_after_themes_asks_about_the_grouped_table() -> None:
    """The suggested question counts the rows that were grouped (asking it about another
    table's rows would join them to the themes through unrelated keys)."""
    from types import SimpleNamespace

    from nl2sql.interfaces.text_listings import themes_output

    outcome = SimpleNamespace(
        themes=[], k=2, k_chosen_by="fixed", silhouette=None, grouped=10,
        source="support_tickets.transcript", elapsed_s=1.0, notes=[],
        embedding={"embedded": 10, "cached": 0, "model": "local"},
        themes_table="support_tickets_themes", members_table="support_tickets_themes_members",
        workspace="/tmp/ws.duckdb", to_json=lambda: {})
    foot = " ".join(str(t) for t in themes_output(outcome).foot)
    assert "Which theme has the most support tickets?" in foot
