"""Task `tts`: speech from text with espeak-ng, as a WAV file."""
from __future__ import annotations

import functools
import io
import re
import subprocess
import tempfile
import time
import wave
from pathlib import Path

from providers.base import Call, File, PermanentProviderError, Result, Usage
from providers.local.tools import missing_binary, run_tool, stderr_tail
from providers.urlguard import UrlPolicy

DEFAULT_VOICE = "en-us"
#: Kokoro-style names ("af_alloy") start with a language letter then f/m; GPU-Bridge uses them.
KOKORO_LANGUAGES = {"a": "en-us", "b": "en-gb", "e": "es", "f": "fr-fr", "h": "hi", "i": "it",
                    "j": "ja", "p": "pt-br", "z": "cmn"}
KOKORO_VOICE = re.compile(r"([a-z])([fm])_\w+")
GENDER_VARIANTS = {"f": "+f3", "m": "+m3"}  # espeak-ng's stock female and male variants
WORDS_PER_MINUTE = 175  # espeak-ng's default rate, which `speed` multiplies


def availability() -> str | None:
    """None when espeak-ng is on PATH."""
    return missing_binary("espeak-ng")


@functools.lru_cache(maxsize=1)
def espeak_languages() -> frozenset[str]:
    """The language codes of the installed espeak-ng voices."""
    listing = subprocess.run(["espeak-ng", "--voices"], capture_output=True, timeout=10).stdout
    rows = listing.decode("utf-8", "replace").splitlines()[1:]
    return frozenset(row.split()[1].lower() for row in rows if len(row.split()) > 1)


def espeak_voice(voice: str | None) -> str:
    """The espeak-ng voice for a requested name; anything unknown gets the default voice."""
    name = (voice or "").strip().lower()
    kokoro = KOKORO_VOICE.fullmatch(name)
    if kokoro and kokoro[1] in KOKORO_LANGUAGES:
        return KOKORO_LANGUAGES[kokoro[1]] + GENDER_VARIANTS[kokoro[2]]
    return name if name in espeak_languages() else DEFAULT_VOICE


def run(call: Call, policy: UrlPolicy | None = None) -> Result:
    """Speak `text` with the mapped `voice` at `speed` (1 = normal)."""
    voice = espeak_voice(call.input.get("voice"))
    rate = round(WORDS_PER_MINUTE * float(call.input.get("speed") or 1))
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="gpubridge-tts-") as tmp:
        path = Path(tmp) / "speech.wav"
        # Text goes in on stdin so a leading "-" is never read as an option; -b 1: UTF-8.
        args = ["espeak-ng", "-b", "1", "-v", voice, "-s", str(rate), "-w", str(path), "--stdin"]
        proc = run_tool(args, stdin=call.input["text"].encode("utf-8"), timeout=call.timeout)
        if proc.returncode != 0 or not path.exists():
            raise PermanentProviderError(f"espeak-ng failed: {stderr_tail(proc)}")
        audio = path.read_bytes()
    output = {"audio_url": "file:audio", "format": "wav", "duration_seconds": wav_seconds(audio)}
    usage = Usage(compute_seconds=time.monotonic() - start, outputs=1)
    return Result(output=output, usage=usage, files={"audio": File(audio, "audio/wav")})


def wav_seconds(audio: bytes) -> float:
    """The playing time of a WAV file, in seconds."""
    with wave.open(io.BytesIO(audio)) as wav:
        return round(wav.getnframes() / wav.getframerate(), 3)
