"""Unicast VRRP options, as keepalived 2.2.7 reads them (``vrrp.c`` vrrp_check_packet,
``vrrp_parser.c``).

Rules: pure decisions from the config model; the driver asks them per instance and per
received advert. keepalived's semantics:

- ``check_unicast_src`` (instance) or ``vrrp_check_unicast_src`` (global_defs): a unicast
  instance drops adverts whose source is not one of its ``unicast_peer`` addresses ("unicast
  source address X not a unicast peer"); without it, any source is accepted, as keepalived.
- ``unicast_peer { ADDR min_ttl N max_ttl M }``: with the source check on, the received TTL
  (hop limit) must lie in the peer's range ("TTL/HL T not in range N - M"); default 0 - 255.
- ``unicast_ttl N``: the TTL (hop limit) of the unicast adverts we send; default 255. Only
  with unicast peers (keepalived resets it otherwise).
- ``unicast_fault_no_peer``: an instance that names unicast but has no peer goes to FAULT and
  stays there, instead of falling back to multicast.
"""

from pykeepalived.config.model import KeepalivedConfig
from pykeepalived.config.model_vrrp import VrrpInstance
from pykeepalived.vrrp.events import IPAddress

DEFAULT_TTL = 255
NO_PEER_FAULT = "Cannot use unicast without any peers - going to fault state"


def checks_source(inst: VrrpInstance, config: KeepalivedConfig) -> bool:
    return bool(inst.unicast_peer) and (
        inst.check_unicast_src or config.global_defs.vrrp_check_unicast_src
    )


def refusal(
    inst: VrrpInstance, config: KeepalivedConfig, src: IPAddress, ttl: int | None
) -> tuple[str, str] | None:
    """Why an advert from ``src`` received with ``ttl`` must be dropped: (counter reason,
    keepalived's log text), or None to accept it."""
    if not checks_source(inst, config):
        return None
    for peer in inst.unicast_peer:
        if peer.address != src:
            continue
        low = 0 if peer.min_ttl is None else peer.min_ttl
        high = 255 if peer.max_ttl is None else peer.max_ttl
        if ttl is not None and not low <= ttl <= high:
            return "ttl", f"TTL/HL {ttl} not in range {low} - {high}"
        return None
    return "source", f"unicast source address {src} not a unicast peer"


def send_ttl(inst: VrrpInstance) -> int:
    """TTL / hop limit of our unicast adverts."""
    if inst.unicast_ttl is None or not inst.unicast_peer:
        return DEFAULT_TTL
    return inst.unicast_ttl


def faults_for_no_peer(inst: VrrpInstance) -> bool:
    return inst.unicast_fault_no_peer and not inst.unicast_peer
