"""R5: a product that leads outside the project through a symbolic link is never uploaded.

The attack (round 6, #24): a pull request commits ``products/plots -> ~/.ssh`` where a reviewed
folder product lives; the task writes into it and the upload sent every file there (a private
key) to MLflow. The build now flags such a product ``withheld`` (the sender names it, uploads
nothing of it), and a governed build refuses a committed link of that kind before any task runs.
In process: the flagging, the sender's choice and the gate, on a real git repo.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from nbgov.adapters.ploomber import TaskInfo
from nbgov.core.config import load_config
from nbgov.core.errors import GateError
from nbgov.core.journal import Journal
from nbgov.core.redact import REDACTED
from nbgov.core.redact_known import KnownSecrets
from nbgov.services.build.gate import refuse_linked_products
from nbgov.services.recording.confined import LINK, LINK_INSIDE, OUTSIDE, PROJECT, flag_outside_products
from nbgov.services.recording.masking import flag_secret_names
from nbgov.services.recording.sender import Sender, SendState


@pytest.fixture
def project(tmp_path: Path) -> tuple[Path, Path]:
    """A project (a git repo) and a folder outside it holding a key."""
    outside = tmp_path / "home-ssh"
    outside.mkdir()
    (outside / "id_ed25519").write_text("fake-key-material")
    root = tmp_path / "project"
    (root / "products/inside").mkdir(parents=True)
    (root / "nbgov.toml").write_text('pipeline = "pipeline.yaml"\n')
    (root / "pipeline.yaml").write_text("tasks: []\n")
    (root / "products/a.ipynb").write_text("{}")
    (root / "products/inside/fig.txt").write_text("a plot")
    (root / "products/plots").symlink_to(outside)  # the committed link
    (root / "products/mixed").mkdir()
    (root / "products/mixed/ok.txt").write_text("fine")
    (root / "products/mixed/key").symlink_to(outside / "id_ed25519")  # a link inside a folder product
    (root / "products/alias").symlink_to(root / "products/inside")  # stays inside: followed as before
    return root, outside


def test_products_leading_outside_are_withheld_and_named_by_the_sender(project):
    root, _ = project
    items = [{"path": f"products/{n}", "dir": "products"} for n in ("plots", "mixed", "alias", "inside")]
    payload = {"artifacts": [*items, {"path": "products/a.ipynb", "dir": "notebook"}]}
    flagged = flag_outside_products(payload, root)
    assert [p for p, _ in flagged] == ["products/plots", "products/mixed"]
    mixed = f"{LINK_INSIDE} ({root / 'products/mixed/key'})"
    assert flagged[1][1] == mixed
    assert [i.get("withheld_why") for i in items] == [OUTSIDE, mixed, None, None]
    sender = Sender(tracker=None, root=root)  # type: ignore[arg-type]  # (no store is asked)
    out, changed = sender._artifacts(SendState(Journal(root / ".journal", "b1")), {"seq": 1, "artifacts": items})
    assert out == [(root / "products/alias/fig.txt", "products"), (root / "products/inside/fig.txt", "products")]
    assert changed == [f"products/plots (withheld: {OUTSIDE})", f"products/mixed (withheld: {mixed})"]


def _git(root: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=A", "-c", "user.email=a@example.com", *args], cwd=root,
                   check=True, capture_output=True)


def test_a_governed_build_refuses_a_committed_product_link_leading_outside(project):
    root, outside = project
    _git(root, "init", "-q")
    _git(root, "add", "nbgov.toml", "pipeline.yaml")
    _git(root, "commit", "-qm", "base")
    config = load_config(root)
    task = TaskInfo(name="a", source=root / "a.ipynb", upstream=[], params={},
                    products={"nb": root / "products/a.ipynb", "plots": root / "products/plots/figs"})
    refuse_linked_products(config, [task])  # the link is not committed: the runner's own, not refused
    _git(root, "add", "-f", "products/plots")
    _git(root, "commit", "-qm", "add link")
    with pytest.raises(GateError) as err:
        refuse_linked_products(config, [task])
    assert "task a: its product 'plots'" in str(err.value) and "products/plots" in str(err.value)
    assert str(outside.resolve()) in str(err.value)
    inside = TaskInfo(name="b", source=root / "b.ipynb", upstream=[], params={},
                      products={"data": root / "products/alias/fig.txt"})
    _git(root, "add", "-f", "products/alias")
    _git(root, "commit", "-qm", "an inside link")
    refuse_linked_products(config, [inside])  # a committed link that stays inside: fine
    (root / ".env").write_text("AWS_SECRET_ACCESS_KEY=SECRET\n")
    (root / "products/x.csv").symlink_to("../.env")  # a product that is itself a link, inside
    linked = TaskInfo(name="c", source=root / "c.ipynb", upstream=[], params={},
                      products={"data": root / "products/x.csv"})
    refuse_linked_products(config, [linked])  # not committed: the runner's own
    _git(root, "add", "-f", "products/x.csv")
    _git(root, "commit", "-qm", "a product link")
    with pytest.raises(GateError) as err:
        refuse_linked_products(config, [linked])
    assert "task c: its product 'data' is products/x.csv, a committed symbolic link (to ../.env)" in str(err.value)
    (root / ".git/hooks").mkdir(parents=True, exist_ok=True)
    (root / "out").symlink_to(".git")  # eighth round: a committed link into git's folder
    hook = TaskInfo(name="d", source=root / "d.ipynb", upstream=[], params={},
                    products={"hook": root / "out/hooks/post-checkout"})
    refuse_linked_products(config, [hook])  # not committed
    _git(root, "add", "-f", "out")
    _git(root, "commit", "-qm", "a link into .git")
    with pytest.raises(GateError) as err:
        refuse_linked_products(config, [hook])
    assert "lies where out, a committed symbolic link, leads" in str(err.value)
    assert "into git's or nbgov's folder" in str(err.value)


def test_no_link_inside_a_folder_product_is_followed_and_git_is_never_uploaded(project):
    """Round 7, #07: links that stay inside the project (to the build machine's untracked
    ``.env``, to ``.git/config`` holding a CI token, to the project folder itself) were followed
    by the folder's upload. Each link is named and withheld; the folder's regular files go."""
    root, _ = project
    (root / ".git").mkdir()
    (root / ".git/config").write_text("url = https://ci-token:SECRET@example.com")
    (root / ".env").write_text("AWS_SECRET_ACCESS_KEY=SECRET")
    plots = root / "products/figs"
    (plots / "sub/.git").mkdir(parents=True)
    (plots / "fig.txt").write_text("chart")
    (plots / "sub/deep.txt").write_text("more")
    (plots / "sub/.git/config").write_text("SECRET")
    (plots / "zz-env").symlink_to("../../.env")
    (plots / "zz-gitcfg").symlink_to("../../.git/config")
    (plots / "sub/all").symlink_to("../../..")
    (root / "products/top").symlink_to("..")  # a folder product that is the project folder
    (root / "products/git").symlink_to("../.git")
    item = {"path": "products/figs", "dir": "products"}
    items = [item, *({"path": f"products/{n}", "dir": "products"} for n in ("top", "git"))]
    flagged = flag_outside_products({"artifacts": items}, root)
    links = ["products/figs/sub/all", "products/figs/zz-env", "products/figs/zz-gitcfg"]
    assert flagged == [*((p, LINK) for p in links), ("products/top", PROJECT), ("products/git", PROJECT)]
    assert "withheld" not in item and items[1]["withheld"] and items[2]["withheld"]
    sender = Sender(tracker=None, root=root)  # type: ignore[arg-type]
    out, changed = sender._artifacts(SendState(Journal(root / ".journal", "b1")), {"seq": 1, "artifacts": items})
    assert out == [(plots / "fig.txt", "products"), (plots / "sub/deep.txt", "products/sub")]
    assert changed == [*(f"{p} (withheld: a symbolic link)" for p in links),
                       f"products/top (withheld: {PROJECT})", f"products/git (withheld: {PROJECT})"]


def test_a_folder_product_with_a_known_secret_in_a_file_name_is_withheld_named_masked(project):
    """R5, round 7 #18: a known secret used in a file's name inside a folder product reached the
    store as an artifact path. The folder is withheld (as when a file's content holds one), the
    file named with the value masked; the sender sends nothing of it."""
    root, _ = project
    secret = "tok-9f8e7d6c5b4aQQ"
    cache = root / "products/cache"
    (cache / "sub").mkdir(parents=True)
    (cache / "ok.json").write_text("{}")
    (cache / f"sub/resp-{secret}.json").write_text("{}")
    known = KnownSecrets()
    known.add_params({"api_token": secret})
    items = [{"path": "products/cache", "dir": "products"}, {"path": "products/inside", "dir": "products"}]
    flagged = flag_secret_names({"artifacts": items}, root, known)
    why = f"a file name in it holds a secret parameter's value (products/cache/sub/resp-{REDACTED}.json)"
    assert flagged == [("products/cache", why)] and items[0]["withheld"] and "withheld" not in items[1]
    assert flag_secret_names({"artifacts": [{"path": "products/cache", "dir": "products"}]}, root,
                             KnownSecrets()) == []  # ([tracking] secrets = "allow": no known secrets)
    sender = Sender(tracker=None, root=root)  # type: ignore[arg-type]
    out, changed = sender._artifacts(SendState(Journal(root / ".journal", "b1")), {"seq": 1, "artifacts": items})
    assert out == [(root / "products/inside/fig.txt", "products")]
    assert changed == [f"products/cache (withheld: {why})"] and secret not in repr((out, changed))
