"""Command line: keepalived's flags, the config test and dump (the composition root).

Rules: this is the only module that picks real adapters; everything below takes them as
arguments. Exit codes: 0 success (warnings allowed), 1 config errors, 2 usage errors.
"""

import argparse
import sys
from collections.abc import Sequence

from pykeepalived import __version__
from pykeepalived.config.dump import dump_json
from pykeepalived.config.loader import LoadResult, load_machine

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
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    result = load_machine(args.config, config_id=args.config_id, strict=args.check_environment)
    if args.dump_config:
        _report(result, quiet_ok=True)
        if result.config is not None and result.ok:
            sys.stdout.write(dump_json(result.config))
        return EXIT_OK if result.ok else EXIT_CONFIG
    if args.config_test:
        return _report(result, quiet_ok=False)
    print(
        "pykeepalived: the daemon is not implemented yet; use -t or --dump-config", file=sys.stderr
    )
    return EXIT_USAGE


def _report(result: LoadResult, *, quiet_ok: bool) -> int:
    for diagnostic in result.diagnostics:
        print(diagnostic.render(), file=sys.stderr)
    errors, warnings = len(result.errors), len(result.warnings)
    if not (quiet_ok and result.ok):
        verdict = "OK" if result.ok else "FAILED"
        print(f"config check {verdict}: {errors} error(s), {warnings} warning(s)", file=sys.stderr)
    return EXIT_OK if result.ok else EXIT_CONFIG
