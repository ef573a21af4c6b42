"""The console's routes and files, without a browser: what is served, and that it stays self-contained."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from fastapi import FastAPI

from server.console import STATIC, mount_console, workflow_document
from server.workflow import STATES, TRANSITIONS
from tests.server.srv_support import TestClient

ASSETS = ["console.js", "i18n.js", "console.css"]


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
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}", text, re.I), path.name
        assert "@import" not in text and "url(" not in text, path.name


def _dictionary_keys() -> dict[str, set[str]]:
    text = (STATIC / "i18n.js").read_text(encoding="utf-8")
    zh, en = text.split('"en": {')
    keys = re.compile(r'^\s+"([a-z_.]+)":', re.M)
    return {"zh-CN": set(keys.findall(zh)) - {"zh-CN"}, "en": set(keys.findall(en))}


def test_both_languages_have_every_string() -> None:
    keys = _dictionary_keys()
    assert keys["zh-CN"] == keys["en"]
    used: set[str] = set()
    for name in ("console.js", "index.html"):
        text = (STATIC / name).read_text(encoding="utf-8")
        used |= set(re.findall(r'\bt\("([a-z_]+(?:\.[a-z_]+)+)"', text))
        used |= set(re.findall(r'data-i18n="([a-z_.]+)"', text))
    assert used - keys["en"] == set()
    # Every state and action the server knows has a label in both languages.
    for state in STATES:
        assert "state." + state in keys["en"]
    for action in TRANSITIONS:
        assert "action." + action in keys["en"]
    for colour in ("none", "green", "yellow", "red"):
        assert "deadline." + colour in keys["en"]


def test_scripts_parse() -> None:
    node = subprocess.run(["node", "--version"], capture_output=True, text=True)
    assert node.returncode == 0, "node is needed to check the console scripts"
    for name in ("console.js", "i18n.js"):
        check = subprocess.run(["node", "--check", str(Path(STATIC / name))], capture_output=True, text=True)
        assert check.returncode == 0, check.stderr
