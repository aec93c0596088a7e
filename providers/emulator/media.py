"""Tiny deterministic files the emulator hands out: a PNG, a WAV, an MP4-shaped blob."""
from __future__ import annotations

import hashlib
import io
import math
import struct
import wave
import zlib


def png(seed: str, side: int = 8) -> bytes:
    """An RGB PNG of `side` x `side` pixels, coloured from a hash of `seed`."""
    r, g, b = hashlib.sha256(seed.encode()).digest()[:3]
    row = b"\x00" + bytes((r, g, b)) * side
    raw = zlib.compress(row * side)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    header = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", raw)
            + chunk(b"IEND", b""))


def wav(seed: str, seconds: float = 0.25, rate: int = 8000) -> bytes:
    """A mono 16-bit WAV: a tone whose pitch comes from a hash of `seed`."""
    pitch = 220 + hashlib.sha256(seed.encode()).digest()[0] * 2
    frames = b"".join(struct.pack("<h", int(8000 * math.sin(2 * math.pi * pitch * i / rate)))
                      for i in range(int(seconds * rate)))
    out = io.BytesIO()
    with wave.open(out, "wb") as sink:
        sink.setnchannels(1)
        sink.setsampwidth(2)
        sink.setframerate(rate)
        sink.writeframes(frames)
    return out.getvalue()


def mp4(seed: str) -> bytes:
    """An ISO-BMFF `ftyp` box and a free box: enough to be recognised as MP4, not to play."""
    ftyp = b"ftypisom\x00\x00\x02\x00isomiso2mp41"
    free = hashlib.sha256(seed.encode()).digest()
    return (struct.pack(">I", 8 + len(ftyp)) + ftyp
            + struct.pack(">I", 8 + len(free)) + b"free" + free)


FILES = {"png": ("image/png", png), "wav": ("audio/wav", wav), "mp4": ("video/mp4", mp4)}
