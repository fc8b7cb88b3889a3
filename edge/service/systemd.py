"""sd_notify without a dependency: one datagram per message to $NOTIFY_SOCKET (the `sdnotify`
package has no wheel, and the protocol is a single sendto)."""

from __future__ import annotations

import logging
import os
import socket

log = logging.getLogger(__name__)


class Notifier:
    """READY=1, STATUS=..., WATCHDOG=1, STOPPING=1 to systemd; silent when not run by systemd."""

    def __init__(self) -> None:
        address = os.environ.get("NOTIFY_SOCKET", "")
        self._address = "\0" + address[1:] if address.startswith("@") else address
        self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) if address else None
        if self._socket is not None:
            # the service loop sends these: a manager that reads its socket slowly (its queue full) must not
            # freeze the loop, SIGTERM included; a message that does not fit is dropped and counted
            self._socket.setblocking(False)
        self.dropped = 0
        usec = os.environ.get("WATCHDOG_USEC", "")
        self.watchdog_s = int(usec) / 1e6 if usec.isdigit() and int(usec) > 0 else None

    def send(self, *fields: str) -> None:
        if self._socket is not None:
            try:
                self._socket.sendto("\n".join(fields).encode(), self._address)
            except (BlockingIOError, ConnectionRefusedError, FileNotFoundError):  # full, or nobody listens now
                if not self.dropped:
                    log.warning("systemd's notify socket %s takes no more messages: dropping them (watchdog pings "
                                "included) until it reads again", self._address.lstrip("\0"))
                self.dropped += 1

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
