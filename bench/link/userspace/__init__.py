"""Userspace link backend: a transparent AF_PACKET bridge, one engine process per direction."""

from bench.link.userspace.backend import UserspaceBackend

__all__ = ["UserspaceBackend"]
