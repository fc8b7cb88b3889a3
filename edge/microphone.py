"""The microphone source (sounddevice/PortAudio): the callback writes into the stream's ring buffer.

The callback runs on PortAudio's thread and only copies into the preallocated ring (slice
assignments, no allocation); the service's loop scores what arrived. An input overflow (samples
the gateway could not take in time) is counted, and the samples lost - measured with PortAudio's
ADC timestamps - are written as missing, so later samples keep their true place.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np

from edge.devices import DeviceMissing, no_audio_input
from edge.stream import Stream

log = logging.getLogger(__name__)


def find_input(device: str | int | None) -> int | None:
    """A PortAudio input device index by index or by (part of) its name; None: the default input."""
    import sounddevice as sd

    inputs = [(i, d["name"]) for i, d in enumerate(sd.query_devices()) if d["max_input_channels"] > 0]
    if device is None:
        if not inputs:
            raise no_audio_input(None)
        return None
    if isinstance(device, int):
        if device not in {i for i, _ in inputs}:
            raise no_audio_input(device)
        return device
    matches = [i for i, name in inputs if device.lower() in name.lower()]
    if not matches:
        raise no_audio_input(device)
    return matches[0]


class Microphone:
    """Feeds `stream`'s ring buffer from an input device at the stream's sample rate, mono."""

    def __init__(self, stream: Stream, *, device: str | int | None = None, channel: int | None = None,
                 blocksize: int = 1024) -> None:
        try:
            import sounddevice as sd
        except OSError as exc:  # no PortAudio library
            raise DeviceMissing(f"no audio input device {device!r} (PortAudio not found: {exc})") from None

        self.stream = stream
        self.channel = channel or 0
        self.overflows = 0
        self.lost_samples = 0
        self.epoch_s: float | None = None  # wall clock of the stream's sample 0 (set by the first callback)
        self._expected_adc: float | None = None
        self._zeros = np.zeros((stream.ring.capacity, 1), dtype=np.float32)
        self._lost_mask = np.ones(stream.ring.capacity, dtype=bool)
        self._scaled = np.zeros((blocksize, 1), dtype=np.float32)  # int16 -> float32, in place
        sr = stream.spec.sr
        self._sr = sr
        # int16: what sound cards deliver natively, scaled as WAV files are (x / 32768)
        index = find_input(device)
        try:
            self._pa = sd.InputStream(device=index, channels=self.channel + 1, samplerate=sr,
                                      dtype="int16", blocksize=blocksize, callback=self._callback)
        except sd.PortAudioError as exc:  # no default input, the device went away, or it cannot record so
            raise DeviceMissing(f"{no_audio_input(device)}: {exc}") from None

    def _callback(self, indata: np.ndarray, frames: int, time_info: Any, status: Any) -> None:
        if self.epoch_s is None:
            self.epoch_s = time.time() - frames / self._sr
        adc = float(time_info.inputBufferAdcTime)
        if status.input_overflow:
            self.overflows += 1
            if self._expected_adc is not None and adc > 0:
                lost = min(round((adc - self._expected_adc) * self._sr), self.stream.ring.capacity)
                if lost > 0:  # the samples PortAudio dropped: missing, at their place
                    self.stream.ring.write(self._zeros[:lost], self._lost_mask[:lost])
                    self.lost_samples += lost
        scaled = self._scaled[:frames]
        np.multiply(indata[:, self.channel : self.channel + 1], np.float32(1 / 32768), out=scaled)
        self.stream.ring.write(scaled)
        self._expected_adc = adc + frames / self._sr if adc > 0 else None

    def start(self) -> None:
        self._pa.start()

    def stop(self) -> None:
        self._pa.stop()
        self._pa.close()
