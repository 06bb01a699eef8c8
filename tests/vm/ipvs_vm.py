"""Run a command as root in a small QEMU VM that boots Debian's stock kernel, which has IPVS.

The machines that develop and test pykeepalived run a kernel without IPVS (and without usable
KVM). This harness boots Debian's ``linux-image-amd64`` under QEMU software emulation (TCG):

* host packages ``qemu-system-x86``, ``busybox-static`` and ``ipvsadm`` are installed when
  missing (``apt-get install --no-install-recommends``, one ``apt-get update`` if that fails);
* the kernel package is fetched with ``apt-get download`` and unpacked with ``dpkg -x`` into the
  cache (default ``<repo>/.cache/ipvs-vm/``, git-ignored); nothing is installed into ``/boot``;
  ``busybox depmod`` writes its ``modules.dep``;
* a tiny initramfs (static busybox, a generated ``/init`` and the virtio / 9p / overlay modules
  with their dependencies) mounts the host's ``/`` read-only over virtio-9p under a tmpfs
  overlay (the guest may write anywhere; nothing reaches the host), shares the repository
  read-write at the same path, the unpacked ``/lib/modules`` read-only (so ``modprobe`` and the
  kernel's module autoloading work: IPVS schedulers, veth, nf_tables...), mounts ``/proc``,
  ``/sys``, ``/dev``, ``/run``, ``/tmp`` and ``switch_root``s into that tree;
* the second stage loads ``ip_vs`` (and the common schedulers), brings ``lo`` up (no NIC: tests
  make their own namespaces and veth pairs), runs the command in the same cwd with a sane PATH,
  writes its exit code to a shared control directory and powers off.

The command's output comes back on a virtio console (QEMU's stdout); the kernel log goes to
``boot.log`` in the run directory. A total timeout bounds everything; on expiry QEMU is killed
by its PID. One VM at a time per cache: a run first waits (at most 180 s) for another run's VM
to finish, then boots alongside it.

    python tests/vm/ipvs_vm.py -- ipvsadm -Ln
    python tests/vm/ipvs_vm.py --timeout 900 -- .venv/bin/python -m pytest -m ipvs
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import dataclasses
import fcntl
import hashlib
import json
import lzma
import os
import shlex
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

REPO = Path(__file__).resolve().parents[2]
DEFAULT_CACHE = REPO / ".cache" / "ipvs-vm"
DEFAULT_TIMEOUT = 600.0
# How long run() waits for another run's VM before booting alongside it anyway.
DEFAULT_LOCK_WAIT = 180.0

HOST_PACKAGES = ("qemu-system-x86", "busybox-static", "ipvsadm")
KERNEL_META_PACKAGE = "linux-image-amd64"
QEMU = "qemu-system-x86_64"
BUSYBOX = Path("/bin/busybox")

# Loaded by the initramfs, with their dependencies from modules.dep.
INITRAMFS_MODULES = ("virtio_pci", "virtio_console", "9pnet_virtio", "9p", "overlay")
# Loaded by the second stage with modprobe (which also follows soft dependencies: ip_vs needs
# libcrc32c, which needs crc32c through the crypto API). Any other module (other IPVS
# schedulers, veth, bridge, nf_tables...) is autoloaded by the kernel through modprobe.
GUEST_MODULES = ("ip_vs", "ip_vs_rr", "ip_vs_wrr", "ip_vs_wlc")

# Environment passed from the caller into the guest (plus PATH, and whatever env= adds).
PASS_ENV = ("HYPOTHESIS_PROFILE", "PYTHONHASHSEED", "LANG", "LC_ALL", "CI")
GUEST_PATH_TAIL = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
IN_VM_ENV = "PYKEEPALIVED_IN_VM"

MSIZE = 512 * 1024
NINEP = f"trans=virtio,version=9p2000.L,msize={MSIZE}"

QEMU_MACHINE = (
    "-accel", "tcg,thread=multi", "-cpu", "max", "-M", "q35", "-smp", "2", "-m", "2G",
)  # fmt: skip
KERNEL_CMDLINE = (
    "console=ttyS0 panic=-1 oops=panic loglevel=5 rdinit=/init mitigations=off "
    "random.trust_cpu=on nokaslr"
)

Log = Callable[[str], None]


class VmUnavailable(RuntimeError):
    """The VM cannot be prepared or started here; ``str(exc)`` says why."""


@dataclass(frozen=True)
class Kernel:
    package: str
    release: str  # the directory name under lib/modules, e.g. 6.1.0-56-amd64
    root: Path  # the unpacked package

    @property
    def vmlinuz(self) -> Path:
        return self.root / "boot" / f"vmlinuz-{self.release}"

    @property
    def modules(self) -> Path:
        return self.root / "lib" / "modules" / self.release


@dataclass(frozen=True)
class Prepared:
    kernel: Kernel
    initramfs: Path
    cache: Path
    boot_image: Path  # the uncompressed vmlinux when it can boot through PVH, else vmlinuz


@dataclass(frozen=True)
class VmResult:
    """What one boot produced.

    ``returncode`` is the command's exit code, or None when the command did not finish (the VM
    did not boot, or the timeout hit). ``booted`` says whether the guest reached the command.
    """

    returncode: int | None
    output: str
    booted: bool
    timed_out: bool
    seconds: float
    run_dir: Path
    qemu_stderr: str
    waited: float = 0.0  # seconds spent waiting for another run's VM before booting

    @property
    def boot_log(self) -> Path:
        return self.run_dir / "boot.log"

    def boot_log_tail(self, lines: int = 30) -> str:
        try:
            text = self.boot_log.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def failure_reason(self) -> str | None:
        """Why the VM did not run the command to its end, or None when it did."""
        if self.returncode is not None:
            return None
        if self.timed_out:
            where = "running the command" if self.booted else "booting"
            return f"the VM timed out after {self.seconds:.0f} s while {where}"
        detail = self.qemu_stderr.strip() or self.boot_log_tail(15)
        if self.booted:
            return f"the VM stopped before the command finished (see {self.boot_log}):\n{detail}"
        return f"the VM did not boot (see {self.boot_log}):\n{detail}"


def _stderr_log(message: str) -> None:
    print(f"ipvs-vm: {message}", file=sys.stderr, flush=True)


class _Deadline:
    def __init__(self, seconds: float) -> None:
        self.end = time.monotonic() + seconds

    def left(self) -> float:
        left = self.end - time.monotonic()
        if left <= 0:
            raise VmUnavailable("the timeout expired while preparing the VM")
        return left


def _run(
    argv: Sequence[str], deadline: _Deadline, *, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive", LC_ALL="C")
    try:
        return subprocess.run(
            list(argv),
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=deadline.left(),
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise VmUnavailable(f"timed out: {shlex.join(argv)}") from exc
    except OSError as exc:
        raise VmUnavailable(f"cannot run {argv[0]}: {exc}") from exc


def _checked(argv: Sequence[str], deadline: _Deadline, *, cwd: Path | None = None) -> str:
    done = _run(argv, deadline, cwd=cwd)
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-5:]
        raise VmUnavailable(f"{shlex.join(argv)} failed ({done.returncode}): " + " | ".join(tail))
    return done.stdout


class _Apt:
    """apt-get with one ``update`` at most per process, run only when something failed."""

    updated = False

    def __init__(self, deadline: _Deadline, log: Log) -> None:
        self.deadline = deadline
        self.log = log

    def update(self) -> bool:
        if _Apt.updated:
            return False
        self.log("apt-get update")
        _checked(["apt-get", "-o", "DPkg::Lock::Timeout=300", "update", "-qq"], self.deadline)
        _Apt.updated = True
        return True

    def with_update_retry(self, argv: Sequence[str], cwd: Path | None = None) -> str:
        done = _run(argv, self.deadline, cwd=cwd)
        if done.returncode == 0:
            return done.stdout
        if self.update():
            return _checked(argv, self.deadline, cwd=cwd)
        tail = (done.stderr or done.stdout).strip().splitlines()[-5:]
        raise VmUnavailable(f"{shlex.join(argv)} failed ({done.returncode}): " + " | ".join(tail))


def _installed(package: str) -> bool:
    try:
        done = subprocess.run(
            ["dpkg-query", "-W", "-f=${Status}", package],
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0 and done.stdout.strip().endswith(" installed")


def ensure_host_packages(deadline: _Deadline, log: Log) -> None:
    """Install the harness's host packages when missing (needs root and apt)."""
    if shutil.which("dpkg-query") is None or shutil.which("apt-get") is None:
        if shutil.which(QEMU) and BUSYBOX.exists():
            return
        raise VmUnavailable("not a Debian-like host (no dpkg/apt-get) and qemu/busybox missing")
    missing = [p for p in HOST_PACKAGES if not _installed(p)]
    if not missing:
        return
    if os.geteuid() != 0:
        raise VmUnavailable(
            f"host packages missing: {' '.join(missing)} (run: sudo bash scripts/setup.sh --test)"
        )
    log(f"installing host packages: {' '.join(missing)}")
    _Apt(deadline, log).with_update_retry(
        [
            "apt-get",
            "-o",
            "DPkg::Lock::Timeout=300",
            "install",
            "-y",
            "-qq",
            "--no-install-recommends",
            *missing,
        ]
    )


