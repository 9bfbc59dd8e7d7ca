"""The embedded lab's reference onboard router (docs/reference-router.md).

    lab.router.status()["active"]            # {"passengers": "oneweb", "ops": "oneweb"}
    lab.router.restart(lab.router.config.override({"health": {"down_after": 5}}))
"""

from bench.devices.reference.config import RouterConfig, load_router_config
from bench.devices.reference.router import ReferenceRouter

__all__ = ["ReferenceRouter", "RouterConfig", "load_router_config"]
