"""What the ground origin process is told: its addresses, names and TLS files (JSON on its argv)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class GroundConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    domain: str  # the lab's DNS domain: service <name> is <name>.<domain>
    services: dict[str, str]  # service name -> ground address (bench.lab.addressing.ORIGIN_SERVICES)
    payment_address: str  # the ground's payment provider (bench.ground, HTTP :80); HTTPS :443 is ours
    cert_file: str
    key_file: str

    def address(self, service: str) -> str:
        return self.services[service]

    def host(self, service: str) -> str:
        return f"{service}.{self.domain}"
