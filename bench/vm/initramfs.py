"""The guest's initramfs: static busybox, the kernel modules in load order, and /init.

/init mounts the host root (9p, read-only) and the run's writable share, then runs the job script
the host wrote into the share inside a chroot of the host root, prints a marker line with its exit
code and powers off. The archive is written in the kernel's `newc` cpio format directly, so
building it needs neither root nor the cpio tool.
"""

from __future__ import annotations

import shutil
import stat
import struct
from collections.abc import Iterable
from pathlib import Path

from bench.errors import HostError
from bench.vm.kernel import INSTALL_HINT, GuestKernel

BUSYBOX_CANDIDATES = (Path("/bin/busybox"), Path("/usr/bin/busybox"))
HOSTROOT_TAG = "hostroot"
SHARE_TAG = "share"
MARKER = "SKYBENCH-VM"
CONTROL_DIR_PREFIX = ".skybench-vm-"
P9_OPTS = "trans=virtio,version=9p2000.L,msize=512000"

# Runs as PID 1. $1 is the run's nonce (the kernel passes the words after `--` on its command
# line as arguments; they are split on spaces, so only a plain token goes there). Everything
# else comes from files in the share. Any setup failure prints a marker and powers off, so the
# host never waits for its timeout on a guest that cannot run the job.
INIT_SCRIPT = rf"""#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
NONCE="$1"
echo "{MARKER}: init"
fail() {{ echo "{MARKER}-$NONCE setup-failed: $*"; poweroff -f; sleep 5; }}
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
for m in $(cat /lib/modules/load-order); do
    insmod "/lib/modules/$m.ko" || fail "insmod $m"
done
mount -t 9p -o {P9_OPTS} {SHARE_TAG} /job || fail "mount the results share"
CONTROL="{CONTROL_DIR_PREFIX}$NONCE"
[ -f "/job/$CONTROL/job.conf" ] || fail "no $CONTROL/job.conf in the share"
. "/job/$CONTROL/job.conf"
umount /job
R=/newroot
mount -t 9p -o {P9_OPTS},cache=loose,ro {HOSTROOT_TAG} $R || fail "mount the host root"
mount -t proc proc $R/proc || fail "mount proc"
mount -t sysfs sys $R/sys || fail "mount sysfs"
mount -t devtmpfs dev $R/dev || fail "mount dev"
mkdir -p $R/dev/pts $R/dev/shm
mount -t devpts -o newinstance,ptmxmode=0666 devpts $R/dev/pts || fail "mount devpts"
mount -t tmpfs -o mode=1777 shm $R/dev/shm || fail "mount dev/shm"
# The guest's writable /tmp and /run hide the host's. A checkout or virtualenv there (a CI clone
# in /tmp) is shown again at its own path from a view of the root taken before they cover it.
mkdir -p /hostview
mount -o bind $R /hostview || fail "bind the host root"
mount -t tmpfs -o mode=1777 tmp $R/tmp || fail "mount tmp"
mount -t tmpfs -o mode=755 run $R/run || fail "mount run"
for P in $KEEP; do
    mkdir -p "$R$P" && mount -o bind "/hostview$P" "$R$P" || fail "show the host's $P in the guest"
done
# The share appears at the same path as on the host (mkdir works when that path is under the
# guest's /tmp or /run tmpfs; elsewhere the directory already exists on the read-only root).
mkdir -p "$R$SHARE_DIR" 2>/dev/null
mount -t 9p -o {P9_OPTS} {SHARE_TAG} "$R$SHARE_DIR" || fail "mount the results share at $SHARE_DIR"
ip link set lo up
echo "{MARKER}-$NONCE start"
env -i /bin/chroot $R /bin/sh "$SHARE_DIR/$CONTROL/job.sh" </dev/null
rc=$?
echo "$rc" > "$R$SHARE_DIR/$CONTROL/exit_code"
sync
echo "{MARKER}-$NONCE exit=$rc"
umount "$R$SHARE_DIR"
poweroff -f
"""


def find_static_busybox() -> Path:
    """A statically linked busybox: the initramfs has no C library for a dynamic one."""
    for path in BUSYBOX_CANDIDATES:
        if path.is_file() and not _has_interpreter(path.read_bytes()):
            return path
    found = shutil.which("busybox")
    if found and not _has_interpreter(Path(found).read_bytes()):
        return Path(found)
    raise HostError("no statically linked busybox found (package busybox-static)", fix=INSTALL_HINT)


def _has_interpreter(elf: bytes) -> bool:
    """True when the ELF file names a dynamic loader (PT_INTERP), i.e. is not static."""
    if elf[:4] != b"\x7fELF" or elf[4] != 2:
        return True
    (phoff,) = struct.unpack_from("<Q", elf, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", elf, 0x36)
    return any(struct.unpack_from("<I", elf, phoff + i * phentsize)[0] == 3 for i in range(phnum))


class NewcArchive:
    """Writer for the kernel's initramfs format (cpio `newc`, no checksums)."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []
        self._ino = 1

    def _entry(self, name: str, mode: int, data: bytes = b"", *, rdev: tuple[int, int] = (0, 0)) -> None:
        encoded = name.encode() + b"\0"
        fields = (
            self._ino, mode, 0, 0, 1, 0, len(data), 0, 0, rdev[0], rdev[1], len(encoded), 0,
        )
        header = b"070701" + b"".join(b"%08x" % f for f in fields)
        self._ino += 1
        self._parts.append(header + encoded + b"\0" * (-(len(header) + len(encoded)) % 4))
        self._parts.append(data + b"\0" * (-len(data) % 4))

    def directory(self, name: str) -> None:
        self._entry(name, stat.S_IFDIR | 0o755)

    def file(self, name: str, data: bytes, mode: int = 0o644) -> None:
        self._entry(name, stat.S_IFREG | mode, data)

    def char_device(self, name: str, major: int, minor: int, mode: int = 0o600) -> None:
        self._entry(name, stat.S_IFCHR | mode, rdev=(major, minor))

    def to_bytes(self) -> bytes:
        trailer = NewcArchive()
        trailer._entry("TRAILER!!!", 0)
        return b"".join(self._parts + trailer._parts)


def build_initramfs(kernel: GuestKernel, modules: Iterable[str], destination: Path) -> list[str]:
    """Write the initramfs to `destination`; return the modules it loads, in order."""
    order = kernel.load_order(modules)
    archive = NewcArchive()
    for directory in ("bin", "dev", "proc", "sys", "tmp", "job", "newroot", "lib", "lib/modules"):
        archive.directory(directory)
    # The kernel opens /dev/console for init's stdin/out/err before /init can mount devtmpfs.
    archive.char_device("dev/console", 5, 1)
    archive.file("bin/busybox", find_static_busybox().read_bytes(), 0o755)
    archive.file("init", INIT_SCRIPT.encode(), 0o755)
    for name in order:
        archive.file(f"lib/modules/{name}.ko", kernel.module_path(name).read_bytes())
    archive.file("lib/modules/load-order", ("\n".join(order) + "\n").encode())
    destination.write_bytes(archive.to_bytes())
    return order
