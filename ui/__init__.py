"""The Gradio app (the shop's chat, and an analyst area behind a sign-in), served on its own
(``launch``, ``python -m ui``) or mounted into a shop's FastAPI site (``mount``)."""
from .analyst import build_analyst
from .resources import Resources
from .server import launch, mount, resources
from .shop import build_shop

__all__ = ["Resources", "build_analyst", "build_shop", "launch", "mount", "resources"]
