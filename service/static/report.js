// The periodic report page (/report): form 06 for a unit or the province, a period of the
// province's report calendar or of the civil one, and the dossiers behind each number.
// Uses app.js (loaded first): its texts, access token, helpers and dossier explanation.
"use strict";

Object.assign(TEXT.vi, {
  report_title: "Tình hình, kết quả giải quyết thủ tục hành chính (biểu 06)",
  report_period: "Kỳ báo cáo", report_scope: "Đơn vị báo cáo", report_by: "Theo",
  by_field: "Lĩnh vực", by_unit: "Đơn vị", download_xlsx: "Tải Excel (.xlsx)", download_csv: "Tải CSV",
  report_note: "Bấm vào một số để xem các hồ sơ tạo nên số đó; bấm vào mã hồ sơ để xem giải trình.",
  report_months: "Kỳ chốt số liệu (từ ngày {d} tháng trước đến ngày {e})", civil: "Theo năm dương lịch",
  month: "Tháng", quarter: "Quý", half1: "6 tháng đầu năm", half2: "6 tháng cuối năm", nine: "9 tháng",
  year: "Năm", from_to: "Từ ngày {from} đến ngày {to}", check_ok: "Kiểm tra: cột (1) = cột (5) + cột (9) ✓",
  check_bad: "Kiểm tra: cột (1) ≠ cột (5) + cột (9)", total: "Tổng cộng", no: "STT",
  only_late: "Chỉ hồ sơ trễ hạn, quá hạn", waiting_more: "Chờ công dân quá", working_days: "ngày làm việc",
  l_dossier: "Mã hồ sơ", l_days_late: "Số ngày làm việc trễ", l_waiting: "Số ngày làm việc chờ công dân",
  l_apology: "Đã xin lỗi", page_back: "← Trang trước", page_next: "Trang sau →",
  behind: "Hồ sơ của cột ({n}) {name}", behind_count: "{n} hồ sơ", page: "Trang {n}",
});
Object.assign(TEXT.en, {
  report_title: "Settlement of administrative procedure dossiers (form 06)",
  report_period: "Report period", report_scope: "Reporting unit", report_by: "By",
  by_field: "Field", by_unit: "Unit", download_xlsx: "Download Excel (.xlsx)", download_csv: "Download CSV",
  report_note: "Click a number to see the dossiers behind it; click a dossier to see why it counts.",
  report_months: "Report periods (from the {d}th of the month before to the {e}th)", civil: "Calendar periods",
  month: "Month", quarter: "Quarter", half1: "First half-year", half2: "Second half-year", nine: "Nine months",
  year: "Year", from_to: "From {from} to {to}", check_ok: "Check: column (1) = column (5) + column (9) ✓",
  check_bad: "Check: column (1) ≠ column (5) + column (9)", total: "Total", no: "No.",
  only_late: "Late and overdue only", waiting_more: "Waiting for the citizen more than", working_days: "working days",
  l_dossier: "Dossier", l_days_late: "Working days late", l_waiting: "Working days waiting for the citizen",
  l_apology: "Apologised", page_back: "← Previous", page_next: "Next →",
  behind: "Dossiers of column ({n}) {name}", behind_count: "{n} dossiers", page: "Page {n}",
});

const PAGE_SIZE = 50;
// The clock's local date (as_of is local time): read as a date where the browser is,
// never as midnight UTC, which is the day before west of Greenwich.
const clockDate = () => { const [y, m, d] = info.as_of.slice(0, 10).split("-").map(Number); return new Date(y, m - 1, d); };
let report = null, opened = null, units = [];

