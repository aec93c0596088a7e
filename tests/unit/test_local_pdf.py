"""Task `pdf_parse`: a hand-written PDF parsed to markdown."""
from __future__ import annotations

import base64

import pytest

from providers.base import Call, PermanentProviderError
from providers.local import pdf
from providers.urlguard import UrlPolicy
from tests.needs import require_module


@pytest.fixture(autouse=True)
def _pypdf():
    require_module("pypdf")


def make_pdf(pages: list[list[str]]) -> bytes:
    """A minimal valid PDF: one Helvetica text line per string, top to bottom."""
    objects = ["<< /Type /Catalog /Pages 2 0 R >>", None,
               "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    kids = []
    for lines in pages:
        ops = "".join(f"BT /F1 12 Tf 72 {720 - 20 * n} Td ({line}) Tj ET\n"
                      for n, line in enumerate(lines))
        objects.append(f"<< /Length {len(ops)} >>\nstream\n{ops}endstream")
        objects.append(f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
                       f"/Contents {len(objects)} 0 R /Resources << /Font << /F1 3 0 R >> >> >>")
        kids.append(f"{len(objects)} 0 R")
    objects[1] = f"<< /Type /Pages /Kids [{' '.join(kids)}] /Count {len(kids)} >>"
    out, offsets = b"%PDF-1.4\n", []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n{body}\nendobj\n".encode("latin-1")
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += "".join(f"{offset:010d} 00000 n \n" for offset in offsets).encode()
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\n".encode()
    out += f"startxref\n{xref}\n%%EOF\n".encode()
    return out


def parse(content: bytes, mode: str | None = None):
    url = f"data:application/pdf;base64,{base64.b64encode(content).decode()}"
    data = {"file_url": url} | ({"mode": mode} if mode else {})
    return pdf.run(Call(service="pdf-parse", task="pdf_parse", input=data), UrlPolicy())


DOCUMENT = make_pdf([["Quarterly Report", "Revenue grew by twelve percent."],
                     ["Second page text here."]])


@pytest.mark.parametrize("mode", [None, "fast", "accurate"])
def test_pages_become_markdown_sections(mode):
    output = parse(DOCUMENT, mode).output
    assert output["format"] == "markdown" and output["pages"] == 2
    first, second = output["text"].split("## Page 2")
    assert first.startswith("## Page 1\n\n")
    assert "Quarterly Report" in first and "Revenue grew by twelve percent." in first
    assert "Second page text here." in second


def test_max_pages_limits_the_pages_parsed():
    url = f"data:application/pdf;base64,{base64.b64encode(DOCUMENT).decode()}"
    call = Call(service="pdf-parse", task="pdf_parse", input={"file_url": url, "max_pages": 1})
    output = pdf.run(call, UrlPolicy()).output
    assert output["pages"] == 1 and "## Page 2" not in output["text"]


def test_something_else_is_not_a_pdf():
    with pytest.raises(PermanentProviderError, match="not a PDF"):
        parse(b"GIF89a not a pdf")


def test_a_broken_pdf_is_a_permanent_error():
    with pytest.raises(PermanentProviderError, match="PDF"):
        parse(b"%PDF-1.4\nthis is not really a pdf\n%%EOF")


def test_paragraphs_join_full_lines_and_break_at_short_ones():
    text = "Title\nThis line is long enough to be full width\nand this one ends it.\n\nNext one"
    assert pdf.paragraphs(text) == ("Title\n\nThis line is long enough to be full width "
                                    "and this one ends it.\n\nNext one")
