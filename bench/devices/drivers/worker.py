"""The worker behind InNamespace: builds one driver and answers calls, one JSON line each.

    {"build": "ssh", "target": {...}}         -> {"ok": true}
    {"call": "wans", "kwargs": {...}}          -> {"ok": true, "value": [...]}
    {"retries": true}                          -> {"ok": true, "value": [...]}
Errors come back as {"ok": false, "error": {"type", "what", "where", "fix"}}; the worker ends
when its standard input closes.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from pydantic import TypeAdapter

from bench.devices.drivers.base import DeviceTarget
from bench.devices.drivers.remote import method_hints
from bench.errors import BenchError


def main() -> int:
    from bench.devices.drivers.factory import driver_class

    driver: Any = None
    protocol: type | None = None
    for line in sys.stdin:
        request = json.loads(line)
        try:
            if "build" in request:
                cls, protocol = driver_class(request["build"])
                driver = cls(DeviceTarget.model_validate(request["target"]))
                reply: dict[str, Any] = {"ok": True}
            elif "retries" in request:
                reply = {"ok": True, "value": [r.model_dump(mode="json") for r in driver.retries]}
            else:
                arg_types, return_type = method_hints(protocol, request["call"])  # type: ignore[arg-type]
                kwargs = {k: TypeAdapter(arg_types.get(k, Any)).validate_python(v)
                          for k, v in request["kwargs"].items()}
                value = getattr(driver, request["call"])(**kwargs)
                reply = {"ok": True, "value": TypeAdapter(return_type).dump_python(value, mode="json")}
        except BenchError as exc:
            reply = {"ok": False, "error": {"type": type(exc).__name__, "what": exc.what, "where": exc.where,
                                            "fix": exc.fix}}
        except Exception as exc:  # noqa: BLE001 - reported to the bench process, which raises it
            reply = {"ok": False, "error": {"type": type(exc).__name__, "what": f"{type(exc).__name__}: {exc}",
                                            "where": None, "fix": "this is a bench bug; report it with the step log"}}
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()
    if driver is not None:
        driver.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
