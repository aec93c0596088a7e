"""Task `tts`: espeak-ng speech as WAV."""
from __future__ import annotations

import io
import wave

import pytest

from providers.base import Call
from providers.local import speech
from tests.needs import require_binary


@pytest.fixture(autouse=True)
def _espeak():
    require_binary("espeak-ng")


def speak(text, voice=None, **more):
    data = {"text": text} | ({"voice": voice} if voice else {}) | more
    return speech.run(Call(service="tts-l4", task="tts", input=data, timeout=30))


def test_speech_is_a_wav_file_with_its_duration():
    result = speak("Hello world, this is a test of the speech backend.", "af_alloy")
    audio = result.files["audio"]
    assert audio.content_type == "audio/wav" and audio.content[:4] == b"RIFF"
    with wave.open(io.BytesIO(audio.content)) as wav:
        seconds = wav.getnframes() / wav.getframerate()
    assert result.output == {"audio_url": "file:audio", "format": "wav",
                             "duration_seconds": pytest.approx(seconds, abs=0.001)}
    assert 1.0 < seconds < 10.0
    assert result.usage.compute_seconds > 0


def test_speed_changes_the_duration():
    text = "The quick brown fox jumps over the lazy dog."
    slow = speak(text, speed=0.5).output["duration_seconds"]
    fast = speak(text, speed=2).output["duration_seconds"]
    assert slow > 2 * fast


def test_text_that_looks_like_an_option_is_spoken():
    assert speak("--help me").output["duration_seconds"] > 0.2


@pytest.mark.parametrize("voice, expected", [
    ("af_alloy", "en-us+f3"), ("am_adam", "en-us+m3"), ("bf_emma", "en-gb+f3"),
    ("ff_siwis", "fr-fr+f3"), ("fr-fr", "fr-fr"), ("de", "de"),
    ("no_such_voice", "en-us"), ("", "en-us"), (None, "en-us"), ("-v evil", "en-us"),
])
def test_voices_map_to_espeak_voices(voice, expected):
    assert speech.espeak_voice(voice) == expected


def test_unknown_voice_still_speaks():
    assert speak("Hi there", "xx_nobody").files["audio"].content[:4] == b"RIFF"
