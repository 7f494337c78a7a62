"""Instruction-like text in data: sentences of a product's text or a shopper's message that talk to
the assistant ("ignore the rules", "you are now", "SYSTEM:") or paste code and tool calls
(``{"name": "reset", ...}``). They are data, never followed; this module finds them so that they
are also never quoted as evidence, never sent to the LLM, and never planned as a turn."""
from __future__ import annotations

import re

ADDRESSEE = r"(?:assistant|a\.?i\.?|ai model|language model|llm|chat ?bot|bot|gpt|model)"
# Cues that a sentence talks to the assistant about its instructions: never a shopping request.
TALK_TO_ASSISTANT = (
    r"\b(?:ignore|disregard|forget|override|bypass)\b[^.!?\n]{0,40}\b(?:instructions?|rules|prompts?|"
    r"directions|guidelines)\b",
    r"\b(?:system|developer|hidden|initial|original)\s+(?:prompt|message|instructions?)\b",
    r"\b(?:reveal|print|repeat|show|output|leak|tell me)\b[^.!?\n]{0,30}\b(?:prompt|instructions|rules)\b",
    r"\byou are now\b|\bact as (?:an? )?(?:ai|assistant|dan|developer|admin)\b|\bpretend (?:to be|you)\b",
    r"\b(?:developer|god|admin|debug) mode\b|\bjailbreak\w*|\bdo anything now\b|\bnew instructions?\b",
    r"(?:^|[\s\[(<|])(?:system|assistant|tool)\s*[:>|\]]",
    r"<\|?\s*(?:im_start|im_end|system|endoftext)|\[/?inst\]|#{3,}\s*(?:system|instruction)",
)
# Cues that only a shop's text is wrong to hold: it never addresses anyone, while a shopper may
# well say "tell me more", "forget it" or "recommend something" to the assistant.
ADDRESS_IN_TEXT = (
    r"\b(?:ignore|disregard|forget|override|bypass)\b[^.!?\n]{0,40}\b(?:above|previous|everything|evidence)\b",
    r"\boverride\b|\binstead,? (?:say|write|reply|respond|output|tell)\b",
    r"\b(?:say|write|reply|respond|answer|output)\b[^.!?\n]{0,20}\b(?:only|exactly)\b",
    r"\bword for word\b|\bverbatim\b|\b(?:hacked|pwned|owned by)\b",
    r"\b(?:correct|right|real|true|your) (?:explanation|answer|response|reply|output)\b",
    r"\bthe (?:explanation|response|reply|output) (?:is|must|should)\b",
    rf"\b{ADDRESSEE}\b[^.!?\n]{{0,30}}\b(?:must|should|shall|needs? to|has to|always|never)\b",
    rf"\b(?:note|message|reminder|instructions?) (?:to|for) (?:the |any |all )?{ADDRESSEE}s?\b",
    r"\btell the (?:shopper|customer|user|buyer)\b|\b(?:i|we) (?:order|command|instruct|require) you\b",
    r"(?:^|[.!?\n:;])\s*(?:please\s+)?(?:say|write|tell|respond|reply|answer|output|mention|repeat|"
    r"translate|recommend|append|forget|ignore|disregard|add the word|describe (?:this|it|the product) as)\b",
    r"(?:^|[\s\[(<|])user\s*[:>|\]]",
)
TURN_CUES = re.compile("|".join(TALK_TO_ASSISTANT), re.IGNORECASE)      # in a shopper's message
CUES = re.compile("|".join(TALK_TO_ASSISTANT + ADDRESS_IN_TEXT), re.IGNORECASE)   # in product text
# Code and pasted tool calls: JSON keys, braces with quotes, markup tags, code fences.
CODE = re.compile(r"[{\[]\s*\"[\w ]+\"\s*:|\"(?:name|tool|function|arguments|role|content)\"\s*:|"
                  r"</?\s*(?:script|data|evidence|system|tool_call)\b|`{3}|\bfunction_call\b|"
                  r"\b\w+\(\s*(?:\w+\s*=|['\"])|\b\w+\(\)", re.IGNORECASE)
SENTENCE = re.compile(r"(?:[^.!?\n;]|[.!?](?=\S))+[.!?\n;]*")     # "site.com" stays in one


def is_instruction(text: str, cues: re.Pattern = CUES) -> bool:
    """Whether ``text`` holds anything instruction-like (``cues``: ``CUES`` for product text,
    ``TURN_CUES`` for a shopper's message) or code-like."""
    return bool(cues.search(text) or CODE.search(text))


def spans(text: str, cues: re.Pattern = CUES) -> list[tuple[int, int]]:
    """(start, end) of the instruction-like sentences of ``text``; a pasted object or call is one
    span from its first to its last bracket."""
    found = []
    for m in CODE.finditer(text):
        opener = max(text.rfind("{", 0, m.end()), text.rfind("[", 0, m.end()))
        start = opener if opener >= 0 else m.start()
        close = max(text.rfind("}"), text.rfind("]"))
        found.append((start, max(close + 1, m.end())))
    for m in SENTENCE.finditer(text):
        if cues.search(m.group(0)) or CODE.search(m.group(0)):
            found.append(m.span())
    merged: list[tuple[int, int]] = []
    for start, end in sorted(found):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def without_instructions(text: str, cues: re.Pattern = CUES) -> str:
    """``text`` with its instruction-like sentences and pasted code left out."""
    if not text or not is_instruction(text, cues):
        return text or ""
    kept, last = [], 0
    for start, end in spans(text, cues):
        kept.append(text[last:start])
        last = end
    kept.append(text[last:])
    return " ".join(" ".join(kept).split()).strip(" ,;:-|")
