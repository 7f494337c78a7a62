"""Why a product was chosen: heat-maps and word attributions (``Explainer`` -> ``Evidence``),
explanations written from that evidence by a local LLM and checked against it
(``ExplanationWriter``), and faithfulness by feature removal."""
from runtime import LocalLLM, ModelUnavailable, get_llm

from .evidence import Evidence, Explainer, Query
from .writer import Explanation, ExplanationWriter, Grounding, template_explanation

__all__ = ["Evidence", "Explainer", "Explanation", "ExplanationWriter", "Grounding", "LocalLLM",
           "ModelUnavailable", "Query", "get_llm", "template_explanation"]
