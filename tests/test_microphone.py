"""The microphone source through a real capture path with no sound card: a PulseAudio null sink.

The test starts its own PulseAudio daemon (stopped by PID) with a 16 kHz mono null sink whose
monitor is the default source; vigil records from the ALSA "pulse" device with sounddevice while
paplay plays a bundled WAV into the sink. The capture must hold the WAV sample-exact after the
leading silence (PulseAudio may drop the first fragment while its idle source resumes), and the live
pipeline's window scores must equal file replay of the WAV as the microphone heard it: tolerance
1e-4 relative.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import scipy.io.wavfile
import scipy.signal

from tests.conftest import ROOT, starts_peer

SAMPLE = sorted((ROOT / "edge" / "data" / "samples" / "slider").glob("normal_*.wav"))[0]
BUNDLE = ROOT / "edge" / "data" / "bundles" / "slider"

CAPTURE = textwrap.dedent("""
    import asyncio, json, subprocess, sys
    import numpy as np
    from edge.bundle.loader import load_bundle
    from edge.detectors.base import load_detector
    from edge.sources.microphone import MicrophoneConfig, MicrophoneSource
    from edge.pipeline.assembly import build_stream
    from edge.sources.base import Needs

    async def main():
        bundle = load_bundle(sys.argv[1])
        stream = build_stream(bundle, load_detector(bundle, "int8"))
        mic = MicrophoneSource(MicrophoneConfig(device="pulse", blocksize=512), Needs("audio", 16000.0))
        captured, scores = [], []

        async def consume():  # the service's loop: every block through the stream as it arrives
            async for block in mic.blocks():
                captured.append(block.samples[:, 0].copy())
                scores.extend(stream.push(block).scores.tolist())

        await mic.start()
        consumer = asyncio.create_task(consume())
        await asyncio.sleep(0.5)
        player = await asyncio.create_subprocess_exec("paplay", "--device=nullsink", sys.argv[2])
        assert await player.wait() == 0
        await asyncio.sleep(1.0)
        await mic.stop()
        await consumer
        np.save(sys.argv[3], np.concatenate(captured))
        print(json.dumps({"scores": scores, "overflows": mic.overflows, "lost": mic.lost_samples}))

    asyncio.run(main())
