"""Why a product was chosen: heat-maps and word attributions (``Explainer`` -> ``Evidence``),
claims chosen from that evidence by code (``chosen`` -> ``Claim``), worded by the realiser
(``realised``) or by a local LLM under a grammar (``ExplanationWriter``), the objective defect
check (``defects``), and faithfulness by feature removal."""
from runtime import LocalLLM, ModelUnavailable, get_llm

from .claims import Claim, chosen
from .defects import defects
from .evidence import Evidence, Explainer, Query, Standout
from .writer import Explanation, ExplanationWriter, Grounding, realised, template_explanation

__all__ = ["Claim", "Evidence", "Explainer", "Explanation", "ExplanationWriter", "Grounding", "LocalLLM",
           "ModelUnavailable", "Query", "Standout", "chosen", "defects", "get_llm", "realised",
           "template_explanation"]
