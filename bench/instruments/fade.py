"""From RF attenuation to what the emulated sky link does: the fade model and `LinkFadeTarget`.

Model (documented in docs/instruments.md): the attenuator sits in the terminal's RF path, so each
dB of attenuation takes one dB off the clear-sky SNR.
- outage: at or beyond `outage_threshold_db` = clear_sky_snr_db - min_snr_db the modem loses
  lock and the link drops everything;
- rate: adaptive coding and modulation follow the Shannon capacity, so the link rate is the
  clear-sky rate x log2(1 + SNR) / log2(1 + SNR_clear) (the link's own rate when unshaped: no cap);
- loss: within `loss_knee_db` of the threshold, residual errors appear and grow quadratically to
  `loss_at_threshold` just before the outage.
"""

from __future__ import annotations

import math

from pydantic import BaseModel, ConfigDict, Field

from bench.link import EmulatedLink, Impairment, LinkSpec
from bench.link.model import DIRECTIONS
from bench.steps import step

MIN_RATE_BPS = 1_000  # the link model's lowest rate


class FadeModel(BaseModel):
    """How attenuation degrades a satellite link (defaults: a Ku-band LEO user terminal)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    clear_sky_snr_db: float = Field(12.0, description="SNR with no attenuation")
    min_snr_db: float = Field(-2.0, description="lowest SNR the most robust MODCOD still decodes")
    loss_knee_db: float = Field(3.0, gt=0, description="margin above the threshold where loss starts")
    loss_at_threshold: float = Field(0.2, ge=0, le=1, description="loss just before the outage")

    @property
    def outage_threshold_db(self) -> float:
        return self.clear_sky_snr_db - self.min_snr_db

    def in_outage(self, db: float) -> bool:
        return db >= self.outage_threshold_db

    def rate_fraction(self, db: float) -> float:
        if self.in_outage(db):
            return 0.0
        snr = 10 ** ((self.clear_sky_snr_db - max(db, 0.0)) / 10)
        clear = 10 ** (self.clear_sky_snr_db / 10)
        return min(1.0, math.log2(1 + snr) / math.log2(1 + clear))

    def loss(self, db: float) -> float:
        margin = self.outage_threshold_db - db
        if margin <= 0:
            return 1.0
        if margin >= self.loss_knee_db:
            return 0.0
        return self.loss_at_threshold * ((self.loss_knee_db - margin) / self.loss_knee_db) ** 2


def faded(base: Impairment, model: FadeModel, db: float) -> Impairment:
    """`base` (the clear-sky impairment) under `db` of attenuation."""
    changes: dict[str, object] = {"outage": base.outage or model.in_outage(db)}
    if base.rate_bps is not None:
        changes["rate_bps"] = max(MIN_RATE_BPS, int(base.rate_bps * max(model.rate_fraction(db), 0.0)))
    fade_loss = 0.0 if model.in_outage(db) else model.loss(db)
    if base.gilbert_elliott:  # random loss and Gilbert-Elliott cannot be combined: raise the good state's
        changes["ge_loss_good"] = max(base.ge_loss_good, fade_loss)
    else:
        changes["loss"] = max(base.loss, fade_loss)
    return base.model_copy(update=changes)


class LinkFadeTarget:
    """A FadeTarget that degrades an emulated sky link (bench.link) per the fade model.

    The clear-sky state is the link's spec when this target is made (or `base`): fades apply on
    top of it, in both directions, and 0 dB restores it. Call `rebase()` after changing the link
    by other means (a trace replay step) so the next fade starts from that state.
    """

    def __init__(self, link: EmulatedLink, model: FadeModel | None = None, base: LinkSpec | None = None) -> None:
        self.link = link
        self.model = model or FadeModel()
        self.base = base or link.spec
        self.fade_db = 0.0

    def rebase(self) -> None:
        self.base = self.link.spec

    def set_fade_db(self, db: float) -> None:
        with step(f"{self.link.name}: fade", db=db, outage=self.model.in_outage(db),
                  rate_fraction=round(self.model.rate_fraction(db), 3), loss=round(self.model.loss(db), 4)):
            for direction in DIRECTIONS:
                self.link.set_direction(direction, faded(self.base.direction(direction), self.model, db))
            self.fade_db = db
