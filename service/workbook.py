"""Form 06 and dossier lists as a clerk files them: xlsx (openpyxl) and CSV.

Both are laid out from the API's JSON answers (:mod:`service.reports`), so a download
says exactly what the screen shows. The workbook follows the form: its title, the
reporting unit, the period's dates, two header rows and a row of column numbers, the
groups by level with their subtotals, and the grand total; whole numbers with thousands
separators, dates as dates, the header frozen.
"""

from __future__ import annotations

import csv
import io
from datetime import date, datetime
from typing import Any

from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV = "text/csv; charset=utf-8"
NUMBER = "#,##0"
DATE = "dd/mm/yyyy"
DATETIME = "dd/mm/yyyy hh:mm"
FIRST_NUMBER_COLUMN = 3
"""Column C holds the form's column 1 (A: the row's number, B: its field or unit)."""
HEADER_ROW = 5
"""The first of the two header rows; the column numbers follow them, then the rows."""

_THIN = Side(style="thin")
_BOX = Border(left=_THIN, right=_THIN, top=_THIN, bottom=_THIN)
_BOLD = Font(bold=True)
_CENTRED = Alignment(horizontal="center", vertical="center", wrap_text=True)
_SHADE = PatternFill("solid", fgColor="EEF2F7")
_ROMAN = ("I", "II", "III", "IV", "V", "VI")


FORMULA_STARTS = ("=", "+", "-", "@")
"""What a spreadsheet takes for a formula at the start of a cell (CSV injection)."""


def _safe(value: Any) -> Any:
    """A value from other people's systems (an id, a name) as plain text a spreadsheet
    will not run: without the control characters xlsx cannot hold, and quoted when it
    would start a formula."""
    if not isinstance(value, str):
        return value
    value = ILLEGAL_CHARACTERS_RE.sub("", value)
    return "'" + value if value.startswith(FORMULA_STARTS) else value


def file_name(name: str) -> str:
    """A download's name that any header carries: letters, digits, '.', '-' and '_'."""
    return "".join(c if c.isascii() and (c.isalnum() or c in "._-") else "_" for c in name)


def _day(text: str) -> str:
    """An ISO date as the form writes it: dd/mm/yyyy."""
    return date.fromisoformat(text).strftime("%d/%m/%Y")


def _local(text: str | None) -> datetime | None:
    """An RFC 3339 instant of the API (local time) as a naive local datetime for Excel."""
    return None if text is None else datetime.fromisoformat(text).replace(tzinfo=None)


def _scope_line(report: dict[str, Any]) -> str:
    scope = report["scope"]
    if "province" in scope:
        return f"Đơn vị báo cáo: Tỉnh {_safe(scope['province'])}"
    return f"Đơn vị báo cáo: {_safe(scope['name'])}"


def _period_line(report: dict[str, Any]) -> str:
    line = (
        f"Kỳ báo cáo: {report['period']} (từ ngày {_day(report['from'])} "
        f"đến ngày {_day(report['to'])})"
    )
    if not report["complete"]:
        line += f"; số liệu đến {_local(report['as_of']):%H:%M %d/%m/%Y}"
    return line


def _row_label(report: dict[str, Any]) -> str:
    return "Lĩnh vực giải quyết" if report["by"] == "field" else "Đơn vị"


def _file_name(stem: str, report: dict[str, Any]) -> str:
    scope = report["scope"]
    where = scope.get("unit_id") or "tinh"
    return file_name(f"{stem}-{where}-{report['period'].replace(':', '-')}")


# -- form 06 ------------------------------------------------------------------------------