""")



class PulseDaemon:
    """A PulseAudio daemon with a 16 kHz mono null sink whose monitor is the default source; ``env`` reaches
    it (known before it runs: a client may be waiting for it)."""

    def __init__(self, tmp_path: Path) -> None:
        binary = shutil.which("pulseaudio")
        assert binary and shutil.which("paplay"), "apt-get install pulseaudio pulseaudio-utils libasound2-plugins"
        self.socket = tmp_path / "native"
        config = tmp_path / "default.pa"
        config.write_text(f"load-module module-native-protocol-unix auth-anonymous=1 socket={self.socket}\n"
                          "load-module module-null-sink sink_name=nullsink rate=16000 channels=1\n"
                          "set-default-source nullsink.monitor\n")
        self.env = {**os.environ, "HOME": str(tmp_path), "PULSE_SERVER": f"unix:{self.socket}",
                    "XDG_RUNTIME_DIR": str(tmp_path)}
        self.argv = [binary, "-n", "-F", str(config), "--daemonize=no", "--exit-idle-time=-1", "--use-pid-file=no",
                     "--disallow-exit"]
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        starts_peer("PulseAudio")
        self.proc = subprocess.Popen(self.argv, env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while not self.socket.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert self.socket.exists(), "PulseAudio did not start"

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)
            self.proc = None


@pytest.fixture()
def pulse(tmp_path: Path) -> Iterator[dict[str, str]]:
    daemon = PulseDaemon(tmp_path)
    daemon.start()
    try:
        yield daemon.env
    finally:
        daemon.stop()


def test_captured_stream_scores_like_file_replay(pulse: dict[str, str], tmp_path: Path) -> None:
    from edge.bundle.loader import load_bundle
    from edge.detectors.base import load_detector
    from edge.pipeline.file_scoring import score_file

    out = subprocess.run([sys.executable, "-c", CAPTURE, str(BUNDLE), str(SAMPLE), str(tmp_path / "cap.npy")],
                         capture_output=True, text=True, cwd=ROOT, env=pulse, timeout=120)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    captured = np.load(tmp_path / "cap.npy")
    sr, wav = scipy.io.wavfile.read(SAMPLE)
    x = wav.astype(np.float32) / 32768
    # The capture may begin with silence (recording started first) and PulseAudio may drop the first
    # fragment as the idle source resumes: find where the capture enters the WAV by cross-correlation.
    lead = int(np.flatnonzero(captured)[0])
    corr = scipy.signal.correlate(x, captured[lead : lead + 8000], mode="valid", method="fft")
    skip = int(np.argmax(corr))
    n = x.size - skip
    np.testing.assert_array_equal(captured[lead : lead + n], x[skip:])  # from there on, sample-exact
    heard = tmp_path / "heard.wav"  # the WAV as the microphone heard it
    scipy.io.wavfile.write(heard, sr, np.concatenate([np.zeros(lead, np.int16), wav[skip:]]))
    bundle = load_bundle(BUNDLE)
    replay = score_file(bundle, load_detector(bundle, "int8"), heard).window_scores
    live = np.array(result["scores"])[: replay.size]
    assert live.size == replay.size
    np.testing.assert_allclose(live, replay, rtol=1e-4, atol=1e-6)
    assert result["overflows"] == 0 and result["lost"] == 0


COME_AND_GO = textwrap.dedent("""
    import asyncio, json, sys
    from edge.sources.base import Needs
    from edge.sources.microphone import MicrophoneConfig, MicrophoneSource

    async def until(condition):
        for _ in range(100):
            if condition():
                return
            await asyncio.sleep(0.1)

    async def main():
        mic = MicrophoneSource(MicrophoneConfig(device="pulse", blocksize=512), Needs("audio", 16000.0),
                               backoff_s=(0.1, 0.4))
        blocks = 0

        async def consume():
            nonlocal blocks
            async for _ in mic.blocks():
                blocks += 1

        async def say(**what):
            print(json.dumps(what), flush=True)
            await asyncio.to_thread(sys.stdin.readline)  # the test's turn

        await mic.start()
        consumer = asyncio.create_task(consume())
        await asyncio.sleep(0.5)
        await say(waiting=mic.waiting())  # the test starts PulseAudio
        await until(lambda: mic.waiting() is None)
        player = await asyncio.create_subprocess_exec("paplay", "--device=nullsink", sys.argv[1])
        await player.wait()
        await asyncio.sleep(0.5)
        await say(waiting=mic.waiting(), blocks=blocks)  # the test stops PulseAudio
        await until(lambda: mic.waiting() is not None)
        await say(waiting=mic.waiting())  # the test starts PulseAudio again
        await until(lambda: mic.waiting() is None)
        await asyncio.sleep(1.0)  # open and holding: no loss counted but the real one
        print(json.dumps({"waiting": mic.waiting(), "reopens": mic.reopens}), flush=True)
        await mic.stop()
        await consumer

    asyncio.run(main())
