"""Form 06 and the dossiers behind its numbers, through Kafka and the HTTP API: every
cell against the recount, the workbook read back, scopes and bad queries."""

from __future__ import annotations

import csv
import io
import random
import time
import urllib.error
import urllib.request
from typing import Any

from openpyxl import load_workbook

from kpi.periods import parse_period
from kpi.procedures import SYNTHETIC
from schemas.codec import format_instant, parse_instant
from service.workbook import FIRST_NUMBER_COLUMN, HEADER_ROW
from tests.integration.conftest import ADMIN, TOKENS, Cluster, WorkerProcess, wait_until
from tests.integration.expected import records
from tests.recount import REPORT_COLUMNS, recount_report, recounted_points

CAM_LAM, NAM_CAM_RANH = "xa-cam-lam", "xa-nam-cam-ranh"
CLOCK = "2026-03-20T10:00:00+07:00"
UNIT_TOKEN = TOKENS["unit:xa-cam-lam"]
FIELDS = {"HO-TICH": "Hộ tịch", "CHUNG-THUC": "Chứng thực", "DAT-DAI": "Đất đai"}


def story(seed: int = 18) -> list[tuple[str, dict[str, Any]]]:
    """Dossiers of two units from December to March: fields given, taken from the
    procedure, or none; every channel; some late, some waiting for the citizen."""
    rng = random.Random(seed)
    base = parse_instant("2025-12-01T08:00:00+07:00", "t")
    hour = 3_600_000_000
    events: list[tuple[str, dict[str, Any]]] = []

    at = format_instant
    for number in range(160):
        unit = CAM_LAM if number % 3 else NAM_CAM_RANH
        dossier = f"HS-{number:04d}"
        received = base + rng.randrange(0, 110 * 24) * hour
        submitted: dict[str, Any] = {
            "event_id": f"s-{dossier}",
            "unit_id": unit,
            "dossier_id": dossier,
            "received_at": at(received),
            "processing_time": {"amount": rng.choice([1, 3, 5]), "unit": "working_days"},
        }
        for name, value in (
            ("official_id", rng.choice(["cb-lan", "cb-minh", None])),
            ("channel", rng.choice(["online", "counter", "postal", None])),
        ):
            if value is not None:  # the contract leaves out what a producer does not know
                submitted[name] = value
        choice = rng.random()
        if choice < 0.5:
            submitted["field_code"] = rng.choice(list(FIELDS))
            submitted["procedure_code"] = rng.choice(["chung-thuc-ban-sao", "dang-ky-ket-hon"])
        elif choice < 0.8:
            submitted["procedure_code"] = "dang-ky-khai-sinh"  # Hộ tịch in the catalogue
        if submitted.get("channel") == "online":  # some received days after
            submitted["submitted_at"] = at(received - rng.randrange(1, 24 * 6) * hour)
        for flag in ("fee_due", "paid_online", "digitised"):
            if rng.random() < 0.4:
                submitted[flag] = rng.random() < 0.7
        events.append(("cchc.dossier-submitted", submitted))
        if rng.random() < 0.2:
            paused = received + rng.randrange(1, 48) * hour
            resumed = None if rng.random() < 0.5 else paused + rng.randrange(1, 200) * hour
            pause = {
                "event_id": f"p-{dossier}",
                "unit_id": unit,
                "dossier_id": dossier,
                "pause_id": "1",
                "reason": "supplement",
                "paused_at": at(paused),
            }
            if resumed is not None:
                pause["resumed_at"] = at(resumed)
            events.append(("cchc.dossier-pause", pause))
        if rng.random() < 0.7:
            done = received + rng.randrange(2, 24 * 12) * hour
            completed = {
                "event_id": f"c-{dossier}",
                "unit_id": unit,
                "dossier_id": dossier,
                "completed_at": at(done),
                "outcome": rng.choice(["resolved", "resolved", "returned"]),
                "result_digital": rng.random() < 0.6,
            }
            events.append(("cchc.dossier-completed", completed))
    return events


