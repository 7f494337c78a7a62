"""The robustness suite's families: generated hostile inputs and the checks that count what went
wrong (``fuzz``: catalogue files, ``injections``: planted and typed instructions, ``crashes``:
kill -9 and concurrent writers, ``app``: the served app's routes, uploads and ratings)."""