""")


@pytest.mark.peer  # PulseAudio, started once the source waits for it
def test_an_input_that_comes_and_goes_is_waited_for(tmp_path: Path) -> None:
    """No PulseAudio yet: the source waits and retries; PulseAudio starts: the source finds the input
    (PortAudio asked for its devices afresh) and delivers; PulseAudio stops: the input is lost, waited for
    again, and found again when PulseAudio is back."""
    daemon = PulseDaemon(tmp_path)
    child = subprocess.Popen([sys.executable, "-c", COME_AND_GO, str(SAMPLE)], cwd=ROOT, env=daemon.env, text=True,
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert child.stdin is not None and child.stdout is not None
    try:
        absent = json.loads(child.stdout.readline())
        daemon.start()
        child.stdin.write("\n")
        child.stdin.flush()
        present = json.loads(child.stdout.readline())
        daemon.stop()
        child.stdin.write("\n")
        child.stdin.flush()
        lost = json.loads(child.stdout.readline())
        daemon.start()
        child.stdin.write("\n")
        child.stdin.flush()
        back = json.loads(child.stdout.readline())
        assert child.wait(30) == 0
    finally:
        daemon.stop()
        if child.poll() is None:
            child.kill()
    assert absent["waiting"].startswith("no audio input device 'pulse'"), absent
    assert present["waiting"] is None and present["blocks"] >= 80000 // 512, present  # the clip, at least
    assert lost["waiting"] is not None, lost
    assert back == {"waiting": None, "reopens": 1}, back


def test_devices_lists_the_capture_path(pulse: dict[str, str]) -> None:
    out = subprocess.run([sys.executable, "-m", "edge.cli", "devices", "--no-ble"], capture_output=True, text=True,
                         cwd=ROOT, env=pulse, timeout=60, check=True)
    assert "audio inputs:" in out.stdout and "pulse" in out.stdout


def test_a_loop_that_falls_behind_drops_blocks_which_become_missing() -> None:
    """No sound card needed: the callback is driven by hand, the loop never consumes."""
    import asyncio
    from types import SimpleNamespace

    from edge.features.spec import FeatureSpec
    from edge.pipeline.decider import Decider
    from edge.pipeline.stream import Stream
    from edge.sources.base import Needs
    from edge.sources.microphone import MicrophoneConfig, MicrophoneSource
    from tests.test_audio_pipeline import RecordingDetector

    async def scenario() -> tuple[MicrophoneSource, list]:
        mic = MicrophoneSource(MicrophoneConfig(blocksize=256), Needs("audio", 16000.0))
        mic._loop = asyncio.get_running_loop()
        status = SimpleNamespace(input_overflow=False)
        for k in range(100):
            mic._callback(np.full((256, 1), k, np.int16), 256, SimpleNamespace(inputBufferAdcTime=0.0), status)
        await asyncio.sleep(0)  # the loop runs the 100 queued offers
        await mic.stop()
        return mic, [b async for b in mic.blocks()]

    mic, blocks = asyncio.run(scenario())
    assert len(blocks) == mic.max_queued and mic.dropped_blocks == 100 - mic.max_queued
    stream = Stream(FeatureSpec.default("seed"), RecordingDetector(), Decider(np.inf))
    for block in blocks:
        stream.push(block)
    assert stream.ring.end == 64 * 256 and stream.missing_samples == 0  # the first 64 blocks, in place
    following = type(blocks[0])(mic._next, np.zeros((256, 1), np.float32))  # the next block the device delivers
    stream.push(following)
    assert stream.missing_samples == mic.dropped_blocks * 256  # the dropped samples, missing at their place


NO_DEFAULT = textwrap.dedent("""
    from edge.sources.base import Needs
    from edge.sources.hardware import input_names
    from edge.sources.microphone import MicrophoneConfig, MicrophoneSource
    if input_names():
        print("inputs")
        raise SystemExit
    try:
        MicrophoneSource(MicrophoneConfig(channel=1), Needs("audio", 16000.0))._open(True)
    except Exception as exc:
        print(exc)
""")


def test_no_default_input_is_said_in_words(tmp_path: Path) -> None:
    """The real PortAudio with no sound card and no sound server: the waiting reason says what is missing and
    what to do, with PortAudio's own words only in brackets."""
    env = {**os.environ, "PULSE_SERVER": f"unix:{tmp_path / 'no-server'}"}
    out = subprocess.run([sys.executable, "-c", NO_DEFAULT], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=60).stdout.strip()
    if out == "inputs":
        pytest.skip("this machine has an audio input")
    assert out.startswith("no audio input device (default) (devices: none): no default input; plug in a "
                          "microphone"), out
    assert out.endswith("]") and "[PortAudio: " in out, out
