"""Downloads of what other people's systems named: never a 500, never a formula."""

from __future__ import annotations

import csv
import io

from openpyxl import load_workbook

from service.workbook import file_name, list_csv, list_xlsx


def listing(dossier_id: str, unit_id: str = "xa-a") -> dict[str, object]:
    dossier = {
        "dossier_id": dossier_id,
        "field_name": "Hộ tịch",
        "procedure_code": "@SUM(1)",
        "procedure_name": None,
        "official_id": "-cb",
        "received_at": "2026-03-02T08:00:00+07:00",
        "due_at": None,
        "ended_at": None,
        "state": "open",
        "working_days_late": None,
        "waiting_working_days": None,
        "apology": False,
    }
    return {
        "unit_id": unit_id,
        "name": "Xã A",
        "period": "report:2026-03",
        "from": "2026-02-15",
        "to": "2026-03-14",
        "total": 1,
        "column": {"number": 1, "name": "received", "vi": "Tổng số"},
        "dossiers": [dossier],
    }


def test_control_characters_and_formulas_stay_plain_text() -> None:
    data, _ = list_xlsx(listing('=HYPERLINK("http://x")\x01\x1f'))
    sheet = load_workbook(io.BytesIO(data)).active
    assert sheet is not None
    assert sheet.cell(6, 1).value == '\'=HYPERLINK("http://x")'
    assert sheet.cell(6, 1).data_type == "s"
    assert sheet.cell(6, 3).value == "'@SUM(1)" and sheet.cell(6, 4).value == "'-cb"
    text, _ = list_csv(listing("+1\x00"))
    rows = list(csv.reader(io.StringIO(text.decode("utf-8-sig"))))
    assert rows[1][0] == "'+1"


def test_a_download_name_carries_no_quote_or_line_break() -> None:
    _, name = list_xlsx(listing("d", unit_id='xa"\r\nSet-Cookie: a'))
    assert name == "ho-so-xa___Set-Cookie__a-report-2026-03-cot-1.xlsx"
    assert file_name("bieu-06-xã.xlsx") == "bieu-06-x_.xlsx"
