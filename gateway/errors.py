"""The one exception base of the gateway package."""


class GatewayError(Exception):
    """Anything the gateway refuses or cannot do; foreign errors are translated into this."""


class ConfigError(GatewayError):
    """The configuration file is missing, unreadable or holds a bad value."""


class OutboxError(GatewayError):
    """The outbox database cannot be opened or written."""


class AdapterError(GatewayError):
    """A transport (serial port, BLE, RF receiver) failed."""
