"""Anomaly events as the service reports them (schema: edge/schemas/event.schema.json)."""

from __future__ import annotations

import json
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from edge.pipeline.decider import Event

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

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)


def _iso(epoch_s: float) -> str:
    return datetime.fromtimestamp(epoch_s, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def make_record(event: Event, *, gateway: str, stream: str, detector: str, model_sha256: str,
                stream_epoch_s: float) -> EventRecord:
    """An Event of a stream whose sample 0 was at wall-clock stream_epoch_s (UTC seconds)."""
    return EventRecord(SCHEMA, uuid.uuid4().hex, gateway, stream, detector, model_sha256,
                       _iso(stream_epoch_s + event.start_s), _iso(stream_epoch_s + event.end_s),
                       round(event.start_s, 4), round(event.end_s, 4), float(event.peak_score), float(event.threshold),
                       int(event.windows))


def schema() -> dict[str, Any]:
    return dict(json.loads(SCHEMA_PATH.read_text()))
