"""The vector store: what is embedded (and what not), what is kept, what is refused, and
that exact and HNSW search agree. A deterministic stand-in embedder; the real models are
tested in test_embedder.py and test_themes_search.py."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import duckdb
import numpy as np
import pytest

from nl2sql.embeddings.embedder import normalised
from nl2sql.embeddings.store import MAX_TOKENS, VectorStore, text_hash, truncated
from nl2sql.errors import Interrupted, ModelError


class Fake:
    """Vectors from the text's hash; counts what it was asked; can fail on a call."""

    remote = False

    def __init__(self, model_id: str = "fake:a", dimensions: int | None = 8,
                 size: int = 8, stop_on_call: int | None = None) -> None:
        self.model_id = model_id
        self.dimensions = dimensions
        self.size = size
        self.stop_on_call = stop_on_call
        self.seen: list[str] = []
        self.calls = 0

    def embed(self, texts: Sequence[str], role: str) -> np.ndarray:
        self.calls += 1
        if self.stop_on_call == self.calls:
            raise KeyboardInterrupt
        self.seen += list(texts)
        return normalised(np.array([vector(t, self.size, self.model_id) for t in texts]))


def vector(text: str, size: int, salt: str = "") -> list[float]:
    digest = hashlib.sha256((salt + text).encode()).digest()
    return [digest[i] / 255.0 - 0.5 for i in range(size)]


def store(con: duckdb.DuckDBPyConnection, embedder: Fake, **kw: object) -> VectorStore:
    return VectorStore(con, embedder, **kw)  # type: ignore[arg-type]


@pytest.fixture
def con() -> duckdb.DuckDBPyConnection:
    return duckdb.connect(":memory:")


def test_a_rerun_embeds_only_new_or_changed_texts(con: duckdb.DuckDBPyConnection) -> None:
    fake = Fake()
    hashes, report = store(con, fake).ensure(["a", "b", "a", "c"])
    assert report.embedded == 3 and fake.seen == ["a", "b", "c"] and hashes[0] == hashes[2]
    fake.seen.clear()
    _, again = store(con, fake).ensure(["a", "b", "c changed", "d"])
    assert fake.seen == ["c changed", "d"] and again.cached == 2 and again.embedded == 2


@pytest.mark.parametrize("texts,empty", [([None, "", "  \n", "x"], 3), (["x", "y"], 0),
                                         ([None], 1)])
def test_empty_texts_get_no_vector_and_are_counted(con: duckdb.DuckDBPyConnection,
                                                   texts: list[str | None], empty: int) -> None:
    fake = Fake()
    hashes, report = store(con, fake).ensure(texts)
    assert report.empty == empty and hashes.count(None) == empty
    assert all(t.strip() for t in fake.seen)
    assert (f"{empty:,} empty texts skipped" in " ".join(report.notes)) == bool(empty)


def test_long_texts_are_cut_and_the_note_says_so(con: duckdb.DuckDBPyConnection) -> None:
    fake = Fake()
    _, report = store(con, fake).ensure(["好" * 2000, "word " * 1000, "short"])
    assert report.truncated == 2 and "only their beginning" in " ".join(report.notes)
    assert fake.seen[0] == "好" * MAX_TOKENS and len(fake.seen[1]) <= 4 * MAX_TOKENS
    assert truncated("short") == "short"


def test_a_model_change_makes_new_vectors_never_mixed(con: duckdb.DuckDBPyConnection) -> None:
    first, second = Fake("fake:a"), Fake("fake:b")
    hashes, _ = store(con, first).ensure(["x", "y"])
    _, report = store(con, second).ensure(["x", "y"])
    assert report.embedded == 2 and report.cached == 0  # nothing of model a reused
    a = store(con, first).matrix(hashes)  # type: ignore[arg-type]
    b = store(con, second).matrix(hashes)  # type: ignore[arg-type]
    assert not np.allclose(a, b)
    assert con.execute("SELECT count(*) FROM _nl2sql_vectors_8").fetchone() == (4,)


def test_a_remote_model_that_changes_its_vector_size_is_refused(
        con: duckdb.DuckDBPyConnection) -> None:
    store(con, Fake("remote:m", dimensions=None, size=8)).ensure(["x"])
    later = Fake("remote:m", dimensions=None, size=6)  # same name, another model behind it
    with pytest.raises(ModelError, match="6 numbers.*8 before"):
        store(con, later).ensure(["y"])
    assert con.execute("SELECT count(*) FROM _nl2sql_vectors_8").fetchone() == (1,)


