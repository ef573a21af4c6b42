"""The one exception base of the mqttlink package."""


class LinkError(Exception):
    """Anything the MQTT link refuses or cannot do."""


class UrlError(LinkError):
    """A broker URL that is not ``mqtt://HOST[:PORT]`` or ``mqtts://HOST[:PORT]``."""


class PublishError(LinkError):
    """paho refused a publish outright (not merely queued it for a reconnect)."""
