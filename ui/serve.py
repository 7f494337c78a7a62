"""The assistant's API on Ray Serve, for shops that serve it from a cluster.

One application of two deployments:

- ``AssistantAPI`` (``replicas`` of ``cpus`` CPUs and ``gpus`` GPUs each): every replica loads the
  searcher over the index (a folder on a disk all nodes read; a sharded index starts its shard
  actors) and answers plain HTTP routes, one request per call: ``GET /search``, ``/similar``,
  ``/refine``, ``/complete_the_look`` and ``/explain`` (the app's API and MCP tools, with the same
  arguments and checks) and ``POST /chat`` (one turn of a conversation).
- ``Conversations`` (one replica, no CPU reserved): every chat's state by session token, so any API
  replica answers any turn and replicas can come and go. A turn whose conversation another turn
  changed meanwhile is refused (409, "send it again") rather than lost.

The browser app (``python -m ui``) is not served here: Gradio's queue answers an event over a
second request that must reach the same process, and Serve's proxy does not route by session.
Run it as processes behind a load balancer with sticky sessions (it can use the same index).
"""

# No ``from __future__ import annotations``: FastAPI reads the chat's body model from them.
import secrets
import threading
import time
from collections import OrderedDict
from pathlib import Path

import gradio as gr
from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from ray import serve
from ray.serve import Application
from ray.serve.handle import DeploymentHandle

from agent import DEFAULT_PLANNER
from agent.state import Conversation
from retrieval import connect, ensure_demo_index

from . import api
from .server import resources
from .sessions import MAX_SESSIONS


class ChatTurn(BaseModel):
    """One shopper message; ``session`` is the token an earlier answer gave (none: a new chat)."""
    message: str
    session: str | None = None


@serve.deployment(num_replicas=1, ray_actor_options={"num_cpus": 0})
class Conversations:
    """Each chat's ``Conversation`` and its version by token; the least recently used beyond
    ``limit`` are dropped."""

    def __init__(self, limit: int = MAX_SESSIONS):
        self.limit = limit
        self._states: OrderedDict[str, tuple[int, Conversation]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, token: str) -> tuple[int, Conversation | None]:
        """``(version, state)`` of ``token``'s chat; ``(0, None)`` when unknown."""
        with self._lock:
            if token not in self._states:
                return 0, None
            self._states.move_to_end(token)
            return self._states[token]

    def put(self, token: str, version: int, state: Conversation) -> bool:
        """Store ``state`` if the chat is still at ``version`` (else nothing, False)."""
        with self._lock:
            if self._states.get(token, (0, None))[0] != version:
                return False
            self._states[token] = (version + 1, state)
            self._states.move_to_end(token)
            while len(self._states) > self.limit:
                self._states.popitem(last=False)
            return True


@serve.deployment
@serve.ingress()
class AssistantAPI:
    """The tools and the chat over ``index`` as FastAPI routes (schema at ``/docs``)."""

    def __init__(self, conversations: DeploymentHandle, index: str, planner: str = DEFAULT_PLANNER):
        self.res = resources(index, planner=planner)
        self.conversations = conversations

    def __serve_build_asgi_app__(self) -> FastAPI:
        site = FastAPI(title="Fashion shopping assistant", description=__doc__)
        for tool in api.tools(self.res):
            site.add_api_route(f"/{tool.__name__}", tool, methods=["GET"],
                               summary=tool.__doc__.splitlines()[0])
        site.add_api_route("/chat", self.chat, methods=["POST"],
                           summary="One turn of a conversation: the answer and its products")

        async def refused(request: Request, exc: gr.Error) -> JSONResponse:
            return JSONResponse({"detail": exc.message}, status_code=400)

        site.add_exception_handler(gr.Error, refused)
        replica = serve.get_replica_context().replica_id.unique_id

        @site.middleware("http")
        async def tag(request: Request, call_next):                     # noqa: ANN202
            response = await call_next(request)
            response.headers["X-Replica"] = replica      # which replica answered, for operators
            return response

        return site

    def chat(self, turn: ChatTurn) -> dict:
        """Answer ``turn`` in its conversation (a new one for a missing or unknown token); the
        answer carries the token to send with the next turn."""
        if not turn.message.strip():
            raise HTTPException(400, "message is empty")
        version, state = self.conversations.get.remote(turn.session or "").result()
        token = turn.session if state is not None else secrets.token_urlsafe(16)
        agent = self.res.agent()
        if state is not None:
            agent.state = state
        answer = agent.turn(turn.message).to_json()
        if not self.conversations.put.remote(token, version, agent.state).result():
            raise HTTPException(409, "another turn of this conversation was answered meanwhile: "
                                     "send the message again")
        return {"session": token, **answer, "products": [{**c, "evidence": api.plain_evidence(c["evidence"])}
                                                   for c in answer["products"]]}


def application(index: str, replicas: int = 2, cpus: float = 1.0, gpus: float = 0.0,
                planner: str = DEFAULT_PLANNER) -> Application:
    """The Serve application over ``index``: ``replicas`` API replicas of ``cpus`` CPUs and
    ``gpus`` GPUs each, and the conversation store."""
    return AssistantAPI.options(num_replicas=int(replicas), ray_actor_options={
        "num_cpus": float(cpus), "num_gpus": float(gpus)}).bind(
        Conversations.bind(), str(index), planner)


def build(args: dict) -> Application:
    """``serve run ui.serve:build index=DIR [replicas=N cpus=C gpus=G planner=P]`` (or the same
    as ``import_path`` and ``args`` of a Serve config file for ``serve deploy``)."""
    return application(**args)


def run(index: str | Path | None = None, host: str = "127.0.0.1", port: int = 8000,
        replicas: int = 2, cpus: float = 1.0, gpus: float = 0.0, planner: str = DEFAULT_PLANNER,
        address: str | None = None) -> None:
    """Serve the API on Ray (``address`` or ``FASHION_RAY_ADDRESS``, else a local Ray) over
    ``index`` (default: the demo index, built first if missing) until interrupted."""
    connect(address)
    serve.start(http_options={"host": host, "port": port})
    serve.run(application(index or ensure_demo_index(), replicas, cpus, gpus, planner),
              name="fashion-assistant", route_prefix="/")
    print(f"The assistant's API is at http://{host}:{port}/ ({replicas} replicas; routes and "
          f"schemas at /docs). Ctrl-C stops it.", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        serve.delete("fashion-assistant")
