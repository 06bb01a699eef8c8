"""``pykeepalived realserver up|down --vip ADDR``: prepare a DR/TUN real server as the seed does.

The seed does it by hand: ``ip addr add VIP/32 dev lo`` and an ifcfg-lo:0 file, with ARP for
the VIP suppressed so that only the director answers for it (``arp_ignore=1``: answer only for
addresses of the receiving interface; ``arp_announce=2``: never use the VIP as an ARP source).
``--persist`` writes a systemd unit and a sysctl.d file so it survives a reboot.
"""

import argparse
import ipaddress
import shutil
import subprocess
import sys
from pathlib import Path

from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError

SYSCTLS = {"arp_ignore": ("1", "0"), "arp_announce": ("2", "0")}
SYSCTL_FILE = Path("/etc/sysctl.d/90-pykeepalived-realserver.conf")
UNIT_DIR = Path("/etc/systemd/system")
EEXIST, EADDRNOTAVAIL = 17, 99
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def _sysctl(name: str, value: str) -> None:
    for scope in ("all", "lo"):
        Path(f"/proc/sys/net/ipv4/conf/{scope}/{name}").write_text(value)


def _set_lo_address(vip: IPAddress, add: bool) -> str:
    prefix = 32 if vip.version == 4 else 128
    with IPRoute() as ipr:
        index = ipr.link_lookup(ifname="lo")[0]
        try:
            ipr.addr("add" if add else "del", index=index, address=str(vip), prefixlen=prefix)
        except NetlinkError as exc:
            if exc.code != (EEXIST if add else EADDRNOTAVAIL):
                raise
            return f"{vip}/{prefix} {'already on' if add else 'was not on'} lo"
    return f"{'added' if add else 'removed'} {vip}/{prefix} {'on' if add else 'from'} lo"


def up(vip: IPAddress) -> str:
    message = _set_lo_address(vip, add=True)
    if vip.version == 4:
        for name, (on, _off) in SYSCTLS.items():
            _sysctl(name, on)
        message += "; arp_ignore=1, arp_announce=2"
    return message


def down(vip: IPAddress) -> str:
    message = _set_lo_address(vip, add=False)
    if vip.version == 4:
        for name, (_on, off) in SYSCTLS.items():
            _sysctl(name, off)
    return message


def unit_text(vip: str, exe: str) -> str:
    return (
        "[Unit]\n"
        f"Description=pykeepalived DR real server: VIP {vip} on lo\n"
        "After=network-pre.target\nBefore=network-online.target\n\n"
        "[Service]\nType=oneshot\nRemainAfterExit=yes\n"
        f"ExecStart={exe} realserver up --vip {vip}\n"
        f"ExecStop={exe} realserver down --vip {vip}\n\n"
        "[Install]\nWantedBy=multi-user.target\n"
    )


def persist(vip: str) -> str:
    exe = shutil.which("pykeepalived") or f"{sys.executable} -m pykeepalived"
    unit = UNIT_DIR / f"pykeepalived-realserver-{vip.replace(':', '_')}.service"
    unit.write_text(unit_text(vip, exe))
    SYSCTL_FILE.write_text(
        "# pykeepalived realserver: only the director answers ARP for the VIP\n"
        "net.ipv4.conf.all.arp_ignore = 1\nnet.ipv4.conf.all.arp_announce = 2\n"
        "net.ipv4.conf.lo.arp_ignore = 1\nnet.ipv4.conf.lo.arp_announce = 2\n"
    )
    if shutil.which("systemctl"):
        subprocess.run(["systemctl", "daemon-reload"], check=False)
        subprocess.run(["systemctl", "enable", unit.name], check=False)
    return f"wrote {unit} and {SYSCTL_FILE}"


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="pykeepalived realserver", description=__doc__)
    p.add_argument("action", choices=("up", "down"))
    p.add_argument("--vip", required=True, type=ipaddress.ip_address)
    p.add_argument("--persist", action="store_true", help="survive a reboot (systemd, sysctl.d)")
    args = p.parse_args(argv)
    try:
        message = up(args.vip) if args.action == "up" else down(args.vip)
        if args.persist and args.action == "up":
            message += "; " + persist(str(args.vip))
    except (OSError, NetlinkError) as exc:
        print(f"pykeepalived realserver: {exc}", file=sys.stderr)
        return 1
    print(message)
    return 0
