"""Opening user images safely and encoding results, shared by OCR and upscaling."""
from __future__ import annotations

import io

from PIL import Image, ImageOps, UnidentifiedImageError

from providers.base import PermanentProviderError

# Everything Pillow raises for a broken, truncated or hostile file.
UNREADABLE = (UnidentifiedImageError, Image.DecompressionBombError, OSError, SyntaxError,
              ValueError, EOFError)


def open_image(data: bytes, max_side: int) -> Image.Image:
    """The decoded image (first frame, EXIF orientation applied); PermanentProviderError when
    Pillow cannot read it or a side exceeds `max_side` pixels."""
    try:
        image = Image.open(io.BytesIO(data))  # parses the header only
        width, height = image.size
        # Check the declared size before decoding: a few KB can claim gigapixels.
        if max(width, height) > max_side:
            raise PermanentProviderError(
                f"image is {width}x{height} px; at most {max_side} px per side is accepted here")
        image.load()
        return ImageOps.exif_transpose(image)
    except UNREADABLE as exc:
        raise PermanentProviderError(f"could not read the image: {exc}") from exc


def plain_mode(image: Image.Image) -> Image.Image:
    """`image` in a mode every resampling filter and PNG handle (RGB, RGBA, L or LA)."""
    if image.mode in ("RGB", "RGBA", "L", "LA"):
        return image
    alpha = "A" in image.getbands() or "transparency" in image.info
    return image.convert("RGBA" if alpha else "RGB")


def to_png(image: Image.Image) -> bytes:
    """PNG bytes of `image`."""
    out = io.BytesIO()
    plain_mode(image).save(out, format="PNG")
    return out.getvalue()
