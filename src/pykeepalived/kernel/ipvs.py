"""The IPVS data plane: the kernel's LVS table over generic netlink (pyroute2's IPVS socket).

Rules: an adapter, no policy. It speaks ``lvs.table`` values through the typed messages of
``ipvs_msg`` on pyroute2's asyncio generic-netlink socket (``AsyncIPVSSocket``, bound to our
message class): every call runs in the caller's event loop, nothing blocks it. ``apply`` sends
the planned operations in pipelined batches (one ``send`` per batch, the acks read back per
request), so each operation gets its own verdict: a failure is reported as an ``OpFailure``
naming the service or real server and saying what the kernel meant, never raised half-way.
Verbs are the kernel's commands by name (``IPVS_CMD_SET_DEST`` for an edit; note that
pyroute2's ``"update"`` verb sends a delete). Teardown is the reconcile's ``teardown`` plan
applied like any other; ``close`` only releases the socket, so a restart can adopt the table.
Sync daemons (``lvs_sync_daemon``) and protocol timeouts (``lvs_timeouts``) are here too.
"""

import asyncio
import errno
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pyroute2.netlink import NLM_F_ACK, NLM_F_DUMP, NLM_F_REQUEST
from pyroute2.netlink.exceptions import NetlinkError
from pyroute2.netlink.generic import AsyncGenericNetlinkSocket
from pyroute2.netlink.generic import ipvs as pr_ipvs
from pyroute2.netlink.nlsocket import NetlinkRequest

from pykeepalived.errors import KernelError
from pykeepalived.kernel import ipvs_msg as m
from pykeepalived.kernel.backend import BackendInfo
from pykeepalived.kernel.dataplane import OpFailure, ServiceCounters
from pykeepalived.lvs.reconcile import Op, OpKind
from pykeepalived.lvs.table import Counters, Destination, DestKey, ServiceEntry, ServiceKey, Table

log = logging.getLogger(__name__)

BATCH = 100  # requests per send: the acks of one batch must fit the socket's receive buffer
YIELD_EVERY = 16  # messages encoded between two yields to the event loop


class IpvsError(KernelError):
    """The kernel refused an IPVS command; ``code`` is its errno."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


class IpvsSocket(pr_ipvs.AsyncIPVSSocket):  # type: ignore[misc]  # pyroute2 is untyped
    """pyroute2's asyncio IPVS socket, bound to our typed ``IpvsMessage`` instead of its own."""

    async def setup_endpoint(self) -> None:
        if getattr(self.local, "transport", None) is not None:
            return
        await AsyncGenericNetlinkSocket.setup_endpoint(self)
        await self.bind(m.GENL_NAME, m.IpvsMessage)


@dataclass(slots=True)
class _Kernel:
    """One read of the kernel's table: values plus the raw attributes (for counters)."""

    table: dict[ServiceKey, ServiceEntry] = field(default_factory=dict)
    counters: dict[ServiceKey, ServiceCounters] = field(default_factory=dict)
    unreadable: list[str] = field(default_factory=list)


