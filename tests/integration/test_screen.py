"""The monitoring screen in a real browser (Playwright driving Debian's Chromium)."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from typing import Any

import orjson
import pytest

from tests.integration.conftest import ARTIFACTS, TOKENS, Cluster, WorkerProcess, wait_until

pytestmark = pytest.mark.integration

CLOCK = "2026-03-20T12:00:00+07:00"
UNIT = "xa-cam-lam"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    executable = shutil.which("chromium")
    assert executable, "chromium is not installed (make test installs it from Debian's packages)"
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


def problems_of(page: Any) -> list[str]:
    """Console errors and failed requests of a page, as they happen (a favicon too)."""
    found: list[str] = []
    page.on("console", lambda m: found.append(f"console: {m.text}") if m.type == "error" else None)
    page.on(
        "response",
        lambda r: found.append(f"HTTP {r.status} {r.url}") if r.status >= 400 else None,
    )
    return found


def dossier(n: int, unit: str, late: bool) -> list[tuple[str, dict[str, Any]]]:
    base = {"unit_id": unit, "dossier_id": f"SCR-{n}"}
    return [
        (
            "cchc.dossier-submitted",
            base
            | {
                "event_id": f"scr-s{n}",
                "official_id": f"{unit}.cb01",
                "received_at": "2026-03-02T08:00:00+07:00",
                "due_at": "2026-03-04T00:00:00+07:00",
            },
        ),
        (
            "cchc.dossier-completed",
            base
            | {
                "event_id": f"scr-c{n}",
                "completed_at": "2026-03-05T09:00:00+07:00"
                if late
                else "2026-03-03T09:00:00+07:00",
            },
        ),
    ]


def started(cluster: Cluster) -> WorkerProcess:
    worker = cluster.start_worker(CCHC_CLOCK=f"fixed:{CLOCK}", CCHC_DEMO="1")
    events = [e for n in range(40) for e in dossier(n, UNIT, late=n < 4)]  # 10 % late: over
    events += [e for n in range(40, 60) for e in dossier(n, "phuong-nha-trang", late=False)]
    cluster.produce_events(events)
    assert wait_until(lambda: worker.get(f"/api/units/{UNIT}?period=2026")[1]["resolved"] == 40)
    return worker


def test_overview_live_updates_and_language(cluster: Cluster, browser: Any) -> None:
    worker = started(cluster)
    _, api = worker.get("/api/units")
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    problems = problems_of(page)
    page.goto(f"{worker.url}/#token={TOKENS['public']}")
    page.wait_for_selector(f"tr[data-unit='{UNIT}']")
    rows = page.locator("#units tbody tr")
    assert rows.count() == len(api["units"])  # every unit, with or without figures
    assert rows.first.get_attribute("data-unit") == UNIT, "the unit over the line comes first"
    row = page.locator(f"tr[data-unit='{UNIT}']")
    assert row.locator("td.late").inner_text() == "10,0 %"
    assert row.locator("td.late-resolved").inner_text() == "10,0 %"
    assert "Vượt ngưỡng" in row.inner_text() and "✗" in row.inner_text()
    assert "Tỷ lệ trễ hạn (hồ sơ đã giải quyết)" in page.locator("#totals").inner_text()
    assert page.locator("#demo").is_visible(), "synthetic data must be labelled"
    assert "● Trực tiếp" in page.locator("#live").inner_text()
    page.screenshot(path=str(ARTIFACTS / "screen-overview.png"), full_page=True)

    # A new event on Kafka changes the page without a reload.
    page.evaluate("window.__loaded = true")
    other = page.locator("tr[data-unit='phuong-nha-trang'] td.num").nth(2)
    assert other.inner_text() == "20"
    sent = time.monotonic()
    cluster.produce_events(dossier(99, "phuong-nha-trang", late=False))
    resolved_cell = "document.querySelector(\"tr[data-unit='phuong-nha-trang'] td:nth-child(5)\")"
    page.wait_for_function(f"{resolved_cell}.innerText === '21'", timeout=15_000)
    print(f"page updated {time.monotonic() - sent:.2f} s after the event was published")
    assert page.evaluate("window.__loaded === true"), "the page must not have reloaded"

    page.click("#lang")
    assert page.locator("h1").inner_text() == "Administrative reform monitoring — Conclusion 91"
    assert row.locator("td.late").inner_text() == "10.0%"
    assert "Over the line" in row.inner_text()
    page.click("#lang")
    assert page.locator("h1").inner_text().startswith("Giám sát cải cách hành chính")

    page.select_option("#filter-state", "over")
    assert page.locator("#units tbody tr").count() == 1
    assert problems == [], "the page logged errors or failed requests"


def paused_dossier(unit: str) -> list[tuple[str, dict[str, Any]]]:
    """A dossier due on 19 March, waiting since the 17th for the citizen's papers: at the
    clock (20 March) it would be overdue, but its clock stands still."""
    base = {"unit_id": unit, "dossier_id": "SCR-P1"}
    return [
        (
            "cchc.dossier-submitted",
            base
            | {
                "event_id": "scr-p1-s",
                "official_id": f"{unit}.cb01",
                "received_at": "2026-03-16T08:00:00+07:00",
                "due_at": "2026-03-19T00:00:00+07:00",
            },
        ),
        (
            "cchc.dossier-pause",
            base
            | {
                "event_id": "scr-p1-p",
                "pause_id": "1",
                "reason": "supplement",
                "paused_at": "2026-03-17T09:00:00+07:00",
            },
        ),
    ]


def test_unit_page(cluster: Cluster, browser: Any) -> None:
    worker = started(cluster)
    cluster.produce_events(paused_dossier(UNIT))
    assert wait_until(lambda: worker.get(f"/api/units/{UNIT}?period=2026")[1]["paused"] == 1)
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    problems = problems_of(page)
    page.goto(f"{worker.url}/unit?unit_id={UNIT}#token={TOKENS['unit:' + UNIT]}")
    page.wait_for_selector("#officials tbody tr")
    assert page.locator("#unit-name").inner_text() == "Xã Cam Lâm"
    official = page.locator("#officials tbody tr").first
    assert f"{UNIT}.cb01" in official.inner_text() and "10,0 %" in official.inner_text()
    assert page.locator("#chart svg rect.late").count() == 30
    assert page.locator("#overdue").inner_text() == "Không có"  # resolved, or paused in time
    paused = page.locator("#paused").inner_text()
    assert paused == f"SCR-P1 — tạm dừng từ 2026-03-17 09:00:00 · {UNIT}.cb01", paused
    assert (
        page.locator("#paused-title").inner_text() == "Hồ sơ đang chờ bổ sung / nghĩa vụ tài chính"
    )
    totals = page.locator("#totals").inner_text()
    assert "Tỷ lệ trễ hạn (hồ sơ đã giải quyết)\n10,0 %" in totals, totals
    assert "Đang tạm dừng\n1" in totals, totals
    # The targets by week and month: March's 40 settled, 36 on time (90 %, under 99 %).
    march = page.locator("#targets tbody tr", has_text="2026-03")
    assert "90,0 % (36/40)" in march.inner_text(), march.inner_text()
    assert march.locator("td.off-target").count() >= 1
    # The late count opens its dossiers, and each dossier its explanation (contract §8).
    page.click("#totals a[href='#late-title']")
    late = page.locator("#late li")
    assert late.count() == 4 and "SCR-0 — kết thúc 2026-03-05 09:00:00" in late.all_inner_texts()
    page.click("#late button[data-dossier='SCR-0']")
    page.wait_for_function("document.querySelector('#explain').innerText.includes('SCR-0')")
    explained = page.locator("#explain").inner_text()
    for shown in (
        "Tình trạng\nĐã giải quyết",
        "Trễ hạn\nCó",
        "Hạn giải quyết\n2026-03-04 00:00:00",
    ):
        assert shown in explained, explained
    page.click("#explain button[type='submit']")
    page.click("#paused button[data-dossier='SCR-P1']")
    page.wait_for_function("document.querySelector('#explain').innerText.includes('SCR-P1')")
    explained = page.locator("#explain").inner_text()
    assert "Tình trạng\nĐang tạm dừng" in explained, explained
    assert "chờ bổ sung hồ sơ: 2026-03-17 09:00:00 → chưa tiếp tục" in explained, explained
    page.screenshot(path=str(ARTIFACTS / "screen-dossier.png"))
    page.click("#explain button[type='submit']")
    # 10 % late on 40 dossiers: the unit's and its official's alerts fire; in the last 30
    # days, 36 of 40 settled on time and none received online are under their targets.
    expected = {"unit_late_rate", "official_late_rate", "target_on_time", "target_online"}

    def rules() -> set[str]:
        return {a["rule"] for a in worker.get(f"/api/alerts?unit_id={UNIT}")[1]["alerts"]}

    assert wait_until(lambda: rules() == expected), rules()
    page.reload()
    page.wait_for_function("document.querySelector('#alerts').innerText.includes('Đang cảnh báo')")
    alerts = page.locator("#alerts li")
    assert alerts.count() == 4
    texts = alerts.all_inner_texts()
    assert any("Tỷ lệ hồ sơ trễ hạn · 2026" in text for text in texts)
    assert any("Dưới chỉ tiêu giải quyết đúng hạn · 30d · 90,0 %" in text for text in texts), texts
    assert page.locator("#period-name").inner_text() == "2026"
    page.click("#lang")
    page.wait_for_function("document.querySelector('#paused').innerText.includes('paused since')")
    assert page.locator("#paused-title").inner_text().startswith("Dossiers waiting for papers")
    assert "Late rate (resolved dossiers)" in page.locator("#totals").inner_text()
    page.click("#lang")
    page.wait_for_function("document.querySelector('#paused').innerText.includes('tạm dừng từ')")
    page.screenshot(path=str(ARTIFACTS / "screen-unit.png"), full_page=True)
    assert problems == [], "the page logged errors or failed requests"


def test_an_admin_sees_what_each_units_system_sends_wrong(cluster: Cluster, browser: Any) -> None:
    """Contract §9.7 on the overview: quality marks per unit, invalid records, and the
    DonViXuLy names to add as aliases, from bodies posted as a .NET system posts them."""
    worker = started(cluster)
    record = {
        "MaHoSo": "Q-1",
        "DonViXuLy": "UBND xã Cam Lâm",
        "TrangThaiHoSo": "2",
        "NgayTiepNhan": "20260316080000",
        "NgayHenTra": None,
    }
    unmatched = record | {"MaHoSo": "Q-2", "DonViXuLy": "Bộ phận một cửa xã Lạ"}
    invalid = record | {"MaHoSo": "Q-3", "NgayTiepNhan": "16/03/2026"}
    body = orjson.dumps([record, unmatched, invalid])
    status, answer = worker.post("/ingest/dvcqg/DongBoHoSoMC", body, token=TOKENS["ingest:*"])
    assert status == 200 and answer["valid"] == 2, answer

    def quality() -> Any:
        return worker.get("/api/sync/quality")[1]

    def marked() -> int:
        rows = quality()["units"]
        return sum(row["dossiers_marked"].get("no_deadline", 0) for row in rows)

    assert wait_until(lambda: marked() == 2 and quality()["unmatched"] != [])
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    problems = problems_of(page)
    page.goto(f"{worker.url}/#token={TOKENS['admin']}")
    page.wait_for_selector("#quality:not([hidden]) #quality-units tbody tr")
    cam_lam = page.locator("#quality-units tbody tr", has_text="Xã Cam Lâm").inner_text()
    assert cam_lam.split("\t")[1:] == ["0", "0", "1", "0", "0", "1"], cam_lam
    assert "Bộ phận một cửa xã Lạ — 1 bản ghi" in page.locator("#unmatched").inner_text()
    page.locator("#quality").screenshot(path=str(ARTIFACTS / "screen-quality.png"))
    public = browser.new_page()
    public.goto(f"{worker.url}/#token={TOKENS['public']}")
    public.wait_for_selector(f"tr[data-unit='{UNIT}']")
    assert public.locator("#quality").is_hidden(), "names of agencies' errors: admin only"
    assert problems == [], "the page logged errors or failed requests"


def test_report_page_downloads_the_form_and_opens_the_dossiers(
    cluster: Cluster, browser: Any
) -> None:
    """A clerk's three clicks: the unit page's report link, the report month, the
    workbook; then a number's dossiers and a dossier's explanation."""
    from openpyxl import load_workbook

    worker = started(cluster)
    page = browser.new_page(viewport={"width": 1400, "height": 900}, accept_downloads=True)
    problems = problems_of(page)
    page.goto(f"{worker.url}/unit?unit_id={UNIT}#token={TOKENS['unit:' + UNIT]}")
    page.wait_for_selector("#officials tbody tr")
    page.click("#report-link")
    page.wait_for_selector("#report tbody tr.total")
    # The report month that holds the clock (20 March): 15 March to 14 April.
    assert page.locator("#report-period").input_value() == "report:2026-04"
    assert page.locator("#report-scope").input_value() == UNIT
    assert "Từ ngày 15/03/2026 đến ngày 20/03/2026" in page.locator("#report-dates").inner_text()
    page.select_option("#report-period", "report:2026-03")
    page.wait_for_function("document.querySelector('#report-dates').innerText.includes('14/03')")
    total = page.locator("#report tbody tr.total td.num").all_inner_texts()
    assert total == ["40", "0", "40", "0", "40", "0", "36", "4", "0", "0", "0"], total
    assert "cột (1) = cột (5) + cột (9) ✓" in page.locator("#report-check").inner_text()
    heading = page.locator("#report thead").inner_text()
    assert "Số hồ sơ nhận giải quyết" in heading and "Trước hạn" in heading
    with page.expect_download() as downloaded:
        page.click("#download-xlsx")
    download = downloaded.value
    assert download.suggested_filename == f"bieu-06-{UNIT}-report-2026-03.xlsx"
    saved = ARTIFACTS / download.suggested_filename
    download.save_as(saved)
    sheet = load_workbook(saved).active
    assert sheet is not None and sheet["A2"].value == "Đơn vị báo cáo: Xã Cam Lâm"
    page.screenshot(path=str(ARTIFACTS / "screen-report.png"), full_page=True)

    # The late count opens its four dossiers; one of them, its explanation.
    page.click("#report tbody tr.total button[data-column='8']")
    page.wait_for_selector("#behind-list tbody tr")
    assert page.locator("#behind-list tbody tr").count() == 4
    assert "4 hồ sơ" in page.locator("#behind-count").inner_text()
    first = page.locator("#behind-list tbody tr").first.inner_text()
    assert "SCR-" in first and "Đã giải quyết" in first, first
    page.locator("#behind-list button.dossier").first.click()
    page.wait_for_function("document.querySelector('#explain').innerText.includes('Trễ hạn')")
    assert "Trễ hạn\nCó" in page.locator("#explain").inner_text()
    page.click("#explain button[type='submit']")
    page.click("#lang")
    assert "(form 06)" in page.locator("h1").inner_text()
    assert "Received" in page.locator("#report thead").inner_text()
    assert problems == [], "the page logged errors or failed requests"


def test_wall_screen_shows_every_unit_at_1920x1080_without_personal_data(
    cluster: Cluster, browser: Any
) -> None:
    worker = started(cluster)

    def rules() -> set[tuple[str, str]]:
        return {(a["rule"], a["unit_id"]) for a in worker.get("/api/alerts")[1]["alerts"]}

    # An official's alert, which the wall's public token must not show; and an amber one:
    # none of Nha Trang's 20 dossiers came online, under the 80 % target.
    wanted = {("official_late_rate", UNIT), ("target_online", "phuong-nha-trang")}
    assert wait_until(lambda: wanted <= rules()), rules()
    _, units = worker.get("/api/units", TOKENS["public"])
    page = browser.new_page(viewport={"width": 1920, "height": 1080})
    problems = problems_of(page)
    page.goto(f"{worker.url}/wall#token={TOKENS['public']}")
    page.wait_for_selector(f"li.tile[data-unit='{UNIT}'].over")
    page.wait_for_function("document.querySelector('#estimate').innerText.length > 0")
    tiles = page.locator("li.tile")
    assert tiles.count() == len(units["units"]) >= 77, "every registry unit has a tile"
    assert page.evaluate("document.scrollingElement.scrollHeight") <= 1080, "nothing to scroll"
    assert page.locator("#rotation").inner_text() == "", "every group fits: no rotation"
    boxes = page.evaluate(
        "[...document.querySelectorAll('li.tile')].map(t => t.getBoundingClientRect())"
        ".map(r => [r.left, r.top, r.right, r.bottom])"
    )
    assert all(x0 >= 0 and y0 >= 0 and x1 <= 1920 and y1 <= 1080 for x0, y0, x1, y1 in boxes)
    tile = page.locator(f"li.tile[data-unit='{UNIT}']")
    assert "Tỷ lệ hồ sơ trễ hạn" in tile.inner_text() and "10,0 %" in tile.inner_text()
    amber = page.locator("li.tile[data-unit='phuong-nha-trang']")
    assert "risk" in (amber.get_attribute("class") or "")
    assert "Dưới chỉ tiêu hồ sơ trực tuyến" in amber.inner_text()
    sizes = page.evaluate(
        "['.tile .late', '.tile .name', '.province dd']"
        ".map(s => parseFloat(getComputedStyle(document.querySelector(s)).fontSize))"
    )
    assert sizes[0] >= 28 and sizes[1] >= 16 and sizes[2] >= 48, "readable from three metres"
    estimate = page.locator("#estimate").inner_text()
    assert "ước tính tháng 03/2026" in estimate and "Chưa tính 52/100 điểm" in estimate
    assert "/ 42 điểm" in estimate, "no dossier had a fee: payment is not at stake"
    page.wait_for_function("document.querySelector('#ticker').innerText.includes('Xã Cam Lâm')")
    text = page.locator("body").inner_text() + page.content()
    assert "cb01" not in text, "the public token shows no official"
    assert "Tỷ lệ hồ sơ trễ hạn của công chức" not in page.locator("#ticker").inner_text()
    page.screenshot(path=str(ARTIFACTS / "screen-wall.png"))

    # While the worker reads history, the wall says so and no tile claims a state.
    page.evaluate("showCatchUp({phase: 'catching_up', behind: 60000, progress: 0.4})")
    assert "40,0 %" in page.locator("#catch-up").inner_text()
    assert page.evaluate("document.body.classList.contains('catching-up')")
    page.screenshot(path=str(ARTIFACTS / "screen-wall-catching-up.png"))
    page.evaluate("showCatchUp({phase: 'live', behind: 0, progress: 1})")
    assert page.locator("#catch-up").count() == 0

    # A smaller screen: the groups rotate, and every unit is shown within one rotation,
    # each inside the screen.
    page.set_viewport_size({"width": 1280, "height": 720})
    page.evaluate("paginate()")
    pages = page.evaluate("rotation.pages.length")
    assert pages >= 2 and page.locator("#rotation").inner_text() == f"Nhóm 1/{pages}"
    seen: list[str] = []
    for shown in range(pages):
        page.evaluate(f"rotation.shown = {shown}; paginate()")
        visible = page.evaluate(
            "[...document.querySelectorAll('li.tile')].filter(t => t.offsetParent !== null)"
            ".map(t => [t.dataset.unit, t.getBoundingClientRect().bottom])"
        )
        assert all(bottom <= 720 for _, bottom in visible), shown
        seen += [unit for unit, _ in visible]
    assert sorted(seen) == sorted(row["unit_id"] for row in units["units"])

    page.screenshot(path=str(ARTIFACTS / "screen-wall-1280.png"))
    page.click("#lang")
    assert page.locator("h1").inner_text() == "Administrative reform monitor, Khánh Hòa province"
    assert problems == [], "the page logged errors or failed requests"