def form_xlsx(report: dict[str, Any]) -> tuple[bytes, str]:
    """The report as a workbook laid out as form 06, and its file name."""
    book = Workbook()
    sheet = book.active
    assert sheet is not None  # a new workbook has one sheet
    sheet.title = "Biểu 06"
    last = FIRST_NUMBER_COLUMN + len(report["columns"]) - 1
    for row, (text, size) in enumerate(
        [(report["title"].upper(), 13), (_scope_line(report), 11), (_period_line(report), 11)],
        start=1,
    ):
        sheet.merge_cells(start_row=row, start_column=1, end_row=row, end_column=last)
        cell = sheet.cell(row, 1, text)
        cell.font = Font(bold=row == 1, size=size)
        cell.alignment = Alignment(horizontal="center")
    _form_header(sheet, report, last)
    row = HEADER_ROW + 3
    grouped = len(report["groups"]) > 1 or report["by"] == "unit"
    for number, group in enumerate(report["groups"]):
        if grouped:
            label = f"{_ROMAN[number] if number < len(_ROMAN) else number + 1}. {group['name']}"
            _form_row(sheet, row, "", label, group["total"], bold=True, shade=True)
            row += 1
        for index, line in enumerate(group["rows"], start=1):
            _form_row(sheet, row, index, line["name"], line)
            row += 1
    _form_row(sheet, row, "", "Tổng cộng", report["total"], bold=True, shade=True)
    sheet.column_dimensions["A"].width = 6
    sheet.column_dimensions["B"].width = 44
    for column in range(FIRST_NUMBER_COLUMN, last + 1):
        sheet.column_dimensions[get_column_letter(column)].width = 12
    sheet.freeze_panes = f"{get_column_letter(FIRST_NUMBER_COLUMN)}{HEADER_ROW + 3}"
    sheet.print_title_rows = f"{HEADER_ROW}:{HEADER_ROW + 2}"
    sheet.page_setup.orientation = "landscape"
    sheet.page_setup.fitToWidth = 1
    return _saved(book), _file_name("bieu-06", report) + ".xlsx"


def _form_header(sheet: Worksheet, report: dict[str, Any], last: int) -> None:
    top, sub, numbers = HEADER_ROW, HEADER_ROW + 1, HEADER_ROW + 2
    for column, text in ((1, "STT"), (2, _row_label(report))):
        sheet.merge_cells(start_row=top, start_column=column, end_row=sub, end_column=column)
        sheet.cell(top, column, text)
    for group in report["header_groups"]:
        first = FIRST_NUMBER_COLUMN + group["first"] - 1
        end = FIRST_NUMBER_COLUMN + group["last"] - 1
        sheet.merge_cells(start_row=top, start_column=first, end_row=top, end_column=end)
        sheet.cell(top, first, group["vi"])
    for offset, column in enumerate(report["columns"]):
        sheet.cell(sub, FIRST_NUMBER_COLUMN + offset, column["vi"])
        sheet.cell(numbers, FIRST_NUMBER_COLUMN + offset, f"({column['number']})")
    sheet.cell(numbers, 1, "(A)")
    sheet.cell(numbers, 2, "(B)")
    for row in (top, sub, numbers):
        for column in range(1, last + 1):
            cell = sheet.cell(row, column)
            cell.font, cell.alignment, cell.border = _BOLD, _CENTRED, _BOX
    sheet.row_dimensions[sub].height = 45


def _form_row(
    sheet: Worksheet,
    row: int,
    number: int | str,
    label: str,
    counts: dict[str, Any],
    bold: bool = False,
    shade: bool = False,
) -> None:
    cells = [sheet.cell(row, 1, number), sheet.cell(row, 2, _safe(label))]
    for offset, value in enumerate(counts["columns"]):
        cell = sheet.cell(row, FIRST_NUMBER_COLUMN + offset, value)
        cell.number_format = NUMBER
        cells.append(cell)
    for cell in cells:
        cell.border = _BOX
        if bold:
            cell.font = _BOLD
        if shade:
            cell.fill = _SHADE
    cells[0].alignment = Alignment(horizontal="center")


