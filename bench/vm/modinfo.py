"""Read a kernel module's `.modinfo` section (name, depends, softdep) straight from its ELF file.

The `modinfo` binary (kmod) is not installed on the hosts the bench runs on and the kernel package
we boot is never installed, so there is no modules.dep either: the dependency graph is rebuilt from
the `.ko` files themselves.
"""

from __future__ import annotations

import lzma
import struct
from dataclasses import dataclass, field
from pathlib import Path

ELF_MAGIC = b"\x7fELF"
ELFCLASS64 = 2
ELFDATA2LSB = 1


@dataclass(frozen=True)
class ModuleInfo:
    """What the loader needs to know about one module."""

    name: str
    depends: tuple[str, ...]
    softdep_pre: tuple[str, ...] = field(default=())


def normalise(name: str) -> str:
    """Module names use `_`; file names and user lists sometimes use `-` (the kernel treats both alike)."""
    return name.strip().replace("-", "_")


def module_name_of(path: Path) -> str:
    """`.../9pnet_virtio.ko(.xz)` -> `9pnet_virtio`."""
    base = path.name
    for suffix in (".ko.xz", ".ko"):
        if base.endswith(suffix):
            return normalise(base[: -len(suffix)])
    raise ValueError(f"{path}: not a kernel module file (.ko or .ko.xz)")


def read_module_bytes(path: Path) -> bytes:
    """The ELF image of a module, decompressing `.ko.xz` (busybox insmod wants plain ELF)."""
    data = path.read_bytes()
    return lzma.decompress(data) if path.name.endswith(".xz") else data


def modinfo_fields(elf: bytes, *, where: str = "module") -> dict[str, list[str]]:
    """All `key=value` strings of the `.modinfo` section (a key may repeat, e.g. alias)."""
    if elf[:4] != ELF_MAGIC or elf[4] != ELFCLASS64 or elf[5] != ELFDATA2LSB:
        raise ValueError(f"{where}: not a 64-bit little-endian ELF file")
    (shoff,) = struct.unpack_from("<Q", elf, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", elf, 0x3A)

    def section(index: int) -> tuple[int, int, int]:
        base = shoff + index * shentsize
        name_off = struct.unpack_from("<I", elf, base)[0]
        offset, size = struct.unpack_from("<QQ", elf, base + 0x18)
        return name_off, offset, size

    _, strtab_off, strtab_size = section(shstrndx)
    strtab = elf[strtab_off : strtab_off + strtab_size]
    for index in range(shnum):
        name_off, offset, size = section(index)
        name = strtab[name_off : strtab.index(b"\0", name_off)]
        if name == b".modinfo":
            fields: dict[str, list[str]] = {}
            for entry in elf[offset : offset + size].split(b"\0"):
                if b"=" in entry:
                    key, _, value = entry.decode("utf-8", "replace").partition("=")
                    fields.setdefault(key, []).append(value)
            return fields
    raise ValueError(f"{where}: has no .modinfo section")


def _softdep_pre(values: list[str]) -> tuple[str, ...]:
    # Format: "pre: a b post: c" -- only the "pre:" modules must be there before this one loads.
    pre: list[str] = []
    for value in values:
        words = value.split()
        current = None
        for word in words:
            if word.endswith(":"):
                current = word[:-1]
            elif current == "pre":
                pre.append(normalise(word))
    return tuple(pre)


def read_module_info(path: Path) -> ModuleInfo:
    """Name and dependencies of the module file at `path`."""
    fields = modinfo_fields(read_module_bytes(path), where=str(path))
    name = normalise(fields.get("name", [module_name_of(path)])[0])
    depends = tuple(
        normalise(dep) for value in fields.get("depends", []) for dep in value.split(",") if dep.strip()
    )
    return ModuleInfo(name=name, depends=depends, softdep_pre=_softdep_pre(fields.get("softdep", [])))


def load_order(infos: dict[str, ModuleInfo], wanted: list[str]) -> list[str]:
    """Modules to insmod, dependencies first, covering `wanted` (names missing from `infos`
    are taken as built into the kernel and skipped)."""
    order: list[str] = []
    state: dict[str, str] = {}

    def visit(name: str, chain: tuple[str, ...]) -> None:
        if name not in infos or state.get(name) == "done":
            return
        if state.get(name) == "visiting":
            raise ValueError("module dependency cycle: " + " -> ".join((*chain, name)))
        state[name] = "visiting"
        info = infos[name]
        for dep in (*info.softdep_pre, *info.depends):
            visit(dep, (*chain, name))
        state[name] = "done"
        order.append(name)

    for name in wanted:
        visit(normalise(name), ())
    return order
