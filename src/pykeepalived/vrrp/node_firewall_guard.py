"""The VIP firewall table (``no_accept`` / ``vrrp_strict``) comes back after a ruleset flush.

Why: a firewall reload (``systemctl restart nftables``) runs ``flush ruleset``, which takes our
table with everyone's; a MASTER without accept mode would then answer traffic to its VIPs
(keepalived's rule goes the same way and is not put back). Every ``every_s`` the table is
looked for and, if gone, made again with the elements wanted now, with a warning.
"""

import asyncio
import logging

from pykeepalived.errors import KernelError
from pykeepalived.kernel.ports import VipFirewallPort
from pykeepalived.periodic import every

log = logging.getLogger("pykeepalived.vrrp")
EVERY_S = 5.0


async def guard_firewall(
    firewall: VipFirewallPort, stop: asyncio.Event, every_s: float = EVERY_S
) -> None:
    """Until ``stop``; a failed look or remake is logged and tried again at the next."""
    async for _tick in every(every_s, stop):
        try:
            if await firewall.restore():
                log.warning("VIP firewall: our nft table was removed by something else "
                            "(a ruleset flush?): made again")  # fmt: skip
        except KernelError as exc:
            log.error("VIP firewall: %s", exc)