def get_file(worker: WorkerProcess, path: str, token: str = ADMIN) -> tuple[int, bytes, str]:
    request = urllib.request.Request(
        worker.url + path, headers={"Authorization": f"Bearer {token}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            disposition = response.headers.get("Content-Disposition", "")
            return response.status, response.read(), disposition
    except urllib.error.HTTPError as error:
        return error.code, error.read(), ""


def expected_cells(
    events: list[tuple[str, dict[str, Any]]], period_text: str
) -> dict[tuple[str, str], list[int]]:
    clock = parse_instant(CLOCK, "clock")
    period = parse_period(period_text, clock, 15)
    counted = recount_report(records(events), period, clock, None, {"dang-ky-khai-sinh": "HO-TICH"})
    cells: dict[tuple[str, str], list[int]] = {}
    for (unit, field, _), row in counted.items():
        key = (unit, field or "unclassified")
        cells[key] = [a + b for a, b in zip(cells.get(key, [0] * 11), row[:11], strict=False)]
    return {key: row for key, row in cells.items() if any(row)}


def report_cells(worker: WorkerProcess, period: str) -> dict[tuple[str, str], list[int]]:
    cells = {}
    for unit in (CAM_LAM, NAM_CAM_RANH):
        status, body = worker.get(f"/api/reports/form06?period={period}&unit_id={unit}")
        assert status == 200, body
        for group in body["groups"]:
            for row in group["rows"]:
                cells[unit, row["key"]] = row["columns"]
    return cells


def test_form_06_through_kafka_cell_by_cell(cluster: Cluster) -> None:
    worker = cluster.start_worker(CCHC_CLOCK=f"fixed:{CLOCK}", CCHC_PROCEDURES_FILE=str(SYNTHETIC))
    events = story()
    cluster.produce_events(events)
    periods = ["report:2026-03", "report:2026-Q1", "2026-Q1", "2026-02", "report:2026-01"]
    for period in periods:
        expected = expected_cells(events, period)
        assert wait_until(lambda p=period, e=expected: report_cells(worker, p) == e), period

    status, body = worker.get("/api/reports/form06?period=report:2026-03&unit_id=xa-cam-lam")
    assert (body["from"], body["to"], body["complete"]) == ("2026-02-15", "2026-03-14", True)
    assert body["scope"] == {"unit_id": CAM_LAM, "name": "Xã Cam Lâm", "level": "commune"}
    names = {row["key"]: row["name"] for row in body["groups"][0]["rows"]}
    assert names.get("HO-TICH") == "Hộ tịch" and names.get("unclassified") == "Chưa phân loại"
    assert body["balanced"] and all(
        row["columns"][0] == row["columns"][4] + row["columns"][8]
        for row in body["groups"][0]["rows"]
    )

    # The province, by unit, grouped by level: every registry unit has its row.
    status, province = worker.get("/api/reports/form06?period=report:2026-03&by=unit")
    assert status == 200 and province["scope"] == {"province": "Khánh Hòa"}
    (communes,) = [group for group in province["groups"] if group["level"] == "commune"]
    rows = {row["key"]: row for row in communes["rows"]}
    assert rows[CAM_LAM]["columns"] == body["total"]["columns"]
    assert len(rows) > 40 and rows[CAM_LAM]["name"] == "Xã Cam Lâm"
    assert province["total"]["columns"][0] == sum(
        group["total"]["columns"][0] for group in province["groups"]
    )

    # The current report month, and the clock's own period: not complete, to today.
    status, current = worker.get("/api/reports/form06?period=report:2026-04&unit_id=xa-cam-lam")
    assert status == 200 and (current["to"], current["complete"]) == ("2026-03-20", False)

    check_workbook(worker, body)
    check_csv(worker, body)
    check_dossier_lists(worker, body)
    check_scopes_and_bad_queries(worker)


def check_workbook(worker: WorkerProcess, report: dict[str, Any]) -> None:
    path = "/api/reports/form06?period=report:2026-03&unit_id=xa-cam-lam&format=xlsx"
    status, data, disposition = get_file(worker, path)
    assert status == 200 and 'filename="bieu-06-xa-cam-lam-report-2026-03.xlsx"' in disposition
    sheet = load_workbook(io.BytesIO(data)).active
    assert sheet is not None
    assert sheet["A1"].value == report["title"].upper()
    assert sheet["A2"].value == "Đơn vị báo cáo: Xã Cam Lâm"
    assert "từ ngày 15/02/2026 đến ngày 14/03/2026" in str(sheet["A3"].value)
    headers = [sheet.cell(HEADER_ROW, FIRST_NUMBER_COLUMN + c).value for c in (0, 4, 8)]
    assert headers == [group["vi"] for group in report["header_groups"]]
    subheaders = [sheet.cell(HEADER_ROW + 1, FIRST_NUMBER_COLUMN + c).value for c in range(11)]
    assert subheaders == [column["vi"] for column in report["columns"]]
    assert sheet.cell(HEADER_ROW + 2, FIRST_NUMBER_COLUMN + 10).value == "(11)"
    rows = report["groups"][0]["rows"]
    first = HEADER_ROW + 3
    for offset, row in enumerate(rows):
        assert sheet.cell(first + offset, 2).value == row["name"]
    total_row = first + len(rows)
    assert sheet.cell(total_row, 2).value == "Tổng cộng"
    for column in range(11):  # one cell per column: the first row's, and the total's
        cell = sheet.cell(first, FIRST_NUMBER_COLUMN + column)
        assert cell.value == rows[0]["columns"][column] and cell.number_format == "#,##0"
        total = sheet.cell(total_row, FIRST_NUMBER_COLUMN + column).value
        assert total == report["total"]["columns"][column]
        assert total == sum(
            sheet.cell(r, FIRST_NUMBER_COLUMN + column).value for r in range(first, total_row)
        )
    assert sheet.freeze_panes == f"C{first}"


def check_csv(worker: WorkerProcess, report: dict[str, Any]) -> None:
    path = "/api/reports/form06?period=report:2026-03&unit_id=xa-cam-lam&format=csv"
    status, data, _ = get_file(worker, path)
    assert status == 200 and data.startswith(b"\xef\xbb\xbf")
    lines = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert lines[0][3] == "(1) Tổng số"
    assert [int(n) for n in lines[-1][3:]] == report["total"]["columns"]


def check_dossier_lists(worker: WorkerProcess, report: dict[str, Any]) -> None:
    total = report["total"]["columns"]
    base = "/api/units/xa-cam-lam/dossiers?period=report:2026-03"
    for column in range(1, 12):
        status, body = worker.get(f"{base}&column={column}&limit=1000")
        assert status == 200 and body["total"] == total[column - 1] == len(body["dossiers"])
    status, late = worker.get(f"{base}&column=8")
    assert late["total"] and any(dossier["working_days_late"] > 0 for dossier in late["dossiers"])
    for dossier in late["dossiers"]:
        assert dossier["state"] in ("resolved", "returned") and dossier["ended_at"]
        assert dossier["working_days_late"] >= 0 and dossier["field_name"]
        assert "official_id" in dossier and dossier["apology"] is False
    status, overdue = worker.get(f"{base}&column=9&overdue=1")
    assert overdue["total"] == total[10]
    status, page = worker.get(f"{base}&column=1&limit=5&page=2")
    status, whole = worker.get(f"{base}&column=1&limit=1000")
    assert page["dossiers"] == whole["dossiers"][5:10]
    ho_tich = next(r for r in report["groups"][0]["rows"] if r["key"] == "HO-TICH")
    status, by_field = worker.get(f"{base}&column=1&field=HO-TICH")
    assert by_field["total"] == ho_tich["columns"][0]
    status, data, disposition = get_file(worker, f"{base}&column=1&format=xlsx")
    assert status == 200 and disposition.endswith('-cot-1.xlsx"')
    sheet = load_workbook(io.BytesIO(data)).active
    assert sheet is not None
    ids = [sheet.cell(row, 1).value for row in range(6, 6 + whole["total"])]
    assert ids == [dossier["dossier_id"] for dossier in whole["dossiers"]]
    assert sheet.cell(5, 1).value == "Mã hồ sơ"
    # The explanation of a dossier behind a number.
    dossier_id = whole["dossiers"][0]["dossier_id"]
    status, told = worker.get(f"/api/dossiers/{dossier_id}", UNIT_TOKEN)
    assert status == 200 and told["dossiers"][0]["unit_id"] == CAM_LAM


def check_scopes_and_bad_queries(worker: WorkerProcess) -> None:
    own = "/api/reports/form06?period=report:2026-03&unit_id=xa-cam-lam"
    assert worker.get(own, UNIT_TOKEN)[0] == 200
    assert worker.get("/api/reports/form06?period=report:2026-03", UNIT_TOKEN)[0] == 403
    other = "/api/reports/form06?period=report:2026-03&unit_id=xa-nam-cam-ranh"
    assert worker.get(other, UNIT_TOKEN)[0] == 403
    assert worker.get(own, TOKENS["public"])[0] == 403
    assert worker.get("/api/units/xa-nam-cam-ranh/dossiers?column=1", UNIT_TOKEN)[0] == 403
    bad = [
        "/api/reports/form06?period=report:2026-05&unit_id=xa-cam-lam",  # after the clock
        "/api/reports/form06?period=2027-Q1",
        "/api/reports/form06?period=report:2026-13",
        "/api/reports/form06?period=2026-H1",  # half-years are report periods
        "/api/reports/form06?by=level",
        "/api/reports/form06?unit_id=xa-cam-lam&by=unit",
        "/api/reports/form06?format=pdf",
        "/api/units/xa-cam-lam/dossiers?column=0",
        "/api/units/xa-cam-lam/dossiers?column=12",
        "/api/units/xa-cam-lam/dossiers?column=x",
        "/api/units/xa-cam-lam/dossiers?column=1&field=NO-SUCH-FIELD",
        "/api/units/xa-cam-lam/dossiers?column=1&late=maybe",
        "/api/units/xa-cam-lam/dossiers?column=1&waiting_days=0",
        "/api/units/xa-cam-lam/dossiers?column=1&limit=1001",
        "/api/units/xa-cam-lam/dossiers?column=1&format=docx",
    ]
    for path in bad:
        status, body = worker.get(path)
        assert status == 400 and body["error"], (path, status, body)
    assert worker.get("/api/units/no-such-unit/dossiers?column=1")[0] == 404
    assert worker.get("/api/reports/form06?unit_id=no-such-unit")[0] == 404


def test_ten_thousand_field_codes_from_one_unit_cost_rows_not_errors(cluster: Cluster) -> None:
    worker = cluster.start_worker(CCHC_CLOCK=f"fixed:{CLOCK}")
    events = [
        (
            "cchc.dossier-submitted",
            {
                "event_id": f"s-{n}",
                "unit_id": CAM_LAM,
                "dossier_id": f"d-{n}",
                "received_at": "2026-03-02T08:00:00+07:00",
                "due_at": "2026-03-05T00:00:00+07:00",
                "field_code": f"F-{n:05d}",
            },
        )
        for n in range(10_000)
    ]
    cluster.produce_events(events)
    path = "/api/reports/form06?period=2026-03&unit_id=xa-cam-lam"

    def rows() -> int:
        status, body = worker.get(path)
        return len(body["groups"][0]["rows"]) if status == 200 and body["groups"] else 0

    assert wait_until(lambda: rows() == 10_000, timeout=90)
    started = time.monotonic()
    status, body = worker.get(path)
    print(f"a unit's report of 10,000 fields: {time.monotonic() - started:.3f} s")
    assert status == 200 and body["total"]["columns"][0] == 10_000
    status, data, _ = get_file(worker, path + "&format=xlsx")
    assert status == 200 and len(data) > 10_000
    listed = worker.get("/api/units/xa-cam-lam/dossiers?period=2026-03&column=11&field=F-00042")
    assert listed[0] == 200 and listed[1]["total"] == 1


def test_the_national_index_estimate_and_the_targets_through_kafka(cluster: Cluster) -> None:
    worker = cluster.start_worker(CCHC_CLOCK=f"fixed:{CLOCK}", CCHC_PROCEDURES_FILE=str(SYNTHETIC))
    events = story()
    cluster.produce_events(events)
    clock = parse_instant(CLOCK, "clock")
    period = parse_period("2026-02", clock)
    counted = recount_report(records(events), period, clock, None, {"dang-ky-khai-sinh": "HO-TICH"})
    by_unit: dict[str, list[int]] = {}
    by_procedure: dict[str, list[int]] = {}
    for (unit, _, procedure), row in counted.items():
        by_unit[unit] = [a + b for a, b in zip(by_unit.get(unit, [0] * len(row)), row, strict=True)]
        if unit == CAM_LAM:
            old = by_procedure.get(procedure, [0] * len(row))
            by_procedure[procedure] = [a + b for a, b in zip(old, row, strict=True)]

    def points(row: list[int]) -> dict[str, float | None]:
        return {
            key: None if value is None else round(float(value), 2)
            for key, value in recounted_points(tuple(row)).items()
        }

    def estimated() -> dict[str, dict[str, float | None]]:
        status, body = worker.get("/api/index766?period=2026-02", TOKENS["public"])
        assert status == 200, body
        rows = [row for group in body["groups"] for row in group["rows"]]
        return {
            row["unit_id"]: {k: v["points"] for k, v in row["indicators"].items()}
            for row in rows
            if row["unit_id"] in by_unit
        }

    expected = {unit: points(row) for unit, row in by_unit.items()}
    assert wait_until(lambda: estimated() == expected), (estimated(), expected)

    status, body = worker.get("/api/index766?period=2026-02", TOKENS["public"])
    assert body["estimate"] is True and body["label"] == "Ước tính Bộ chỉ số 766 từ hồ sơ"
    assert body["covered_points"] == 48 and sum(m["points"] for m in body["missing"]) == 52
    communes = next(group for group in body["groups"] if group["level"] == "commune")
    assert len(communes["rows"]) > 60, "every registry commune, ranked or not"
    ranked = {row["unit_id"]: row["rank"] for row in communes["rows"]}
    assert sorted(r for r in (ranked[CAM_LAM], ranked[NAM_CAM_RANH])) == [1, 2]
    assert "official_id" not in str(body), "unit-level numbers only"

    status, body = worker.get(f"/api/index766?period=2026-02&unit_id={CAM_LAM}", UNIT_TOKEN)
    assert status == 200 and body["by"] == "procedure", body
    rows = {row["procedure_code"] or "": row for row in body["rows"]}
    assert set(rows) == {code for code, row in by_procedure.items() if any(row)}
    for code, row in rows.items():
        got = {key: value["points"] for key, value in row["indicators"].items()}
        assert got == points(by_procedure[code]), code
    shares = sum(row["lost_share"] for row in body["rows"])
    assert abs(shares - body["total"]["lost"]) < 0.05, "the procedures' costs add up"
    assert rows["dang-ky-khai-sinh"]["name"] == "Đăng ký khai sinh"

    for query, reason in (
        ("by=field", "by 'field' is not unit or procedure"),
        (f"unit_id={CAM_LAM}&by=unit", "by=unit is the province's estimate"),
        ("period=2026-13", "month must be 01..12"),
    ):
        status, body = worker.get(f"/api/index766?{query}", TOKENS["public"])
        assert status == 400 and reason in body["error"], (query, body)
    status, body = worker.get("/api/index766?unit_id=xa-khong-co", TOKENS["public"])
    assert status == 404, body

    status, body = worker.get(f"/api/units/{CAM_LAM}/targets?weeks=3&months=2", TOKENS["public"])
    assert status == 200, body
    assert [w["period"] for w in body["weeks"]] == ["2026-W12", "2026-W11", "2026-W10"]
    assert [m["period"] for m in body["months"]] == ["2026-03", "2026-02"]
    february = body["months"][1]
    row = by_unit[CAM_LAM]
    column = dict(zip(REPORT_COLUMNS, row, strict=True))
    assert february["target_online"]["numerator"] == column["new_online"]
    assert february["target_online"]["denominator"] == column["new_online"] + column["new_other"]
    assert february["late_receipt"]["numerator"] == column["received_late"]
    assert february["target_online_payment"]["denominator"] == column["fee_due"]
    assert body["targets"]["target_on_time"] == 0.99

    status, body = worker.get(f"/api/units/{CAM_LAM}/late-receipts?period=2026-02", UNIT_TOKEN)
    assert status == 200, body
    assert (body["received_online"], body["received_late"]) == (
        column["new_online"],
        column["received_late"],
    )
    assert sum(row["received_late"] for row in body["officials"]) == column["received_late"] > 0
    assert len(body["dossiers"]) == column["received_late"]
    status, _ = worker.get(f"/api/units/{CAM_LAM}/late-receipts", TOKENS["public"])
    assert status == 403, "officials' counts need the unit's token"
