"""The device catalog the gateway runs with: ``hardware/catalog`` loaded once at start-up by
``load_device_catalog``, and every configured device checked against it. A catalog that does
not load, or a device naming a model it does not have, stops the gateway with a clear message:
there is no built-in table to fall back on, so what a device's codes mean is written once."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from gateway.config import DeviceSettings
from gateway.errors import ConfigError
from hardware.catalog import Catalog, CatalogError, DeviceModel, load_catalog

_TRANSPORT = {"sn": "serial", "ble": "ble", "rf": "rf"}


def device_transport(device: str) -> str:
    """``sn-00a3`` -> ``serial``, ``ble-...`` -> ``ble``, ``rf-...`` -> ``rf``."""
    return _TRANSPORT[device.split("-", 1)[0]]


def check_devices(catalog: Catalog, devices: Iterable[DeviceSettings]) -> None:
    """Every device names a model the catalog has, of its own transport (and, for 433 MHz, of
    its protocol); a Bluetooth or 433 MHz device without a model needs a ``kind``, or nothing
    it sends could ever become an event. ``ConfigError`` listing every problem otherwise."""
    problems = []
    for dev in devices:
        transport = device_transport(dev.id)
        if not dev.model:
            if transport != "serial" and not dev.kind:
                problems.append("%s has neither a model (model = \"...\", from the device catalog) nor an "
                                "event kind (kind = \"panic\"...): nothing it sends could raise an alarm"
                                % dev.id)
            continue
        try:
            model = catalog.model(dev.model)
        except CatalogError as exc:
            problems.append("%s: %s" % (dev.id, exc))
            continue
        if model.transport != transport:
            problems.append("%s is a %s device but model %s is a %s model"
                            % (dev.id, transport, model.model, model.transport))
        elif model.rf is not None:
            protocol = dev.id.split("-")[1]
            if protocol not in model.rf.protocols:
                problems.append("%s: model %s does not speak %s (it speaks %s)"
                                % (dev.id, model.model, protocol, ", ".join(model.rf.protocols)))
    if problems:
        raise ConfigError("devices do not match the device catalog: %s" % "; ".join(problems))


def without_model(devices: Iterable[DeviceSettings]) -> list[str]:
    """Devices that name no model: nothing says how long they may stay silent, so none of them
    is supervised (a dead battery there raises no ``device_missing``)."""
    return [dev.id for dev in devices if not dev.model]


def load_device_catalog(devices: Iterable[DeviceSettings], folder: Path | None = None) -> Catalog:
    """The catalog (``folder``, default the one shipped with the package), checked against the
    configured devices. What the gateway's start-up, its reload and ``decode`` call."""
    try:
        catalog = load_catalog(folder)
    except CatalogError as exc:
        raise ConfigError("the device catalog cannot be loaded: %s" % exc) from None
    check_devices(catalog, devices)
    return catalog


def model_of(catalog: Catalog, device: DeviceSettings | None) -> DeviceModel | None:
    """The catalog model of a configured device; None for no device or a device without one."""
    if device is None or not device.model:
        return None
    return catalog.get(device.model)
