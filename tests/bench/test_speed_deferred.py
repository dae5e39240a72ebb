"""rfc3987_syntax imported on first use only (nbgov.adapters._deferred), in fresh interpreters."""

from __future__ import annotations

import json
import subprocess
import sys

PROBE = """
import json, sys, time
from nbgov.adapters._deferred import defer_rfc3987_syntax
defer_rfc3987_syntax()
t = time.process_time()
import nbformat
from jsonschema import Draft7Validator, FormatChecker
imported_s = time.process_time() - t
deferred = getattr(sys.modules["rfc3987_syntax"], "__file__", None) is None
checker = Draft7Validator({"type": "string", "format": "iri"}, format_checker=FormatChecker())
valid, invalid = checker.is_valid("http://example.com/\u00e4"), checker.is_valid("not an iri")
loaded = getattr(sys.modules["rfc3987_syntax"], "__file__", None) is not None
print(json.dumps([deferred, valid, invalid, loaded, imported_s]))
"""


def test_iri_checks_still_work_and_load_the_real_module_when_used():
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True)
    deferred, valid, invalid, loaded, _ = json.loads(out.stdout)
    assert deferred, "importing nbformat must not compile rfc3987_syntax's grammars"
    assert (valid, invalid) == (True, False)  # same answers as the real module gives
    assert loaded


def test_adapters_install_the_stand_in_before_nbformat_is_imported():
    code = (
        "import sys, nbgov.adapters.notebooks, nbformat\n"
        "print(getattr(sys.modules['rfc3987_syntax'], '__file__', None) is None)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True"


def test_no_op_when_already_imported():
    code = (
        "import sys, rfc3987_syntax\n"
        "from nbgov.adapters._deferred import defer_rfc3987_syntax\n"
        "real = sys.modules['rfc3987_syntax']; defer_rfc3987_syntax()\n"
        "print(sys.modules['rfc3987_syntax'] is real)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True"
