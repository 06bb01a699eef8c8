"""Which data plane: kernel IPVS where the kernel has it, nftables where it does not.

Rules: ``choose_backend`` is pure (the request and one fact about the kernel in, a decision
and its reason out) so that the start-up log line is tested; ``ipvs_present`` is the one
probe of the kernel. Forcing IPVS on a kernel without it is a ``KernelError`` with a
sentence for the operator, never a crash later in the reconcile loop.
"""

from dataclasses import dataclass
from pathlib import Path

from pykeepalived.errors import ConfigError, KernelError


@dataclass(frozen=True, slots=True, kw_only=True)
class BackendInfo:
    """The data plane chosen at start (here, before the event loop and without importing
    the data planes: VRRP starts first)."""

    name: str  # "ipvs" or "nftables"
    reason: str  # why this backend was chosen, for the start-up log
    notes: tuple[str, ...] = ()  # e.g. "wlc is done as wrr here"


REQUESTS = ("auto", "ipvs", "nftables")


def choose_backend(requested: str | None, *, ipvs_present: bool) -> BackendInfo:
    """``requested``: "auto" (or None), "ipvs" or "nftables"."""
    request = requested or "auto"
    if request not in REQUESTS:
        raise ConfigError(f"unknown LVS backend {request!r}: use one of {', '.join(REQUESTS)}")
    if request == "ipvs":
        if not ipvs_present:
            raise KernelError(
                "LVS backend ipvs was requested but this kernel has no IPVS (no 'IPVS' generic "
                "netlink family, no /proc/net/ip_vs; modprobe ip_vs?); use backend nftables or "
                "auto"
            )
        return BackendInfo(name="ipvs", reason="requested, and the kernel has IPVS")
    if request == "nftables":
        extra = " (the kernel has IPVS too)" if ipvs_present else ""
        return BackendInfo(name="nftables", reason=f"requested{extra}")
    if ipvs_present:
        return BackendInfo(name="ipvs", reason="auto: the kernel has IPVS")
    return BackendInfo(
        name="nftables",
        reason="auto: the kernel has no IPVS (no 'IPVS' generic netlink family), using nftables",
    )


def ipvs_present() -> bool:
    """True when the kernel offers IPVS (asking for the family loads the module if it can)."""
    if Path("/proc/net/ip_vs").exists():
        return True
    from pyroute2.netlink import genlmsg
    from pyroute2.netlink.exceptions import NetlinkError
    from pyroute2.netlink.generic import GenericNetlinkSocket

    sock = GenericNetlinkSocket()
    try:
        sock.bind("IPVS", genlmsg)
    except NetlinkError:
        return False
    finally:
        sock.close()
    return True
