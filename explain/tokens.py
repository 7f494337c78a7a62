"""Which words of a text make its vector close to a target vector: captum's
LayerIntegratedGradients on the text tower's word embeddings, for the cosine similarity, with
sub-word pieces merged into words.

Integrated gradients are complete: the word weights sum to ``similarity - baseline_similarity``
up to ``delta`` (the baseline is the same text with every word replaced by padding).
"""
from __future__ import annotations

import bisect
import re
import time
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F
from captum.attr import LayerIntegratedGradients

from retrieval import ClipEncoder

DEFAULT_STEPS = 32


@dataclass
class WordWeight:
    word: str
    weight: float                # signed share of the similarity this word accounts for
    start: int                   # character span in the text
    end: int


@dataclass
class TokenAttribution:
    text: str
    words: list[WordWeight]
    similarity: float
    baseline_similarity: float
    delta: float                 # completeness error: sum(weights) - (similarity - baseline)
    steps: int
    seconds: float

    def top(self, n: int = 5, positive: bool = True) -> list[WordWeight]:
        ranked = sorted(self.words, key=lambda w: -w.weight if positive else w.weight)
        return [w for w in ranked[:n] if (w.weight > 0) == positive]

    def to_json(self) -> dict:
        return {**asdict(self), "words": [asdict(w) for w in self.words]}


class TextAttributor:
    """Token attributions for one encoder; ``steps`` bounds the cost (one batched forward and
    backward pass of ``steps`` texts)."""

    def __init__(self, encoder: ClipEncoder, steps: int = DEFAULT_STEPS):
        if not encoder.towers.locked:
            raise ValueError(f"{encoder.name}: token attributions need a Hugging Face text tower")
        self.encoder, self.steps = encoder, steps
        self.text = encoder.model.text
        self.hf = encoder.tokenizer.tokenizer
        self.context = encoder.tokenizer.context_length
        self.lig = LayerIntegratedGradients(self._similarity,
                                            self.text.transformer.embeddings.word_embeddings)

    def _similarity(self, ids: torch.Tensor, mask: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        out = self.text.transformer(input_ids=ids, attention_mask=mask)
        vec = F.normalize(self.text.proj(self.text.pooler(out, mask)), dim=-1)
        return (vec * target).sum(-1)

    def __call__(self, text: str, target_vector: np.ndarray) -> TokenAttribution:
        start = time.perf_counter()
        text = " ".join(text.split())
        enc = self.hf(text, max_length=self.context, truncation=True, padding="max_length",
                      return_offsets_mapping=True, return_tensors="pt")
        ids, mask = enc["input_ids"], enc["attention_mask"]
        special = torch.tensor(self.hf.get_special_tokens_mask(ids[0].tolist(),
                                                               already_has_special_tokens=True))
        baseline = torch.where(special.bool(), ids[0], torch.tensor(self.hf.pad_token_id))[None]
        target = F.normalize(torch.as_tensor(np.asarray(target_vector), dtype=torch.float32), dim=-1)[None]
        attributions, delta = self.lig.attribute(
            ids, baselines=baseline, additional_forward_args=(mask, target), n_steps=self.steps,
            internal_batch_size=self.steps, return_convergence_delta=True)
        per_token = attributions.sum(-1)[0].detach().numpy()
        with torch.no_grad():
            sim = float(self._similarity(ids, mask, target)[0])
            base = float(self._similarity(baseline, mask, target)[0])
        words = merge_words(text, enc["offset_mapping"][0].tolist(), special.tolist(), per_token)
        return TokenAttribution(text, words, sim, base, float(delta[0]), self.steps,
                                time.perf_counter() - start)


def merge_words(text: str, offsets: list[list[int]], special: list[int],
                weights: np.ndarray) -> list[WordWeight]:
    """Sum the weights of the pieces of each whitespace-separated word ("t-shirt" is one word);
    special tokens and padding are dropped."""
    spans = [(m.start(), m.end()) for m in re.finditer(r"\S+", text)]
    starts = [s for s, _ in spans]
    totals = [0.0] * len(spans)
    seen = [False] * len(spans)
    for (s, e), is_special, w in zip(offsets, special, weights):
        if is_special or e <= s:
            continue
        k = bisect.bisect_right(starts, s) - 1
        totals[k] += float(w)
        seen[k] = True
    return [WordWeight(text[s:e], totals[k], s, e) for k, (s, e) in enumerate(spans) if seen[k]]
