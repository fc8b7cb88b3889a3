"""Anomaly events as the service reports them (schema: edge/schemas/event.schema.json).

An event is a sequence of records under one ``event_id``: ``opened`` as soon as the Decider opens it,
``update`` records (end and peak so far) at a bounded rate while it lasts, and ``closed`` with its final
figures. Events that are only known when they close (the fetal stage's rules) have a ``closed`` record
alone. A record without ``phase`` (older gateways) is a closed one.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from edge.pipeline.decider import Event, Phase

SCHEMA = "vigil.event/1"
SCHEMA_PATH = Path(__file__).parent.parent / "schemas" / "event.schema.json"


@dataclass(frozen=True)
class EventRecord:
    schema: str
    event_id: str
    gateway: str
    stream: str
    detector: str
    model_sha256: str
    start: str
    end: str
    start_s: float
    end_s: float
    peak_score: float
    threshold: float
    windows: int
    phase: Phase = "closed"
    explain: list[dict[str, Any]] | None = None  # machine sound: where the peak window differs (bands)
    heard_by: dict[str, Any] | None = None  # a fused detector: the member that heard the peak window most

    def to_json(self) -> str:
        out = asdict(self)
        for optional in ("explain", "heard_by"):
            if out[optional] is None:
                del out[optional]
        return json.dumps(out, sort_keys=True)

    @property
    def key(self) -> str:
        """Unique per record (the MQTT outbox's key): the event_id for the closed record; for the others, its
        phase and end too (an update is only made when the end moved on)."""
        return self.event_id if self.phase == "closed" else f"{self.event_id}:{self.phase}:{self.end_s}"


def _iso(epoch_s: float) -> str:
    return datetime.fromtimestamp(epoch_s, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def new_event_id() -> str:
    """A random 128-bit id, 32 hex digits."""
    return uuid.uuid4().hex


def make_record(event: Event, *, gateway: str, stream: str, detector: str, model_sha256: str,
                stream_epoch_s: float, event_id: str | None = None) -> EventRecord:
    """A record of an Event (its phase) of a stream whose sample 0 was at wall-clock stream_epoch_s (UTC
    seconds); ``event_id``: the id its opened record got (None: a new one)."""
    return EventRecord(SCHEMA, event_id or new_event_id(), gateway, stream, detector, model_sha256,
                       _iso(stream_epoch_s + event.start_s), _iso(stream_epoch_s + event.end_s),
                       round(event.start_s, 4), round(event.end_s, 4), float(event.peak_score), float(event.threshold),
                       int(event.windows), event.phase, event.explain, event.heard_by)


def schema() -> dict[str, Any]:
    return dict(json.loads(SCHEMA_PATH.read_text()))
