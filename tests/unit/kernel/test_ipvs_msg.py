"""IPVS messages without a kernel: what we encode decodes to the same values, bit for bit
where the kernel is particular (netmask, tunnel port, flags), and errors read well."""

import asyncio
import errno
import sys
from ipaddress import ip_address
from pathlib import Path
from typing import Any

import pytest

from pykeepalived.kernel import ipvs_msg as m
from pykeepalived.kernel.ipvs import IpvsDataPlane, IpvsError, describe
from pykeepalived.lvs.reconcile import Op, OpKind
from pykeepalived.lvs.table import Counters, Destination, DestKey, Method, Service, ServiceKey


def wire(cmd: int, attrs: list[tuple[str, Any]]) -> m.IpvsMessage:
    """Encode as it goes to the kernel, then parse the bytes back."""
    msg = m.message(cmd, attrs)
    msg["header"]["type"] = 0x1E
    msg.encode()
    back = m.IpvsMessage(msg.data)
    back.decode()
    return back


def svc_key(spec: str) -> ServiceKey:
    proto, host, port = spec.split()
    address = ip_address(host)
    return ServiceKey(family=address.version, protocol=proto, address=address, port=int(port))


SERVICES = [
    Service(key=svc_key("TCP 192.0.2.1 80"), scheduler="wlc"),
    Service(
        key=svc_key("UDP 192.0.2.1 53"),
        scheduler="sh",
        flags=frozenset({"flag-1", "sh-port"}),
        one_packet=True,
        persistence_timeout=300,
        persistence_netmask="255.255.255.0",
    ),
    Service(
        key=svc_key("SCTP 2001:db8::1 3868"),
        scheduler="mh",
        flags=frozenset({"mh-port"}),
        persistence_timeout=60,
        persistence_netmask="/64",
        persistence_engine="sip",
    ),
    Service(key=ServiceKey(family=6, fwmark=7), scheduler="wrr", flags=frozenset({"flag-3"})),
]


@pytest.mark.parametrize("service", SERVICES, ids=str)
def test_service_round_trip(service: Service) -> None:
    back = wire(m.CMD_NEW_SERVICE, [("IPVS_CMD_ATTR_SERVICE", {"attrs": m.service_attrs(service)})])
    assert m.decode_service(back.get_attr("IPVS_CMD_ATTR_SERVICE")) == service


def test_netmask_is_the_kernels_raw_u32() -> None:
    # IPv4: the mask's bytes as they are (network order); IPv6: a host-order prefix length.
    assert m.encode_netmask(4, "255.255.255.0") == int.from_bytes(
        b"\xff\xff\xff\x00", sys.byteorder
    )
    assert m.encode_netmask(4, None) == 0xFFFFFFFF
    assert m.encode_netmask(6, "64") == 64
    assert m.encode_netmask(6, None) == 128
    assert m.decode_netmask(6, 128) is None
    assert m.decode_netmask(4, m.encode_netmask(4, "255.255.0.0")) == "255.255.0.0"


def test_flags_bits_and_canonical_names() -> None:
    service = SERVICES[1]
    bits = dict(m.service_attrs(service))["IPVS_SVC_ATTR_FLAGS"]["flags"]
    assert bits == m.F_PERSISTENT | m.F_ONEPACKET | m.F_SCHED1 | m.F_SCHED2
    assert service.flags == {"sh-fallback", "sh-port"}  # flag-1 is sh-fallback for sh


DESTS = [
    Destination(key=DestKey(address=ip_address("10.0.0.1"), port=80), weight=3, method=Method.DR),
    Destination(
        key=DestKey(address=ip_address("10.0.0.2"), port=8080),
        weight=0,
        upper_threshold=100,
        lower_threshold=10,
    ),
    Destination(
        key=DestKey(address=ip_address("2001:db8::2"), port=443),
        method=Method.TUN,
        tunnel_type="gue",
        tunnel_port=6080,
        tunnel_csum="remcsum",
    ),
    Destination(key=DestKey(address=ip_address("10.0.0.3"), port=0), method=Method.TUN),
]


@pytest.mark.parametrize("dest", DESTS, ids=lambda d: str(d.key))
def test_dest_round_trip(dest: Destination) -> None:
    attrs = [
        ("IPVS_CMD_ATTR_SERVICE", {"attrs": m.service_key_attrs(SERVICES[0].key)}),
        ("IPVS_CMD_ATTR_DEST", {"attrs": m.dest_attrs(dest)}),
    ]
    back = wire(m.CMD_NEW_DEST, attrs)
    assert m.decode_dest(back.get_attr("IPVS_CMD_ATTR_DEST"), 4) == dest


def test_tunnel_port_is_network_order() -> None:
    attrs = m.dest_attrs(DESTS[2])
    msg = m.message(m.CMD_NEW_DEST, [("IPVS_CMD_ATTR_DEST", {"attrs": attrs})])
    msg["header"]["type"] = 0x1E
    msg.encode()
    assert (6080).to_bytes(2, "big") + b"\x00\x00" in bytes(msg.data)


def test_sync_daemon_and_timeouts_round_trip() -> None:
    daemon = m.SyncDaemon(
        state="backup",
        interface="eth1",
        syncid=18,
        sync_maxlen=1472,
        group=ip_address("ff02::1:81"),
        port=8848,
        ttl=3,
    )
    back = wire(m.CMD_NEW_DAEMON, [("IPVS_CMD_ATTR_DAEMON", {"attrs": m.daemon_attrs(daemon)})])
    assert m.decode_daemon(back.get_attr("IPVS_CMD_ATTR_DAEMON")) == daemon
    timeouts = m.Timeouts(tcp=900, tcpfin=120, udp=300)
    assert m.decode_timeouts(wire(m.CMD_SET_CONFIG, m.timeout_attrs(timeouts))) == timeouts
    assert m.timeout_attrs(m.Timeouts(udp=30)) == [("IPVS_CMD_ATTR_TIMEOUT_UDP", 30)]
    with pytest.raises(ValueError, match="master or backup"):
        m.SyncDaemon(state="primary", interface="eth0")