def _kernel_package(apt: _Apt) -> str:
    """The versioned package linux-image-amd64 depends on, e.g. linux-image-6.1.0-56-amd64."""
    for attempt in range(2):
        out = _run(["apt-cache", "depends", KERNEL_META_PACKAGE], apt.deadline).stdout
        for line in out.splitlines():
            key, _, value = line.strip().partition(":")
            if key == "Depends" and value.strip().startswith("linux-image-"):
                return value.strip()
        if attempt == 0 and not apt.update():
            break
    raise VmUnavailable(f"apt-cache knows no {KERNEL_META_PACKAGE} (is the Debian archive set?)")


def _depmod(kernel: Kernel, deadline: _Deadline) -> None:
    base = str(kernel.root)
    if not (kernel.modules / "modules.dep").exists():
        _checked([str(BUSYBOX), "depmod", "-b", base, kernel.release], deadline)
    # kmod's modprobe (when the host has kmod) reads only the binary indexes.
    kmod_depmod = shutil.which("depmod")
    if kmod_depmod and not (kernel.modules / "modules.dep.bin").exists():
        _checked([kmod_depmod, "-b", base, kernel.release], deadline)


def ensure_kernel(cache: Path, deadline: _Deadline, log: Log, *, refresh: bool = False) -> Kernel:
    """Download and unpack the kernel package into the cache, once."""
    stamp = cache / "kernel.json"
    if stamp.exists() and not refresh:
        data = json.loads(stamp.read_text())
        kernel = Kernel(data["package"], data["release"], cache / data["dir"])
        if kernel.vmlinuz.exists() and kernel.modules.is_dir():
            _depmod(kernel, deadline)
            return kernel
    if shutil.which("apt-get") is None:
        raise VmUnavailable("no apt-get: cannot fetch Debian's kernel")
    apt = _Apt(deadline, log)
    package = _kernel_package(apt)
    dest = cache / package
    if not (dest / "boot").is_dir():
        download = cache / "download"
        shutil.rmtree(download, ignore_errors=True)
        download.mkdir(parents=True)
        log(f"downloading {package}")
        done = _run(["apt-get", "download", "-qq", package], deadline, cwd=download)
        if done.returncode != 0:
            # Stale package lists name a kernel the mirror no longer has: update, re-resolve.
            if not apt.update():
                raise VmUnavailable(f"apt-get download {package} failed: {done.stderr.strip()}")
            package = _kernel_package(apt)
            dest = cache / package
            log(f"downloading {package}")
            _checked(["apt-get", "download", "-qq", package], deadline, cwd=download)
        debs = sorted(download.glob("*.deb"))
        if not debs:
            raise VmUnavailable(f"apt-get download {package} produced no .deb")
        unpack = cache / f"{package}.partial"
        shutil.rmtree(unpack, ignore_errors=True)
        log(f"unpacking {debs[0].name}")
        _checked(["dpkg-deb", "-x", str(debs[0]), str(unpack)], deadline)
        shutil.rmtree(dest, ignore_errors=True)
        unpack.rename(dest)
        shutil.rmtree(download, ignore_errors=True)
    releases = sorted(p.name for p in (dest / "lib" / "modules").iterdir() if p.is_dir())
    if len(releases) != 1:
        raise VmUnavailable(f"{package}: expected one lib/modules/<release>, found {releases}")
    kernel = Kernel(package, releases[0], dest)
    if not kernel.vmlinuz.exists():
        raise VmUnavailable(f"{package}: no {kernel.vmlinuz.name}")
    _depmod(kernel, deadline)
    stamp.write_text(json.dumps({"package": package, "release": kernel.release, "dir": package}))
    return kernel


