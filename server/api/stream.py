"""``GET /api/v1/stream``: case changes pushed to a console as server-sent events, in its scope.

Events: ``case`` (a case as the board lists it; id ``<instance>-<seq>``), ``gone`` (a case the
console had moved out of its scope), ``ready`` (after any replay: ``resync`` says whether to
re-read the board), ``feed`` (the server's duty feed stopped or came back; re-read the board when
it comes back). The token goes in the ``Authorization`` header like every call; the stream ends
when the token expires or the user is disabled or moved, and the console reconnects.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Header, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials
from sse_starlette import EventSourceResponse

from server.api.deps import ScopeDep, ServicesDep, current_scope
from server.api.errors import ERRORS
from server.errors import ServerError
from server.live import LiveHub, Subscriber, ready_frame
from server.scope import Scope
from server.services import Services

log = logging.getLogger(__name__)
router = APIRouter(tags=["stream"])

RECHECK = 30.0  # seconds between checks that the token and the user still hold
PING = 15  # seconds between keep-alive comments (proxies close quiet connections)


async def _still_allowed(svc: Services, token: str, scope: Scope) -> bool:
    cred = HTTPAuthorizationCredentials(scheme="Bearer", credentials=token)
    try:
        now = await run_in_threadpool(current_scope, svc, cred)
    except ServerError:
        return False
    return now == scope


async def _watch(svc: Services, token: str, scope: Scope, sub: Subscriber) -> None:
    """Ends the stream (a None in its queue) once the token or the user no longer holds."""
    while True:
        await asyncio.sleep(RECHECK)
        if not await _still_allowed(svc, token, scope):
            log.info("live push: %s no longer allowed, stream closed", scope.username)
            sub.put(None)
            return


async def _frames(
    hub: LiveHub, svc: Services, token: str, scope: Scope, last_event_id: str | None
) -> AsyncIterator[bytes]:
    sub, replay, resync = hub.subscribe(scope, last_event_id)
    watcher = asyncio.create_task(_watch(svc, token, scope, sub))
    log.info("live push: %s connected (%d consoles)", scope.username, hub.subscribers)
    try:
        yield b"".join([*replay, ready_frame(resync, hub.live, hub.epoch)])
        while True:
            item = await sub.queue.get()
            # Frames that queued up meanwhile go out in one write.
            batch: list[bytes] = []
            while item is not None:
                batch.append(item)
                if sub.queue.empty():
                    break
                item = sub.queue.get_nowait()
            if batch:
                yield b"".join(batch)
            if item is None:
                return
    finally:
        watcher.cancel()
        hub.unsubscribe(sub)


@router.get(
    "/stream",
    response_class=EventSourceResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "server-sent events"}, **ERRORS},
    summary="Case changes in your region subtree, pushed as server-sent events",
)
async def stream(
    request: Request,
    svc: ServicesDep,
    scope: ScopeDep,
    last_event_id: Annotated[str | None, Header(description="the id of the last event received")] = None,
) -> EventSourceResponse:
    hub: LiveHub = request.app.state.live
    token = request.headers["authorization"].partition(" ")[2]
    return EventSourceResponse(_frames(hub, svc, token, scope, last_event_id), ping=PING)
