"""Notifications of routes and rules pykeepalived made that were deleted (by anyone).

Why: keepalived puts a static route or rule deleted from outside back, and reacts when a
MASTER's virtual one goes; the driver must learn of it. Ours carry protocol 18
(RTPROT_KEEPALIVED, as keepalived's, unless ``no_track``), so the churn of everybody else's
routes (DHCP, a routing daemon, a container runtime) is dropped here at a glance, without
parsing more than one byte.

Messages (include/uapi/linux/rtnetlink.h, fib_rules.h)::

    RTM_DELROUTE: rtmsg (family, dst_len, src_len, tos, table, protocol, scope, type: u8;
                  flags u32), multicast to RTMGRP_IPV4_ROUTE / RTMGRP_IPV6_ROUTE
    RTM_DELRULE:  fib_rule_hdr (the same size), attribute FRA_PROTOCOL (u8), multicast to
                  RTNLGRP_IPV4_RULE / RTNLGRP_IPV6_RULE
"""

from collections.abc import AsyncIterator, Iterator

from pykeepalived.kernel import nlwire
from pykeepalived.kernel.ports import RoutingGone
from pykeepalived.kernel.rtnl_events import notifications
from pykeepalived.kernel.rtquery import attributes

RTM_DELROUTE, RTM_DELRULE = 25, 33
RTMGRP_IPV4_ROUTE, RTMGRP_IPV6_ROUTE = 0x40, 0x400
RTNLGRP_IPV4_RULE, RTNLGRP_IPV6_RULE = 8, 19
GROUPS = RTMGRP_IPV4_ROUTE | RTMGRP_IPV6_ROUTE
GROUPS |= (1 << (RTNLGRP_IPV4_RULE - 1)) | (1 << (RTNLGRP_IPV6_RULE - 1))
HEADER = 12  # sizeof(struct rtmsg) == sizeof(struct fib_rule_hdr)
PROTOCOL_OFFSET = 5  # rtmsg.rtm_protocol
FRA_PROTOCOL = 21
RTPROT_KEEPALIVED = 18


def ours_removed(data: bytes) -> Iterator[RoutingGone]:
    """A ``RoutingGone`` for each route or rule of ours deleted, in one buffer."""
    for kind, _seq, offset, end in nlwire.messages(data):
        if offset + HEADER > end:
            continue
        if kind == RTM_DELROUTE and data[offset + PROTOCOL_OFFSET] == RTPROT_KEEPALIVED:
            yield RoutingGone(kind="route")
        elif kind == RTM_DELRULE:
            found = dict(attributes(data, offset + HEADER, end))
            if found.get(FRA_PROTOCOL, b"")[:1] == bytes([RTPROT_KEEPALIVED]):
                yield RoutingGone(kind="rule")


class RouteWatch:
    """``RouteWatchPort`` over rtnetlink, by hand."""

    async def removed(self) -> AsyncIterator[RoutingGone]:
        """First (whatever went before we listened) and after the kernel dropped some
        notifications (ENOBUFS): ``any``; then each of ours deleted."""
        async for _sock, data in notifications(GROUPS, "route", from_start=True):
            if data is None:
                yield RoutingGone(kind="any")
                continue
            for gone in ours_removed(data):
                yield gone
