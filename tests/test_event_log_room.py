"""The event log when the disk refuses it, without root: a file size limit (RLIMIT_FSIZE) is a real refusal by
the kernel (a short write, then EFBIG), as a full disk is (ENOSPC). Lines stay whole, held events are written in
order once room returns, a torn last line from a crash is moved aside, and the counters reach /metrics.
The full disk itself (a 1 MB tmpfs, the outbox too): tests/test_full_disk.py."""

from __future__ import annotations

import contextlib
import json
import logging
import resource
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge.observe.metrics import Metrics
from edge.pipeline.decider import Event
from edge.sinks.events import EventRecord, make_record
from edge.sinks.jsonl import JsonlSink


def record(i: int) -> EventRecord:
    return make_record(Event(i, i + 1.0, 3.0, 1.0, 2), gateway="gw1", stream="mic", detector="dense-ae",
                       model_sha256="0" * 64, stream_epoch_s=1.7e9)


@contextlib.contextmanager
def file_size_limit(limit: int) -> Iterator[None]:
    """Files of this process may not grow beyond `limit` bytes (writes past it: short, then EFBIG)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    old_handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # else the kernel kills the process
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, old_handler)


def lines_of(path: Path) -> list[str]:
    text = path.read_bytes().decode()
    assert text == "" or text.endswith("\n"), f"{path} ends in a torn line: {text[-80:]!r}"
    return [json.loads(line)["event_id"] for line in text.splitlines()]


def test_refused_lines_are_held_whole_and_written_in_order(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    path = tmp_path / "events.jsonl"
    sink = JsonlSink(path)
    records = [record(i) for i in range(12)]
    sink.emit(records[0])
    line = len(records[0].to_json()) + 1
    with file_size_limit(path.stat().st_size + line + line // 2):  # room for one line and a half
        for r in records[1:10]:
            sink.emit(r)
        sink.retry()
        assert lines_of(path) == [r.event_id for r in records[:2]]  # the half line was cut back
        assert sink.health() == {"delivered": 2, "dropped": 0, "pending": 8, "held": 8}
    refused = [r.getMessage() for r in caplog.records if "cannot write" in r.getMessage()]
    assert len(refused) == 1 and str(path) in refused[0] and str(tmp_path) in refused[0]  # once, not per event
    sink.retry()  # room again: the held lines go out on the timer, before any newer one
    sink.emit(records[10])
    sink.emit(records[11])
    sink.close()
    assert lines_of(path) == [r.event_id for r in records]
    assert sum("writing again" in r.getMessage() for r in caplog.records) == 1


def test_beyond_its_cap_the_oldest_held_are_dropped_and_counted(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    sink = JsonlSink(path)
    sink.MAX_PENDING = 3  # type: ignore[misc]  # 10,000 in the service: a few here
    records = [record(i) for i in range(8)]
    with file_size_limit(1):  # not even one line
        for r in records[:7]:
            sink.emit(r)
        assert path.stat().st_size == 0
    sink.emit(records[7])
    assert lines_of(path) == [r.event_id for r in records[4:]]  # the newest 3 held, then the one after
    health = sink.health()
    assert health == {"delivered": 4, "dropped": 4, "pending": 0, "held": 0}
    text = Metrics(lambda: [], lambda: None, lambda: None, lambda: [("jsonl", health)]).render().decode()
    assert 'vigil_sink_events_delivered_total{sink="jsonl"} 4.0' in text
    assert 'vigil_sink_events_dropped_total{sink="jsonl"} 4.0' in text
    assert 'vigil_sink_events_pending{sink="jsonl"} 0.0' in text
    sink.close()


def test_a_torn_last_line_is_moved_aside_at_start_not_glued(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "events.jsonl"
    whole = [record(0).to_json(), record(1).to_json()]
    torn = record(2).to_json()[:37]
    path.write_text("\n".join(whole) + "\n" + torn)  # a crash in the middle of the third line
    sink = JsonlSink(path)
    sink.emit(record(3))
    sink.close()
    assert len(lines_of(path)) == 3  # every line whole JSON
    assert (tmp_path / "events.jsonl.torn").read_text() == torn + "\n"
    said = [r.getMessage() for r in caplog.records if "torn" in r.getMessage()]
    assert len(said) == 1 and str(path) in said[0] and "37 bytes" in said[0]
    JsonlSink(path).close()  # a whole log is left as it is
    assert len(lines_of(path)) == 3 and (tmp_path / "events.jsonl.torn").read_text() == torn + "\n"
