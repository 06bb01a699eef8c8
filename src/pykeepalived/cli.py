"""Command line: keepalived's flags, the config test and dump (the composition root).

Rules: this is the only module that picks real adapters; everything below takes them as
arguments. Exit codes: 0 success (warnings allowed), 1 config errors, 2 usage errors.
"""

import argparse
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from pykeepalived import __version__, lazy_pyroute2, pidfile
from pykeepalived.entry import SUBCOMMANDS

if TYPE_CHECKING:
    from pykeepalived.config.loader import LoadResult
    from pykeepalived.kernel.vrrp_listen import EarlyReceivers

DEFAULT_CONFIG = "/etc/keepalived/keepalived.conf"
EXIT_OK, EXIT_CONFIG, EXIT_USAGE = 0, 1, 2


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="pykeepalived",
        description="keepalived + LVS in Python: VRRP, IPVS/nftables and health checks.",
    )
    p.add_argument("-f", "--use-file", dest="config", default=DEFAULT_CONFIG, metavar="FILE")
    p.add_argument("-t", "--config-test", action="store_true", help="check the config and exit")
    p.add_argument("--dump-config", action="store_true", help="print the model as JSON and exit")
    p.add_argument(
        "--check-environment",
        action="store_true",
        help="make findings about this machine (interfaces, scripts, includes) errors",
    )
    p.add_argument("-i", "--config-id", default=None, help="id for @id conditional lines")
    p.add_argument("-v", "--version", action="version", version=f"pykeepalived {__version__}")
    daemon = p.add_argument_group("daemon (keepalived's flags)")
    for flags in (
        ("-n", "--dont-fork"),
        ("-l", "--log-console"),
        ("-D", "--log-detail"),
        ("-P", "--vrrp"),
        ("-C", "--check"),
    ):
        daemon.add_argument(*flags, action="store_true")
    for flags in (
        ("-p", "--pid"),
        ("-r", "--vrrp_pid"),
        ("-c", "--checkers_pid"),
        ("-S", "--log-facility"),
        ("-g", "--log-file"),
    ):
        daemon.add_argument(*flags, metavar="VALUE")
    daemon.add_argument(
        "--lvs-backend",
        choices=("auto", "ipvs", "nftables"),
        default="auto",
        help="LVS data plane (pykeepalived extension): auto picks IPVS when the kernel has it",
    )
    daemon.add_argument(
        "--api",
        metavar="[ADDR:]PORT",
        help="serve the JSON API, /metrics and the dashboard (pykeepalived extension; "
        "no ADDR: 127.0.0.1); overrides global_defs api_listen",
    )
    daemon.add_argument(
        "--api-token-file",
        metavar="FILE",
        help="bearer token for the API's mutating endpoints; overrides api_token_file",
    )
    return p


def main(argv: Sequence[str] | None = None, early: "EarlyReceivers | None" = None) -> int:
    """``early``: VRRP receive sockets the command opened first (``entry``), if any."""
    words = list(sys.argv[1:] if argv is None else argv)
    # Before anything imports pyroute2: its package __init__ imports the whole library, which
    # the daemon's start does not need (docs/benchmarks.md, "Seed scenario in the IPVS VM").
    lazy_pyroute2.install()
    if words and words[0] in SUBCOMMANDS:
        return _subcommand(words[0], words[1:])
    args = build_parser().parse_args(words)
    if not (args.dump_config or args.config_test):
        return run_daemon(args, early)
    if early is not None:
        early.close()
    from pykeepalived.config.dump import dump_json
    from pykeepalived.config.loader import load_machine

    result = load_machine(args.config, config_id=args.config_id, strict=args.check_environment)
    if args.dump_config:
        _report(result, quiet_ok=True)
        if result.config is not None and result.ok:
            sys.stdout.write(dump_json(result.config))
        return EXIT_OK if result.ok else EXIT_CONFIG
    return _report(result, quiet_ok=False)


def _subcommand(name: str, argv: list[str]) -> int:
    if name == "lab":
        from pykeepalived.lab.cli import main as lab_main

        return lab_main(argv)
    if name == "cleanup":
        from pykeepalived.cleanup import main as cleanup_main

        return cleanup_main(argv)
    if name == "status":
        from pykeepalived.api.status import main as status_main

        return status_main(argv)
    from pykeepalived.realserver import main as realserver_main

    return realserver_main(argv)


def run_daemon(args: argparse.Namespace, early: "EarlyReceivers | None" = None) -> int:
    """keepalived's daemon mode: fork unless -n, pid files, then the asyncio daemon.

    The daemon's modules are imported here, not at the top: ``-t`` stays fast. ``early``:
    VRRP receive sockets listening since the process started (closed if VRRP does not run).
    """
    import asyncio
    import logging

    from pykeepalived.daemon import Daemon, DaemonOptions
    from pykeepalived.errors import PyKeepalivedError
    from pykeepalived.runtime import adapters, setup_logging

    if os.geteuid() != 0:
        print("pykeepalived: the daemon needs root (raw sockets, netlink)", file=sys.stderr)
        return EXIT_USAGE
    run_vrrp, run_checkers = args.vrrp or not args.check, args.check or not args.vrrp
    pid_files = pidfile.PidFiles(args.pid, args.vrrp_pid, args.checkers_pid).for_parts(
        run_vrrp=run_vrrp, run_checkers=run_checkers
    )
    running = pidfile.running_pid(pid_files)
    if running is not None:  # keepalived's answer (and exit code 0) to a second start
        print(f"pykeepalived: daemon is already running (pid {running})", file=sys.stderr)
        return EXIT_OK
    if early is not None and not run_vrrp:
        early.close()
        early = None
    if not args.dont_fork:
        _daemonize()
    setup_logging(
        console=args.log_console or (args.dont_fork and not args.log_file),
        detail=args.log_detail,
        log_file=args.log_file,
        facility=args.log_facility,
    )
    try:
        pidfile.write(pid_files)
    except pidfile.PidFileError as exc:
        logging.getLogger("pykeepalived").error("cannot start: %s", exc)
        pidfile.remove(pid_files)
        return EXIT_CONFIG
    options = DaemonOptions(
        run_vrrp=run_vrrp,
        run_checkers=run_checkers,
        log_detail=args.log_detail,
        config_path=os.path.abspath(args.config),
    )
    try:
        try:
            chosen = adapters(args.config, args.config_id, args.lvs_backend, early)
            from pykeepalived.api.companion import api_companion  # aiohttp only when needed

            chosen.companions.append(api_companion(args.api, args.api_token_file))
        except PyKeepalivedError as exc:
            logging.getLogger("pykeepalived").error("cannot start: %s", exc)
            return EXIT_CONFIG
        return asyncio.run(Daemon(options, chosen).run())
    finally:
        pidfile.remove(pid_files)


def _daemonize() -> None:
    """The classic double fork: detach from the terminal and the session."""
    if os.fork() > 0:
        os._exit(0)
    os.setsid()
    if os.fork() > 0:
        os._exit(0)
    os.chdir("/")
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)


def _report(result: "LoadResult", *, quiet_ok: bool) -> int:
    for diagnostic in result.diagnostics:
        print(diagnostic.render(), file=sys.stderr)
    errors, warnings = len(result.errors), len(result.warnings)
    if not (quiet_ok and result.ok):
        verdict = "OK" if result.ok else "FAILED"
        print(f"config check {verdict}: {errors} error(s), {warnings} warning(s)", file=sys.stderr)
    return EXIT_OK if result.ok else EXIT_CONFIG
