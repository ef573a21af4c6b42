"""Device catalog: one TOML file per supported device model in ``hardware/catalog/``, the only
place that says what a device's codes mean, how its 433 MHz code splits into transmitter id
and switch, how often it must be heard and when its battery is low.

The gateway, the server and ``shouwang gateway decode`` all load it through ``load_catalog()``;
there is no other table and no fallback. The schema is in ``hardware/catalog/README.md``.

    from hardware.catalog import load_catalog
    catalog = load_catalog()                      # Catalog: a mapping model name -> DeviceModel
    catalog.rf_split("ev1527", "1e9f5b")          # ("rf-ev1527-01e9f5", "0b")
    catalog["ev1527-door"].kind_for("0b")         # Kind.DOOR_OPEN
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    StrictBool,
    StrictInt,
    StrictStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from hardware import HardwareError
from protocol.errors import ProtocolError
from protocol.ids import check_device_id
from protocol.kinds import Kind

CATALOG_DIR = Path(__file__).resolve().parent / "catalog"
TRANSPORTS = ("serial", "ble", "rf", "sia")
IGNORE = "ignore"

_MODEL_NAME = r"^[a-z0-9][a-z0-9-]{1,47}$"
_PROTOCOL = r"^[a-z0-9]{1,16}$"
_BLE_TOKEN = re.compile(r"[a-z0-9_]{1,32}=[a-z0-9_.\-]{1,32}")
# A sensor field of an RF receiver (RFLink ``SMOKEALERT=ON``, rtl_433 ``"alarm": 1``), as
# ``protocol.rflink`` / ``protocol.rtl433`` spell it: ``smokealert=on``, ``alarm=1``.
_FIELD_TOKEN = _BLE_TOKEN


class CatalogError(HardwareError):
    """A catalog that cannot be used; the message names the file and the field."""


def switch_token(value: int | str) -> str:
    """Canonical form of an RF switch value: two or more lower-case hex digits (RFLink's
    ``SWITCH=0b``, rtl_433's ``cmd: 12`` -> ``0c``). ``ValueError`` when it is not hex."""
    number = int(value, 16) if isinstance(value, str) else value
    if number < 0:
        raise ValueError("negative switch value %r" % value)
    return "%02x" % number


def _kind_or_ignore(value: object) -> Kind | None:
    if value == IGNORE:
        return None
    if isinstance(value, str):
        try:
            return Kind(value)
        except ValueError:
            pass
    raise ValueError("unknown kind %r (one of %s, or %r)" % (value, ", ".join(k.value for k in Kind), IGNORE))


def _kind(value: object) -> Kind:
    kind = _kind_or_ignore(value)
    if kind is None:
        raise ValueError("%r is not a kind: serial models list the kinds they send" % IGNORE)
    return kind


_Target = Annotated[Kind | None, BeforeValidator(_kind_or_ignore)]
_NativeKind = Annotated[Kind, BeforeValidator(_kind)]


class _Table(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RfRule(_Table):
    """How a 433 MHz code splits into the transmitter id and the switch (button/state) bits."""

    protocols: tuple[Annotated[str, Field(pattern=_PROTOCOL)], ...] = Field(min_length=1)
    # Both left out: a sensor that reports by field (RFLink ``SMOKEALERT=ON``, rtl_433
    # ``"alarm": 1``); its receiver prints the transmitter id, and there is no code to split.
    code_bits: StrictInt | None = Field(default=None, gt=1, le=64)
    switch_bits: StrictInt | None = Field(default=None, gt=0)
    id_digits: StrictInt | None = Field(default=None, gt=0, le=16)

    @model_validator(mode="after")
    def _bits(self) -> RfRule:
        code, switch = self.code_bits, self.switch_bits
        if (code is None) != (switch is None):
            raise ValueError("[rf] needs code_bits and switch_bits both, or neither (a field sensor)")
        if code is not None and switch is not None and not switch < code:
            raise ValueError("[rf] needs 0 < switch_bits < code_bits <= 64")
        return self

    @property
    def splits(self) -> bool:
        """Whether whole codes of these protocols split into transmitter id and switch."""
        return self.code_bits is not None

    @property
    def width(self) -> int:
        """Hex digits of the transmitter id in the device id."""
        if self.code_bits is None or self.switch_bits is None:
            return self.id_digits or 0
        return self.id_digits or (self.code_bits - self.switch_bits + 3) // 4

    @property
    def shape(self) -> tuple[int, int, int]:
        return self.code_bits or 0, self.switch_bits or 0, self.width

    def split(self, protocol: str, code: str | int) -> tuple[str, str]:
        """``("ev1527", "1e9f5b")`` -> ``("rf-ev1527-01e9f5", "0b")``."""
        if self.code_bits is None or self.switch_bits is None:
            raise ProtocolError("no_split", "%s sensors report by field: no code to split" % protocol)
        try:
            value = int(code, 16) if isinstance(code, str) else code
        except ValueError:
            raise ProtocolError("bad_code", "%s code %r is not hex" % (protocol, code)) from None
        if value < 0 or value >> self.code_bits:
            raise ProtocolError("bad_code", "%s code %r is over %d bits" % (protocol, code, self.code_bits))
        ident = value >> self.switch_bits
        switch = value & ((1 << self.switch_bits) - 1)
        device = check_device_id("rf-%s-%0*x" % (protocol, self.width, ident))
        return device, switch_token(switch)


class BleInfo(_Table):
    names: tuple[StrictStr, ...] = ()  # advertised local names, for discovery
    encrypted: StrictBool = False  # BTHome AES-CCM expected


class DeviceModel(_Table):
    """One catalog file. ``events`` maps a source token to a kind (``None``: known, never an
    event): a BTHome ``object=value`` for BLE models, a switch value for RF models. Serial
    models list the kinds their line carries in ``kinds``."""

    model: str = Field(pattern=_MODEL_NAME)
    name: StrictStr = Field(min_length=1)
    name_zh: StrictStr = Field(min_length=1)
    vendor: StrictStr = Field(min_length=1)
    transport: Literal["serial", "ble", "rf", "sia"]
    id_format: StrictStr = Field(min_length=1)
    kinds: tuple[_NativeKind, ...] = ()
    events: dict[str, _Target] = Field(default_factory=dict)
    rf: RfRule | None = None
    ble: BleInfo | None = None
    battery: StrictStr = ""
    battery_reported: StrictBool = False
    low_battery_pct: StrictInt | None = Field(default=None, ge=1, le=99)
    heartbeat_s: StrictInt = Field(default=0, ge=0)
    supervision_s: StrictInt = Field(default=0, ge=0)
    notes: StrictStr = ""

    _source: Path | None = PrivateAttr(default=None)

    @field_validator("events", mode="after")
    @classmethod
    def _tokens(cls, events: dict[str, Kind | None], info: ValidationInfo) -> dict[str, Kind | None]:
        transport = info.data.get("transport")
        out: dict[str, Kind | None] = {}
        for token, kind in events.items():
            if transport == "rf" and "=" in token:
                key = token.lower()
                if not _FIELD_TOKEN.fullmatch(key):
                    raise ValueError("RF sensor field %r must look like field=value" % token)
            elif transport == "rf":
                try:
                    key = switch_token(token)
                except ValueError:
                    raise ValueError("RF switch %r is not hex (or a sensor field=value)" % token) from None
            else:
                key = token.lower()
                if transport == "ble" and not _BLE_TOKEN.fullmatch(key):
                    raise ValueError("BLE event %r must look like object=value" % token)
            if key in out:
                raise ValueError("event %r listed twice" % token)
            out[key] = kind
        return out

    @model_validator(mode="after")
    def _by_transport(self) -> DeviceModel:
        t = self.transport
        if t in ("serial", "sia"):
            if self.events:
                raise ValueError("%s models list native kinds in 'kinds', not [events]" % t)
            if not self.kinds:
                raise ValueError("%s models need 'kinds', the kinds their messages carry" % t)
        else:
            if not self.events:
                raise ValueError("%s models need an [events] table" % t)
            if self.kinds:
                raise ValueError("'kinds' is derived from [events] for %s models" % t)
        if (self.rf is not None) != (t == "rf"):
            raise ValueError("[rf] is required for rf models and only for them")
        if (self.ble is not None) != (t == "ble"):
            raise ValueError("[ble] is required for ble models and only for them")
        if self.heartbeat_s and self.supervision_s and self.supervision_s < 2 * self.heartbeat_s:
            raise ValueError("supervision_s must allow at least two missed heartbeats (>= 2 x heartbeat_s)")
        return self

    @property
    def source(self) -> Path | None:
        """The file the model was read from."""
        return self._source

    @property
    def emits(self) -> frozenset[Kind]:
        """Every kind this model can produce."""
        if self.transport in ("serial", "sia"):
            return frozenset(self.kinds)
        return frozenset(k for k in self.events.values() if k is not None)

    @property
    def supervised(self) -> bool:
        return self.supervision_s > 0

    def _token(self, token: str) -> str | None:
        if self.transport == "rf" and "=" in token:
            return token.lower()
        if self.transport == "rf":
            try:
                return switch_token(token)
            except ValueError:
                return None
        return token.lower()

    def knows(self, token: str) -> bool:
        """Whether the model lists ``token`` (mapped to a kind or to ``ignore``)."""
        if self.transport in ("serial", "sia"):
            return token in self.kinds
        key = self._token(token)
        return key is not None and key in self.events

    def kind_for(self, token: str) -> Kind | None:
        """Kind for a source token: a serial kind (``panic``), a BTHome ``object=value``
        (``button=long_press``, ``opening=true``) or an RF switch (``0b``, any hex form).
        None when the model says to ignore the token or does not know it."""
        if self.transport in ("serial", "sia"):
            return Kind(token) if token in self.kinds else None
        key = self._token(token)
        return self.events.get(key) if key is not None else None

    def rf_split(self, protocol: str, code: str | int) -> tuple[str, str]:
        if self.rf is None or protocol not in self.rf.protocols:
            raise ProtocolError("wrong_model", "%s does not speak %s" % (self.model, protocol))
        return self.rf.split(protocol, code)


def _describe(exc: ValidationError) -> str:
    """Pydantic's errors, one clause per field: ``field 'events.0a': unknown kind 'explode' ...``."""
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"])
        text = str(err["msg"]).removeprefix("Value error, ")
        if not loc:
            parts.append(text)
        elif err["type"] == "missing":
            parts.append("field %r is missing" % loc)
        elif err["type"] == "extra_forbidden":
            parts.append("unknown field %r (a typo must not silently change an alarm mapping)" % loc)
        else:
            parts.append("field %r: %s" % (loc, text))
    return "; ".join(parts)


def parse_model(data: dict[str, Any], where: str = "<catalog>", source: Path | None = None) -> DeviceModel:
    try:
        model = DeviceModel.model_validate(data)
    except ValidationError as exc:
        raise CatalogError("%s: %s" % (where, _describe(exc))) from None
    model._source = source
    return model


def load_model(path: Path) -> DeviceModel:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise CatalogError("%s: %s" % (path.name, exc)) from None
    model = parse_model(data, path.name, path)
    if path.stem != model.model:
        raise CatalogError("%s: file name must be the model name (%s.toml)" % (path.name, model.model))
    return model


class Catalog(Mapping[str, DeviceModel]):
    """Every model of one catalog folder, by name, with the RF id split per receiver protocol.

    Models that name the same RF protocol must split its codes the same way: the device id
    is formed from the code before anyone knows which model the transmitter is."""

    def __init__(self, models: Iterable[DeviceModel], folder: Path) -> None:
        self.folder = folder
        self._models: dict[str, DeviceModel] = {}
        self._rf: dict[str, tuple[RfRule, DeviceModel]] = {}
        for model in models:
            if model.model in self._models:
                raise CatalogError("%s: model %r is listed twice" % (_name(model), model.model))
            self._models[model.model] = model
            if model.rf is None or not model.rf.splits:
                continue
            for protocol in model.rf.protocols:
                first = self._rf.get(protocol)
                if first is None:
                    self._rf[protocol] = (model.rf, model)
                elif first[0].shape != model.rf.shape:
                    raise CatalogError(
                        "%s: field 'rf': splits %s codes as %d bits with %d switch bits and %d id digits, "
                        "but %s splits them as %d/%d/%d; one protocol has one split"
                        % (_name(model), protocol, *model.rf.shape, _name(first[1]), *first[0].shape))

    def __getitem__(self, name: str) -> DeviceModel:
        return self._models[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._models)

    def __len__(self) -> int:
        return len(self._models)

    def model(self, name: str) -> DeviceModel:
        """The model called ``name``; ``CatalogError`` naming the known ones otherwise."""
        found = self._models.get(name)
        if found is None:
            raise CatalogError("model %r is not in the device catalog (%s has %s)"
                               % (name, self.folder, ", ".join(sorted(self._models))))
        return found

    @property
    def rf_protocols(self) -> frozenset[str]:
        return frozenset(self._rf)

    def rf_split(self, protocol: str, code: str | int) -> tuple[str, str]:
        """A receiver's whole code -> (device id, switch token) by the catalog's split for
        ``protocol``; ``ProtocolError`` when no model names the protocol or the code does not fit."""
        rule = self._rf.get(protocol)
        if rule is None:
            raise ProtocolError("unknown_protocol", "no catalog model speaks %r" % protocol)
        return rule[0].split(protocol, code)


def _name(model: DeviceModel) -> str:
    return model.source.name if model.source is not None else model.model


def load_catalog(path: Path | None = None) -> Catalog:
    """Every ``*.toml`` in ``path`` (default: the catalog shipped with the package)."""
    folder = CATALOG_DIR if path is None else Path(path)
    if not folder.is_dir():
        raise CatalogError("catalog folder %s does not exist" % folder)
    files = sorted(folder.glob("*.toml"))
    if not files:
        raise CatalogError("catalog folder %s holds no model (*.toml)" % folder)
    return Catalog((load_model(p) for p in files), folder)