def form_csv(report: dict[str, Any]) -> tuple[bytes, str]:
    """The report as CSV: one header row, the rows, each group's total and the total."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        ["Nhóm", _row_label(report), "Mã"]
        + [f"({c['number']}) {c['vi']}" for c in report["columns"]]
    )
    for group in report["groups"]:
        for line in group["rows"]:
            writer.writerow(
                [group["name"], _safe(line["name"]), _safe(line["key"]), *line["columns"]]
            )
        if len(report["groups"]) > 1:
            writer.writerow([group["name"], "Cộng", "", *group["total"]["columns"]])
    writer.writerow(["", "Tổng cộng", "", *report["total"]["columns"]])
    return _bom(out), _file_name("bieu-06", report) + ".csv"


# -- dossier lists ------------------------------------------------------------------------

LIST_HEADERS = (
    ("dossier_id", "Mã hồ sơ", 22, None),
    ("field_name", "Lĩnh vực", 22, None),
    ("procedure", "Thủ tục", 36, None),
    ("official_id", "Cán bộ xử lý", 18, None),
    ("received_at", "Ngày tiếp nhận", 17, DATETIME),
    ("due_at", "Hạn xử lý", 17, DATETIME),
    ("ended_at", "Ngày kết thúc", 17, DATETIME),
    ("state", "Trạng thái", 12, None),
    ("working_days_late", "Số ngày làm việc trễ hạn", 12, NUMBER),
    ("waiting_working_days", "Số ngày làm việc chờ công dân", 12, NUMBER),
    ("apology", "Đã xin lỗi", 10, None),
)
"""A dossier list's columns: (key, header, width, number format)."""


def _list_values(dossier: dict[str, Any]) -> list[Any]:
    values: list[Any] = []
    for key, _, _, kind in LIST_HEADERS:
        if key == "procedure":
            value = dossier["procedure_name"] or dossier["procedure_code"]
        elif key == "apology":
            value = "Có" if dossier["apology"] else ""
        else:
            value = dossier[key]
        values.append(_local(value) if kind == DATETIME else _safe(value))
    return values


def _list_title(listing: dict[str, Any]) -> list[str]:
    column = listing["column"]
    return [
        f"Danh sách hồ sơ: cột ({column['number']}) {column['vi']}, biểu 06",
        f"Đơn vị: {_safe(listing['name'])}",
        f"Kỳ báo cáo: {listing['period']} (từ ngày {_day(listing['from'])} "
        f"đến ngày {_day(listing['to'])}); {listing['total']} hồ sơ",
    ]


def list_xlsx(listing: dict[str, Any]) -> tuple[bytes, str]:
    """A dossier list as a workbook: its title lines, then one row per dossier."""
    book = Workbook()
    sheet = book.active
    assert sheet is not None  # a new workbook has one sheet
    sheet.title = "Hồ sơ"
    for row, text in enumerate(_list_title(listing), start=1):
        sheet.cell(row, 1, text).font = Font(bold=row == 1)
    header = len(_list_title(listing)) + 2
    for column, (_, title, width, _) in enumerate(LIST_HEADERS, start=1):
        cell = sheet.cell(header, column, title)
        cell.font, cell.alignment, cell.border = _BOLD, _CENTRED, _BOX
        sheet.column_dimensions[get_column_letter(column)].width = width
    for row, dossier in enumerate(listing["dossiers"], start=header + 1):
        for column, value in enumerate(_list_values(dossier), start=1):
            cell = sheet.cell(row, column, value)
            cell.border = _BOX
            kind = LIST_HEADERS[column - 1][3]
            if kind is not None:
                cell.number_format = kind
    sheet.freeze_panes = f"A{header + 1}"
    sheet.auto_filter.ref = f"A{header}:{get_column_letter(len(LIST_HEADERS))}{header}"
    name = f"ho-so-{listing['unit_id']}-{listing['period'].replace(':', '-')}"
    return _saved(book), file_name(f"{name}-cot-{listing['column']['number']}.xlsx")


def list_csv(listing: dict[str, Any]) -> tuple[bytes, str]:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([title for _, title, _, _ in LIST_HEADERS])
    for dossier in listing["dossiers"]:
        writer.writerow([_text(value) for value in _list_values(dossier)])
    name = f"ho-so-{listing['unit_id']}-{listing['period'].replace(':', '-')}"
    return _bom(out), file_name(f"{name}-cot-{listing['column']['number']}.csv")


def _text(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.strftime("%d/%m/%Y %H:%M")
    return "" if value is None else value


def _saved(book: Workbook) -> bytes:
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _bom(out: io.StringIO) -> bytes:
    """UTF-8 with a byte-order mark: Excel opens Vietnamese text right only with it."""
    return b"\xef\xbb\xbf" + out.getvalue().encode()
