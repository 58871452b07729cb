"""Text of the documents leads send: PDF (pypdf), Word .docx (python-docx), plain text and CSV.

Input is untrusted: PDFs are read for at most `max_pages` pages, and any parser failure becomes a
`DocumentError` with a short reason instead of an exception from deep inside a library.
"""

from __future__ import annotations

import io
import logging

DOCX_MIME = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
TEXT_MIMES = ("text/", "application/csv", "application/json")
TEXT_EXTENSIONS = (".txt", ".csv", ".md", ".json")

log = logging.getLogger(__name__)


class DocumentError(Exception):
    """The document cannot be turned into text; `reason` is `unsupported` or `unreadable`."""

    def __init__(self, reason: str, detail: str):
        super().__init__(detail)
        self.reason = reason


def document_type(data: bytes, mime: str | None, filename: str | None) -> str:
    """pdf | docx | text | unknown, from the content first, then the declared type and name."""
    mime = (mime or "").split(";")[0].strip().lower()
    name = (filename or "").lower()
    if data.startswith(b"%PDF") or mime == "application/pdf" or name.endswith(".pdf"):
        return "pdf"
    if mime == DOCX_MIME or (name.endswith(".docx") and data.startswith(b"PK")):
        return "docx"
    if mime.startswith(TEXT_MIMES) or name.endswith(TEXT_EXTENSIONS):
        return "text"
    return "unknown"


def extract_text(data: bytes, mime: str | None, filename: str | None, max_pages: int) -> str:
    kind = document_type(data, mime, filename)
    if kind == "pdf":
        text = _pdf(data, max_pages)
    elif kind == "docx":
        text = _docx(data)
    elif kind == "text":
        text = _plain(data)
    else:
        raise DocumentError("unsupported", f"no text extraction for {mime or 'unknown type'} {filename or ''}")
    text = "\n".join(line.rstrip() for line in text.splitlines() if line.strip())
    if not text:
        raise DocumentError("empty", "the document has no extractable text (a scan?)")
    return text


def _pdf(data: bytes, max_pages: int) -> str:
    from pypdf import PdfReader  # imported here: only workers resolving documents pay for it

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise DocumentError("unreadable", "the PDF is password-protected")
        pages = reader.pages[:max_pages]
        text = "\n".join(page.extract_text() or "" for page in pages)
        if len(reader.pages) > max_pages:
            text += f"\n[… só as primeiras {max_pages} de {len(reader.pages)} páginas foram lidas …]"
        return text
    except DocumentError:
        raise
    except Exception as exc:  # pypdf raises many types on malformed input
        log.info("unreadable PDF: %s: %s", type(exc).__name__, exc)
        raise DocumentError("unreadable", f"unreadable PDF ({type(exc).__name__})") from None


def _docx(data: bytes) -> str:
    import docx

    try:
        document = docx.Document(io.BytesIO(data))
    except Exception as exc:  # a broken zip or XML, whatever python-docx raises for it
        raise DocumentError("unreadable", f"unreadable .docx ({type(exc).__name__})") from None
    lines = [p.text for p in document.paragraphs]
    for table in document.tables:
        lines.extend(" | ".join(cell.text.strip() for cell in row.cells) for row in table.rows)
    return "\n".join(lines)


def _plain(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")  # Brazilian spreadsheets export CSV in Windows-1252
