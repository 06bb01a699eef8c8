"""Read our named counters and dynamic sets straight from nf_tables over netlink.

Rules: read-only: named counters (one dump per table) and the elements of given sets
(the flow and persistence sets, carried over a table replace). ``nft list counters`` first
builds nft's whole cache, including every element of our slot maps (about a second for
1,000 services); the kernel's object dump (``NFT_MSG_GETOBJ``, filtered by table and type)
returns just the counters, in the shape of ``nft -j`` items so that
``nft_observe.parse_counters`` reads both.
Blocking: call it in a thread. A namespace is entered by a short-lived thread of its own
(``setns`` changes only the calling thread), which opens the socket and ends.

Messages (include/uapi/linux/netfilter/nf_tables.h, nfnetlink.h)::

    nlmsghdr | nfgenmsg (family u8, version u8, res_id be16) | attributes
    request: NFTA_OBJ_TABLE (asciiz), NFTA_OBJ_TYPE (be32 NFT_OBJECT_COUNTER)
    answer:  NFTA_OBJ_NAME, NFTA_OBJ_DATA { NFTA_COUNTER_BYTES, NFTA_COUNTER_PACKETS (be64) },
             NFTA_OBJ_USERDATA (TLVs: type u8, length u8, value; comment is type 0)
    request: NFTA_SET_ELEM_LIST_TABLE, NFTA_SET_ELEM_LIST_SET (asciiz)
    answer:  NFTA_SET_ELEM_LIST_ELEMENTS { NFTA_LIST_ELEM { NFTA_SET_ELEM_KEY
             { NFTA_DATA_VALUE }, NFTA_SET_ELEM_EXPIRATION (be64 ms) } ... }
"""

import ctypes
import errno
import os
import socket
import struct
import threading
from collections.abc import Iterator, Sequence
from typing import Any

NETLINK_NETFILTER = 12
NFNL_SUBSYS_NFTABLES = 10
NFT_MSG_GETOBJ = 19
NFT_MSG_GETSETELEM = 13
NFTA_SET_ELEM_LIST_TABLE, NFTA_SET_ELEM_LIST_SET, NFTA_SET_ELEM_LIST_ELEMENTS = 1, 2, 3
NFTA_LIST_ELEM = 1
NFTA_SET_ELEM_KEY, NFTA_SET_ELEM_EXPIRATION = 1, 5
NFTA_DATA_VALUE = 1
NFT_OBJECT_COUNTER = 1
NLM_F_REQUEST, NLM_F_DUMP = 0x1, 0x300
NLMSG_ERROR, NLMSG_DONE = 2, 3
NFTA_OBJ_TABLE, NFTA_OBJ_NAME, NFTA_OBJ_TYPE, NFTA_OBJ_DATA, NFTA_OBJ_USERDATA = 1, 2, 3, 4, 8
NFTA_COUNTER_BYTES, NFTA_COUNTER_PACKETS = 1, 2
FAMILIES = {"inet": 1, "netdev": 5}  # NFPROTO_*
CLONE_NEWNET = 0x40000000


def _attr(kind: int, value: bytes) -> bytes:
    raw = struct.pack("=HH", 4 + len(value), kind) + value
    return raw + b"\0" * (-len(raw) % 4)


def _attrs(data: bytes) -> Iterator[tuple[int, bytes]]:
    offset = 0
    while offset + 4 <= len(data):
        length, kind = struct.unpack_from("=HH", data, offset)
        if length < 4:
            return
        yield kind & 0x3FFF, data[offset + 4 : offset + length]
        offset += (length + 3) & ~3


def _comment(userdata: bytes) -> str | None:
    offset = 0
    while offset + 2 <= len(userdata):
        kind, length = userdata[offset], userdata[offset + 1]
        if kind == 0:
            return userdata[offset + 2 : offset + 2 + length].rstrip(b"\0").decode()
        offset += 2 + length
    return None


def _counter(family: str, payload: bytes) -> dict[str, Any]:
    body: dict[str, Any] = {"family": family}
    for kind, value in _attrs(payload[4:]):  # after nfgenmsg
        if kind == NFTA_OBJ_NAME:
            body["name"] = value.rstrip(b"\0").decode()
        elif kind == NFTA_OBJ_USERDATA:
            comment = _comment(value)
            if comment is not None:
                body["comment"] = comment
        elif kind == NFTA_OBJ_DATA:
            for inner, number in _attrs(value):
                if inner == NFTA_COUNTER_BYTES:
                    body["bytes"] = struct.unpack(">Q", number)[0]
                elif inner == NFTA_COUNTER_PACKETS:
                    body["packets"] = struct.unpack(">Q", number)[0]
    return body


