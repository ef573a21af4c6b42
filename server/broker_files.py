"""The files Mosquitto reads: written atomically and readable by the broker through its group.

Mosquitto 2.0 opens its password and ACL files after dropping privileges to the
``mosquitto`` user, so files owned ``root:root`` (or ``shouwang:shouwang``) with mode 0640 are
unreadable to it and the broker refuses to start. Every file written here is mode 0640 and,
when a ``mosquitto`` group exists, belongs to that group; the directory is 0750 in the same
group. The snippet ``shouwang.conf`` holds every broker setting the accounts depend on.
"""

from __future__ import annotations

import grp
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from server.errors import ConfigError

BROKER_GROUP = "mosquitto"
CONFIG_FILE = "shouwang.conf"
# Larger than the largest legitimate message: a gateway batch is at most 500 events.
DEFAULT_MAX_PACKET = 1024 * 1024
MIN_MAX_PACKET = 64 * 1024


def broker_gid(group: str | None = BROKER_GROUP) -> int | None:
    """The broker's group id, or None when there is no such group on this machine."""
    if group is None:
        return None
    try:
        return grp.getgrnam(group).gr_gid
    except KeyError:
        return None


def _hand_to_group(path: Path, gid: int | None) -> None:
    if gid is None:
        return
    try:
        os.chown(path, -1, gid)
    except PermissionError:
        raise ConfigError(
            "cannot give %s to group %s: run the server as root or as a member of that group"
            % (path, grp.getgrgid(gid).gr_name)
        ) from None


def prepare_directory(directory: Path, gid: int | None) -> None:
    """Create the directory (0750); the broker's group may enter it."""
    directory.mkdir(parents=True, exist_ok=True)
    if directory.stat().st_uid == os.geteuid():
        _hand_to_group(directory, gid)
        directory.chmod(0o750)


def write_broker_file(path: Path, text: str, group: str | None = BROKER_GROUP) -> None:
    """Replace ``path`` atomically with ``text``, mode 0640, in the broker's group."""
    gid = broker_gid(group)
    prepare_directory(path.parent, gid)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix="." + path.name)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o640)
        _hand_to_group(Path(tmp), gid)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@dataclass(frozen=True)
class TlsFiles:
    certfile: Path
    keyfile: Path
    cafile: Path | None = None  # only to check client certificates; gateways use passwords


@dataclass(frozen=True)
class Listener:
    port: int
    host: str | None = None  # None: every interface
    tls: TlsFiles | None = None


def parse_listener(value: str) -> tuple[str | None, int]:
    """``[HOST:]PORT`` as given on the command line."""
    host, sep, port = value.rpartition(":")
    if not port.isdigit() or not 0 < int(port) < 65536 or (sep and not host):
        raise ConfigError("listener must be [HOST:]PORT, got %r" % value)
    return (host.strip("[]") if sep else None), int(port)


def config_text(directory: Path, listeners: list[Listener], max_packet_size: int = DEFAULT_MAX_PACKET) -> str:
    """The snippet to include from mosquitto.conf: no anonymous clients, our password and ACL
    files, a packet size limit, and client ids bound to user names on every listener."""
    if not listeners:
        raise ConfigError("the broker needs at least one listener")
    if max_packet_size < MIN_MAX_PACKET:
        raise ConfigError("max packet size must be at least %d bytes" % MIN_MAX_PACKET)
    lines = [
        "# Written by the Shouwang server (shouwang server broker-config); edits are overwritten.",
        "# Include it from mosquitto.conf: include_dir %s" % directory,
        "per_listener_settings false",
        "allow_anonymous false",
        "password_file %s" % (directory / "passwd"),
        "acl_file %s" % (directory / "acl"),
        "max_packet_size %d" % max_packet_size,
    ]
    for listener in listeners:
        lines += ["", "listener %d%s" % (listener.port, " " + listener.host if listener.host else "")]
        # The broker replaces every client id with the user name: nobody can take over the
        # session of another account (the server's, another gateway's) by borrowing its id.
        lines.append("use_username_as_clientid true")
        if listener.tls is not None:
            lines += ["certfile %s" % listener.tls.certfile, "keyfile %s" % listener.tls.keyfile]
            if listener.tls.cafile is not None:
                lines.append("cafile %s" % listener.tls.cafile)
            lines.append("tls_version tlsv1.2")
    return "\n".join(lines) + "\n"


def write_config(
    directory: Path,
    listeners: list[Listener],
    max_packet_size: int = DEFAULT_MAX_PACKET,
    group: str | None = BROKER_GROUP,
) -> Path:
    path = directory / CONFIG_FILE
    write_broker_file(path, config_text(directory, listeners, max_packet_size), group)
    return path