XEN_ELFNOTE_PHYS32_ENTRY = 18


def _has_pvh_entry(elf: bytes) -> bool:
    """True when an ELF64 kernel carries the Xen PVH entry note QEMU boots it through."""
    if elf[:4] != b"\x7fELF" or elf[4] != 2:
        return False
    phoff = int.from_bytes(elf[32:40], "little")
    phentsize = int.from_bytes(elf[54:56], "little")
    for i in range(int.from_bytes(elf[56:58], "little")):
        ph = phoff + i * phentsize
        if int.from_bytes(elf[ph : ph + 4], "little") != 4:  # PT_NOTE
            continue
        at = int.from_bytes(elf[ph + 8 : ph + 16], "little")
        end = at + int.from_bytes(elf[ph + 32 : ph + 40], "little")
        while at + 12 <= end:
            namesz, descsz, kind = (
                int.from_bytes(elf[at + k : at + k + 4], "little") for k in (0, 4, 8)
            )
            name = elf[at + 12 : at + 12 + namesz]
            if name.rstrip(b"\0") == b"Xen" and kind == XEN_ELFNOTE_PHYS32_ENTRY:
                return True
            at += 12 + (namesz + 3) // 4 * 4 + (descsz + 3) // 4 * 4
    return False


def pvh_vmlinux(kernel: Kernel) -> Path | None:
    """The kernel uncompressed (once, in the cache), if it can boot through PVH.

    QEMU then loads the ELF directly instead of the bzImage decompressing itself under TCG:
    about 4 s less per boot. None (boot the vmlinuz) when the image is not XZ or has no note.
    """
    target = kernel.root / "boot" / f"vmlinux-{kernel.release}"
    failed = target.with_suffix(".no-pvh")
    if target.exists():
        return target
    if failed.exists():
        return None
    data = kernel.vmlinuz.read_bytes()
    start = data.find(b"\xfd7zXZ\x00")
    elf = b""
    if start >= 0:
        with contextlib.suppress(lzma.LZMAError):
            elf = lzma.LZMADecompressor(format=lzma.FORMAT_XZ).decompress(data[start:])
    if not _has_pvh_entry(elf):
        failed.touch()
        return None
    tmp = target.with_suffix(".tmp")
    tmp.write_bytes(elf)
    tmp.rename(target)
    return target


