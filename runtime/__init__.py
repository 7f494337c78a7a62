"""What runs the heavy work, below the layers that use it: the local LLM (``llm``: one
llama-cpp-python model per process behind a lock, time-limited calls) and the background lane
(``background``: one lower-priority worker thread for heat-maps, attributions and the LLM, and a
lowest-priority one for work done ahead)."""
from .background import BACKGROUND, SPARE, Background
from .llm import QWEN_05B, LocalLLM, ModelUnavailable, assemble, get_llm

__all__ = ["BACKGROUND", "QWEN_05B", "SPARE", "Background", "LocalLLM", "ModelUnavailable", "assemble",
           "get_llm"]
