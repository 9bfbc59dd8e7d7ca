"""The guest kernel: Debian's stock `linux-image-*-amd64`, downloaded (not installed) and cached.

Resolved at run time from the `linux-image-amd64` meta package because superseded ABI versions
vanish from the archive. Only what a boot needs is kept in the cache: the compressed kernel, the
uncompressed ELF vmlinux (qemu boots it through PVH, about 3 s faster under TCG than letting the
kernel decompress itself) and the requested modules with everything they depend on.
"""

from __future__ import annotations

import json
import logging
import lzma
import os
import re
import shutil
import subprocess
import tempfile
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from bench.errors import HostError
from bench.vm.modinfo import ModuleInfo, load_order, module_name_of, normalise, read_module_bytes, read_module_info

log = logging.getLogger("skybench.vm")

INSTALL_HINT = "run scripts/install-system-deps.sh as root"
META_PACKAGE = "linux-image-amd64"
# The signed image package the meta package points at, e.g. linux-image-6.1.0-56-amd64 (the
# "-unsigned" and "-dbg" variants are not what we want).
IMAGE_PACKAGE_RE = re.compile(r"^linux-image-\d+\.\d+\.\d+-\d+-amd64$")
MANIFEST = "manifest.json"
MANIFEST_FORMAT = 1

# Booting: virtio PCI transport, 9p over virtio for the shared host root and the results share.
BOOT_MODULES: tuple[str, ...] = (
    "virtio_ring", "virtio", "virtio_pci_modern_dev", "virtio_pci_legacy_dev", "virtio_pci",
    "9pnet", "9pnet_virtio", "netfs", "fscache", "9p",
)
# What the link/lab tests use inside the guest. The guest kernel has no modprobe on demand
# (no /lib/modules for its release on the shared root), so everything is loaded up front.
TEST_MODULES: tuple[str, ...] = (
    "sch_netem", "veth", "bridge", "stp", "llc", "sch_htb", "sch_tbf", "sch_prio", "sch_ingress",
    "cls_u32", "cls_matchall", "cls_fw", "act_mirred", "act_gact", "ifb", "af_packet", "tun",
)
DEFAULT_MODULES: tuple[str, ...] = BOOT_MODULES + TEST_MODULES

XZ_MAGIC = b"\xfd7zXZ\x00"
GZIP_MAGIC = b"\x1f\x8b\x08"


def cache_root() -> Path:
    return Path(os.environ.get("SKYBENCH_VM_CACHE", "/var/cache/skybench/vm"))


@dataclass(frozen=True)
class KernelPackage:
    name: str
    version: str

    @property
    def cache_key(self) -> str:
        return f"{self.name}_{self.version}".replace(":", "%3a").replace("/", "_")


@dataclass(frozen=True)
class GuestKernel:
    """A cached, ready-to-boot kernel."""

    package: KernelPackage
    release: str  # `uname -r` inside the guest, e.g. 6.1.0-56-amd64
    directory: Path
    boot_image: Path  # uncompressed vmlinux when it could be extracted, else vmlinuz
    modules: dict[str, ModuleInfo]  # module name -> info; file is modules/<name>.ko
    builtin: frozenset[str]

    def module_path(self, name: str) -> Path:
        return self.directory / "modules" / f"{name}.ko"

    def load_order(self, wanted: Iterable[str]) -> list[str]:
        return load_order(self.modules, [normalise(w) for w in wanted])

    def covers(self, wanted: Iterable[str]) -> bool:
        return all(normalise(w) in self.modules or normalise(w) in self.builtin for w in wanted)


# -- host tools -----------------------------------------------------------------------------------
def _last_line(proc: subprocess.CompletedProcess[str]) -> str:
    lines = (proc.stderr or proc.stdout).strip().splitlines()
    return lines[-1] if lines else ""


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise HostError(f"`{name}` is not installed (needed to fetch the guest kernel)", fix=INSTALL_HINT)
    return path


def _run(argv: list[str], *, cwd: Path | None = None, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LC_ALL": "C", "DEBIAN_FRONTEND": "noninteractive"}
    return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env)


