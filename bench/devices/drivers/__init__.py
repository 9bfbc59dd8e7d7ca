"""Drivers: how the bench reaches real (or embedded) routers and terminals; built by factory.py."""