class IpvsDataPlane:
    def __init__(
        self,
        *,
        reason: str = "selected",
        netns: str | None = None,
        timeout_s: float = 30.0,
        batch: int = BATCH,
    ) -> None:
        self._reason = reason
        self._netns = netns
        self._timeout_s = timeout_s
        self._batch = batch
        self._sock: Any = None
        # One conversation at a time: the kernel refuses a second dump on a socket (EBUSY)
        # while one runs, and counters() may be polled while a reconcile applies.
        self._lock = asyncio.Lock()
        self.unreadable: tuple[str, ...] = ()  # services the last read could not express

    @property
    def info(self) -> BackendInfo:
        return BackendInfo(name="ipvs", reason=self._reason)

    # ------------------------------------------------------------------------------ reads

    async def observe(self) -> Table:
        async with self._lock:
            return (await self._read(with_counters=False)).table

    async def counters(self) -> Mapping[ServiceKey, ServiceCounters]:
        async with self._lock:
            return (await self._read(with_counters=True)).counters

    async def _read(self, *, with_counters: bool) -> _Kernel:
        found = _Kernel()
        for smsg in await self._dump(m.message(m.CMD_GET_SERVICE, [])):
            attrs = smsg.get_attr("IPVS_CMD_ATTR_SERVICE")
            try:
                key = m.decode_service_key(attrs)
                service = m.decode_service(attrs)
            except (ValueError, KeyError) as exc:
                found.unreadable.append(f"a service the table cannot express: {exc}")
                continue
            request = [("IPVS_CMD_ATTR_SERVICE", _nest(m.service_key_attrs(key)))]
            try:
                dmsgs = await self._dump(m.message(m.CMD_GET_DEST, request))
            except IpvsError as exc:
                if exc.code == errno.ESRCH:
                    continue  # removed by someone else between the two dumps
                raise
            dests: dict[DestKey, Destination] = {}
            dcounters: dict[DestKey, Counters] = {}
            try:
                for dmsg in dmsgs:
                    dattrs = dmsg.get_attr("IPVS_CMD_ATTR_DEST")
                    dest = m.decode_dest(dattrs, key.family)
                    dests[dest.key] = dest
                    if with_counters:
                        dcounters[dest.key] = m.decode_counters(dattrs, "IPVS_DEST_ATTR_")
            except (ValueError, KeyError) as exc:
                found.unreadable.append(f"{key}: a real server the table cannot express: {exc}")
                continue
            found.table[key] = ServiceEntry(service=service, destinations=dests)
            if with_counters:
                total = m.decode_counters(attrs, "IPVS_SVC_ATTR_")
                total = _with_connections(total, dcounters.values())
                found.counters[key] = ServiceCounters(total=total, destinations=dcounters)
        self.unreadable = tuple(found.unreadable)
        for text in found.unreadable:
            log.warning("IPVS: %s (left alone)", text)
        return found

    # ----------------------------------------------------------------------------- writes

    async def apply(self, ops: Sequence[Op], desired: Table) -> list[OpFailure]:
        """Apply ``ops`` in order (``desired`` is not needed: IPVS edits in place)."""
        del desired
        async with self._lock:
            return await self._apply(ops)

    async def _apply(self, ops: Sequence[Op]) -> list[OpFailure]:
        failures: list[OpFailure] = []
        try:
            sock = await self._socket()
        except KernelError as exc:
            return [OpFailure(op=op, error=f"{op}: {exc}") for op in ops]
        for start in range(0, len(ops), self._batch):
            chunk = ops[start : start + self._batch]
            try:
                errors = await self._send_batch(sock, [op_message(op) for op in chunk])
            except (OSError, TimeoutError) as exc:
                await self.close()
                why = f"netlink socket failed: {exc}"
                return failures + [OpFailure(op=op, error=f"{op}: {why}") for op in ops[start:]]
            for op, code in zip(chunk, errors, strict=True):
                if code:
                    failures.append(OpFailure(op=op, error=describe(op, code)))
        return failures

    async def flush(self) -> None:
        """IPVS_CMD_FLUSH: every service of this network namespace goes, ours or not, with its
        real servers (``lvs_flush``, ``lvs_flush_on_stop``; keepalived's ipvs_flush_cmd)."""
        await self._command(m.message(m.CMD_FLUSH, []), "flushing the IPVS table")

    async def close(self) -> None:
        """Release the netlink socket; the kernel's table stays (teardown is a plan)."""
        sock, self._sock = self._sock, None
        if sock is not None:
            sock.close()

    # ----------------------------------------------------------- sync daemon and timeouts

    async def sync_daemons(self) -> list[m.SyncDaemon]:
        async with self._lock:
            msgs = await self._dump(m.message(m.CMD_GET_DAEMON, []))
        return [m.decode_daemon(x.get_attr("IPVS_CMD_ATTR_DAEMON")) for x in msgs]

    async def start_sync_daemon(self, daemon: m.SyncDaemon) -> None:
        attrs = [("IPVS_CMD_ATTR_DAEMON", _nest(m.daemon_attrs(daemon)))]
        what = f"sync daemon {daemon.state} on {daemon.interface} (syncid {daemon.syncid})"
        await self._command(m.message(m.CMD_NEW_DAEMON, attrs), f"starting the {what}")

    async def stop_sync_daemon(self, state: str) -> None:
        attrs = [("IPVS_DAEMON_ATTR_STATE", m.DAEMON_STATES[state])]
        msg = m.message(m.CMD_DEL_DAEMON, [("IPVS_CMD_ATTR_DAEMON", _nest(attrs))])
        await self._command(msg, f"stopping the {state} sync daemon")

    async def timeouts(self) -> m.Timeouts:
        async with self._lock:
            (reply,) = await self._request(m.message(m.CMD_GET_CONFIG, []), "reading timeouts")
        return m.decode_timeouts(reply)

    async def set_timeouts(self, timeouts: m.Timeouts) -> None:
        attrs = m.timeout_attrs(timeouts)
        if attrs:
            await self._command(m.message(m.CMD_SET_CONFIG, attrs), "setting lvs_timeouts")

    # --------------------------------------------------------------------------- netlink

    async def _socket(self) -> Any:
        if self._sock is not None:
            return self._sock
        sock = IpvsSocket(netns=self._netns)
        try:
            async with asyncio.timeout(self._timeout_s):
                await sock.setup_endpoint()
        except NetlinkError as exc:
            sock.close()
            if exc.code == errno.ENOENT:
                raise KernelError("no IPVS in this kernel (modprobe ip_vs?)") from None
            raise KernelError(f"IPVS netlink: {os.strerror(exc.code)}") from None
        except (OSError, TimeoutError) as exc:
            sock.close()
            raise KernelError(f"IPVS netlink socket: {exc}") from None
        self._sock = sock
        return sock

    async def _dump(self, msg: m.IpvsMessage) -> list[Any]:
        return await self._request(msg, "reading the IPVS table", dump=True)

    async def _command(self, msg: m.IpvsMessage, what: str) -> None:
        async with self._lock:
            await self._request(msg, what)

    async def _request(self, msg: m.IpvsMessage, what: str, *, dump: bool = False) -> list[Any]:
        sock = await self._socket()
        flags = NLM_F_REQUEST | (NLM_F_DUMP if dump else NLM_F_ACK)
        try:
            async with asyncio.timeout(self._timeout_s):
                replies = await sock.nlm_request(msg, msg_type=sock.prid, msg_flags=flags)
                return [x async for x in replies]
        except NetlinkError as exc:
            raise IpvsError(f"IPVS: {what}: {_reason(exc.code)}", exc.code) from None
        except (OSError, TimeoutError) as exc:
            await self.close()
            raise KernelError(f"IPVS: {what}: netlink socket failed: {exc!r}") from None

    async def _send_batch(self, sock: Any, msgs: list[m.IpvsMessage]) -> list[int]:
        """Send ``msgs`` in one datagram write; the errno of each (0: done), in order."""
        requests = []
        chunks = []
        for n, msg in enumerate(msgs, 1):
            request = NetlinkRequest(
                sock, msg, msg_type=sock.prid, msg_flags=NLM_F_REQUEST | NLM_F_ACK
            )
            await request.prepare()  # encodes: ~0.4 ms of CPU per message
            chunks.append(bytes(request.msg.data))
            requests.append(request)
            if n % YIELD_EVERY == 0:
                await asyncio.sleep(0)  # let VRRP and the API run between encodings
        codes = []
        async with asyncio.timeout(self._timeout_s):
            sock.send(b"".join(chunks))
            for request in requests:
                try:
                    async for _ in request.response():
                        pass
                    codes.append(0)
                except NetlinkError as exc:
                    codes.append(exc.code or errno.EIO)
        return codes


