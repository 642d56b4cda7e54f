"""One audio contract for every part of the voice chain: 16 kHz, 16-bit signed, mono.

Every source converts to it at the edge and every engine is fed it in fixed 20 ms
chunks, so no detector has to guess a format and durations follow from byte counts.
(The same contract as Home Assistant's assist pipeline and Wyoming's AudioChunk.)
"""

from __future__ import annotations

import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kiosk.errors import AudioError

SAMPLE_RATE = 16_000
"""Samples per second."""
SAMPLE_WIDTH = 2
"""Bytes per sample (signed 16-bit, little-endian)."""
CHANNELS = 1
CHUNK_MS = 20
"""Milliseconds per chunk: the unit every detector is fed."""
CHUNK_SAMPLES = SAMPLE_RATE * CHUNK_MS // 1000  # 320
CHUNK_BYTES = CHUNK_SAMPLES * SAMPLE_WIDTH  # 640
CHUNK_S = CHUNK_MS / 1000.0
"""Seconds per chunk."""


def seconds(pcm: bytes) -> float:
    """Duration in seconds of ``pcm`` in the kiosk format."""
    return len(pcm) / (SAMPLE_RATE * SAMPLE_WIDTH)


def rms(pcm: bytes) -> float:
    """Root-mean-square amplitude on the int16 scale (0 = silence, ~32767 = full-scale square)."""
    if not pcm:
        return 0.0
    x = np.frombuffer(pcm, dtype=np.int16).astype(np.float32)
    return float(np.sqrt(np.mean(x * x)))


def dbfs(level: float) -> float:
    """An rms level in dB relative to full scale (silence: -120)."""
    return 20.0 * float(np.log10(max(level, 1e-6) / 32768.0)) if level > 0 else -120.0


def split_chunks(pcm: bytes, pad: bool = True) -> list[bytes]:
    """Cut ``pcm`` into CHUNK_BYTES pieces; the last one zero-padded (or dropped)."""
    out = [pcm[i : i + CHUNK_BYTES] for i in range(0, len(pcm), CHUNK_BYTES)]
    if out and len(out[-1]) < CHUNK_BYTES:
        if pad:
            out[-1] = out[-1] + b"\x00" * (CHUNK_BYTES - len(out[-1]))
        else:
            out.pop()
    return out


def to_float(pcm: bytes) -> np.ndarray:
    """int16 PCM to float32 in -1..1 (what Whisper and Silero expect)."""
    return np.frombuffer(pcm, dtype=np.int16).astype(np.float32) / 32768.0


def from_float(samples: np.ndarray) -> bytes:
    clipped = np.clip(samples, -1.0, 1.0)
    return (clipped * 32767.0).astype("<i2").tobytes()


def resample(samples: np.ndarray, rate_in: int, rate_out: int = SAMPLE_RATE) -> np.ndarray:
    """Resample float32 mono with soxr (high quality, no scipy needed)."""
    if rate_in == rate_out:
        return samples.astype(np.float32, copy=False)
    import soxr

    return soxr.resample(samples.astype(np.float32, copy=False), rate_in, rate_out).astype(np.float32)


def convert(samples: np.ndarray, rate: int, channels: int = 1) -> bytes:
    """Interleaved float32 samples at any rate/channel count to kiosk-format PCM."""
    if channels > 1:
        samples = samples.reshape(-1, channels).mean(axis=1)
    return from_float(resample(samples, rate))


def scale(pcm: bytes, gain: float) -> bytes:
    """Multiply by ``gain`` with clipping (volume, simulated echo coupling)."""
    if gain == 1.0:
        return pcm
    x = np.frombuffer(pcm, dtype=np.int16).astype(np.float32) * gain
    return np.clip(x, -32768, 32767).astype("<i2").tobytes()


def mix(a: bytes, b: bytes) -> bytes:
    """Sum two PCM buffers sample by sample (the shorter one is zero-extended)."""
    xa = np.frombuffer(a, dtype=np.int16).astype(np.int32)
    xb = np.frombuffer(b, dtype=np.int16).astype(np.int32)
    n = max(len(xa), len(xb))
    out = np.zeros(n, dtype=np.int32)
    out[: len(xa)] += xa
    out[: len(xb)] += xb
    return np.clip(out, -32768, 32767).astype("<i2").tobytes()


def silence(duration_s: float) -> bytes:
    return b"\x00" * (int(duration_s * SAMPLE_RATE) * SAMPLE_WIDTH)


@dataclass(frozen=True)
class WavInfo:
    rate: int
    channels: int
    width: int
    frames: int


def read_wav(path: str | Path) -> tuple[bytes, WavInfo]:
    """Read any PCM WAV and return kiosk-format PCM plus the original format.

    Raises AudioError for a missing, unreadable or non-PCM file.
    """
    p = Path(path)
    try:
        with wave.open(str(p), "rb") as w:
            info = WavInfo(w.getframerate(), w.getnchannels(), w.getsampwidth(), w.getnframes())
            raw = w.readframes(info.frames)
    except FileNotFoundError as e:
        raise AudioError("audio.wav-missing", f"WAV file {p} does not exist", "check the path") from e
    except (wave.Error, EOFError, OSError) as e:
        raise AudioError(
            "audio.wav-invalid",
            f"{p} is not a PCM WAV file ({e})",
            "convert it, e.g.: sox INPUT -r 16000 -c 1 -b 16 OUTPUT.wav",
        ) from e
    if info.width == 2:
        samples = np.frombuffer(raw, dtype="<i2").astype(np.float32) / 32768.0
    elif info.width == 1:
        samples = (np.frombuffer(raw, dtype=np.uint8).astype(np.float32) - 128.0) / 128.0
    elif info.width == 4:
        samples = np.frombuffer(raw, dtype="<i4").astype(np.float32) / 2147483648.0
    else:
        raise AudioError(
            "audio.wav-invalid",
            f"{p}: {info.width * 8}-bit samples are not supported",
            "convert it to 16-bit with sox",
        )
    if info.rate == SAMPLE_RATE and info.channels == 1 and info.width == 2:
        return raw[: len(raw) - len(raw) % 2], info
    return convert(samples, info.rate, info.channels), info


def write_wav(path: str | Path, pcm: bytes, rate: int = SAMPLE_RATE) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(SAMPLE_WIDTH)
        w.setframerate(rate)
        w.writeframes(pcm)
