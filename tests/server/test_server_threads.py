"""``nbgov/api/threads`` against a real Jupyter server: list, open, reply, resolve; the same
rules as every route (authenticated, XSRF on POST, paths confined, no state change on GET)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tornado.httpclient import HTTPClientError

NB = "notebooks/load.ipynb"


async def test_open_reply_resolve_and_list(api, jp_root_dir: Path) -> None:
    status, body = await api("threads", params={"path": NB})
    assert (status, body) == (200, {"path": NB, "threads": []})
    assert not (jp_root_dir / ".nbgov" / "reviews.jsonl").exists()  # a GET writes nothing

    status, th = await api("threads", method="POST",
                           body={"action": "comment", "path": NB, "cell": "c1", "text": "<b>why</b>?"})
    assert status == 201, th
    ada = "Ada Author <ada@example.com>"  # a token-only server records as its owner
    assert (th["notebook"], th["cell"], th["resolved"], th["author"]) == (NB, "c1", False, ada)
    status, _ = await api("threads", method="POST", body={"action": "reply", "path": NB, "thread": th["id"],
                                                          "text": "ok"})
    assert status == 201
    status, done = await api("threads", method="POST", body={"action": "resolve", "path": NB, "thread": th["id"]})
    assert status == 201 and done["resolved"] and done["resolved_by"] == ada
    status, body = await api("threads", params={"path": NB})
    assert [c["text"] for c in body["threads"][0]["comments"]] == ["<b>why</b>?", "ok"]

    # a thread of another notebook cannot be answered through this one
    status, body = await api("threads", method="POST", body={"action": "reply", "path": "notebooks/train.ipynb",
                                                             "thread": th["id"], "text": "x"})
    assert status == 404 and set(body) == {"error", "message", "where", "hint"}


@pytest.mark.parametrize("body,why", [
    ({"action": "comment", "path": NB, "cell": "nope", "text": "x"}, "no cell with id 'nope'"),
    ({"action": "delete", "path": NB}, "action must be one of"),
    ({"action": "comment", "path": "../x.ipynb", "cell": "c1", "text": "x"}, ""),
    ({"action": "reply", "path": NB, "text": "x"}, "thread is required"),
])
async def test_bad_requests_are_json_4xx(api, body, why) -> None:
    status, reply = await api("threads", method="POST", body=body)
    assert 400 <= status < 500 and why in reply["message"]
    assert "Traceback" not in json.dumps(reply) and "/tmp" not in json.dumps(reply)


async def test_unauthenticated_is_refused(jp_fetch, http_server_client, jp_base_url) -> None:
    for method, body in (("GET", None), ("POST", json.dumps({"action": "comment", "path": NB, "cell": "c1",
                                                             "text": "x"}))):
        with pytest.raises(HTTPClientError) as refused:
            await http_server_client.fetch(f"{jp_base_url}nbgov/api/threads?path={NB}", method=method, body=body)
        assert refused.value.code == 403
