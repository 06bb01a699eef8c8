"""pykeepalived: keepalived + LVS rebuilt in Python.

VRRP failover, the LVS virtual-server table (kernel IPVS or nftables) and the health checkers,
configured by an unchanged ``keepalived.conf``.
"""

__version__ = "0.1.0"

from pykeepalived import dataclass_cache as _dataclass_cache
from pykeepalived import lazy_pyroute2 as _lazy_pyroute2

# The start's import time (docs/benchmarks.md, "Seed scenario in the IPVS VM"):
_dataclass_cache.install()  # compiled dataclass methods reused between runs
_lazy_pyroute2.install()  # pyroute2's submodules without its import-everything __init__
