"""Task `ocr`: tesseract reading a rendered image."""
from __future__ import annotations

import base64
import io

import pytest
from PIL import Image, ImageDraw, ImageFont

from providers.base import BackendUnavailable, Call, PermanentProviderError
from providers.local import ocr
from providers.urlguard import UrlPolicy
from tests.needs import require_binary


@pytest.fixture(autouse=True)
def _tesseract():
    require_binary("tesseract")


def data_uri(content: bytes, kind: str = "image/png") -> str:
    return f"data:{kind};base64,{base64.b64encode(content).decode()}"


def rendered(text: str) -> bytes:
    image = Image.new("RGB", (900, 160), "white")
    ImageDraw.Draw(image).text((30, 40), text, fill="black", font=ImageFont.load_default(size=48))
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def read(url: str, language: str | None = None):
    data = {"image_url": url} | ({"language": language} if language else {})
    return ocr.run(Call(service="ocr", task="ocr", input=data, timeout=60), UrlPolicy())


def test_reads_rendered_text():
    result = read(data_uri(rendered("Hello OCR World 2024")), "en")
    assert "Hello OCR World 2024" in result.output["text"]
    assert result.usage.compute_seconds > 0


def test_an_unreadable_image_is_a_permanent_error():
    with pytest.raises(PermanentProviderError, match="could not read the image"):
        read(data_uri(b"this is not an image"))


def test_a_language_without_data_skips_this_backend():
    if "fra" in ocr.installed_languages():
        pytest.skip("French data is installed here")
    with pytest.raises(BackendUnavailable, match="fra"):
        read(data_uri(rendered("Bonjour")), "fr")


def test_a_malformed_language_is_refused():
    with pytest.raises(PermanentProviderError, match="language"):
        read(data_uri(rendered("x")), "eng; rm -rf /")
