"""Task `pdf_parse`: a PDF's text as markdown, one "## Page N" section per page."""
from __future__ import annotations

import io
import textwrap
import time

from pypdf import PageObject, PdfReader
from pypdf.errors import PyPdfError

from providers.base import Call, PermanentProviderError, Result, Usage
from providers.media import fetch_media
from providers.urlguard import UrlPolicy

SHORT_LINE = 0.75  # a line shorter than this share of the page's widest line ends a paragraph
# What pypdf raises on a malformed file, besides its own errors.
BROKEN = (PyPdfError, ValueError, KeyError, TypeError, AttributeError, IndexError, RecursionError)


def availability() -> str | None:
    """Always None: pypdf is a core dependency."""
    return None


def run(call: Call, policy: UrlPolicy) -> Result:
    """Parse `file_url` (its first `max_pages`); mode "fast" reflows paragraphs, "accurate"
    keeps the page layout."""
    data, _ = fetch_media(call.input["file_url"], policy)
    start = time.monotonic()
    reader = open_pdf(data)
    layout = call.input.get("mode") == "accurate"
    pages = reader.pages[:call.input.get("max_pages") or len(reader.pages)]
    sections = []
    for number, page in enumerate(pages, 1):
        if time.monotonic() - start > call.timeout:
            raise PermanentProviderError(f"the PDF is too long to parse in {call.timeout:g} s")
        sections.append(f"## Page {number}\n\n{page_markdown(page, layout)}".rstrip())
    output = {"text": "\n\n".join(sections) + "\n", "format": "markdown", "pages": len(sections)}
    return Result(output=output, usage=Usage(compute_seconds=time.monotonic() - start))


def open_pdf(data: bytes) -> PdfReader:
    """A pypdf reader for `data`; PermanentProviderError when it is not a readable PDF."""
    if b"%PDF-" not in data[:1024]:
        raise PermanentProviderError("the file is not a PDF")
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise PermanentProviderError("the PDF is encrypted with a password")
        len(reader.pages)  # walks the page tree now, so a broken one fails here
        return reader
    except BROKEN as exc:
        raise PermanentProviderError(f"could not parse the PDF: {exc}") from exc


def page_markdown(page: PageObject, layout: bool) -> str:
    """One page's text: layout-preserving lines, or reflowed paragraphs."""
    try:
        text = page.extract_text(extraction_mode="layout" if layout else "plain")
    except BROKEN as exc:
        raise PermanentProviderError(f"could not read a PDF page: {exc}") from exc
    return layout_text(text) if layout else paragraphs(text)


def layout_text(text: str) -> str:
    """Layout text without trailing spaces, common indent or runs of blank lines."""
    lines = textwrap.dedent("\n".join(line.rstrip() for line in text.splitlines())).splitlines()
    kept = [line for n, line in enumerate(lines) if line or (n and lines[n - 1])]
    return "\n".join(kept).strip("\n")


def paragraphs(text: str) -> str:
    """Lines joined into paragraphs: a blank line or a short line (a heading, a paragraph's last
    line) ends one; full-width lines continue it."""
    lines = [" ".join(line.split()) for line in text.splitlines()]
    width = max((len(line) for line in lines), default=0)
    done: list[str] = []
    current: list[str] = []
    for line in lines:
        if line:
            current.append(line)
        if current and (not line or len(line) < SHORT_LINE * width):
            done.append(" ".join(current))
            current = []
    if current:
        done.append(" ".join(current))
    return "\n\n".join(done)