def _module_deps(modules_dir: Path) -> dict[str, tuple[str, list[str]]]:
    """Module name -> (relative path, dependencies' relative paths), from modules.dep."""
    table: dict[str, tuple[str, list[str]]] = {}
    for line in (modules_dir / "modules.dep").read_text().splitlines():
        path, sep, deps = line.partition(":")
        if not sep:
            continue
        name = Path(path).name.split(".ko")[0].replace("-", "_")
        table[name] = (path, deps.split())
    return table


def load_order(modules_dir: Path, wanted: Sequence[str]) -> list[str]:
    """Relative .ko paths to insmod, dependencies first; built-in modules are skipped."""
    table = _module_deps(modules_dir)
    builtin_file = modules_dir / "modules.builtin"
    builtin = set()
    if builtin_file.exists():
        builtin = {
            Path(p).name.split(".ko")[0].replace("-", "_") for p in builtin_file.read_text().split()
        }
    order: list[str] = []
    for name in wanted:
        key = name.replace("-", "_")
        if key in builtin:
            continue
        if key not in table:
            raise VmUnavailable(f"module {name} is neither in modules.dep nor built in")
        path, deps = table[key]
        # depmod lists the whole closure, the deepest dependency last: load it first.
        for item in [*reversed(deps), path]:
            if item not in order:
                order.append(item)
    return order


