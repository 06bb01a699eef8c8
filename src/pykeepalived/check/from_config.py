"""keepalived.conf -> every runnable ``Check``, its key, and the real servers they report on.

Rules: pure (no I/O, no clock) but for one lookup, injectable: script user names to uid/gid
through the user database (``system_users``, the default). It owns the translation of
the config model into the checker layer: keepalived's inheritance (checker, else real_server,
else virtual_server, else the checker type's default), the probe target and params, and one
``CheckerKey`` per checker naming its real server so the daemon routes events. It never
imports the LVS layer: ``RealServerKey`` has the fields of ``lvs.desired.RealServerId``
(``VirtualServer.id``, address, port) and the daemon maps one to the other field by field.

Facts from keepalived (``check_data.c`` ``validate_check_config``, ``check_api.c``,
``check_http.c``, ``check_ssl.c``, ``check_misc.c``, ``check_smtp.c``, ``check_file.c``):

* ``alpha``, ``retry``, ``connect_timeout``, ``delay_loop``, ``warmup``,
  ``delay_before_retry``: checker, else real_server, else virtual_server; then retry and
  delay_before_retry fall to the type's default (``hysteresis.CHECKER_DEFAULTS``), warmup to
  the checker's delay_loop; ``connect_timeout`` 5 s and ``delay_loop`` 60 s at the top.
  ``rise``/``fall`` (ours) inherit the same way, default 1.
* The probe goes to the real server's address and port unless ``connect_ip`` /
  ``connect_port`` say otherwise.
* HTTP ``Host``: url ``virtualhost``, else the checker's, else the real server's, else the
  virtual server's. A url without ``path`` is dropped; a checker without urls is dropped.
* SSL_GET: the top-level ``SSL`` block's certificate and key are the client certificate;
  its ``ca`` is loaded by keepalived but never enforced, so verification stays off.
* MISC_CHECK: ``misc_path`` is the whole argv; ``misc_timeout`` defaults to the *virtual
  server's* delay_loop; the script runs as ``user``, else global ``script_user``, else the
  user ``keepalived_script`` when it exists, else as we run.
* SMTP_CHECK: ``helo_name`` defaults to ``smtpchecker.keepalived.org``; each deprecated
  ``host`` block is a checker of its own, and a checker with no connection option of its own
  but with hosts takes the first host's.
* FILE_CHECK: ``track_file`` names a ``track_file``/``vrrp_track_file`` block; the checker's
  ``weight [reverse]`` overrides the block's. No retry, no alpha.

Deviations (each noted where it happens): a real server without a port is probed on the
virtual server's port (keepalived connects to port 0, which always fails); a FILE_CHECK is
read right after the bootstrap delay (warmup 0: keepalived reads the file at start);
BFD_CHECK follows a session of keepalived's BFD process, which we do not have: it is noted
and skipped, so the real server follows its other checkers (none: always up), as with a
keepalived built without BFD; ``config -t`` warns too (docs/health-checks.md).
"""

import dataclasses
import grp
import pwd
import shlex
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pykeepalived.check.aggregate import HealthBook
from pykeepalived.check.catalog import make_check
from pykeepalived.check.hysteresis import HysteresisParams, checker_params
from pykeepalived.check.probes import dns, file, http, misc, ping, smtp, tcp, udp
from pykeepalived.check.probes.common import ProbeTarget
from pykeepalived.check.runner import Check
from pykeepalived.config.model import KeepalivedConfig
from pykeepalived.config.model_check import (
    AnyChecker,
    BfdCheck,
    CheckerCommon,
    DnsCheck,
    FileCheck,
    HttpGet,
    MiscCheck,
    SmtpCheck,
    UdpCheck,
)
from pykeepalived.config.model_lvs import RealServer, VirtualServer
from pykeepalived.config.values import IPAddress

BFD_IGNORED = (
    "BFD_CHECK needs keepalived's BFD process, which pykeepalived does not have: ignored "
    "(the real server follows its other checkers; with none it is always up)"
)

