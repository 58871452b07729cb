"""Document text: real PDF and .docx parsing, plain text encodings, honest errors, cut long texts."""

from __future__ import annotations

import pytest

from sdr.documents import DocumentError, document_type, extract_text
from sdr.media import CUT_NOTE, cut_text
from tests.documents_fixtures import docx_bytes, pdf_bytes


def test_pdf_text_is_extracted_page_by_page_up_to_the_limit():
    data = pdf_bytes("Proposta Sol Forte: 10 paineis, R$ 18.900", "Pagina dois", "Pagina tres")
    text = extract_text(data, "application/pdf", "proposta.pdf", max_pages=2)
    assert "Proposta Sol Forte: 10 paineis, R$ 18.900" in text and "Pagina dois" in text
    assert "Pagina tres" not in text and "primeiras 2 de 3 páginas" in text


def test_docx_paragraphs_and_tables_are_extracted():
    data = docx_bytes("Orçamento de instalação", table=[["Item", "Valor"], ["Inversor", "R$ 4.200"]])
    assert document_type(data, None, "orcamento.docx") == "docx"
    text = extract_text(data, None, "orcamento.docx", max_pages=5)
    assert "Orçamento de instalação" in text and "Inversor | R$ 4.200" in text


def test_csv_from_a_brazilian_spreadsheet_is_read_in_windows_1252():
    data = "mês;consumo\njaneiro;380 kWh\nfevereiro;410 kWh\n".encode("cp1252")
    assert extract_text(data, "text/csv", "consumo.csv", 5).splitlines()[0] == "mês;consumo"


@pytest.mark.parametrize("data, mime, name, reason", [
    (b"%PDF-1.4 garbage that is no pdf", "application/pdf", "x.pdf", "unreadable"),
    (b"PK\x03\x04 not really a docx", None, "x.docx", "unreadable"),
    (b"\x00\x01binary", "application/zip", "x.zip", "unsupported"),
    (b"   \n  ", "text/plain", "x.txt", "empty"),
])
def test_bad_documents_fail_with_a_reason(data, mime, name, reason):
    with pytest.raises(DocumentError) as failure:
        extract_text(data, mime, name, 5)
    assert failure.value.reason == reason


def test_long_texts_are_cut_with_a_note():
    assert cut_text("curto", 200) == "curto"
    cut = cut_text("a" * 5000, 1000)
    assert cut.startswith("a" * 1000) and cut.endswith(CUT_NOTE.format(shown=1000, total=5000))