INIT_TEMPLATE = r"""#!/bin/busybox sh
# Stage 1 (initramfs): mount the host's / read-only under a tmpfs overlay, the shares, and
# switch_root into it. Generated by tests/vm/ipvs_vm.py.
/bin/busybox mkdir -p /proc /sys /dev /usr/bin /sbin /usr/sbin
/bin/busybox --install -s
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
fail() {
    echo "ipvs-vm init: $*" >/dev/ttyS0
    [ -e /dev/hvc0 ] && echo "ipvs-vm init: $*" >/dev/hvc0
    poweroff -f
}
for m in @MODULES@; do
    insmod "/modules/$m" || fail "insmod $m failed"
done
i=0
while [ ! -e /dev/hvc0 ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
mkdir -p /lower /rw /newroot
# cache=loose: the guest caches what it reads (3x faster Python imports under TCG); changes the
# host makes during the run may go unseen. The control share stays uncached.
mount -t 9p -o ro,@NINEP@,cache=loose hostroot /lower || fail "cannot mount the host root (9p)"
mount -t tmpfs -o mode=0755 tmpfs /rw
mkdir -p /rw/upper /rw/work
mount -t overlay -o lowerdir=/lower,upperdir=/rw/upper,workdir=/rw/work overlay /newroot \
    || fail "cannot mount the overlay"
N=/newroot
mount -t proc proc $N/proc || fail "no /proc"
mount -t sysfs sysfs $N/sys || fail "no /sys"
mount -t devtmpfs devtmpfs $N/dev || fail "no /dev"
mkdir -p $N/dev/pts $N/dev/shm
mount -t devpts -o gid=5,mode=620,ptmxmode=666 devpts $N/dev/pts
mount -t tmpfs -o mode=1777 tmpfs $N/dev/shm
mount -t cgroup2 cgroup2 $N/sys/fs/cgroup 2>/dev/null
mount -t tmpfs -o mode=0755 tmpfs $N/run
mount -t tmpfs -o mode=1777 tmpfs $N/tmp
if [ ! -L $N/var/run ]; then mkdir -p $N/var/run && mount --bind $N/run $N/var/run; fi
mkdir -p $N/run/ipvs-vm $N/run/netns $N/lib/modules
mount -t 9p -o @NINEP@ ctl $N/run/ipvs-vm || fail "cannot mount the control share"
mount -t 9p -o ro,@NINEP@,cache=loose kmods $N/lib/modules || fail "cannot mount the modules share"
mkdir -p "$N@REPO@"
mount -t 9p -o @NINEP@,cache=loose repo "$N@REPO@" || fail "cannot mount the repository share"
# The guest's modprobe: the host's (kmod) if it has one, else busybox's.
if [ ! -e $N/sbin/modprobe ] && [ ! -e $N/usr/sbin/modprobe ]; then
    for t in modprobe insmod rmmod lsmod depmod modinfo; do ln -s /bin/busybox $N/usr/sbin/$t; done
fi
echo /sbin/modprobe >/proc/sys/kernel/modprobe
[ -x $N/bin/busybox ] || cp /bin/busybox $N/bin/busybox
exec switch_root $N /bin/sh /run/ipvs-vm/stage2.sh
fail "switch_root failed"
"""

STAGE2_TEMPLATE = r"""#!/bin/sh
# Stage 2 (PID 1 in the overlay root): modules, loopback, the command, its exit code, power off.
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
hostname ipvs-vm
ip link set lo up
if ! modprobe -a @GUEST_MODULES@; then
    for m in @GUEST_MODULES@; do
        modprobe "$m" || echo "ipvs-vm: modprobe $m failed" >/dev/hvc0
    done
fi
: >/run/ipvs-vm/booted
echo "ipvs-vm: command starts at $(cut -d' ' -f1 /proc/uptime) s" >/dev/ttyS0
sh /run/ipvs-vm/cmd.sh </dev/null >/dev/hvc0 2>&1
rc=$?
echo "ipvs-vm: command exits $rc at $(cut -d' ' -f1 /proc/uptime) s" >/dev/ttyS0
echo $rc >/run/ipvs-vm/rc.tmp
mv /run/ipvs-vm/rc.tmp /run/ipvs-vm/rc
sync
sleep 0.3
/bin/busybox poweroff -f
"""


def _cpio_newc(entries: Sequence[tuple[str, int, bytes, tuple[int, int]]]) -> bytes:
    """An uncompressed newc cpio archive; entry = (name, mode, data, (rdev major, minor))."""
    out = bytearray()

    def add(ino: int, name: str, mode: int, data: bytes, rdev: tuple[int, int]) -> None:
        encoded = name.encode() + b"\0"
        fields = (ino, mode, 0, 0, 1, 0, len(data), 0, 0, rdev[0], rdev[1], len(encoded), 0)
        out.extend(b"070701" + b"".join(b"%08X" % f for f in fields) + encoded)
        out.extend(b"\0" * (-len(out) % 4))
        out.extend(data)
        out.extend(b"\0" * (-len(out) % 4))

    for ino, (name, mode, data, rdev) in enumerate(entries, start=1):
        add(ino, name, mode, data, rdev)
    add(0, "TRAILER!!!", 0, b"", (0, 0))
    return bytes(out)


