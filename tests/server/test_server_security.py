"""Authentication, authorization, XSRF, methods, path confinement and error shape of the
nbgov REST API, against a real Jupyter server (pytest-jupyter)."""

from __future__ import annotations

import json
from http.cookies import SimpleCookie
from pathlib import Path

import pytest
from jupyter_server.auth.authorizer import Authorizer
from tornado.httpclient import HTTPClientError

from nbgov import __version__

ROUTES = ["info", "review", "pipeline", "diff", "task-context"]
ERROR_KEYS = {"error", "message", "where", "hint"}


@pytest.fixture
def raw_fetch(jp_serverapp, http_server_client, jp_base_url):
    """Fetch without the test token; returns the response even for an error status."""

    async def fetch(path: str, **kwargs):
        try:
            return await http_server_client.fetch(f"{jp_base_url}{path}", **kwargs)
        except HTTPClientError as exc:
            assert exc.response is not None, exc
            return exc.response

    return fetch


async def test_info_names_version_and_pipeline(api):
    status, body = await api("info")
    assert status == 200
    assert body["version"] == __version__
    assert body["root"] == "."
    assert body["pipeline"] == "pipeline.yaml"
    # a token-only server signs decisions as its owner: git's user in this repository
    assert body["reviewer"] == "Ada Author <ada@example.com>"


@pytest.mark.parametrize("route", ROUTES)
async def test_unauthenticated_get_is_403_json(route, raw_fetch):
    response = await raw_fetch(f"nbgov/api/{route}?path=notebooks/load.ipynb")
    assert response.code == 403
    body = json.loads(response.body)
    assert set(body) == ERROR_KEYS and body["message"]


async def test_unauthenticated_post_is_403(raw_fetch):
    response = await raw_fetch("nbgov/api/review", method="POST",
                               body=json.dumps({"path": "notebooks/load.ipynb",
                                                "decision": "approved"}))
    assert response.code == 403


async def _cookie_session(jp_fetch) -> dict[str, str]:
    """Log in once with the token and keep the cookies a browser would keep."""
    response = await jp_fetch("api", "status")
    jar = SimpleCookie()
    for header in response.headers.get_list("Set-Cookie"):
        jar.load(header)
    return {name: morsel.value for name, morsel in jar.items()}


async def test_cookie_session_post_without_xsrf_is_403(jp_fetch, raw_fetch, jp_root_dir):
    cookies = await _cookie_session(jp_fetch)
    login = [name for name in cookies if name.startswith("username-")]
    assert login, f"no login cookie in {sorted(cookies)}"
    cookie_header = "; ".join(f"{k}={v}" for k, v in cookies.items() if k != "_xsrf")
    body = json.dumps({"path": "notebooks/load.ipynb", "decision": "comment", "note": "ok"})
    refused = await raw_fetch("nbgov/api/review", method="POST",
                              body=body, headers={"Cookie": cookie_header})
    assert refused.code == 403
    assert "xsrf" in json.loads(refused.body)["message"].lower()
    assert not (jp_root_dir / ".nbgov" / "reviews.jsonl").exists()

    # the same session with the XSRF token gets past the check (GET of the session works too)
    xsrf = "0123456789abcdef"
    headers = {"Cookie": f"{cookie_header}; _xsrf={xsrf}", "X-XSRFToken": xsrf}
    reading = await raw_fetch("nbgov/api/info", headers=headers)
    assert reading.code == 200
    passed = await raw_fetch("nbgov/api/review", method="POST",
                             body=body, headers=headers)
    assert passed.code == 201, passed.body
    assert json.loads(passed.body)["last"]["note"] == "ok"


@pytest.mark.parametrize("route,method", [
    ("info", "POST"), ("pipeline", "POST"), ("diff", "POST"), ("task-context", "POST"),
    ("review", "PUT"), ("review", "DELETE"), ("review", "PATCH"),
])
async def test_methods_not_served_are_405(api, route, method):
    status, body = await api(route, method=method, params={"path": "notebooks/load.ipynb"},
                             body={"path": "notebooks/load.ipynb", "decision": "approved"})
    assert status == 405
    assert set(body) == ERROR_KEYS


async def test_get_review_never_records(api, jp_root_dir):
    """State changes by POST only: query arguments of a decision on GET are ignored."""
    status, body = await api("review", params={"path": "notebooks/load.ipynb", "decision": "approved",
                                               "note": "sneaky"})
    # answered as a plain read of the state: nothing decided, nothing written
    assert status == 200, body
    assert body["status"] == "unreviewed" and body["last"] is None and body["approved_version"] is None, body
    assert "sneaky" not in json.dumps(body)
    assert not (jp_root_dir / ".nbgov" / "reviews.jsonl").exists()