def _open(netns: str | None) -> socket.socket:
    if netns is None:
        return socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER)
    opened: list[socket.socket] = []
    failed: list[BaseException] = []

    def enter() -> None:
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            fd = os.open(f"/run/netns/{netns}", os.O_RDONLY)
            try:
                if libc.setns(fd, CLONE_NEWNET) != 0:
                    raise OSError(ctypes.get_errno(), f"setns {netns}")
            finally:
                os.close(fd)
            opened.append(socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER))
        except BaseException as e:  # handed to the caller's thread
            failed.append(e)

    thread = threading.Thread(target=enter, name=f"netns-{netns}")
    thread.start()
    thread.join()
    if failed:
        raise failed[0]
    return opened[0]


def _request(sock: socket.socket, seq: int, msg: int, family: str, attrs: bytes) -> None:
    body = struct.pack("=BBH", FAMILIES[family], 0, 0) + attrs
    kind = NFNL_SUBSYS_NFTABLES << 8 | msg
    flags = NLM_F_REQUEST | NLM_F_DUMP
    sock.send(struct.pack("=IHHII", 16 + len(body), kind, flags, seq, 0) + body)


def dump_counters(table: str, netns: str | None = None) -> list[dict[str, Any]]:
    """``[{"counter": {...}}]`` for every named counter of our tables (both families)."""
    items: list[dict[str, Any]] = []
    with _open(netns) as sock:
        sock.settimeout(10.0)
        for seq, family in enumerate(FAMILIES, start=1):
            attrs = _attr(NFTA_OBJ_TABLE, table.encode() + b"\0")
            attrs += _attr(NFTA_OBJ_TYPE, struct.pack(">I", NFT_OBJECT_COUNTER))
            _request(sock, seq, NFT_MSG_GETOBJ, family, attrs)
            items += [{"counter": _counter(family, p)} for p in _receive(sock, seq)]
    return items


def dump_set_keys(
    table: str, sets: Sequence[tuple[str, str]], netns: str | None = None
) -> dict[tuple[str, str], list[tuple[bytes, int]]]:
    """The elements of each ``(family, set)``: (raw key, milliseconds until it expires).
    A set that is not there has none."""
    out: dict[tuple[str, str], list[tuple[bytes, int]]] = {}
    with _open(netns) as sock:
        sock.settimeout(10.0)
        for seq, (family, name) in enumerate(sets, start=1):
            attrs = _attr(NFTA_SET_ELEM_LIST_TABLE, table.encode() + b"\0")
            attrs += _attr(NFTA_SET_ELEM_LIST_SET, name.encode() + b"\0")
            _request(sock, seq, NFT_MSG_GETSETELEM, family, attrs)
            out[family, name] = [e for p in _receive(sock, seq) for e in _elements(p)]
    return out


def _elements(payload: bytes) -> Iterator[tuple[bytes, int]]:
    for kind, value in _attrs(payload[4:]):
        if kind != NFTA_SET_ELEM_LIST_ELEMENTS:
            continue
        for _, element in _attrs(value):
            key, expires = b"", 0
            for attr, data in _attrs(element):
                if attr == NFTA_SET_ELEM_KEY:
                    key = next((v for k, v in _attrs(data) if k == NFTA_DATA_VALUE), b"")
                elif attr == NFTA_SET_ELEM_EXPIRATION:
                    expires = struct.unpack(">Q", data)[0]
            if key:
                yield key, expires


def _receive(sock: socket.socket, seq: int) -> list[bytes]:
    """The payloads of one dump's answers (ENOENT, nothing there, is an empty answer)."""
    found: list[bytes] = []
    while True:
        data = sock.recv(1 << 20)
        offset = 0
        while offset + 16 <= len(data):
            length, kind, _, got_seq, _ = struct.unpack_from("=IHHII", data, offset)
            payload = data[offset + 16 : offset + length]
            offset += (length + 3) & ~3
            if got_seq != seq:
                continue
            if kind == NLMSG_DONE:
                return found
            if kind == NLMSG_ERROR:
                code = -struct.unpack_from("=i", payload)[0]
                if code in (0, errno.ENOENT):  # ENOENT: the table is not there
                    return found
                raise OSError(code, f"nf_tables object dump: {os.strerror(code)}")
            found.append(payload)
