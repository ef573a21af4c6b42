"""Panel supervision: a panel whose link tests stop becomes a maintenance case.

A panel configured for DC-09 sends a link test (``NULL``) every few minutes. When nothing has
come from a panel for its model's ``supervision_s`` (the device catalog: ``sia-panel`` and any
other ``transport = "sia"`` model; a panel registered without a model is a ``sia-panel``), the
panel is marked missing and a ``device_missing``
event is stored for it through the ingest path, which opens a maintenance case (the same as a
missing device behind a gateway); the next frame from the panel stores ``device_back``. The
mark is a conditional UPDATE, so with several server instances each missing spell is raised once,
and the event id is derived from the spell, so even a lost race stores it once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta

from sqlalchemy import CursorResult, select, update

from hardware.catalog import CatalogError, DeviceModel, load_catalog
from protocol.kinds import Kind
from server.alerts import Alert, AlertHook, no_hook
from server.clock import Clock
from server.db.engine import Database
from server.db.models import Device, PanelLink
from server.errors import ConfigError
from server.ingest.store import store_events
from server.settings import Deadlines
from server.sia.events import link_event
from server.ticker import Ticker

log = logging.getLogger(__name__)

DEFAULT_MODEL = "sia-panel"


def panel_silences(catalog: Mapping[str, DeviceModel]) -> dict[str, float]:
    """Seconds of silence allowed per panel model (0: not supervised), from the catalog."""
    return {name: float(m.supervision_s) for name, m in catalog.items() if m.transport == "sia"}


def catalog_silences() -> dict[str, float]:
    """``panel_silences`` of the shipped catalog; ``ConfigError`` when it does not load."""
    try:
        return panel_silences(load_catalog())
    except CatalogError as exc:
        raise ConfigError("the device catalog cannot be loaded: %s" % exc) from None


class PanelSupervisor:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        deadlines: Deadlines,
        silences: Mapping[str, float],
        interval: float = 10.0,
        on_alerts: AlertHook = no_hook,
    ) -> None:
        self.db = db
        self.on_alerts = on_alerts
        self.clock = clock
        self.deadlines = deadlines
        self.silences = dict(silences)
        self.interval = interval
        self._ticker: Ticker | None = None

    def silence(self, model: str | None) -> float:
        """Seconds a panel of this model may be silent; 0 when it is not supervised."""
        if model is not None and model in self.silences:
            return self.silences[model]
        return self.silences.get(DEFAULT_MODEL, 0.0)

    def tick(self, now: datetime | None = None) -> list[Alert]:
        """Mark panels silent for too long as missing; the alerts to publish after the commit."""
        now = now or self.clock()
        alerts: list[Alert] = []
        with self.db.read() as session:
            heard = session.execute(
                select(PanelLink.device_id, PanelLink.last_seen_at, Device.model)
                .outerjoin(Device, Device.id == PanelLink.device_id)
                .where(PanelLink.missing.is_(False))
            ).all()
        silent = []
        for device, last_seen, model in heard:
            seconds = self.silence(model)
            if seconds > 0 and last_seen <= now - timedelta(seconds=seconds):
                silent.append((device, last_seen, seconds))
        for device, last_seen, seconds in silent:
            with self.db.write() as session:
                marked = session.execute(
                    update(PanelLink)
                    .where(
                        PanelLink.device_id == device,
                        PanelLink.missing.is_(False),
                        PanelLink.last_seen_at == last_seen,
                    )
                    .values(missing=True)
                    .execution_options(synchronize_session=False)
                )
                if not isinstance(marked, CursorResult) or marked.rowcount != 1:
                    continue  # heard meanwhile, or another instance marked it
                event = link_event(
                    device,
                    Kind.DEVICE_MISSING,
                    now,
                    last_seen.isoformat(),
                    {"last_seen": last_seen.isoformat(), "silence_s": seconds},
                )
                result = store_events(session, [event], now, self.deadlines)
                self.on_alerts(session, result.alerts, now)
            log.warning("panel %s silent since %s: device_missing stored as %s", device, last_seen, event.id)
            alerts.extend(result.alerts)
        return alerts

    def start(self, publish: Callable[[list[Alert]], None]) -> None:
        self._ticker = Ticker("sia-supervision", self.interval, lambda: publish(self.tick()))
        self._ticker.start()

    def stop(self) -> None:
        if self._ticker is not None:
            self._ticker.stop()
            self._ticker = None