DEFAULT_SCRIPT_USER = "keepalived_script"
"""keepalived's default user for MISC_CHECK scripts, when it exists."""

UserLookup = Callable[[str, str | None], tuple[int, int] | None]
"""(user, group or None) -> (uid, gid), or None when there is no such user/group."""


@dataclass(frozen=True, slots=True, order=True)
class RealServerKey:
    """A real server of one ``virtual_server`` block (the fields of lvs' ``RealServerId``)."""

    virtual_server: str
    address: IPAddress
    port: int


@dataclass(frozen=True, slots=True, order=True)
class CheckerKey:
    """One checker: its real server, its keyword and its position among that keyword's.

    ``host`` numbers the checkers an SMTP_CHECK's ``host`` blocks make (0: the checker's own).
    """

    real_server: RealServerKey
    kind: str
    index: int
    host: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerPlan:
    """A real server as the ``HealthBook`` needs it: weight and its checkers' first states."""

    key: RealServerKey
    weight: int
    checkers: Mapping[Hashable, bool]


@dataclass(frozen=True, slots=True, kw_only=True)
class ChecksPlan:
    checks: tuple[Check, ...] = ()
    servers: tuple[ServerPlan, ...] = ()
    notes: tuple[str, ...] = ()  # checkers skipped or options ignored, and why

    def health_book(self) -> HealthBook:
        book = HealthBook()
        for server in self.servers:
            book.add_server(server.key, server.weight, server.checkers)
        return book


@dataclass(slots=True)
class _Build:
    config: KeepalivedConfig
    users: UserLookup
    checks: list[Check] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def system_users(user: str, group: str | None) -> tuple[int, int] | None:
    """The machine's user database: (uid, gid of ``group`` or of the user's own group)."""
    try:
        entry = pwd.getpwnam(user)
        gid = entry.pw_gid if group is None else grp.getgrnam(group).gr_gid
    except KeyError:
        return None
    return entry.pw_uid, gid


def build(config: KeepalivedConfig, *, users: UserLookup = system_users) -> ChecksPlan:
    """Every checker of every real server; ``users`` resolves MISC_CHECK script users."""
    state = _Build(config=config, users=users)
    servers: list[ServerPlan] = []
    for vs in config.virtual_server:
        for rs in vs.real_server:
            servers.append(_server(state, vs, rs))
    return ChecksPlan(checks=tuple(state.checks), servers=tuple(servers), notes=tuple(state.notes))


def real_server_key(vs: VirtualServer, rs: RealServer) -> RealServerKey:
    port = rs.port if rs.port is not None else vs.port or 0
    return RealServerKey(vs.id, rs.ip, port)


def _server(state: _Build, vs: VirtualServer, rs: RealServer) -> ServerPlan:
    key = real_server_key(vs, rs)
    initial: dict[Hashable, bool] = {}
    counts: dict[str, int] = {}
    for checker in rs.checkers:
        index = counts.get(checker.KIND, 0)
        counts[checker.KIND] = index + 1
        where = f"{key.virtual_server} real server {rs.ip}:{key.port} {checker.KIND}#{index}"
        try:
            made = _checks(state, vs, rs, checker, CheckerKey(key, checker.KIND, index))
        except (ValueError, LookupError) as exc:
            state.notes.append(f"{where}: {exc}, skipped")
            continue
        for check in made:
            state.checks.append(check)
            initial[check.key] = not check.hysteresis.alpha
    return ServerPlan(key=key, weight=rs.weight, checkers=initial)


def _checks(
    state: _Build, vs: VirtualServer, rs: RealServer, checker: AnyChecker, key: CheckerKey
) -> list[Check]:
    if isinstance(checker, BfdCheck):
        raise ValueError(BFD_IGNORED)
    if isinstance(checker, FileCheck):
        return [_file_check(state, vs, rs, checker, key)]
    hysteresis = hysteresis_params(checker.KIND, vs, rs, checker)
    if isinstance(checker, SmtpCheck):
        return _smtp_checks(vs, rs, checker, key, hysteresis)
    target = None if isinstance(checker, MiscCheck) else probe_target(vs, rs, checker)
    params = _params(state, vs, rs, checker)
    return [make_check(key, checker.KIND, target=target, params=params, hysteresis=hysteresis)]