# -- resolving ------------------------------------------------------------------------------------
def resolve_package() -> KernelPackage:
    """The image package `linux-image-amd64` currently depends on, and its candidate version."""
    proc = _run([_tool("apt-cache"), "depends", META_PACKAGE], timeout=60)
    names = [
        m.group(1)
        for m in re.finditer(r"^\s*\|?Depends:\s*(\S+)", proc.stdout, re.MULTILINE)
        if IMAGE_PACKAGE_RE.match(m.group(1))
    ]
    if proc.returncode != 0 or not names:
        raise HostError(
            f"cannot resolve the guest kernel package from `apt-cache depends {META_PACKAGE}`"
            + (f": {proc.stderr.strip()}" if proc.stderr.strip() else ""),
            where="apt package lists",
            fix=f"{INSTALL_HINT} (it runs `apt-get update`)",
        )
    name = names[0]
    show = _run([_tool("apt-cache"), "show", "--no-all-versions", name], timeout=60)
    match = re.search(r"^Version:\s*(\S+)", show.stdout, re.MULTILINE)
    if show.returncode != 0 or match is None:
        raise HostError(f"apt knows no version of {name}", where="apt package lists", fix=INSTALL_HINT)
    return KernelPackage(name=name, version=match.group(1))


# -- cache ----------------------------------------------------------------------------------------
def _load_cached(directory: Path) -> GuestKernel | None:
    try:
        data = json.loads((directory / MANIFEST).read_text())
        if data.get("format") != MANIFEST_FORMAT:
            return None
        kernel = GuestKernel(
            package=KernelPackage(data["package"], data["version"]),
            release=data["release"],
            directory=directory,
            boot_image=directory / data["boot_image"],
            modules={
                name: ModuleInfo(name, tuple(info["depends"]), tuple(info.get("softdep_pre", ())))
                for name, info in data["modules"].items()
            },
            builtin=frozenset(data["builtin"]),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None
    files_ok = kernel.boot_image.is_file() and all(kernel.module_path(n).is_file() for n in kernel.modules)
    return kernel if files_ok else None


def cached_kernels() -> list[GuestKernel]:
    """Every usable kernel in the cache, newest first (by directory mtime)."""
    root = cache_root()
    if not root.is_dir():
        return []
    found = [k for d in root.iterdir() if d.is_dir() and (k := _load_cached(d)) is not None]
    return sorted(found, key=lambda k: k.directory.stat().st_mtime, reverse=True)


def guest_kernel(modules: Iterable[str] = DEFAULT_MODULES) -> GuestKernel:
    """The current Debian kernel with `modules` available, from the cache or freshly fetched.

    Offline, or with apt lists that name a kernel the archive no longer serves, the newest cached
    kernel that has the modules is used instead (with a log line saying so).
    """
    wanted = [normalise(m) for m in modules]
    try:
        package = resolve_package()
    except HostError as exc:
        fallback = _cached_fallback(wanted)
        if fallback is None:
            raise
        log.warning("using cached guest kernel %s: %s", fallback.package.version, exc.what)
        return fallback
    directory = cache_root() / package.cache_key
    cached = _load_cached(directory)
    if cached is not None and cached.covers(wanted):
        return cached
    requested = sorted(set(wanted) | (set(cached.modules) if cached else set()))
    try:
        return _fetch(package, requested, directory)
    except HostError as exc:
        fallback = _cached_fallback(wanted)
        if fallback is None:
            raise
        log.warning("using cached guest kernel %s: %s", fallback.package.version, exc.what)
        return fallback


def _cached_fallback(wanted: list[str]) -> GuestKernel | None:
    return next((k for k in cached_kernels() if k.covers(wanted)), None)


def _fetch(package: KernelPackage, modules: list[str], directory: Path) -> GuestKernel:
    root = cache_root()
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise HostError(
            f"cannot create the VM cache directory: {exc.strerror}",
            where=str(root),
            fix="run as root, or point SKYBENCH_VM_CACHE at a writable directory",
        ) from exc
    work = Path(tempfile.mkdtemp(prefix=".fetch-", dir=root))
    try:
        log.info("downloading %s %s", package.name, package.version)
        proc = _run([_tool("apt-get"), "download", f"{package.name}={package.version}"], cwd=work)
        debs = sorted(work.glob("*.deb"))
        if proc.returncode != 0 or not debs:
            raise HostError(
                f"cannot download {package.name} {package.version}: {_last_line(proc) or 'no .deb produced'}",
                where="apt archive",
                fix=f"check network access to the Debian archive, then {INSTALL_HINT} "
                "(it refreshes the package lists)",
            )
        extracted = work / "x"
        proc = _run([_tool("dpkg-deb"), "-x", str(debs[0]), str(extracted)])
        if proc.returncode != 0:
            raise HostError(f"cannot unpack {debs[0].name}: {proc.stderr.strip()}", fix=INSTALL_HINT)
        staged = work / "kernel"
        (staged / "modules").mkdir(parents=True)
        _stage(package, modules, extracted, staged)
        debs[0].unlink()
        shutil.rmtree(extracted)
        # Atomic publish: a concurrent run either sees the old directory or the complete new one.
        old = None
        if directory.exists():
            old = work / "old"
            directory.rename(old)
        staged.rename(directory)
        kernel = _load_cached(directory)
        if kernel is None:
            raise HostError(f"the cached kernel at {directory} is incomplete", fix=f"remove {directory} and retry")
        return kernel
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _stage(package: KernelPackage, modules: list[str], extracted: Path, staged: Path) -> None:
    module_roots = sorted((extracted / "lib" / "modules").glob("*"))
    vmlinuz = sorted((extracted / "boot").glob("vmlinuz-*"))
    if not module_roots or not vmlinuz:
        raise HostError(f"{package.name} has no /boot/vmlinuz-* or /lib/modules/*: not a kernel image package")
    release = module_roots[0].name
    shutil.copyfile(vmlinuz[0], staged / "vmlinuz")

    boot_image = "vmlinuz"
    vmlinux = extract_vmlinux(vmlinuz[0].read_bytes())
    if vmlinux is not None:
        (staged / "vmlinux").write_bytes(vmlinux)
        boot_image = "vmlinux"
    else:
        log.warning("could not extract an uncompressed kernel from %s; booting vmlinuz (slower)", vmlinuz[0].name)

    files = {module_name_of(p): p for p in module_roots[0].rglob("*.ko*") if p.name.endswith((".ko", ".ko.xz"))}
    builtin_list = module_roots[0] / "modules.builtin"
    builtin = (
        {module_name_of(Path(line.strip())) for line in builtin_list.read_text().splitlines() if line.strip()}
        if builtin_list.exists()
        else set()
    )
    infos: dict[str, ModuleInfo] = {}
    pending = list(modules)
    while pending:
        name = pending.pop()
        if name in infos or name in builtin:
            continue
        if name not in files:
            raise HostError(
                f"kernel module {name!r} is neither a module nor built into {release}",
                where=f"{package.name} {package.version}",
                fix="correct the module name in the list given to the VM runner",
            )
        info = read_module_info(files[name])
        infos[name] = info
        pending.extend(d for d in (*info.depends, *info.softdep_pre) if d in files or d in builtin)
        (staged / "modules" / f"{name}.ko").write_bytes(read_module_bytes(files[name]))

    manifest = {
        "format": MANIFEST_FORMAT,
        "package": package.name,
        "version": package.version,
        "release": release,
        "boot_image": boot_image,
        "requested": sorted(modules),
        "modules": {
            n: {"depends": list(i.depends), "softdep_pre": list(i.softdep_pre)} for n, i in sorted(infos.items())
        },
        "builtin": sorted(builtin),
    }
    (staged / MANIFEST).write_text(json.dumps(manifest, indent=1))


def extract_vmlinux(bzimage: bytes) -> bytes | None:
    """The ELF kernel inside a bzImage: find the compressed payload's magic, decompress, check ELF."""
    for magic, decompress in ((XZ_MAGIC, _xz), (GZIP_MAGIC, _gzip)):
        start = bzimage.find(magic)
        while start != -1:
            data = decompress(bzimage[start:])
            if data is not None and data[:4] == b"\x7fELF":
                return data
            start = bzimage.find(magic, start + 1)
    return None


def _xz(data: bytes) -> bytes | None:
    try:
        # A decompressor object stops at the end of the stream and ignores the bzImage's tail.
        return lzma.LZMADecompressor(format=lzma.FORMAT_XZ).decompress(data)
    except lzma.LZMAError:
        return None


def _gzip(data: bytes) -> bytes | None:
    try:
        return zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(data)
    except zlib.error:
        return None


__all__ = [
    "BOOT_MODULES", "DEFAULT_MODULES", "TEST_MODULES", "GuestKernel", "KernelPackage",
    "cache_root", "cached_kernels", "extract_vmlinux", "guest_kernel", "resolve_package",
]