def test_vectors_that_are_not_numbers_are_refused(con: duckdb.DuckDBPyConnection) -> None:
    class Broken(Fake):
        def embed(self, texts: Sequence[str], role: str) -> np.ndarray:
            return np.full((len(texts), 8), np.nan, dtype=np.float32)

    with pytest.raises(ModelError, match="not numbers"):
        store(con, Broken()).ensure(["x"])


def test_ctrl_c_keeps_the_finished_batches(tmp_path: object) -> None:
    path = f"{tmp_path}/ws.duckdb"
    texts = [f"text {i}" for i in range(10)]
    con = duckdb.connect(path)
    with pytest.raises(Interrupted, match="4 of 10 texts embedded and kept"):
        store(con, Fake(stop_on_call=3), batch=2).ensure(texts)
    con.close()
    con = duckdb.connect(path)  # what a new run finds
    fake = Fake()
    _, report = store(con, fake, batch=2).ensure(texts)
    assert report.cached == 4 and report.embedded == 6 and fake.seen == texts[4:]


def test_the_prepare_hook_is_what_the_embedder_sees(con: duckdb.DuckDBPyConnection) -> None:
    fake = Fake()
    hashes, _ = store(con, fake, prepare=lambda t: t.replace("138-1234-5678", "[phone]")
                      ).ensure(["call 138-1234-5678"])
    assert fake.seen == ["call [phone]"] and hashes == [text_hash("call [phone]")]


def brute_force(con: duckdb.DuckDBPyConnection, s: VectorStore, query: np.ndarray,
                hashes: list[str], limit: int) -> list[str]:
    m = s.matrix(hashes)
    scores = m @ query
    order = sorted(range(len(hashes)), key=lambda i: (-scores[i], hashes[i]))
    return [hashes[i] for i in order[:limit]]


@pytest.mark.parametrize("index_from", [10**9, 50])  # exact; HNSW (vss) past 50 vectors
def test_search_finds_the_nearest_as_brute_force_does(con: duckdb.DuckDBPyConnection,
                                                      index_from: int) -> None:
    s = store(con, Fake(), index_from=index_from)
    hashes, _ = s.ensure([f"text {i}" for i in range(200)])
    wanted = [h for h in hashes if h is not None]
    query = normalised(np.array([vector("a query", 8)]))[0]
    hits = s.search(query, wanted, 5)
    assert s.index_used == (index_from == 50)
    assert [h.text_hash for h in hits] == brute_force(con, s, query, wanted, 5)
    assert hits[0].score == pytest.approx(float(s.matrix([hits[0].text_hash])[0] @ query),
                                          abs=1e-5)
    if index_from == 50:
        plan = str(con.execute("EXPLAIN SELECT text_hash FROM _nl2sql_vectors_8 ORDER BY "
                               "array_negative_inner_product(vec, ?::FLOAT[8]) LIMIT 5",
                               [query.tolist()]).fetchall())
        assert "HNSW_INDEX_SCAN" in plan


def test_hnsw_falls_back_to_exact_for_a_narrow_candidate_set(
        con: duckdb.DuckDBPyConnection) -> None:
    s = store(con, Fake(), index_from=50)
    hashes = [h for h in s.ensure([f"text {i}" for i in range(200)])[0] if h is not None]
    query = normalised(np.array([vector("a query", 8)]))[0]
    far = brute_force(con, s, query, hashes, 200)[-3:]  # never in the index's first 50
    hits = s.search(query, far, 2)
    assert not s.index_used and [h.text_hash for h in hits] == brute_force(con, s, query,
                                                                             far, 2)


def test_search_never_returns_another_models_vectors(con: duckdb.DuckDBPyConnection) -> None:
    a, b = store(con, Fake("fake:a")), store(con, Fake("fake:b"))
    only_a = [h for h in a.ensure(["x", "y"])[0] if h]
    b.ensure(["z"])
    query = normalised(np.array([vector("q", 8)]))[0]
    assert {h.text_hash for h in b.search(query, only_a, 5)} == set()
    assert {h.text_hash for h in a.search(query, only_a, 5)} == set(only_a)