def _pick(*values: Any) -> Any:
    """The first value that is set (keepalived's "not set" sentinels are our ``None``)."""
    return next((value for value in values if value is not None), None)


def hysteresis_params(
    kind: str, vs: VirtualServer, rs: RealServer, c: CheckerCommon
) -> HysteresisParams:
    """Timing of one checker, inherited checker <- real_server <- virtual_server <- defaults."""
    delay_loop = _pick(c.delay_loop, rs.delay_loop, vs.delay_loop)
    return checker_params(
        kind,
        delay_loop_s=delay_loop,
        retry=_pick(c.retry, rs.retry, vs.retry),
        delay_before_retry_s=_pick(c.delay_before_retry, rs.delay_before_retry,
                                   vs.delay_before_retry),
        warmup_s=_pick(c.warmup, rs.warmup, vs.warmup),
        alpha=bool(_pick(c.alpha, rs.alpha, vs.alpha)),
        rise=_pick(c.rise, rs.rise, vs.rise, 1),
        fall=_pick(c.fall, rs.fall, vs.fall, 1),
    )  # fmt: skip


def probe_target(vs: VirtualServer, rs: RealServer, c: CheckerCommon) -> ProbeTarget:
    """Where the checker (or an SMTP_CHECK ``host`` block) connects."""
    timeout = _pick(c.connect_timeout, rs.connect_timeout, vs.connect_timeout)
    ip = c.connect_ip if c.connect_ip is not None else rs.ip
    return ProbeTarget(
        connect_ip=str(ip),
        connect_port=_pick(c.connect_port, rs.port, vs.port, 0),
        bindto=None if c.bindto is None else str(c.bindto),
        bind_port=c.bind_port,
        bind_if=c.bind_if,
        fwmark=c.fwmark,
        connect_timeout_s=timeout,
    )


def _params(state: _Build, vs: VirtualServer, rs: RealServer, c: AnyChecker) -> Any:
    if isinstance(c, HttpGet):  # SslGet too
        return http_params(state.config, vs, rs, c, state.notes)
    if isinstance(c, MiscCheck):
        return misc_params(state.config, vs, c, state.users)
    if isinstance(c, DnsCheck):
        return dns.DnsParams(type=c.type, name=c.name)
    if isinstance(c, UdpCheck):
        return udp_params(c)
    if c.KIND == "TCP_CHECK":
        return tcp.TcpParams()
    if c.KIND == "PING_CHECK":
        return ping.PingParams()
    raise ValueError(f"no params for {c.KIND}")  # pragma: no cover - every kind is above


def http_params(
    config: KeepalivedConfig, vs: VirtualServer, rs: RealServer, c: HttpGet, notes: list[str]
) -> http.HttpParams:
    urls = tuple(
        http.Url(
            path=u.path,
            status_code=tuple((r.low, r.high) for r in u.status_code),
            digest=u.digest,
            virtualhost=u.virtualhost,
            regex=u.regex,
            regex_no_match=u.regex_no_match,
            regex_options=u.regex_options,
            regex_min_offset=u.regex_min_offset or 0,
            regex_max_offset=u.regex_max_offset,
        )
        for u in c.url
        if u.path is not None
    )
    if not urls:
        raise ValueError("no url with a path (keepalived ignores such a checker)")
    ssl = c.KIND == "SSL_GET"
    cert = key = None
    if ssl and config.SSL is not None:
        cert, key = config.SSL.certificate, config.SSL.key
        if (cert is None) != (key is None):
            notes.append("SSL block: a client certificate needs both certificate and key; unused")
            cert = key = None
        if config.SSL.password is not None:
            notes.append("SSL block: 'password' (encrypted key) is not supported; ignored")
    return http.HttpParams(
        urls=urls,
        virtualhost=_pick(c.virtualhost, rs.virtualhost, vs.virtualhost),
        http_protocol=c.http_protocol,
        ssl=ssl,
        enable_sni=c.enable_sni,
        certificate=cert,
        key=key,
    )


