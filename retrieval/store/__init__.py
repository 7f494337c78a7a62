"""The store: products in SQLite and fused vectors in USearch, kept in step in atomic generations
(``index``, ``shards``, ``locks``), the product record (``products``), the fusion map saved with
the index (``fusion``) and vectors (``vectors``). Numpy, usearch and SQLite only: no torch."""