def test_errors_name_the_target_and_say_what_the_kernel_meant() -> None:
    service = Service(key=svc_key("TCP 192.0.2.1 80"), scheduler="twos")
    add = Op(kind=OpKind.ADD_SERVICE, service=service.key, service_attrs=service)
    text = describe(add, errno.ENOENT)
    assert text.startswith("add-service TCP 192.0.2.1:80: scheduler 'twos' not available")
    assert "ip_vs_twos" in text
    gone = Op(kind=OpKind.DEL_DEST, service=service.key, dest=DESTS[0].key)
    assert "TCP 192.0.2.1:80 -> 10.0.0.1:80" in describe(gone, errno.ENOENT)
    assert "real server is not in the kernel's table" in describe(gone, errno.ENOENT)
    assert "ESRCH" in describe(gone, errno.ESRCH)
    assert "EBADMSG" in describe(gone, errno.EBADMSG)


@pytest.mark.skipif(Path("/proc/net/ip_vs").exists(), reason="this kernel has IPVS")
def test_without_ipvs_every_op_is_reported_not_raised() -> None:
    service = SERVICES[0]
    ops = [Op(kind=OpKind.ADD_SERVICE, service=service.key, service_attrs=service)]

    async def go() -> list[str]:
        backend = IpvsDataPlane()
        try:
            return [f.error for f in await backend.apply(ops, {})]
        finally:
            await backend.close()

    assert asyncio.run(go()) == [
        "add-service TCP 192.0.2.1:80: no IPVS in this kernel (modprobe ip_vs?)"
    ]


def test_from_config() -> None:
    from pykeepalived.config.loader import load

    text = (
        "global_defs {\n lvs_sync_daemon eth1 VI_1 maxlen 1400 ttl 2\n"
        " lvs_timeouts tcp 900 udp 30\n}\n"
    )
    loaded = load("sync.conf", text=text)
    assert loaded.config is not None
    defs = loaded.config.global_defs
    assert defs.lvs_sync_daemon is not None
    assert defs.lvs_timeouts is not None
    daemon = m.sync_daemon_from_config(defs.lvs_sync_daemon, "master", virtual_router_id=18)
    assert daemon == m.SyncDaemon(
        state="master",
        interface="eth1",
        syncid=18,
        sync_maxlen=1400,
        group=ip_address("224.0.0.81"),
        port=8848,
        ttl=2,
    )
    assert m.timeouts_from_config(defs.lvs_timeouts) == m.Timeouts(tcp=900, udp=30)


def test_counters_from_stats64_and_connections() -> None:
    stats = {
        "attrs": [
            ("IPVS_STATS_ATTR_CONNS", 7),
            ("IPVS_STATS_ATTR_INPKTS", 70),
            ("IPVS_STATS_ATTR_OUTPKTS", 60),
            ("IPVS_STATS_ATTR_INBYTES", 7000),
            ("IPVS_STATS_ATTR_OUTBYTES", 1 << 40),
        ]
    }
    attrs = [
        *m.dest_attrs(DESTS[0]),
        ("IPVS_DEST_ATTR_ACTIVE_CONNS", 2),
        ("IPVS_DEST_ATTR_INACT_CONNS", 5),
        ("IPVS_DEST_ATTR_STATS64", stats),
    ]
    back = wire(m.CMD_NEW_DEST, [("IPVS_CMD_ATTR_DEST", {"attrs": attrs})])
    counters = m.decode_counters(back.get_attr("IPVS_CMD_ATTR_DEST"), "IPVS_DEST_ATTR_")
    assert counters == Counters(
        connections=7,
        packets_in=70,
        packets_out=60,
        bytes_in=7000,
        bytes_out=1 << 40,
        active_connections=2,
        inactive_connections=5,
    )


class _FakeKernel(IpvsDataPlane):
    """The read path over canned dumps: a service vanishes between the two dumps."""

    def __init__(self) -> None:
        super().__init__()
        self.dumps: list[Any] = []

    async def _dump(self, msg: m.IpvsMessage) -> list[Any]:
        reply = self.dumps.pop(0)
        if isinstance(reply, Exception):
            raise reply
        return list(reply)


def test_read_skips_a_service_removed_between_dumps_and_reads_the_rest() -> None:
    gone, kept = SERVICES[0], SERVICES[1]
    services = [
        wire(m.CMD_NEW_SERVICE, [("IPVS_CMD_ATTR_SERVICE", {"attrs": m.service_attrs(s)})])
        for s in (gone, kept)
    ]
    dest = wire(m.CMD_NEW_DEST, [("IPVS_CMD_ATTR_DEST", {"attrs": m.dest_attrs(DESTS[1])})])
    backend = _FakeKernel()
    backend.dumps = [services, IpvsError("gone", errno.ESRCH), [dest]]
    table = asyncio.run(backend.observe())
    assert list(table) == [kept.key]
    assert table[kept.key].service == kept
    assert dict(table[kept.key].destinations) == {DESTS[1].key: DESTS[1]}
    backend.dumps = [services, IpvsError("no", errno.EPERM)]
    with pytest.raises(IpvsError):
        asyncio.run(backend.observe())
