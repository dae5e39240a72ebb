"""Warm kernels forked from a template (nbgov.adapters.kernels), with real kernels and processes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

KERNEL = {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
          "language_info": {"name": "python"}}

PROBE = textwrap.dedent("""\
    import os, sys, json
    import numpy as np
    print(json.dumps({"pid": os.getpid(), "ppid": os.getppid(), "pgid": os.getpgid(0), "cwd": os.getcwd(),
                      "argv0": os.path.basename(sys.argv[0]), "argv": sys.argv[1:], "path": sys.path,
                      "env": os.environ.get("NBGOV_PROBE"), "fresh": "seen" not in globals(),
                      "numpy_preloaded_names": [k for k in globals() if k == "pandas"],
                      "draw": np.random.rand(), "mpl": os.environ.get("MPLBACKEND")}))
    seen = True
""")


def _notebook(path: Path, *sources: str) -> Path:
    cells = [{"cell_type": "code", "id": f"c{i}", "metadata": {}, "source": src, "outputs": [],
              "execution_count": None} for i, src in enumerate(sources)]
    path.write_text(json.dumps({"cells": cells, "metadata": KERNEL, "nbformat": 4, "nbformat_minor": 5}))
    return path


def _run(nb: Path, cwd: Path, **kwargs):
    import papermill as pm

    return pm.execute_notebook(str(nb), str(nb.with_suffix(".out.ipynb")), cwd=str(cwd), progress_bar=False,
                               log_output=False, **kwargs)


def _out(nb) -> dict:
    return json.loads(nb.cells[0].outputs[0]["text"])


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split()[2] == "Z")


def _gone(pid: int, within: float = 15) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.05)
    return False


@pytest.fixture
def template(tmp_path):
    from nbgov.adapters.kernels.template import start_template, stop_template

    tpl = start_template(tmp_path, [], ["numpy.random", "json"])
    assert tpl is not None
    assert tpl.wait_preloaded()["preloaded"] == ["ipykernel.kernelapp", "ipykernel.ipkernel", "numpy.random", "json"]
    yield tpl
    pid = tpl.process.pid
    stop_template()
    assert _gone(pid), "the template outlived stop_template()"


def test_each_task_gets_a_fresh_forked_kernel_with_its_own_pid_cwd_env_and_argv(tmp_path, template, monkeypatch):
    from nbgov.adapters.kernels.pool import warm_kernels

    nb = _notebook(tmp_path / "probe.ipynb", PROBE)
    runs = []
    with warm_kernels():
        for i in range(2):
            folder = tmp_path / f"task{i}"
            folder.mkdir()
            monkeypatch.setenv("NBGOV_PROBE", f"value-{i}")
            runs.append((folder, _out(_run(nb, folder))))
    monkeypatch.setenv("NBGOV_PROBE", "plain")
    monkeypatch.setenv("NBGOV_WARM_KERNELS", "0")
    plain = _out(_run(nb, tmp_path / "task0"))  # no warm_kernels(): jupyter_client's own start

    pids = set()
    for i, (folder, probe) in enumerate(runs):
        assert probe["ppid"] == template.process.pid  # forked from the template...
        assert probe["pgid"] == probe["pid"]  # ...in a process group of its own
        assert probe["fresh"] and not probe["numpy_preloaded_names"]  # preloaded, not imported into the namespace
        assert probe["cwd"] == str(folder)
        assert probe["env"] == f"value-{i}"
        assert probe["argv0"] == plain["argv0"] == "ipykernel_launcher.py"
        assert probe["argv"][0] == "-f" and probe["argv"][2:] == plain["argv"][2:]
        assert probe["path"] == plain["path"]  # same import path as a kernel started from nothing
        assert probe["mpl"] == plain["mpl"]
        pids.add(probe["pid"])
    assert len(pids) == 2 and plain["pid"] not in pids
    assert runs[0][1]["draw"] != runs[1][1]["draw"], "forked kernels share numpy's random state"
    assert template.info["preloaded"][:2] == ["ipykernel.kernelapp", "ipykernel.ipkernel"]
    for _, probe in runs:
        assert _gone(probe["pid"]), "a task's kernel outlived its task"


def test_seeded_draws_are_identical_with_and_without_the_template(tmp_path, template, monkeypatch):
    from nbgov.adapters.kernels.pool import warm_kernels

    nb = _notebook(tmp_path / "seeded.ipynb", "import numpy as np, random\nnp.random.seed(7)\nrandom.seed(7)\n"
                                              "print([np.random.rand(), random.random()])")
    with warm_kernels():
        forked = [_run(nb, tmp_path).cells[0].outputs[0]["text"] for _ in range(2)]
    monkeypatch.setenv("NBGOV_WARM_KERNELS", "0")
    plain = _run(nb, tmp_path).cells[0].outputs[0]["text"]
    assert forked[0] == forked[1] == plain


def test_cell_timeout_and_dead_kernel_fail_as_with_a_normal_kernel(tmp_path, template):
    from nbgov.adapters.kernels.pool import kernel_pool

    slow = _notebook(tmp_path / "slow.ipynb", "import time\ntime.sleep(60)")
    dead = _notebook(tmp_path / "dead.ipynb", "import os\nos._exit(1)")
    errors = {}
    for mode in ("warm", "plain"):
        block = kernel_pool() if mode == "warm" else _nothing()
        with block:
            started = time.monotonic()
            with pytest.raises(Exception) as timeout:
                _run(slow, tmp_path, execution_timeout=2)
            assert time.monotonic() - started < 30
            with pytest.raises(Exception) as died:
                _run(dead, tmp_path)
        errors[mode] = (type(timeout.value).__name__, type(died.value).__name__)
    assert errors["warm"] == errors["plain"] == ("CellTimeoutError", "DeadKernelError")


class _nothing:
    def __enter__(self):
        os.environ["NBGOV_WARM_KERNELS"] = "0"

    def __exit__(self, *exc):
        os.environ.pop("NBGOV_WARM_KERNELS", None)


def test_interrupt_reaches_a_forked_kernel(tmp_path, template):
    from jupyter_client.manager import KernelManager

    from nbgov.adapters.kernels.pool import warm_kernels

    with warm_kernels():
        km = KernelManager(kernel_name="python3")
        km.start_kernel(cwd=str(tmp_path))
    try:
        assert km.provisioner.forked
        kc = km.client()
        kc.start_channels()
        kc.wait_for_ready(timeout=60)
        msg_id = kc.execute("import time\ntime.sleep(60)")
        time.sleep(1.5)
        km.interrupt_kernel()
        reply = kc.get_shell_msg(timeout=20)
        while reply["parent_header"].get("msg_id") != msg_id:  # kernel_info's reply came first
            reply = kc.get_shell_msg(timeout=20)
        assert reply["content"]["status"] == "error" and reply["content"]["ename"] == "KeyboardInterrupt"
        # the kernel lives on after the interrupt
        kc.execute_interactive("x = 1", timeout=20)
        assert km.is_alive()
        kc.stop_channels()
    finally:
        pid = km.provisioner.pid
        km.shutdown_kernel(now=True)
    assert _gone(pid)


def test_falls_back_to_a_normal_kernel_and_says_so_once(tmp_path, template, monkeypatch, capfd):
    from jupyter_client.manager import KernelManager

    from nbgov.adapters.kernels import template as tmod
    from nbgov.adapters.kernels.pool import warm_kernels

    monkeypatch.setattr(tmod, "_said", set())
    # another environment's interpreter, another language: refused by the template
    assert "another environment" in template.refusal(["/usr/bin/python3", "-m", "ipykernel_launcher"], {}, "python")
    assert "R kernel" in template.refusal(["R", "--slave"], {}, "R")
    # an import-time variable that differs from the template's: a normal kernel
    monkeypatch.setenv("PYTHONHASHSEED", "123")
    started = []
    with warm_kernels():
        for _ in range(2):
            km = KernelManager(kernel_name="python3")
            km.start_kernel(cwd=str(tmp_path))
            started.append(km)
    # a template that died: a normal kernel again
    monkeypatch.delenv("PYTHONHASHSEED")
    template.process.kill()
    template.process.wait()
    with warm_kernels():
        km = KernelManager(kernel_name="python3")
        km.start_kernel(cwd=str(tmp_path))
        started.append(km)
    try:
        for km in started:
            assert not km.provisioner.forked
            kc = km.client()
            kc.start_channels()
            kc.wait_for_ready(timeout=60)
            kc.stop_channels()
    finally:
        for km in started:
            km.shutdown_kernel(now=True)
    err = capfd.readouterr().err
    assert err.count("environment differs from the template's (PYTHONHASHSEED)") == 1
    assert err.count("the template process ended") == 1


def test_a_module_that_starts_a_thread_at_import_is_refused(tmp_path, monkeypatch):
    from jupyter_client.manager import KernelManager

    from nbgov.adapters.kernels.pool import warm_kernels
    from nbgov.adapters.kernels.template import start_template, stop_template

    lib = tmp_path / "lib"
    lib.mkdir()
    (lib / "threadmod.py").write_text("import threading, time\n"
                                      "threading.Thread(target=time.sleep, args=(600,), daemon=True).start()\n")
    (lib / "quietmod.py").write_text("VALUE = 1\n")
    monkeypatch.setenv("PYTHONPATH", str(lib))
    project = tmp_path / "project"
    project.mkdir()
    nb = _notebook(project / "t.ipynb", "import threadmod, quietmod, torch")
    tpl = start_template(project, [nb], True)
    try:
        with warm_kernels():
            km = KernelManager(kernel_name="python3")
            km.start_kernel(cwd=str(project))
        try:
            assert km.provisioner.forked
        finally:
            km.shutdown_kernel(now=True)
        status = tpl.wait_preloaded()
        assert status["refused"]["threadmod"] == "starts a thread at import"
        assert status["refused"]["torch"] == "not fork-safe"
        assert "quietmod" in status["preloaded"] and "threadmod" not in status["preloaded"]
        assert status["done"]
    finally:
        stop_template()


def test_no_template_or_kernel_outlives_a_killed_build(tmp_path):
    script = tmp_path / "build.py"
    script.write_text(textwrap.dedent(f"""\
        import os, sys, time
        from jupyter_client.manager import KernelManager
        from nbgov.adapters.kernels.template import start_template
        from nbgov.adapters.kernels.pool import warm_kernels
        tpl = start_template({str(tmp_path)!r}, [], ["json"])
        with warm_kernels():
            km = KernelManager(kernel_name="python3")
            km.start_kernel()
        kc = km.client(); kc.start_channels(); kc.wait_for_ready(timeout=60)
        print(tpl.process.pid, km.provisioner.pid, km.provisioner.forked, flush=True)
        time.sleep(600)
    """))
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True, cwd=tmp_path)
    try:
        line = proc.stdout.readline().split()
        assert line and line[2] == "True", "the kernel was not forked"
        template_pid, kernel_pid = int(line[0]), int(line[1])
        assert _alive(template_pid) and _alive(kernel_pid)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert _gone(template_pid), "the template outlived the killed build"
    assert _gone(kernel_pid), "a kernel outlived the killed build"