// The periods offered: this year's and last year's, report periods first, none that
// starts after the clock (the server refuses those).
function periodOptions() {
  const clock = clockDate();
  const cutOff = info.report_cut_off_day;
  const startOf = (year, month) => cutOff > 1 ? new Date(year, month - 2, cutOff) : new Date(year, month - 1, 1);
  const reportGroup = [], civilGroup = [];
  const short = (d) => `${String(d.getDate()).padStart(2, "0")}/${String(d.getMonth() + 1).padStart(2, "0")}`;
  // A report period's label says its dates: "Tháng 03/2026 (15/02–14/03)".
  const dates = (year, first, last) => {
    const end = startOf(year, last + 1);
    end.setDate(end.getDate() - 1);
    return ` (${short(startOf(year, first))}–${short(end)})`;
  };
  for (const year of [clock.getFullYear() + (cutOff > 1 && clock.getMonth() === 11 && clock.getDate() >= cutOff ? 1 : 0),
    clock.getFullYear() - 1]) {
    const add = (group, name, label, first) => { if (first <= clock) group.push([name, label]); };
    for (let month = 12; month >= 1; month--) {
      const mm = String(month).padStart(2, "0");
      add(reportGroup, `report:${year}-${mm}`, `${t("month")} ${mm}/${year}${dates(year, month, month)}`, startOf(year, month));
    }
    for (let quarter = 4; quarter >= 1; quarter--) {
      add(reportGroup, `report:${year}-Q${quarter}`, `${t("quarter")} ${quarter}/${year}${dates(year, 3 * quarter - 2, 3 * quarter)}`,
        startOf(year, 3 * quarter - 2));
    }
    add(reportGroup, `report:${year}-H1`, `${t("half1")} ${year}`, startOf(year, 1));
    add(reportGroup, `report:${year}-9M`, `${t("nine")} ${year}`, startOf(year, 1));
    add(reportGroup, `report:${year}-H2`, `${t("half2")} ${year}`, startOf(year, 7));
    add(reportGroup, `report:${year}`, `${t("year")} ${year}`, startOf(year, 1));
    for (let month = 12; month >= 1; month--) {
      const mm = String(month).padStart(2, "0");
      add(civilGroup, `${year}-${mm}`, `${t("month")} ${mm}/${year}`, new Date(year, month - 1, 1));
    }
    for (let quarter = 4; quarter >= 1; quarter--) {
      add(civilGroup, `${year}-Q${quarter}`, `${t("quarter")} ${quarter}/${year}`, new Date(year, 3 * quarter - 3, 1));
    }
    add(civilGroup, `${year}`, `${t("year")} ${year}`, new Date(year, 0, 1));
  }
  const heading = t("report_months").replace("{d}", cutOff).replace("{e}", cutOff - 1);
  const options = (group) => group.map(([value, label]) => `<option value="${value}">${escape(label)}</option>`).join("");
  return `<optgroup label="${escape(heading)}">${options(reportGroup)}</optgroup>
    <optgroup label="${escape(t("civil"))}">${options(civilGroup)}</optgroup>`;
}

function reportQuery() {
  const query = new URLSearchParams({ period: $("#report-period").value });
  const scope = $("#report-scope").value;
  if (scope) query.set("unit_id", scope);
  query.set("by", scope ? "field" : $("#report-by").value);
  return query;
}

// Keep the choice in the address, so that a link opens the same report.
function remember(query) {
  for (const [key, value] of query) params.set(key, value);
  if (!query.has("unit_id")) params.delete("unit_id");
  history.replaceState(null, "", `?${params}`);
}

async function loadReport() {
  const query = reportQuery();
  remember(query);
  $("#report-by").disabled = Boolean(query.get("unit_id"));
  const answer = await getJSON(`/api/reports/form06?${query}`);
  $("#report-error").hidden = answer.status === 200;
  if (answer.status !== 200) {
    $("#report-error").textContent = answer.body.error ?? answer.status;
    $("#report thead").innerHTML = $("#report tbody").innerHTML = "";
    report = null;
    return;
  }
  report = answer.body;
  renderReport();
}

