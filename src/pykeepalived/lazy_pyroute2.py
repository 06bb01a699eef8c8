"""pyroute2's package, registered without running its ``__init__`` until a top-level name is used.

Why: ``import pyroute2.netlink.generic`` runs ``pyroute2/__init__.py`` first, and that imports
every part of the library (NDB, IPDB, conntrack, ethtool, nl80211, wireguard, 9p, ...): 120-190
ms on a real CPU, 1.6 s of the daemon's 5.3 s of imports under the IPVS VM's emulation, before
VRRP can start. pykeepalived imports only the submodules it uses (``pyroute2.iproute.linux``,
``pyroute2.netlink.*``), so the package module is put in ``sys.modules`` as Python's import
system would build it (same spec, ``__path__``, ``__file__``) but left unexecuted; the first
access to a name it does not have yet (``from pyroute2 import IPRoute`` in a test or a tool)
runs pyroute2's own ``__init__`` into it then (PEP 562 module ``__getattr__``), so every
public name still works, only later. A name that is a submodule (pyroute2's own modules do
``from pyroute2 import config, netns``) is imported as such, without the ``__init__``.
"""

import importlib.util
import sys
import threading
from types import ModuleType

_lock = threading.RLock()


def install(name: str = "pyroute2") -> None:
    """Register the deferred package; no-op when it is already imported or not installed."""
    if name in sys.modules:
        return
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None or spec.submodule_search_locations is None:
        return
    module = importlib.util.module_from_spec(spec)
    loader = spec.loader

    def __getattr__(attr: str) -> object:  # PEP 562
        if not attr.startswith("__"):  # pyroute2's own ``from pyroute2 import config, netns``
            try:
                return importlib.import_module(f"{name}.{attr}")
            except ModuleNotFoundError as exc:
                if exc.name != f"{name}.{attr}":
                    raise
        with _lock:
            if module.__dict__.pop("__getattr__", None) is not None:
                loader.exec_module(module)  # pyroute2's __init__, once
        try:
            return module.__dict__[attr]
        except KeyError:
            raise AttributeError(f"module {name!r} has no attribute {attr!r}") from None

    module.__getattr__ = __getattr__  # type: ignore[method-assign]
    sys.modules[name] = module


def loaded(name: str = "pyroute2") -> bool:
    """Whether the package's own ``__init__`` has run (for tests and the start bench)."""
    module: ModuleType | None = sys.modules.get(name)
    return module is not None and "__getattr__" not in module.__dict__
