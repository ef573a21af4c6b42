"""The station gateway: device adapters, durable outbox, MQTT uplink."""

__version__ = "0.1.0"
