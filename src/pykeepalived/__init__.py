"""pykeepalived: keepalived + LVS rebuilt in Python.

VRRP failover, the LVS virtual-server table (kernel IPVS or nftables) and the health checkers,
configured by an unchanged ``keepalived.conf``.
"""

__version__ = "0.1.0"