function renderReport() {
  if (!report) return;
  const day = (iso) => iso.split("-").reverse().join("/");
  $("#report-dates").textContent = t("from_to").replace("{from}", day(report.from)).replace("{to}", day(report.to));
  $("#as-of").textContent = localTime(report.as_of);
  $("#report-check").textContent = t(report.balanced ? "check_ok" : "check_bad");
  const english = lang === "en";
  const groups = report.header_groups.map((g) =>
    `<th scope="colgroup" colspan="${g.last - g.first + 1}">${escape(english ? g.en : g.vi)}</th>`).join("");
  const subheads = report.columns.map((c) => `<th scope="col" class="num">${escape(english ? c.en : c.vi)}</th>`).join("");
  const numbers = report.columns.map((c) => `<th scope="col" class="num">(${c.number})</th>`).join("");
  const label = report.by === "field" ? t("by_field") : t("by_unit");
  $("#report thead").innerHTML = `<tr><th scope="col" rowspan="2">${t("no")}</th><th scope="col" rowspan="2">${label}</th>${groups}</tr>
    <tr>${subheads}</tr><tr><th>(A)</th><th>(B)</th>${numbers}</tr>`;
  const unitId = report.scope.unit_id;
  const cells = (row, where) => row.columns.map((value, i) => {
    const seen = where && (info.access.admin || info.access.units.includes(where.unit));
    if (!seen || value === 0) return `<td class="num">${number(value)}</td>`;
    const field = where.field ? ` data-field="${escape(where.field)}"` : "";
    return `<td class="num"><button type="button" class="count-link" data-unit="${escape(where.unit)}"${field}
      data-column="${i + 1}" data-name="${escape(where.name)}">${number(value)}</button></td>`;
  }).join("");
  const grouped = report.groups.length > 1 || report.by === "unit";
  const rows = report.groups.map((group, g) => {
    const heading = grouped
      ? `<tr class="group"><th></th><th scope="rowgroup">${["I", "II", "III", "IV"][g] ?? g + 1}. ${escape(group.name)}</th>${cells(group.total, null)}</tr>` : "";
    return heading + group.rows.map((row, i) => {
      const where = report.by === "unit" ? { unit: row.key, name: row.name }
        : unitId ? { unit: unitId, field: row.key, name: row.name } : null;
      return `<tr><td>${i + 1}</td><th scope="row">${escape(row.name)}</th>${cells(row, where)}</tr>`;
    }).join("");
  }).join("");
  const whole = unitId ? { unit: unitId, name: report.scope.name } : null;
  $("#report tbody").innerHTML = rows + `<tr class="total"><td></td><th scope="row">${t("total")}</th>${cells(report.total, whole)}</tr>`;
  if (opened) loadBehind();
}

async function loadBehind() {
  const query = new URLSearchParams({ period: report.period, column: opened.column, limit: PAGE_SIZE, page: opened.page });
  if (opened.field) query.set("field", opened.field);
  if ($("#only-late").checked) query.set("late", "1");
  const waiting = $("#waiting-days").value;
  if (waiting) query.set("waiting_days", waiting);
  opened.query = query;
  const answer = await getJSON(`/api/units/${encodeURIComponent(opened.unit)}/dossiers?${query}`);
  const list = answer.body;
  const column = report.columns[opened.column - 1];
  $("#behind").hidden = false;
  $("#behind-title").textContent = `${t("behind").replace("{n}", opened.column).replace("{name}",
    lang === "en" ? column.en : column.vi)} — ${opened.name}`;
  if (answer.status !== 200) {
    $("#behind-count").textContent = list.error ?? answer.status;
    $("#behind-list tbody").innerHTML = "";
    return;
  }
  $("#behind-count").textContent = t("behind_count").replace("{n}", number(list.total));
  const when = (text) => text ? localTime(text) : "—";
  $("#behind-list tbody").innerHTML = list.dossiers.map((d) => `<tr>
    <th scope="row">${dossierButton(d.dossier_id)}</th><td>${escape(d.field_name)}</td>
    <td>${escape(d.procedure_name ?? d.procedure_code ?? "—")}</td><td>${escape(d.official_id ?? "—")}</td>
    <td>${when(d.received_at)}</td><td>${when(d.due_at)}</td><td>${when(d.ended_at)}</td>
    <td>${t(`s_${d.state}`)}</td><td class="num">${d.working_days_late ?? "—"}</td>
    <td class="num">${d.waiting_working_days ?? "—"}</td><td>${t(d.apology ? "yes" : "no")}</td></tr>`).join("");
  const pages = Math.max(1, Math.ceil(list.total / PAGE_SIZE));
  $("#page-number").textContent = `${t("page").replace("{n}", opened.page)} / ${pages}`;
  $("#page-back").disabled = opened.page <= 1;
  $("#page-next").disabled = opened.page >= pages;
  params.set("unit_id", opened.unit);  // the explanation shows this unit's dossier
}

