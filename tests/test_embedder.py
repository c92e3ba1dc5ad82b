"""The embedders' contract: normalised float32 rows, one per text, the model named."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from nl2sql.embeddings import LocalEmbedder, RemoteEmbedder, embedder_for
from nl2sql.errors import ConfigError, ModelError


class FakeEmbeddings:
    """Stands in for ``client.embeddings`` where a test needs replies no server gives."""

    def __init__(self, replies: list[list[list[float]]]) -> None:
        self.replies = replies
        self.sent: list[Any] = []

    def create(self, model: str, input: list[str]) -> Any:  # noqa: A002 - openai's name
        self.sent.append((model, input))
        rows = self.replies.pop(0)
        return SimpleNamespace(data=[SimpleNamespace(index=i, embedding=r) for i, r in enumerate(rows)])


def remote(replies: list[list[list[float]]]) -> tuple[RemoteEmbedder, FakeEmbeddings]:
    fake = FakeEmbeddings(replies)
    return RemoteEmbedder(SimpleNamespace(embeddings=fake), "m1", "http://127.0.0.1:1/v1"), fake


def test_local_model_embeds_chinese_and_english_near_by_meaning() -> None:
    model = LocalEmbedder()
    passages = model.embed(["物流太慢了，等了两个星期", "The screen cracked on day one"], "passage")
    query = model.embed(["delivery took far too long"], "query")
    assert passages.shape == (2, 384) and passages.dtype == np.float32
    assert np.allclose(np.linalg.norm(passages, axis=1), 1.0, atol=1e-4)
    scores = passages @ query[0]
    assert scores[0] > scores[1]  # the Chinese complaint about shipping is the nearer one
    assert model.model_id == "local:multilingual-e5-small-q4"


def test_remote_vectors_are_normalised_and_batched() -> None:
    embedder, fake = remote([[[3.0, 4.0]] * 64, [[0.0, 2.0]]])
    rows = embedder.embed([f"t{i}" for i in range(65)], "passage")
    assert rows.shape == (65, 2) and embedder.dimensions == 2
    assert rows[0].tolist() == pytest.approx([0.6, 0.8]) and rows[64].tolist() == [0.0, 1.0]
    assert [len(batch) for _, batch in fake.sent] == [64, 1]
    assert embedder.model_id == "remote:m1@http://127.0.0.1:1/v1"


@pytest.mark.parametrize("replies, message", [
    ([[[1.0, 0.0]]], "returned 1 vectors for 2 texts"),
    ([[[1.0, 0.0], [1.0]]], "different sizes"),
    ([[[], []]], "empty vectors"),
])
def test_remote_bad_replies_are_one_line_errors(replies: list[Any], message: str) -> None:
    embedder, _ = remote(replies)
    with pytest.raises(ModelError, match=message):
        embedder.embed(["a", "b"], "passage")


def test_remote_size_change_between_batches_is_refused() -> None:
    embedder, _ = remote([[[1.0, 0.0]], [[1.0, 0.0, 0.0]]])
    embedder.embed(["a"], "query")
    with pytest.raises(ModelError, match="not one model"):
        embedder.embed(["b"], "query")


def test_remote_model_needs_a_key() -> None:
    with pytest.raises(ConfigError, match="OPENAI_API_KEY"):
        embedder_for("text-embedding-3-small", None, None)
    assert isinstance(embedder_for(None, "k", None), LocalEmbedder)
    assert isinstance(embedder_for("local", "k", None), LocalEmbedder)
