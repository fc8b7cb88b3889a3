"""sd_notify without a dependency: one datagram per message to $NOTIFY_SOCKET (the `sdnotify`
package has no wheel, and the protocol is a single sendto)."""

from __future__ import annotations

import os
import socket


class Notifier:
    """READY=1, STATUS=..., WATCHDOG=1, STOPPING=1 to systemd; silent when not run by systemd."""

    def __init__(self) -> None:
        address = os.environ.get("NOTIFY_SOCKET", "")
        self._address = "\0" + address[1:] if address.startswith("@") else address
        self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) if address else None
        usec = os.environ.get("WATCHDOG_USEC", "")
        self.watchdog_s = int(usec) / 1e6 if usec.isdigit() and int(usec) > 0 else None

    def send(self, *fields: str) -> None:
        if self._socket is not None:
            self._socket.sendto("\n".join(fields).encode(), self._address)

    def ready(self, status: str) -> None:
        self.send("READY=1", f"STATUS={status}")

    def status(self, status: str) -> None:
        self.send(f"STATUS={status}")

    def watchdog(self) -> None:
        self.send("WATCHDOG=1")

    def stopping(self) -> None:
        self.send("STOPPING=1")

    def reloading(self) -> None:
        self.send("RELOADING=1")