def _elf_has_interpreter(elf: bytes) -> bool:
    """True for a dynamically linked ELF64 (a PT_INTERP program header)."""
    if elf[:4] != b"\x7fELF" or elf[4] != 2:
        return True
    phoff = int.from_bytes(elf[32:40], "little")
    phentsize = int.from_bytes(elf[54:56], "little")
    phnum = int.from_bytes(elf[56:58], "little")
    for i in range(phnum):
        at = phoff + i * phentsize
        if int.from_bytes(elf[at : at + 4], "little") == 3:  # PT_INTERP
            return True
    return False


def build_initramfs(cache: Path, kernel: Kernel) -> Path:
    """Build (once per content) the initramfs: busybox, /init, /dev/console and the modules."""
    if not BUSYBOX.exists():
        raise VmUnavailable(f"{BUSYBOX} missing (apt-get install busybox-static)")
    busybox = BUSYBOX.read_bytes()
    if _elf_has_interpreter(busybox):
        raise VmUnavailable(f"{BUSYBOX} is not static (install busybox-static)")
    order = load_order(kernel.modules, INITRAMFS_MODULES)
    init = (
        INIT_TEMPLATE.replace("@MODULES@", " ".join(Path(p).name for p in order))
        .replace("@NINEP@", NINEP)
        .replace("@REPO@", str(REPO))
    )
    digest = hashlib.sha256(busybox + init.encode() + kernel.release.encode())
    for rel in order:
        digest.update((kernel.modules / rel).read_bytes())
    target = cache / f"initramfs-{kernel.release}-{digest.hexdigest()[:12]}.cpio"
    if target.exists():
        return target
    d, f, c = stat.S_IFDIR | 0o755, stat.S_IFREG, stat.S_IFCHR | 0o600
    entries: list[tuple[str, int, bytes, tuple[int, int]]] = [
        (name, d, b"", (0, 0)) for name in ("bin", "dev", "modules", "proc", "sys")
    ]
    entries += [
        ("dev/console", c, b"", (5, 1)),
        ("bin/busybox", f | 0o755, busybox, (0, 0)),
        ("init", f | 0o755, init.encode(), (0, 0)),
    ]
    entries += [
        (f"modules/{Path(rel).name}", f | 0o644, (kernel.modules / rel).read_bytes(), (0, 0))
        for rel in order
    ]
    tmp = target.with_suffix(".tmp")
    tmp.write_bytes(_cpio_newc(entries))
    tmp.rename(target)
    for old in cache.glob(f"initramfs-{kernel.release}-*.cpio"):
        if old != target:
            old.unlink(missing_ok=True)
    return target


@contextlib.contextmanager
def _locked(cache: Path) -> Iterator[None]:
    cache.mkdir(parents=True, exist_ok=True)
    with (cache / "lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def prepare(
    cache: Path = DEFAULT_CACHE,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    log: Log = _stderr_log,
    refresh: bool = False,
) -> Prepared:
    """Host packages, kernel and initramfs, ready to boot. Raises VmUnavailable."""
    deadline = _Deadline(timeout)
    if not sys.platform.startswith("linux"):
        raise VmUnavailable("the IPVS VM needs a Linux host")
    ensure_host_packages(deadline, log)
    if shutil.which(QEMU) is None:
        raise VmUnavailable(f"{QEMU} not found (apt-get install qemu-system-x86)")
    with _locked(cache):
        kernel = ensure_kernel(cache, deadline, log, refresh=refresh)
        initramfs = build_initramfs(cache, kernel)
        image = pvh_vmlinux(kernel) or kernel.vmlinuz
    return Prepared(kernel, initramfs, cache, image)


def _guest_env(env: Mapping[str, str] | None) -> dict[str, str]:
    out = {k: os.environ[k] for k in PASS_ENV if k in os.environ}
    host_path = [p for p in os.environ.get("PATH", "").split(":") if p.startswith("/")]
    out["PATH"] = ":".join(dict.fromkeys([*host_path, *GUEST_PATH_TAIL.split(":")]))
    out.update(HOME="/root", USER="root", LOGNAME="root", TERM="dumb", SHELL="/bin/sh")
    out[IN_VM_ENV] = "1"
    if env:
        out.update(env)
    return out


