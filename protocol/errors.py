"""The one exception base of the protocol package."""


class ProtocolError(ValueError):
    """Input that does not follow the wire contract (bad CRC, bad field, unknown kind...).

    ``reason`` is a short stable token for counters and logs (``bad_crc``, ``bad_field``...).
    """

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail
