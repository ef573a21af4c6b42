"""Pairing: a device added to the allowlist in the config file. One code path for
``shouwang gateway pair`` and the kiosk's "add to this station" step; the running gateway then
reloads its device list (``Gateway.reload``, SIGHUP from the CLI)."""

from __future__ import annotations

import json
import threading
from pathlib import Path

from gateway.catalog import check_devices, device_transport, load_device_catalog
from gateway.config import GatewaySettings, load_settings
from gateway.errors import ConfigError
from hardware.catalog import Catalog
from protocol.errors import ProtocolError
from protocol.ids import check_device_id
from protocol.kinds import KINDS

_write_lock = threading.Lock()  # the kiosk's request threads append to the file one at a time


def _toml(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)  # a JSON string is a valid TOML basic string


def add_device(config: Path, device: str, name: str, *, kind: str = "", location: str = "", model: str = "",
               key: str = "") -> GatewaySettings:
    """Append a ``[[devices]]`` entry to the config file; the file is left unchanged when the
    result would not load."""
    try:
        check_device_id(device)
    except ProtocolError:
        raise ConfigError("%r is not a device id (sn-…, ble-…, rf-…)" % device) from None
    if kind and kind not in KINDS:
        raise ConfigError("kind %r is not one of %s" % (kind, ", ".join(sorted(KINDS))))
    with _write_lock:
        before = config.read_text(encoding="utf-8")
        settings = load_settings(config)
        if any(d.id == device for d in settings.devices):
            raise ConfigError("%s is already paired" % device)
        lines = ["", "[[devices]]", "id = %s" % _toml(device), "name = %s" % _toml(name)]
        for field_name, value in (("model", model), ("kind", kind), ("location", location), ("key", key)):
            if value:
                lines.append("%s = %s" % (field_name, _toml(value)))
        config.write_text(before.rstrip("\n") + "\n" + "\n".join(lines) + "\n", encoding="utf-8")
        try:
            paired = load_settings(config)
            check_devices(load_device_catalog(()), paired.devices)  # or the next start-up would fail
            return paired
        except ConfigError:
            config.write_text(before, encoding="utf-8")
            raise


def models_for(device: str, catalog: Catalog) -> list[str]:
    """Catalog models that can serve the device (its transport; for 433 MHz, its protocol)."""
    transport = device_transport(device)
    protocol = device.split("-")[1]
    return sorted(name for name, m in catalog.items()
                  if m.transport == transport and (m.rf is None or protocol in m.rf.protocols))