def _command_script(command: Sequence[str], cwd: Path, env: Mapping[str, str]) -> str:
    lines = ["# the command, run by stage2.sh; generated by tests/vm/ipvs_vm.py"]
    lines += [f"export {k}={shlex.quote(v)}" for k, v in sorted(env.items())]
    lines.append(f"cd {shlex.quote(str(cwd))} || exit 125")
    lines.append("exec " + shlex.join(command))
    return "\n".join(lines) + "\n"


_LIBC = ctypes.CDLL(None, use_errno=True)  # loaded here: no dlopen between fork and exec


def _die_with_parent() -> None:
    """In QEMU's child process: be SIGKILLed when the process that started it dies."""
    with contextlib.suppress(Exception):
        _LIBC.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def qemu_argv(prepared: Prepared, run_dir: Path) -> list[str]:
    def share(ident: str, path: Path, readonly: bool, extra: str = "") -> list[str]:
        ro = ",readonly=on" if readonly else ""
        return [
            "-fsdev",
            f"local,id={ident},path={path},security_model=none{ro}{extra}",
            "-device",
            f"virtio-9p-pci,fsdev={ident},mount_tag={ident}",
        ]

    return [
        QEMU,
        *QEMU_MACHINE,
        "-nodefaults",
        "-no-user-config",
        "-display",
        "none",
        "-no-reboot",
        "-kernel",
        str(prepared.boot_image),
        "-initrd",
        str(prepared.initramfs),
        "-append",
        f"{KERNEL_CMDLINE} {os.environ.get('IPVS_VM_CMDLINE', '')}".strip(),
        "-serial",
        f"file:{run_dir / 'boot.log'}",
        "-device",
        "virtio-serial-pci",
        "-chardev",
        "stdio,id=out,signal=off",
        "-device",
        "virtconsole,chardev=out",
        *share("hostroot", Path("/"), True, ",multidevs=remap"),
        *share("repo", REPO, False),
        *share("kmods", prepared.kernel.root / "lib" / "modules", True),
        *share("ctl", run_dir, False),
    ]


def boot(
    prepared: Prepared,
    command: Sequence[str],
    *,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    echo: IO[str] | None = None,
    keep_run_dir: bool = False,
    lock_wait: float | None = None,
) -> VmResult:
    """Boot the VM once, run ``command`` as root in it and power off; never longer than timeout.

    Before that, wait at most ``lock_wait`` (default: DEFAULT_LOCK_WAIT) for another run of
    the harness on this cache to finish (one VM at a time); the VM then boots anyway.
    """
    if not command:
        raise ValueError("empty command")
    runs = prepared.cache / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    run_dir = Path(tempfile.mkdtemp(prefix="run-", dir=runs))
    stage2 = STAGE2_TEMPLATE.replace("@GUEST_MODULES@", " ".join(GUEST_MODULES))
    (run_dir / "stage2.sh").write_text(stage2)
    workdir = (cwd or Path.cwd()).resolve()
    (run_dir / "cmd.sh").write_text(_command_script(command, workdir, _guest_env(env)))

    wait = DEFAULT_LOCK_WAIT if lock_wait is None else lock_wait
    with _one_vm_at_a_time(prepared.cache, wait, run_dir) as waited:
        result = _boot_locked(prepared, run_dir, timeout, echo)
    result = dataclasses.replace(result, waited=waited)
    if not keep_run_dir:
        _prune_runs(runs, keep=run_dir)
    return result


