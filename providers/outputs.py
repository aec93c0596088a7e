"""A provider's raw output turned into our output shapes, by the service's `output:` kind.

Shapes (readable by clients written for GPU-Bridge): text -> {"text"}, image/video -> {"url"}
(plus "urls" when there are several), audio -> {"audio_url"}, json -> the provider's object.
A provider URL is passed through; inline bytes (data: URIs, base64) become a File we store.
"""
from __future__ import annotations

import json

from .base import File, UpstreamError
from .media import fetch_media
from .urlguard import UrlPolicy

URL_KEYS = ("url", "urls", "image", "images", "image_url", "audio", "audio_url", "audio_out",
            "video", "video_url", "output", "file")
TEXT_KEYS = ("text", "transcription", "caption", "markdown", "output", "prompt", "answer")
FILE_KINDS = ("image", "audio", "video")


def shape(kind: str, raw) -> tuple[dict, dict[str, File]]:
    """(output, files) for `raw` from a service whose output kind is `kind`."""
    if kind in FILE_KINDS:
        return file_output(kind, _urls(raw))
    if kind == "text":
        return {"text": text_of(raw)}, {}
    if isinstance(raw, dict):
        return raw, {}
    return {"result": raw}, {}


def text_of(raw) -> str:
    """The text in a model's answer: a string, streamed pieces, or an object holding one."""
    if isinstance(raw, str):
        return raw
    if isinstance(raw, list) and all(isinstance(piece, str) for piece in raw):
        return "".join(raw)
    if isinstance(raw, dict):
        for key in TEXT_KEYS:
            if isinstance(raw.get(key), (str, list)):
                return text_of(raw[key])
    return json.dumps(raw)


def _urls(raw) -> list[str]:
    if isinstance(raw, str):
        return [raw]
    if isinstance(raw, list):
        return [url for item in raw for url in _urls(item)]
    if isinstance(raw, dict):
        for key in URL_KEYS:
            if raw.get(key):
                return _urls(raw[key])
    return []


def file_output(kind: str, urls: list[str]) -> tuple[dict, dict[str, File]]:
    """Output naming each file by URL; inline data: URIs become stored files."""
    if not urls:
        raise UpstreamError(f"the provider returned no {kind}")
    files, shown = {}, []
    for index, url in enumerate(urls):
        if url.startswith("data:"):
            content, media_type = fetch_media(url, UrlPolicy())
            files[f"{kind}{index}"] = File(content, media_type)
            url = f"file:{kind}{index}"
        shown.append(url)
    key = "audio_url" if kind == "audio" else "url"
    output = {key: shown[0]}
    if len(shown) > 1:
        output["urls"] = shown
    return output, files
