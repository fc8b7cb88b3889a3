"""The live page's settings (`[http]` in the config, or `vigil run --http HOST:PORT`)."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from edge.errors import ConfigError

DEFAULT_PORT = 8321


@dataclass(frozen=True)
class HttpSettings:
    host: str = "127.0.0.1"  # loopback by default: the page is for the gateway's owner
    port: int = DEFAULT_PORT
    token: str | None = None  # when set, /api/* and /metrics need it

    @property
    def loopback(self) -> bool:
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return self.host == "localhost"


def parse_listen(value: str, where: str) -> tuple[str, int]:
    """'HOST:PORT', ':PORT' (loopback) or '[v6]:PORT' -> (host, port)."""
    host, sep, port = value.rpartition(":")
    host = host.strip("[]") or "127.0.0.1"
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"{where}: {value!r} (expected HOST:PORT, e.g. 127.0.0.1:{DEFAULT_PORT})")
    return host, int(port)
