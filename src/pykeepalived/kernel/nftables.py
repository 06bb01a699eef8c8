"""The nftables data plane: LVS for kernels without IPVS, through the ``nft`` binary.

Rules: thin. The rules are made by ``nft_rules`` (pure) and read back by ``nft_observe``
(pure); this adapter runs ``nft -f -`` and ``ip -j -batch - route get`` (the interface
towards each DR real server) as asyncio subprocesses with a hard timeout, optionally inside
a network namespace (``ip netns exec``), and reads counters and dynamic sets over netlink
(``nft_netlink``, in a thread), which skips nft's cache. Every write is one nft
transaction: either the whole new table is in, or the old one stays. A change of weights
only refills the slot maps and weight counters of the services concerned; anything else
replaces the table in one transaction that keeps the flow and persistence sets (object
names read with ``nft -j -t list sets`` etc., see ``nft_rules``), and keeps a removed DR
real server's established flows on it while its flow set is not empty (``draining``).
Applying an empty table removes our tables (the graceful stop leaves nothing of ours).
python-nftables (libnftables' bindings) is not on PyPI, hence the binary.
"""

import asyncio
import json
import logging
import secrets
from collections.abc import Mapping, Sequence
from typing import Any

from pykeepalived.errors import KernelError
from pykeepalived.kernel.backend import BackendInfo
from pykeepalived.kernel.dataplane import OpFailure, ServiceCounters
from pykeepalived.kernel.nft_meta import method_of
from pykeepalived.kernel.nft_netlink import dump_counters, dump_set_keys
from pykeepalived.kernel.nft_observe import generation_of, objects, parse_counters, parse_table
from pykeepalived.kernel.nft_rules import (
    DEFAULT_SEED,
    TABLE,
    Draining,
    NftEnv,
    Rendered,
    delete_script,
    notes,
    render,
    weight_update,
)
from pykeepalived.kernel.nft_sets import Existing, existing
from pykeepalived.lvs.reconcile import Op
from pykeepalived.lvs.table import DestKey, IPAddress, Method, ServiceEntry, ServiceKey, Table

log = logging.getLogger("pykeepalived.lvs")


