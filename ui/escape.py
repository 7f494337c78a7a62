"""Text from the catalogue, shoppers and the LLM shown as text: escaped for the app's Markdown
(chat messages, the detail and "why?" panels) so that only the app's own markup is markup."""
from __future__ import annotations

import re

# Every ASCII punctuation character may be backslash-escaped in CommonMark (and GFM): escaped,
# none of them starts an image, link, autolink, HTML tag, entity, emphasis, heading or list.
_PUNCTUATION = re.compile(r"([!-/:-@\[-`{-~])")
# Characters that change how the rest of a line is read or shown (C0/C1 controls, bidirectional
# embeddings, overrides and isolates) are not shown; tabs and newlines are kept.
_CONTROLS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_BREAKS = re.compile(r"\r\n?")


def visible(text: object) -> str:
    """``text`` without control and bidirectional-override characters (newlines kept)."""
    return _CONTROLS.sub("", _BREAKS.sub("\n", "" if text is None else str(text)))


def md(text: object) -> str:
    """``text`` as Markdown that renders to exactly ``text`` (control characters left out)."""
    escaped = _PUNCTUATION.sub(r"\\\1", visible(text))
    # Leading spaces would make an indented code block, trailing ones a hard line break.
    return "\n".join(line.strip(" \t") for line in escaped.split("\n"))
