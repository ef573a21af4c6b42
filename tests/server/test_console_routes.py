"""The console's routes and files, without a browser: what is served, and that it stays self-contained."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
from fastapi import FastAPI

from protocol.kinds import Kind
from server.console import STATIC, mount_console, workflow_document
from server.labels import LABELS
from server.workflow import STATES, TRANSITIONS
from tests.server.srv_support import TestClient

ASSETS = ["console.js", "live.js", "map.js", "stats.js", "i18n.js", "console.css"]


@pytest.fixture
def client() -> TestClient:
    # Only the console's own routes: no lifespan, no database, no broker.
    app = FastAPI()
    mount_console(app)
    return TestClient(app)


def test_root_and_bare_prefix_redirect_to_the_console(client: TestClient) -> None:
    for path in ("/", "/console"):
        resp = client.get(path, follow_redirects=False)
        assert (resp.status_code, resp.headers["location"]) == (307, "/console/")


def test_page_is_served_with_a_self_only_content_policy(client: TestClient) -> None:
    resp = client.get("/console/")
    assert resp.status_code == 200
    assert resp.headers["content-type"] == "text/html; charset=utf-8"
    csp = resp.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "script-src 'self'" in csp
    assert '<html lang="zh-CN">' in resp.text
    for asset in ASSETS:
        assert "/console/static/%s" % asset in resp.text


@pytest.mark.parametrize("asset", ASSETS)
def test_assets_are_served(client: TestClient, asset: str) -> None:
    resp = client.get("/console/static/%s" % asset)
    assert resp.status_code == 200
    assert resp.content == (STATIC / asset).read_bytes()


def test_unknown_asset_is_404(client: TestClient) -> None:
    assert client.get("/console/static/nothing.js").status_code == 404
    assert client.get("/console/static/../__init__.py").status_code == 404


def test_workflow_document_is_the_servers_own(client: TestClient) -> None:
    doc = client.get("/console/workflow.json").json()
    assert doc == workflow_document()
    assert doc["states"] == list(STATES)
    assert set(doc["actions"]) == set(TRANSITIONS)
    assert doc["actions"]["accept"] == {"from": ["new"], "to": "accepted"}
    assert doc["actions"]["comment"]["to"] is None


def test_no_file_refers_to_anything_outside_the_server() -> None:
    for path in STATIC.iterdir():
        # The SVG namespace is a name the browser compares, never a place it fetches from.
        text = path.read_text(encoding="utf-8").replace('"http://www.w3.org/2000/svg"', "")
        assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}", text, re.I), path.name
        assert "@import" not in text and "url(" not in text, path.name


def _dictionaries() -> dict[str, dict[str, str]]:
    """The two dictionaries of i18n.js, read by node (the file is plain JavaScript)."""
    script = "globalThis.window = {}; require(%r); console.log(JSON.stringify(window.SW_I18N))" % str(
        STATIC / "i18n.js"
    )
    out = subprocess.run(["node", "-e", script], capture_output=True, text=True, check=True)
    dictionaries: dict[str, dict[str, str]] = json.loads(out.stdout)
    return dictionaries


def _plain(keys: set[str]) -> set[str]:
    """Plural forms (``key.one``, ``key.other``) as the key the code asks for."""
    return {k.removesuffix(".one").removesuffix(".other") for k in keys}


def test_both_languages_have_every_string() -> None:
    dicts = _dictionaries()
    zh, en = set(dicts["zh-CN"]), set(dicts["en"])
    # Chinese has one plural form, English two: compare the keys the code asks for.
    assert _plain(zh) == _plain(en)
    assert all(k.removesuffix(".one") + ".other" in zh for k in en if k.endswith(".one"))
    used: set[str] = set()
    plural: set[str] = set()
    for path in [*STATIC.glob("*.js"), STATIC / "index.html"]:
        text = path.read_text(encoding="utf-8")
        used |= set(re.findall(r'\bt\("([a-z_]+(?:\.[a-z_]+)+)"', text))
        plural |= set(re.findall(r'\btn\("([a-z_]+(?:\.[a-z_]+)+)"', text))
        used |= set(re.findall(r'data-i18n(?:-label)?="([a-z_.]+)"', text))
    assert used - en == set()
    assert {k + ".other" for k in plural} - en == set()
    assert {k + ".other" for k in plural} - zh == set()
    # Every state, action (those people take and those the system records), kind and alarm
    # class that can reach the screen has a label in both languages.
    tokens = ["state." + s for s in STATES]
    tokens += ["action." + a for a in (*TRANSITIONS, "open", "escalate", "command_result")]
    tokens += ["kind." + k.value for k in Kind] + ["kind.gateway_offline"]
    tokens += ["deadline." + c for c in ("none", "green", "yellow", "red")]
    for lang in (zh, en):
        assert set(tokens) - lang == set()


def test_the_servers_words_are_the_consoles() -> None:
    """Exports and CAP documents use server/labels.py; they must say what the screen says."""
    dicts = _dictionaries()
    for lang, words in LABELS.items():
        assert {k: dicts[lang][k] for k in words} == words


def test_cancel_and_the_two_assignee_fields_cannot_be_mistaken() -> None:
    dicts = _dictionaries()
    for lang in ("zh-CN", "en"):
        d = dicts[lang]
        assert d["action.cancel"] not in (d["detail.close"], d["logout"])
        assert len({d["detail.assignee"], d["field.assignee"], d["field.co_handler"]}) == 3
    assert dicts["en"]["action.cancel"] == "Withdraw case"


def test_scripts_parse() -> None:
    node = subprocess.run(["node", "--version"], capture_output=True, text=True)
    assert node.returncode == 0, "node is needed to check the console scripts"
    for name in ("console.js", "live.js", "map.js", "stats.js", "i18n.js"):
        check = subprocess.run(["node", "--check", str(Path(STATIC / name))], capture_output=True, text=True)
        assert check.returncode == 0, check.stderr
