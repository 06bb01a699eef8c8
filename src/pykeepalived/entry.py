"""The command's first step, before the rest of the package is imported.

Rules: imports only the standard library and ``kernel.vrrp_listen`` at the top. A command
that will run the VRRP daemon as root opens its VRRP receive sockets here, so that the kernel
queues adverts while Python imports the daemon (``kernel.vrrp_listen`` says why that matters;
on the emulated IPVS test VM these imports take seconds). Everything else is ``cli``'s.
"""

import os
import sys
from collections.abc import Sequence

from pykeepalived.kernel.vrrp_listen import EarlyReceivers

SUBCOMMANDS = ("lab", "realserver", "cleanup", "status")
NOT_VRRP_DAEMON = frozenset("tCvh")  # -t, -C (checkers only), -v, -h: no VRRP to run
TAKES_VALUE = frozenset("fprcSgi")
NOT_VRRP_LONG = ("--config-test", "--dump-config", "--check", "--version", "--help")


def main(argv: Sequence[str] | None = None) -> int:
    words = list(sys.argv[1:] if argv is None else argv)
    early = listen_early(words)
    from pykeepalived.cli import main as cli_main

    return cli_main(words, early=early)


def listen_early(words: list[str]) -> EarlyReceivers | None:
    """Receive sockets opened now when ``words`` will run the VRRP daemon as root: a cheap
    look at the words, before argparse (a wrong guess costs nothing: ``cli`` closes them)."""
    if os.geteuid() != 0 or (words and words[0] in SUBCOMMANDS):
        return None
    for word in words:
        if word.startswith("--"):
            if word in NOT_VRRP_LONG:
                return None
        elif word.startswith("-"):
            for letter in word[1:]:  # a cluster like -nlD, or -fFILE: a value ends it
                if letter in NOT_VRRP_DAEMON:
                    return None
                if letter in TAKES_VALUE:
                    break
    return EarlyReceivers.listen()