def _nest(attrs: list[tuple[str, Any]]) -> dict[str, Any]:
    return {"attrs": attrs}


def op_message(op: Op) -> m.IpvsMessage:
    key = op.service
    if op.kind in (OpKind.ADD_SERVICE, OpKind.EDIT_SERVICE):
        assert op.service_attrs is not None
        cmd = m.CMD_NEW_SERVICE if op.kind is OpKind.ADD_SERVICE else m.CMD_SET_SERVICE
        return m.message(cmd, [("IPVS_CMD_ATTR_SERVICE", _nest(m.service_attrs(op.service_attrs)))])
    service = ("IPVS_CMD_ATTR_SERVICE", _nest(m.service_key_attrs(key)))
    if op.kind is OpKind.DEL_SERVICE:
        return m.message(m.CMD_DEL_SERVICE, [service])
    assert op.dest is not None
    if op.kind is OpKind.DEL_DEST:
        return m.message(
            m.CMD_DEL_DEST, [service, ("IPVS_CMD_ATTR_DEST", _nest(m.dest_key_attrs(op.dest)))]
        )
    assert op.dest_attrs is not None
    cmd = m.CMD_NEW_DEST if op.kind is OpKind.ADD_DEST else m.CMD_SET_DEST
    return m.message(cmd, [service, ("IPVS_CMD_ATTR_DEST", _nest(m.dest_attrs(op.dest_attrs)))])


