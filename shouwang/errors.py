"""The one exception base of the shouwang package."""

from __future__ import annotations


class ShouwangError(Exception):
    """Something the composition (broker, local stack, demo) could not start or run."""


class BrokerError(ShouwangError):
    """Mosquitto is missing, did not start, or nothing listens where it should."""


class NotListeningError(ShouwangError):
    """Nothing accepts connections on a port a process was started to listen on."""


class StackError(ShouwangError):
    """A server or gateway process of the local stack exited or did not come up."""
