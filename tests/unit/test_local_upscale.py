"""Task `upscale`: Lanczos enlargement, size limits and hostile images."""
from __future__ import annotations

import base64
import io
import struct
import zlib

import pytest
from PIL import Image

from providers.base import BackendUnavailable, Call, PermanentProviderError
from providers.local import upscale
from providers.urlguard import UrlPolicy


def png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def enlarge(content: bytes, scale: int):
    url = f"data:image/png;base64,{base64.b64encode(content).decode()}"
    call = Call(service="upscale-l4", task="upscale", input={"image_url": url, "scale": scale})
    return upscale.run(call, UrlPolicy())


@pytest.mark.parametrize("scale", [2, 4])
def test_dimensions_scale(scale):
    source = Image.linear_gradient("L").resize((30, 20)).convert("RGB")
    result = enlarge(png(source), scale)
    assert result.output == {"url": "file:image", "width": 30 * scale, "height": 20 * scale}
    image = Image.open(io.BytesIO(result.files["image"].content))
    assert (image.format, image.size) == ("PNG", (30 * scale, 20 * scale))
    assert result.files["image"].content_type == "image/png"


def test_palette_images_with_transparency_keep_alpha():
    source = Image.new("P", (10, 10))
    source.info["transparency"] = 0
    image = Image.open(io.BytesIO(enlarge(png(source), 2).files["image"].content))
    assert image.mode == "RGBA" and image.size == (20, 20)


def test_output_over_8192_px_a_side_is_refused():
    with pytest.raises(PermanentProviderError, match="2048 px per side"):
        enlarge(png(Image.new("L", (3000, 10))), 4)


def png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims `width` x `height`, as a decompression bomb's does."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + data))
        return struct.pack(">I", len(data)) + kind + data + crc
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)  # 1-bit greyscale
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b""))


@pytest.mark.parametrize("side, message", [
    (5000, "5000x5000 px"),  # under Pillow's own limit: our per-side limit refuses it
    (40000, "decompression bomb"),  # 1.6 gigapixels: Pillow refuses it while opening
])
def test_a_decompression_bomb_is_refused_before_decoding(side, message):
    with pytest.raises(PermanentProviderError, match=message):
        enlarge(png_claiming(side, side), 2)


def test_face_enhancement_is_left_to_other_backends():
    url = f"data:image/png;base64,{base64.b64encode(png(Image.new('RGB', (4, 4)))).decode()}"
    call = Call(service="upscale-l4", task="upscale",
                input={"image_url": url, "scale": 2, "face_enhance": True})
    with pytest.raises(BackendUnavailable, match="face enhancement"):
        upscale.run(call, UrlPolicy())


def test_garbage_is_a_permanent_error():
    with pytest.raises(PermanentProviderError, match="could not read the image"):
        enlarge(b"\x89PNG\r\n\x1a\n broken", 2)