@pytest.fixture
def outside(tmp_path: Path, jp_root_dir: Path) -> Path:
    """A notebook outside the server root, and a symlink to it (and its folder) inside."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    secret = elsewhere / "secret.ipynb"
    secret.write_text((jp_root_dir / "notebooks" / "load.ipynb").read_text())
    (jp_root_dir / "notebooks" / "link.ipynb").symlink_to(secret)
    (jp_root_dir / "escape").symlink_to(elsewhere, target_is_directory=True)
    return secret


@pytest.mark.parametrize("route", ["review", "diff", "task-context"])
@pytest.mark.parametrize("bad", [
    "../elsewhere/secret.ipynb",
    "notebooks/../../elsewhere/secret.ipynb",
    "/etc/passwd",
    "notebooks/link.ipynb",
    "escape/secret.ipynb",
    "notebooks\\..\\..\\x.ipynb",
    ".nbgov/reviews.jsonl",
    "",
])
async def test_paths_outside_the_root_are_refused(api, outside, route, bad):
    status, body = await api(route, params={"path": bad})
    assert status == 400, body
    assert body["error"] == "PathRefusedError"
    assert str(outside.parent) not in json.dumps(body)


async def test_post_with_traversal_path_is_refused(api, outside, jp_root_dir):
    status, body = await api("review", method="POST",
                             body={"path": "../elsewhere/secret.ipynb", "decision": "approved"})
    assert status == 400 and body["error"] == "PathRefusedError"
    assert not (jp_root_dir / ".nbgov").exists()


async def test_missing_notebook_is_404(api):
    status, body = await api("review", params={"path": "notebooks/nope.ipynb"})
    assert status == 404
    assert body["error"] == "NotebookNotFoundError"
    assert body["where"]["path"] == "notebooks/nope.ipynb"


@pytest.mark.parametrize("body", [
    {"path": "notebooks/load.ipynb", "decision": "lgtm"},
    {"path": "notebooks/load.ipynb", "decision": "approved", "note": 3},
    {"decision": "approved"},
])
async def test_malformed_review_post_is_400(api, body, jp_root_dir):
    status, reply = await api("review", method="POST", body=body)
    assert status == 400, reply
    assert reply["message"]
    assert not (jp_root_dir / ".nbgov" / "reviews.jsonl").exists()


async def test_unexpected_error_is_json_500_without_traceback(api, monkeypatch):
    import nbgov.server.handlers as handlers

    def broken(*args, **kwargs):
        raise RuntimeError("internal detail /secret/path")

    monkeypatch.setattr(handlers, "project_config", broken)
    status, body = await api("info")
    assert status == 500
    assert body["error"] == "InternalError"
    text = json.dumps(body)
    assert "secret" not in text and "Traceback" not in text


class DenyNbgov(Authorizer):
    """Allows everything but the nbgov resource."""

    def is_authorized(self, handler, user, action, resource):
        return resource != "nbgov"


@pytest.fixture
def denying_config(jp_server_config):
    jp_server_config["ServerApp"]["authorizer_class"] = DenyNbgov
    return jp_server_config


#: the workbench's routes (nbgov.server.routes): each method they serve
WORKBENCH = [("plan", "POST"), ("runs", "GET"), ("compare", "GET"), ("build", "GET"),
             ("build", "POST"), ("build/cancel", "POST")]


@pytest.mark.parametrize("route,method", WORKBENCH)
async def test_workbench_routes_refuse_requests_without_a_token(route, method, raw_fetch, jp_root_dir):
    response = await raw_fetch(f"nbgov/api/{route}?task=load&a=x&b=y", method=method,
                               body="{}" if method == "POST" else None)
    assert response.code == 403
    assert set(json.loads(response.body)) == ERROR_KEYS
    assert not (jp_root_dir / ".nbgov").exists() and not (jp_root_dir / "products").exists()


@pytest.mark.parametrize("route,method", [(r, "GET") for r in ROUTES] + [("review", "POST")] + WORKBENCH)
async def test_denying_authorizer_is_403(denying_config, api, jp_fetch, route, method,
                                         jp_root_dir):
    status, body = await api(route, method=method,
                             params={"path": "notebooks/load.ipynb", "task": "load", "a": "x", "b": "y"},
                             body={"path": "notebooks/load.ipynb", "decision": "approved"})
    assert status == 403
    assert "nbgov" in body["message"]
    assert not (jp_root_dir / ".nbgov").exists()
    # the rest of the server is still served: the refusal is about the nbgov resource
    contents = await jp_fetch("api", "contents", "notebooks")
    assert contents.code == 200