// A download needs the token in a header: fetch it, then hand the browser the file.
async function download(path) {
  const response = await authorized(path);
  if (response.status !== 200) { $("#report-error").hidden = false; $("#report-error").textContent = (await response.json()).error; return; }
  const name = /filename="([^"]+)"/.exec(response.headers.get("Content-Disposition") ?? "")?.[1] ?? "report";
  const link = document.createElement("a");
  link.href = URL.createObjectURL(await response.blob());
  link.download = name;
  document.body.append(link);
  link.click();
  link.remove();
}

async function startReport() {
  $("#report-period").innerHTML = periodOptions();
  const answer = await getJSON("/api/units");
  units = answer.status === 200 ? answer.body.units : [];
  const seen = units.filter((u) => info.access.admin || info.access.units.includes(u.unit_id));
  $("#report-scope").innerHTML = (info.access.admin ? `<option value="">${escape(t("province"))}</option>` : "")
    + seen.map((u) => `<option value="${escape(u.unit_id)}">${escape(u.name)}</option>`).join("");
  const cutOff = info.report_cut_off_day, clock = clockDate();
  const month = clock.getMonth() + 1 + (cutOff > 1 && clock.getDate() >= cutOff ? 1 : 0);
  const current = `report:${clock.getFullYear() + (month > 12 ? 1 : 0)}-${String((month - 1) % 12 + 1).padStart(2, "0")}`;
  $("#report-period").value = params.get("period") ?? current;
  if (!$("#report-period").value) $("#report-period").value = current;
  if (params.has("unit_id")) $("#report-scope").value = params.get("unit_id");
  if (params.has("by")) $("#report-by").value = params.get("by");
  for (const id of ["#report-period", "#report-scope", "#report-by"]) {
    $(id).addEventListener("change", () => { opened = null; $("#behind").hidden = true; loadReport(); });
  }
  $("#download-xlsx").addEventListener("click", () => download(`/api/reports/form06?${reportQuery()}&format=xlsx`));
  $("#download-csv").addEventListener("click", () => download(`/api/reports/form06?${reportQuery()}&format=csv`));
  $("#behind-xlsx").addEventListener("click", () =>
    download(`/api/units/${encodeURIComponent(opened.unit)}/dossiers?${opened.query}&format=xlsx`));
  $("#report").addEventListener("click", (event) => {
    const button = event.target.closest("button.count-link");
    if (!button) return;
    opened = { ...button.dataset, column: Number(button.dataset.column), page: 1 };
    loadBehind().then(() => $("#behind").scrollIntoView());
  });
  for (const id of ["#only-late", "#waiting-days"]) {
    $(id).addEventListener("change", () => { if (opened) { opened.page = 1; loadBehind(); } });
  }
  $("#page-back").addEventListener("click", () => { opened.page -= 1; loadBehind(); });
  $("#page-next").addEventListener("click", () => { opened.page += 1; loadBehind(); });
  await loadReport();
}

PAGES.report = { start: startReport, render: () => { $("#report-period").innerHTML = periodOptions(); $("#report-period").value = params.get("period"); renderReport(); } };