@contextlib.contextmanager
def _one_vm_at_a_time(cache: Path, timeout: float, run_dir: Path) -> Iterator[float]:
    """One VM per cache (machine) at a time: TCG VMs side by side only slow each other down.

    Waits for the lock at most ``timeout`` seconds, then boots anyway, alongside the other
    run (slower, but not skipped). Yields the seconds spent waiting.
    """
    start = time.monotonic()
    with (cache / "boot.lock").open("a+") as lock:
        said = False
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() - start >= timeout:
                    lock.seek(0)
                    holder = lock.read().strip() or "?"
                    _stderr_log(f"{holder} held the VM lock for {timeout:.0f} s: booting anyway")
                    yield time.monotonic() - start
                    return
                if not said:
                    _stderr_log("waiting for another IPVS VM run to finish")
                    said = True
                time.sleep(0.5)
        try:
            lock.seek(0)
            lock.truncate()
            lock.write(f"{os.getpid()} {run_dir}\n")
            lock.flush()
            yield time.monotonic() - start
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _boot_locked(
    prepared: Prepared, run_dir: Path, timeout: float, echo: IO[str] | None
) -> VmResult:
    start = time.monotonic()
    try:
        proc = subprocess.Popen(
            qemu_argv(prepared, run_dir),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            preexec_fn=_die_with_parent,
        )
    except OSError as exc:
        raise VmUnavailable(f"cannot start {QEMU}: {exc}") from exc
    chunks: list[bytes] = []
    errs: list[bytes] = []

    def pump(stream: IO[bytes], into: list[bytes], tee: IO[str] | None) -> None:
        while block := os.read(stream.fileno(), 65536):
            into.append(block)
            if tee is not None:
                tee.write(block.decode(errors="replace"))
                tee.flush()

    assert proc.stdout is not None
    assert proc.stderr is not None
    readers = [
        threading.Thread(target=pump, args=(proc.stdout, chunks, echo), daemon=True),
        threading.Thread(target=pump, args=(proc.stderr, errs, None), daemon=True),
    ]
    for reader in readers:
        reader.start()
    timed_out = False
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
    for reader in readers:
        reader.join(timeout=5)
    proc.stdout.close()
    proc.stderr.close()
    seconds = time.monotonic() - start

    rc_file = run_dir / "rc"
    returncode: int | None = None
    if rc_file.exists():
        with contextlib.suppress(ValueError):
            returncode = int(rc_file.read_text().strip())
    output = b"".join(chunks).decode(errors="replace").replace("\r\n", "\n")
    result = VmResult(
        returncode=returncode,
        output=output,
        booted=(run_dir / "booted").exists(),
        timed_out=timed_out,
        seconds=seconds,
        run_dir=run_dir,
        qemu_stderr=b"".join(errs).decode(errors="replace"),
    )
    return result


def _prune_runs(runs: Path, keep: Path, max_age: float = 3600.0) -> None:
    """Remove other runs' directories older than an hour (the newest ones stay for debugging)."""
    now = time.time()
    for old in runs.glob("run-*"):
        with contextlib.suppress(OSError):
            if old != keep and now - old.stat().st_mtime > max_age:
                shutil.rmtree(old, ignore_errors=True)


def run(
    command: Sequence[str],
    *,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    cache: Path = DEFAULT_CACHE,
    echo: IO[str] | None = None,
    log: Log = _stderr_log,
    lock_wait: float = DEFAULT_LOCK_WAIT,
) -> VmResult:
    """Prepare (if needed) and boot; ``timeout`` bounds both, plus at most ``lock_wait``
    waiting for another run's VM to finish first. Raises VmUnavailable."""
    start = time.monotonic()
    prepared = prepare(cache, timeout=timeout, log=log)
    left = timeout - (time.monotonic() - start)
    if left <= 0:
        raise VmUnavailable("the timeout expired while preparing the VM")
    return boot(prepared, command, cwd=cwd, env=env, timeout=left, echo=echo, lock_wait=lock_wait)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Run a command as root in a QEMU VM booting Debian's kernel (with IPVS).",
        usage="%(prog)s [options] -- command [args...]",
    )
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, help="total, seconds")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--cwd", type=Path, default=None, help="guest cwd (default: this one)")
    parser.add_argument("--prepare-only", action="store_true", help="set up the cache, no boot")
    parser.add_argument("--refresh", action="store_true", help="re-resolve the kernel package")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    command = list(args.command)
    if command[:1] == ["--"]:
        command = command[1:]
    start = time.monotonic()
    try:
        prepared = prepare(args.cache, timeout=args.timeout, log=_stderr_log, refresh=args.refresh)
        setup = time.monotonic() - start
        _stderr_log(f"ready in {setup:.1f} s: {prepared.kernel.package}, {prepared.initramfs.name}")
        if args.prepare_only:
            return 0
        if not command:
            parser.error("no command (put it after --)")
        result = boot(
            prepared,
            command,
            cwd=args.cwd,
            timeout=max(1.0, args.timeout - setup),
            echo=sys.stdout,
        )
    except VmUnavailable as exc:
        _stderr_log(f"unavailable: {exc}")
        return 125
    reason = result.failure_reason()
    waited = f" (after waiting {result.waited:.0f} s for another VM)" if result.waited > 1 else ""
    _stderr_log(
        f"VM ran {result.seconds:.1f} s{waited}, exit code {result.returncode}"
        + (f"; {reason}" if reason else "")
    )
    return 125 if result.returncode is None else result.returncode


if __name__ == "__main__":
    sys.exit(main())
