"""Task `upscale`: an image enlarged 2x or 4x with Lanczos resampling, as PNG."""
from __future__ import annotations

import time

from PIL import Image

from providers.base import BackendUnavailable, Call, File, PermanentProviderError, Result, Usage
from providers.local.images import open_image, plain_mode, to_png
from providers.media import fetch_media
from providers.urlguard import UrlPolicy

MAX_OUTPUT_SIDE = 8192
SCALES = (2, 4)


def availability() -> str | None:
    """Always None: Pillow is a core dependency."""
    return None


def run(call: Call, policy: UrlPolicy) -> Result:
    """Enlarge `image_url` by `scale`."""
    if call.input.get("face_enhance"):
        # That needs a face model (GFPGAN in Real-ESRGAN); let the router use a backend with one.
        raise BackendUnavailable("face enhancement is not available on the local backend")
    scale = int(call.input.get("scale", 2))
    if scale not in SCALES:
        raise PermanentProviderError(f"scale must be one of {SCALES}, not {scale}")
    data, _ = fetch_media(call.input["image_url"], policy)
    start = time.monotonic()
    # Refused by its declared size before decoding, so a bomb never reaches memory.
    image = plain_mode(open_image(data, MAX_OUTPUT_SIDE // scale))
    size = (image.width * scale, image.height * scale)
    png = to_png(image.resize(size, Image.Resampling.LANCZOS))
    output = {"url": "file:image", "width": size[0], "height": size[1]}
    usage = Usage(compute_seconds=time.monotonic() - start, outputs=1)
    return Result(output=output, usage=usage, files={"image": File(png, "image/png")})
