"""The Gradio app (shopping chat, analyst review), served on its own (``launch``, ``python -m
ui``) or mounted into a shop's FastAPI site (``mount``)."""
from .app import Resources, build_app
from .server import launch, mount, resources

__all__ = ["Resources", "build_app", "launch", "mount", "resources"]
