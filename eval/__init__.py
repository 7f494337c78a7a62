"""``python -m eval``: benchmark suites (``eval.suites``) with a report rendered from metrics.json."""