class NftablesDataPlane:
    def __init__(
        self,
        *,
        reason: str = "selected",
        table: str = TABLE,
        seed: int = DEFAULT_SEED,
        ingress_devices: Sequence[str] = (),
        netns: str | None = None,
        nft: str = "nft",
        timeout_s: float = 30.0,
    ) -> None:
        self._reason = reason
        self._table = table
        self._seed = seed
        self._ingress = tuple(ingress_devices)
        self._netns = netns
        self._prefix = ("ip", "netns", "exec", netns) if netns else ()
        self._nft = nft
        self._timeout_s = timeout_s
        self._notes: tuple[str, ...] = ()
        self._installed: dict[ServiceKey, ServiceEntry] | None = None
        self._env: NftEnv | None = None
        self._generation = secrets.randbits(31)
        self.last_apply = ""  # "replace", "elements" or "none": what the last apply did

    @property
    def info(self) -> BackendInfo:
        return BackendInfo(name="nftables", reason=self._reason, notes=self._notes)

    async def observe(self) -> Table:
        """What our tables hold. After our own write, one small read (set ``generation``)
        proves the table is still the one we wrote; otherwise every named counter is read
        (they carry the whole table in their comments)."""
        if self._installed is not None and await self._generation_in_kernel() == self._generation:
            return dict(self._installed)
        table = parse_table(await self._counter_items())
        found = await self._generation_in_kernel()
        # Adopt what we read (a restart): later observes are one small read again.
        self._installed = table if found is not None else None
        self._generation = found if found is not None else self._generation
        self._notes = notes(table)
        return table

    async def _generation_in_kernel(self) -> int | None:
        argv = (self._nft, "-j", "list", "set", "inet", self._table, "generation")
        code, out, _ = await self._exec(argv, b"")
        if code != 0:
            return None
        return generation_of(objects([json.loads(out)]))

    async def counters(self) -> Mapping[ServiceKey, ServiceCounters]:
        return parse_counters(await self._counter_items())

    async def _counter_items(self) -> Sequence[Mapping[str, Any]]:
        """Our named counters (they hold the whole table): from the kernel's object dump,
        which is fast; from ``nft -j list counters`` if that fails."""
        try:
            return await asyncio.to_thread(dump_counters, self._table, self._netns)
        except OSError:
            return objects(await self._list("counters"))

    async def apply(self, ops: Sequence[Op], desired: Table) -> list[OpFailure]:
        env = NftEnv(
            table=self._table,
            seed=self._seed,
            ingress_devices=self._ingress,
            routes=await self._routes(desired),
        )
        generation = (self._generation + 1) % 2**31
        if self._installed is not None and env == self._env:
            # Weights only (the usual change: health, drain): refill a few maps, no render.
            update = weight_update(self._installed, desired, env, generation)
            if update == "":
                self.last_apply = "none"
                return []
            if update is not None and await self._run_script(update) is None:
                self.last_apply = "elements"
                self._installed, self._generation = dict(desired), generation
                return []
        rendered, error = await self._replace(desired, env, generation)
        self.last_apply = "replace"
        if error is None:
            self._installed, self._env = rendered.programmed, env
            self._generation = generation
            self._notes = rendered.notes
        else:
            self._installed = None
        failures = []
        for op in ops:
            why = error or rendered.refused.get(op.service)
            if why:
                failures.append(OpFailure(op=op, error=why))
        return failures

    async def _replace(
        self, desired: Table, env: NftEnv, generation: int
    ) -> tuple[Rendered, str | None]:
        """Replace our tables, keeping what the packet path remembered (see ``nft_rules``).
        Should that transaction fail (our tables hold something we did not expect), a fresh
        table: correct, but remembered flows are placed again."""
        found = await self._existing()
        draining = await self._draining(found, desired) if found is not None else {}
        rendered = render(desired, env, generation, existing=found, draining=draining)
        error = await self._run_script(rendered.script)
        if error is not None and found is not None:
            log.warning("nftables: replacing our tables while keeping their flow sets failed "
                        "(%s); replacing them afresh: established flows are placed again",
                        error)  # fmt: skip
            rendered = render(desired, env, generation)
            error = await self._run_script(rendered.script)
        return rendered, error

    async def _existing(self) -> Existing | None:
        """The objects of our tables: sets and maps without elements, chains without rules
        (three short ``nft -j`` runs; ``list table`` would print every rule, ~20x slower
        on 1,000 services) and the named counters (netlink)."""
        items: list[Mapping[str, Any]] = []
        for argv in (("-t", "list", "sets"), ("-t", "list", "maps"), ("list", "chains")):
            code, out, _ = await self._exec((self._nft, "-j", *argv), b"")
            if code != 0:
                return None
            try:
                items += objects([json.loads(out)])
            except ValueError:
                return None
        try:
            counters = await asyncio.to_thread(dump_counters, self._table, self._netns)
        except OSError:
            return None
        items += [{"counter": {**item["counter"], "table": self._table}} for item in counters]
        return existing(items, self._table)

    async def _draining(self, found: Existing, desired: Table) -> Draining:
        """Real servers removed from a DR service whose flow sets still hold flows: they
        keep forwarding those (IPVS keeps a deleted destination's connections)."""
        candidates: dict[tuple[str, str], tuple[ServiceKey, DestKey]] = {}
        for family, name, (kind, key, dkey) in found.remembered():
            entry = desired.get(key)
            if entry is None or family != "netdev" or kind != "f" or not _is_dr(entry):
                continue
            if dkey not in entry.destinations:
                candidates[family, name] = (key, dkey)
        if not candidates:
            return {}
        try:
            held = await asyncio.to_thread(
                dump_set_keys, self._table, list(candidates), self._netns
            )
        except OSError:
            held = {}  # unreadable: keep them rather than break their flows
        live = [kd for where, kd in candidates.items() if held.get(where, [(b"", 0)])]
        routes = await self._resolve({dkey.address for _, dkey in live})
        out: dict[ServiceKey, dict[DestKey, str]] = {}
        for key, dkey in live:
            if dkey.address in routes:
                out.setdefault(key, {})[dkey] = routes[dkey.address]
        return out

    async def flush(self) -> None:
        """The whole LVS table, for this backend: our two tables (``inet`` and ``netdev``
        pykeepalived), with their flow and persistence sets; nothing else of the ruleset (other
        tables are not LVS's: a host firewall, our VRRP table). The next apply starts afresh."""
        self._env = None
        await self.close()

    async def close(self) -> None:
        """Remove our tables: nothing of ours stays in the ruleset."""
        self._installed = None
        error = await self._run_script(delete_script(self._table))
        if error:
            raise KernelError(f"nft: removing our tables failed: {error}")

    async def _routes(self, desired: Table) -> dict[IPAddress, str]:
        wanted = set()
        for entry in desired.values():
            if _is_dr(entry):
                wanted |= {k.address for k in entry.destinations}
        return await self._resolve(wanted)

    async def _resolve(self, wanted: set[IPAddress]) -> dict[IPAddress, str]:
        """The interface towards each address (``ip route get``)."""
        if not wanted:
            return {}
        # One ``ip`` for all: a line of JSON per route found, matched back by "dst".
        batch = "".join(f"route get {a}\n" for a in sorted(wanted, key=str)).encode()
        _, out, _ = await self._exec(("ip", "-j", "-force", "-batch", "-"), batch)
        routes: dict[IPAddress, str] = {}
        by_text = {str(a): a for a in wanted}
        for line in out.decode(errors="replace").splitlines():
            try:
                found = json.loads(line)
            except ValueError:
                continue
            for route in found if isinstance(found, list) else ():
                address = by_text.get(str(route.get("dst", "")))
                if address is not None and "dev" in route:
                    routes[address] = str(route["dev"])
        return routes

    async def _list(self, what: str = "table") -> list[Mapping[str, Any]]:
        """``nft -j list table`` (or ``list counters table``) of both our tables."""
        docs = []
        for family in ("inet", "netdev"):
            argv = [self._nft, "-j", "list", "table", family, self._table]
            if what != "table":
                argv[3:3] = [what]
            code, out, err = await self._exec(argv, b"")
            if code == 0:
                docs.append(json.loads(out))
            elif b"No such file or directory" not in err:
                raise KernelError(f"nft list table {family} {self._table}: {err.decode().strip()}")
        return docs

    async def _run_script(self, script: str) -> str | None:
        code, _, err = await self._exec((self._nft, "-f", "-"), script.encode())
        if code == 0:
            return None
        return f"nft -f failed ({code}): {err.decode(errors='replace').strip()[:2000]}"

    async def _exec(self, argv: Sequence[str], stdin: bytes) -> tuple[int, bytes, bytes]:
        try:
            proc = await asyncio.create_subprocess_exec(
                *self._prefix,
                *argv,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
        except FileNotFoundError as e:
            return 127, b"", f"{e.filename}: not installed".encode()
        try:
            async with asyncio.timeout(self._timeout_s):
                out, err = await proc.communicate(stdin)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            return -1, b"", f"{' '.join(argv)}: timed out after {self._timeout_s} s".encode()
        assert proc.returncode is not None
        return proc.returncode, out, err


def _is_dr(entry: ServiceEntry) -> bool:
    try:
        return method_of(entry) is Method.DR
    except ValueError:
        return False