def _with_connections(total: Counters, dests: Any) -> Counters:
    """IPVS counts active/inactive connections per real server only: the service's are sums."""
    active = sum(c.active_connections for c in dests)
    inactive = sum(c.inactive_connections for c in dests)
    return Counters(
        connections=total.connections,
        packets_in=total.packets_in,
        packets_out=total.packets_out,
        bytes_in=total.bytes_in,
        bytes_out=total.bytes_out,
        active_connections=active,
        inactive_connections=inactive,
    )


def _reason(code: int) -> str:
    name = errno.errorcode.get(code, str(code))
    return f"{os.strerror(code)} ({name})"


def describe(op: Op, code: int) -> str:
    """What the kernel's errno means for this operation, for the operator's log."""
    kind = op.kind
    what = ""
    if code == errno.EEXIST:
        what = "already in the kernel's table (made by someone else?)"
    elif code == errno.ESRCH:
        what = "the virtual service is not in the kernel's table"
    elif code == errno.ENOENT and kind in (OpKind.ADD_SERVICE, OpKind.EDIT_SERVICE):
        attrs = op.service_attrs
        sched = attrs.scheduler if attrs else "?"
        pe = (
            f" or persistence engine {attrs.persistence_engine!r}"
            if attrs and attrs.persistence_engine
            else ""
        )
        what = f"scheduler {sched!r}{pe} not available (no kernel module ip_vs_{sched}?)"
    elif code == errno.ENOENT:
        what = "the real server is not in the kernel's table"
    elif code == errno.EINVAL and kind in (OpKind.ADD_DEST, OpKind.EDIT_DEST):
        what = (
            "the kernel refused this real server (its address is not unicast from this "
            "network namespace - with lo down and no address, none is -, thresholds lower > "
            "upper, or a mixed-family real server not using TUN)"
        )
    elif code == errno.EINVAL:
        what = (
            "the kernel refused these values (a bad netmask, or an option this kernel does "
            "not know)"
        )
    elif code == errno.EAFNOSUPPORT:
        what = "this kernel's IPVS has no IPv6 support"
    elif code in (errno.EPERM, errno.EACCES):
        what = "not permitted (needs CAP_NET_ADMIN)"
    elif code == errno.ENOMEM:
        what = "the kernel is out of memory"
    text = f"{op}: {what} [{_reason(code)}]" if what else f"{op}: {_reason(code)}"
    return text
