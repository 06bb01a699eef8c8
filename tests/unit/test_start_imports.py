"""The start's import-time measure: pyroute2's package deferred by the command.

It changes when code is built, never what it does; these tests pin that down in fresh
interpreters (the parent pytest process already has everything imported).
"""

import subprocess
import sys


def _python(code: str) -> str:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, check=True)  # fmt: skip
    return out.stdout.strip()


def test_daemon_start_does_not_run_pyroute2_init_nor_load_the_lvs_half() -> None:
    code = (
        "from pykeepalived import lazy_pyroute2\n"
        "lazy_pyroute2.install()  # as cli.main does first\n"
        "import sys, pykeepalived.cli, pykeepalived.daemon, pykeepalived.runtime\n"
        "mods = ('pyroute2.ndb.main', 'pykeepalived.daemon.lvs_side',\n"
        "        'pykeepalived.check.runner')\n"
        "print(lazy_pyroute2.loaded(), *(m in sys.modules for m in mods))"
    )
    assert _python(code) == "False False False False"


def test_pyroute2_public_names_still_work_after_the_deferral() -> None:
    code = (
        "from pykeepalived import lazy_pyroute2\n"
        "lazy_pyroute2.install()\n"
        "import pykeepalived.kernel.netlink\n"
        "before = lazy_pyroute2.loaded()\n"
        "from pyroute2 import IPRoute, NDB\n"
        "import pyroute2\n"
        "print(before, lazy_pyroute2.loaded(), IPRoute.__name__, NDB.__name__,\n"
        "      hasattr(pyroute2, 'no_such_name'), pyroute2.__version__ != 'unknown')"
    )
    assert _python(code) == "False True IPRoute NDB False True"