def misc_params(
    config: KeepalivedConfig, vs: VirtualServer, c: MiscCheck, users: UserLookup
) -> misc.MiscParams:
    if c.misc_path is None:
        raise ValueError("no misc_path (keepalived skips such a checker)")
    # keepalived reads every word after misc_path as the script's argv; the model keeps the
    # first (quoted) word as the command and the next two as user/group: put them back.
    extra = [w for w in (c.misc_path.username, c.misc_path.groupname) if w is not None]
    argv = (*shlex.split(c.misc_path.command), *extra)
    uid_gid = _script_user(config, c, users)
    return misc.MiscParams(
        misc_path=argv,
        misc_timeout_s=c.misc_timeout if c.misc_timeout else vs.delay_loop,
        misc_dynamic=c.misc_dynamic,
        user=None if uid_gid is None else uid_gid[0],
        group=None if uid_gid is None else uid_gid[1],
    )


def _script_user(
    config: KeepalivedConfig, c: MiscCheck, users: UserLookup
) -> tuple[int, int] | None:
    for run_as, what in ((c.user, "user"), (config.global_defs.script_user, "script_user")):
        if run_as is None:
            continue
        found = users(run_as.username, run_as.groupname)
        if found is None:
            raise LookupError(f"unknown {what} {run_as.username} {run_as.groupname or ''}")
        return found
    return users(DEFAULT_SCRIPT_USER, None)


def udp_params(c: UdpCheck) -> udp.UdpParams:
    payload = udp.parse_hex_str(c.payload)[0] if c.payload else None
    reply, mask = udp.parse_hex_str(c.require_reply) if c.require_reply else (b"", b"")
    return udp.UdpParams(
        payload=payload,
        require_reply=c.require_reply is not None,
        reply_data=reply,
        reply_mask=mask,
        min_reply_length=c.min_reply_length,
        max_reply_length=c.max_reply_length,
    )


def _smtp_checks(
    vs: VirtualServer, rs: RealServer, c: SmtpCheck, key: CheckerKey, h: HysteresisParams
) -> list[Check]:
    """The checker itself, then one per ``host`` block (keepalived's deprecated form)."""
    params = smtp.SmtpParams(helo_name=c.helo_name or smtp.SMTP_DEFAULT_HELO)
    options = ("connect_ip", "connect_port", "bindto", "bind_port", "bind_if", "fwmark",
               "connect_timeout")  # fmt: skip
    own = any(getattr(c, name) is not None for name in options) or not c.host
    targets = [probe_target(vs, rs, c)] if own else []
    targets += [probe_target(vs, rs, host) for host in c.host]
    return [
        make_check(dataclasses.replace(key, host=i), "SMTP_CHECK", target=target,
                   params=params, hysteresis=h)
        for i, target in enumerate(targets)
    ]  # fmt: skip


def _file_check(
    state: _Build, vs: VirtualServer, rs: RealServer, c: FileCheck, key: CheckerKey
) -> Check:
    if c.track_file is None:
        raise ValueError("no track_file (keepalived ignores such a checker)")
    tracked = {t.name: t for t in state.config.vrrp_track_file}.get(c.track_file)
    if tracked is None:
        raise LookupError(f"track_file {c.track_file} not found")
    if tracked.file is None:
        raise ValueError(f"track_file {c.track_file} has no file")
    if c.weight is not None:
        weight, reverse = c.weight, bool(c.weight_reverse)
    else:
        weight, reverse = tracked.weight, tracked.weight_reverse
    hysteresis = dataclasses.replace(
        checker_params("FILE_CHECK", delay_loop_s=_pick(rs.delay_loop, vs.delay_loop)),
        warmup_s=0.0,
    )  # fmt: skip
    params = file.FileParams(file_path=tracked.file, weight=weight, reverse=reverse)
    return make_check(key, "FILE_CHECK", target=None, params=params, hysteresis=hysteresis)
