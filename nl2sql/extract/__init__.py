"""``nl2sql extract``: free text → typed, queryable columns, with the model.

One stage per module:

========================  ==================================================================
``spec.py``               the spec file (fields, types, labels) → validated :class:`Spec`,
                          its JSON schema, its pydantic validator and its hash
``selection.py``          ``--from/--key/--where/--limit`` → guarded SQL → the source rows
``prompt.py``             one text + the spec → chat messages (text fenced as data)
``detectors.py``          fields that need no model (personal-data mentions)
``reply.py``              a model reply → validated values, or the reason it is invalid
``client.py``             async chat completions: bounded retries, Retry-After, fallback
                          from JSON-schema output to JSON in text
``workspace.py``          the writable workspace DuckDB file: results, cache, metadata;
                          how questions see the extracted tables
``runner.py``             plan (skip done rows, reuse the cache) and run concurrently,
                          committing every finished row, within a token budget
``report.py``             summary, sample table and progress bar for the CLI
``texts.py``              themes and search: the guarded selection of a text column under
                          the role's policy, and the workspace's vector store
``clustering.py``         spherical k-means, k by silhouette, each language's mean removed
``theme_names.py``        theme names: distinctive words (jieba) or the chat model
``theme_tables.py``       the themes' workspace tables, and how questions see them
``themes.py``             ``nl2sql themes``: prepare, embed, group, name, write
``search.py``             ``nl2sql search`` and ``\\search``: nearest texts with keys, scores
========================  ==================================================================

Kept import-light: :mod:`nl2sql.schema.introspect` and :mod:`nl2sql.pipeline` import
:mod:`nl2sql.extract.workspace` on every question.
"""

from __future__ import annotations
