"""Prompt templates as files (``string.Template`` syntax: ``$name``)."""
from __future__ import annotations

from importlib.resources import files
from string import Template


def load(name: str) -> Template:
    """The template ``prompts/<name>.txt``."""
    return Template(files(__package__).joinpath(f"{name}.txt").read_text(encoding="utf-8"))
