"""The duty-room web console: static pages served by the API server itself.

Everything the console shows comes from the REST API with the officer's own token, so the
server's region scoping is the only thing deciding what a browser may see. No build step,
no external resource: the files under ``static/`` are the whole front end.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

from server.workflow import STATES, TRANSITIONS

PREFIX = "/console"
STATIC = Path(str(resources.files(__package__) / "static"))

# The page may talk to its own origin only; a stray external reference fails loudly in the
# browser instead of silently depending on the internet from a duty room.
HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


def workflow_document() -> dict[str, object]:
    """The workflow as the server enforces it, so the buttons never drift from the rules."""
    return {
        "states": list(STATES),
        "actions": {
            action: {"from": sorted(allowed), "to": target}
            for action, (allowed, target) in TRANSITIONS.items()
        },
    }


def mount_console(app: FastAPI) -> None:
    """Serve the console at ``/console/`` (``/`` redirects there) with its assets."""
    page = (STATIC / "index.html").read_text(encoding="utf-8")
    workflow = workflow_document()

    async def root() -> RedirectResponse:
        return RedirectResponse(PREFIX + "/", status_code=307)

    async def index() -> HTMLResponse:
        return HTMLResponse(page, headers=HEADERS)

    async def workflow_json() -> JSONResponse:
        return JSONResponse(workflow, headers={"Cache-Control": "no-cache"})

    app.add_api_route("/", root, methods=["GET"], include_in_schema=False)
    app.add_api_route(PREFIX, root, methods=["GET"], include_in_schema=False)
    app.add_api_route(PREFIX + "/", index, methods=["GET"], include_in_schema=False)
    app.add_api_route(PREFIX + "/workflow.json", workflow_json, methods=["GET"], include_in_schema=False)
    app.mount(PREFIX + "/static", StaticFiles(directory=STATIC), name="console-static")


__all__ = ["mount_console", "workflow_document"]
