"""Task `ocr`: text from an image with tesseract."""
from __future__ import annotations

import functools
import os
import re
import subprocess
import time

from providers.base import BackendUnavailable, Call, PermanentProviderError, Result, Usage
from providers.local.images import open_image, to_png
from providers.local.tools import missing_binary, run_tool, stderr_tail
from providers.media import fetch_media
from providers.urlguard import UrlPolicy

MAX_SIDE = 8192
DEFAULT_LANGUAGE = "eng"
#: ISO 639-1 codes clients send, to tesseract's traineddata names.
LANGUAGES = {"en": "eng", "fr": "fra", "de": "deu", "es": "spa", "it": "ita", "pt": "por",
             "nl": "nld", "ru": "rus", "ja": "jpn", "zh": "chi_sim", "ko": "kor", "ar": "ara",
             "hi": "hin", "pl": "pol", "tr": "tur", "uk": "ukr", "sv": "swe"}
LANGUAGE_SPEC = re.compile(r"[a-z_]+(\+[a-z_]+)*")


def availability() -> str | None:
    """None when tesseract is on PATH."""
    return missing_binary("tesseract")


@functools.lru_cache(maxsize=1)
def installed_languages() -> frozenset[str]:
    """The tesseract languages whose data is installed."""
    listing = subprocess.run(["tesseract", "--list-langs"], capture_output=True, timeout=10).stdout
    rows = listing.decode("utf-8", "replace").splitlines()[1:]  # after the "List of ..." header
    return frozenset(row.strip() for row in rows if row.strip())


def tesseract_language(language: str | None) -> str:
    """The `-l` argument for a requested language ("en", "fra", "eng+deu")."""
    if not language:
        return DEFAULT_LANGUAGE
    spec = "+".join(LANGUAGES.get(part, part) for part in language.strip().lower().split("+"))
    if not LANGUAGE_SPEC.fullmatch(spec):
        raise PermanentProviderError(f"unknown OCR language {language!r}")
    missing = [part for part in spec.split("+") if part not in installed_languages()]
    if missing:
        # Another backend may read it: skip this one rather than fail the job.
        raise BackendUnavailable(f"tesseract language data not installed: {', '.join(missing)}")
    return spec


def run(call: Call, policy: UrlPolicy) -> Result:
    """Read the text in `image_url`."""
    language = tesseract_language(call.input.get("language"))
    data, _ = fetch_media(call.input["image_url"], policy)
    start = time.monotonic()
    png = to_png(open_image(data, MAX_SIDE))  # tesseract gets one format it surely reads
    # One OpenMP thread per run: parallel jobs use the cores better than threads inside one.
    env = {**os.environ, "OMP_THREAD_LIMIT": "1"}
    proc = run_tool(["tesseract", "stdin", "stdout", "-l", language], png, call.timeout, env)
    if proc.returncode != 0:
        raise PermanentProviderError(f"could not read the image: {stderr_tail(proc)}")
    text = proc.stdout.decode("utf-8", "replace").strip()
    return Result(output={"text": text}, usage=Usage(compute_seconds=time.monotonic() - start))
