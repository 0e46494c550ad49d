// cchc-monitor screens: province overview (/), unit page (/unit?unit_id=...) and the
// periodic report (/report, with report.js).
// Plain modern JavaScript, no build step: the worker serves this file as it is.
"use strict";

const TEXT = {
  vi: {
    title: "Giám sát cải cách hành chính — Kết luận 91", period: "Kỳ", period_year: "Năm nay",
    period_month: "Tháng này", period_30d: "30 ngày", kiosk: "Chế độ màn hình lớn",
    demo: "Dữ liệu mô phỏng (không phải số liệu thật)", as_of: "Cập nhật", province: "Toàn tỉnh",
    catch_up: "Đang đọc lại lịch sử hồ sơ: {p} — số liệu chưa phải hiện tại",
    catch_recovering: "Đang khôi phục trạng thái — số liệu chưa đầy đủ", wall_link: "Màn hình điều hành",
    targets: "Chỉ tiêu theo tuần và tháng (* kỳ chưa kết thúc)", t_period: "Kỳ", t_on_time: "Giải quyết đúng hạn",
    t_online: "Hồ sơ trực tuyến", t_payment: "Thanh toán trực tuyến", t_late_receipt: "Tiếp nhận trực tuyến chậm",
    units: "Đơn vị", filter_type: "Loại đơn vị", filter_state: "Trạng thái", all: "Tất cả",
    type_commune: "Xã, phường, đặc khu", type_province: "Sở, ngành tỉnh",
    state_over: "Vượt ngưỡng", state_risk: "Có nguy cơ", state_ok: "Trong ngưỡng", state_none: "Chưa có số liệu",
    col_unit: "Đơn vị", col_state: "Trạng thái", col_late: "Tỷ lệ trễ hạn", col_overdue: "Đang quá hạn",
    col_resolved: "Đã giải quyết", col_satisfaction: "Chỉ số hài lòng", col_official: "Công chức",
    col_late_resolved: "Tỷ lệ trễ hạn (hồ sơ đã giải quyết)", col_paused: "Đang tạm dừng",
    col_rescheduled: "Đã hẹn lại", col_apologised: "Đã xin lỗi",
    footer: "Ngưỡng theo Kết luận 91: hồ sơ trễ hạn từ 5 % trở lên hoặc chỉ số hài lòng từ 80 % trở xuống thì không xếp hạng Tốt.",
    live: "● Trực tiếp", lost: "Mất kết nối — đang kết nối lại…", shown: "{n} / {total} đơn vị",
    units_over: "Đơn vị vượt ngưỡng", back: "← Toàn tỉnh", chart: "Hồ sơ giải quyết 30 ngày qua",
    officials: "Cán bộ, công chức", overdue: "Hồ sơ đang quá hạn", due_soon: "Hồ sơ sắp đến hạn (3 ngày làm việc)", alerts: "Cảnh báo",
    paused: "Hồ sơ đang chờ bổ sung / nghĩa vụ tài chính", paused_since: "tạm dừng từ",
    none: "Không có", due: "hạn", firing: "Đang cảnh báo", resolved: "Đã hết", since: "từ",
    chart_late: "trễ hạn", chart_on_time: "đúng hạn", lang: "English",
    token_needed: "Trang này cần mã truy cập. Nhập mã do quản trị viên cấp:", token_label: "Mã truy cập",
    token_submit: "Mở", token_wrong: "Mã truy cập không đúng hoặc đã bị thu hồi.",
    access: "Quyền", access_admin: "quản trị", access_public: "công khai", access_unit: "đơn vị",
    officials_hidden: "Mã truy cập này chỉ xem số liệu cấp đơn vị; số liệu từng công chức cần mã của đơn vị.",
    col_ended_late: "Giải quyết trễ hạn", late_list: "Hồ sơ giải quyết trễ hạn trong kỳ", ended: "kết thúc",
    more: "và {n} hồ sơ khác", explain: "Giải trình hồ sơ", close: "Đóng", not_found: "Không tìm thấy hồ sơ này.",
    x_unit: "Đơn vị", x_source: "Nguồn", x_state: "Tình trạng", x_late: "Trễ hạn", x_received: "Tiếp nhận",
    x_due: "Hạn giải quyết", x_effective_due: "Hạn sau khi trừ thời gian tạm dừng", x_ended: "Kết thúc",
    x_official: "Công chức", x_procedure: "Thủ tục", x_field: "Lĩnh vực", x_channel: "Kênh",
    x_pauses: "Tạm dừng", x_requests: "Số lần yêu cầu bổ sung", x_quality: "Chất lượng dữ liệu",
    yes: "Có", no: "Không", no_deadline: "Không có hạn", still: "chưa tiếp tục",
    source_events: "sự kiện", source_sync: "đồng bộ Cổng DVC quốc gia",
    s_open_overdue: "Đang quá hạn", s_paused: "Đang tạm dừng", s_open: "Đang giải quyết",
    s_resolved: "Đã giải quyết", s_returned: "Đã trả kết quả", s_rejected: "Từ chối",
    s_stopped: "Dừng xử lý", s_withdrawn: "Công dân rút hồ sơ",
    r_supplement: "chờ bổ sung hồ sơ", r_financial_obligation: "chờ thực hiện nghĩa vụ tài chính",
    q_status_unknown: "trạng thái không xác định", q_end_date_missing: "thiếu ngày kết thúc",
    q_no_deadline: "không có ngày hẹn trả", q_unit_unmatched: "đơn vị chưa khớp danh mục",
    q_flags_unreadable: "cờ thanh toán, số hóa không đọc được",
    quality: "Chất lượng dữ liệu đồng bộ từ hệ thống một cửa", col_invalid: "Bản ghi không hợp lệ",
    quality_note: "Số hồ sơ mang từng dấu hiệu chất lượng, và bản ghi bị loại, theo đơn vị: những gì mỗi đơn vị cần sửa trong hệ thống của mình.",
    unmatched: "Tên đơn vị (DonViXuLy) chưa khớp danh mục — thêm vào cột aliases",
    waiting: "Bản ghi tiến độ đang chờ hồ sơ: {n}", records: "bản ghi", other_records: "Các tên khác: {n} bản ghi",
    report_link: "Báo cáo biểu 06",
  },
  en: {
    title: "Administrative reform monitoring — Conclusion 91", period: "Period", period_year: "This year",
    period_month: "This month", period_30d: "30 days", kiosk: "Wall-screen mode",
    demo: "Synthetic demo data (not real figures)", as_of: "Updated", province: "Province",
    catch_up: "Reading the dossiers' history: {p} — these figures are not today's yet",
    catch_recovering: "Restoring the state — the figures are incomplete", wall_link: "Wall screen",
    targets: "Targets by week and month (* period not over)", t_period: "Period", t_on_time: "Settled on time",
    t_online: "Received online", t_payment: "Paid online", t_late_receipt: "Online, received late",
    units: "Units", filter_type: "Unit type", filter_state: "State", all: "All",
    type_commune: "Communes, wards, special zone", type_province: "Provincial agencies",
    state_over: "Over the line", state_risk: "At risk", state_ok: "Within the line", state_none: "No figures yet",
    col_unit: "Unit", col_state: "State", col_late: "Late rate", col_overdue: "Open overdue",
    col_resolved: "Resolved", col_satisfaction: "Satisfaction", col_official: "Official",
    col_late_resolved: "Late rate (resolved dossiers)", col_paused: "Paused",
    col_rescheduled: "Rescheduled", col_apologised: "Apologised",
    footer: "Conclusion 91: a unit with 5 % or more late dossiers, or a satisfaction index of 80 % or less, may not be ranked Good.",
    live: "● Live", lost: "Connection lost — reconnecting…", shown: "{n} / {total} units",
    units_over: "Units over the line", back: "← Province", chart: "Dossiers resolved, last 30 days",
    officials: "Officials", overdue: "Open overdue dossiers", due_soon: "Dossiers due soon (3 working days)", alerts: "Alerts",
    paused: "Dossiers waiting for papers / financial obligations", paused_since: "paused since",
    none: "None", due: "due", firing: "Firing", resolved: "Resolved", since: "since",
    chart_late: "late", chart_on_time: "on time", lang: "Tiếng Việt",
    token_needed: "This page needs an access token. Enter the token your administrator gave you:",
    token_label: "Access token", token_submit: "Open", token_wrong: "The access token is wrong or was revoked.",
    access: "Access", access_admin: "administrator", access_public: "public", access_unit: "unit",
    officials_hidden: "This token shows unit figures only; officials' figures need the unit's token.",
    col_ended_late: "Ended late", late_list: "Dossiers that ended late in the period", ended: "ended",
    more: "and {n} more", explain: "Why this dossier counts as it does", close: "Close", not_found: "No such dossier.",
    x_unit: "Unit", x_source: "Source", x_state: "State", x_late: "Late", x_received: "Received",
    x_due: "Deadline", x_effective_due: "Deadline plus time paused", x_ended: "Ended",
    x_official: "Official", x_procedure: "Procedure", x_field: "Field", x_channel: "Channel",
    x_pauses: "Pauses", x_requests: "Supplement requests", x_quality: "Data quality",
    yes: "Yes", no: "No", no_deadline: "No deadline", still: "not resumed",
    source_events: "events", source_sync: "national portal sync",
    s_open_overdue: "Open, overdue", s_paused: "Paused", s_open: "Open",
    s_resolved: "Resolved", s_returned: "Result returned", s_rejected: "Rejected",
    s_stopped: "Stopped", s_withdrawn: "Withdrawn by the citizen",
    r_supplement: "waiting for papers", r_financial_obligation: "waiting for a financial obligation",
    q_status_unknown: "unknown status", q_end_date_missing: "end date missing",
    q_no_deadline: "no appointment", q_unit_unmatched: "unit not in the registry",
    q_flags_unreadable: "payment or digitisation flags unreadable",
    quality: "Quality of the data one-stop systems sync", col_invalid: "Invalid records",
    quality_note: "Dossiers carrying each quality mark, and records set aside, per unit: what each unit should fix in its own system.",
    unmatched: "DonViXuLy names that match no registry unit — add them to the aliases column",
    waiting: "Progress records waiting for their dossier: {n}", records: "records", other_records: "Other names: {n} records",
    report_link: "Form 06 report",
  },
};
const ICON = { over: "✗", risk: "!", ok: "✓", none: "–" };

const params = new URLSearchParams(location.search);
let lang = localStorage.getItem("cchc-lang") || "vi";
let sortKey = "state", sortDescending = true, latest = null, source = null;
let info = null;  // /api/info: the configured thresholds and the rules' names, loaded first

const t = (key) => TEXT[lang][key] ?? key;

// Access: a token from the link (#token=...) is kept for this tab only, and taken out of
// the address bar; without one, the page asks for it. EventSource cannot send headers,
// so the live streams carry it as access_token.
function takeToken() {
  const fromLink = new URLSearchParams(location.hash.slice(1)).get("token");
  if (fromLink) {
    sessionStorage.setItem("cchc-token", fromLink);
    history.replaceState(null, "", location.pathname + location.search);
  }
  return sessionStorage.getItem("cchc-token");
}
const token = takeToken();
const authorized = (path) => fetch(path, { headers: token ? { Authorization: `Bearer ${token}` } : {} });
const getJSON = async (path) => { const r = await authorized(path); return { status: r.status, body: await r.json() }; };
function streamURL(path) {
  if (!token) return path;
  return `${path}${path.includes("?") ? "&" : "?"}access_token=${encodeURIComponent(token)}`;
}
function askForToken(wrong) {
  const form = document.createElement("form");
  form.id = "access-form";
  form.className = "access";
  form.innerHTML = `<p>${wrong ? `${t("token_wrong")} ` : ""}${t("token_needed")}</p>
    <label>${t("token_label")} <input id="token-input" type="password" autocomplete="off" required></label>
    <button type="submit">${t("token_submit")}</button>`;
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    sessionStorage.setItem("cchc-token", $("#token-input").value.trim());
    location.reload();
  });
  document.body.prepend(form);
}
function accessLabel(access) {
  if (access.admin) return t("access_admin");
  if (access.units.length) return `${t("access_unit")} ${access.units.join(", ")}`;
  return t("access_public");
}
const $ = (selector) => document.querySelector(selector);

function percent(value) {
  if (value === null || value === undefined) return "—";
  const text = (value * 100).toFixed(1);
  return lang === "vi" ? `${text.replace(".", ",")} %` : `${text}%`;
}
function number(value) { return new Intl.NumberFormat(lang === "vi" ? "vi-VN" : "en-US").format(value); }
function localTime(text) { return text ? text.slice(0, 19).replace("T", " ") : ""; }

// Over the line: a Conclusion 91 rule is breached. At risk: within a point of the late line
// (5 %), or within five points of the satisfaction line (80 %), as configured on the server.
// The screen's words; the API's breaches decide "over".
function state(row) {
  if (row.late_rate === null && row.satisfaction_index === null) return "none";
  if (row.breaches.length > 0) return "over";
  const lines = info.thresholds;
  const risky = (row.late_rate ?? 0) >= lines.unit_late - 0.01 ||
    (row.satisfaction_index !== null && row.satisfaction_index <= lines.unit_satisfaction + 0.05);
  return risky ? "risk" : "ok";
}
const RANK = { over: 3, risk: 2, ok: 1, none: 0 };

function badge(kind) {
  const label = t(`state_${kind}`);
  return `<span class="badge ${kind}"><span aria-hidden="true">${ICON[kind]}</span> ${label}</span>`;
}
function alertBadge(alertState) {
  const kind = alertState === "firing" ? "over" : "ok";
  return `<span class="badge ${kind}"><span aria-hidden="true">${ICON[kind]}</span> ${t(alertState)}</span>`;
}
function escape(text) {
  return String(text).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}

// The figure cards above a page's tables, from [label, value] pairs.
function totalsHTML(cards) {
  return cards.map(([k, v]) => `<div><dt>${k}</dt><dd>${v}</dd></div>`).join("");
}

function applyLanguage() {
  document.documentElement.lang = lang;
  document.querySelectorAll("[data-i18n]").forEach((node) => { node.textContent = t(node.dataset.i18n); });
  $("#lang").textContent = t("lang");
  document.title = t("title");
  setLive(source && source.readyState === EventSource.OPEN);
}
function setLive(connected) {
  const node = $("#live");
  if (!node) return;
  node.textContent = connected ? t("live") : t("lost");
  node.className = connected ? "live on" : "live off";
}

function periodParam() {
  const choice = params.get("period") ?? ($("#period") ? $("#period").value : "");
  if (choice === "month") { const now = new Date(); return `${now.getFullYear()}-${String(now.getMonth() + 1).padStart(2, "0")}`; }
  return choice;
}

// -- overview --------------------------------------------------------------------------

function renderOverview() {
  if (!latest) return;
  $("#as-of").textContent = localTime(latest.as_of);
  $("#period-name").textContent = latest.period;
  const rows = latest.units.map((row) => ({ ...row, state: state(row) }));
  const sum = (key) => rows.reduce((total, row) => total + (row[key] || 0), 0);
  const late = sum("resolved_late") + sum("open_overdue"), dossiers = sum("resolved") + sum("open_overdue");
  const totals = [
    [t("col_late"), percent(dossiers ? late / dossiers : null)],
    [t("col_late_resolved"), percent(sum("resolved") ? sum("resolved_late") / sum("resolved") : null)],
    [t("col_overdue"), number(sum("open_overdue"))],
    [t("col_resolved"), number(sum("resolved"))],
    [t("col_satisfaction"), percent(sum("surveys") ? sum("satisfied") / sum("surveys") : null)],
    [t("units_over"), document.body.classList.contains("catching-up") ? "…"
      : `${rows.filter((row) => row.state === "over").length} / ${rows.length}`],
    [t("col_paused"), number(sum("paused"))],
    [t("col_rescheduled"), number(sum("rescheduled"))],
    [t("col_apologised"), number(sum("apologised"))],
  ];
  $("#totals").innerHTML = totalsHTML(totals);
  const type = $("#filter-type").value, wanted = $("#filter-state").value;
  const shown = rows
    .filter((row) => !type || row.level === type)
    .filter((row) => !wanted || row.state === wanted)
    .sort(compare);
  $("#count").textContent = t("shown").replace("{n}", shown.length).replace("{total}", rows.length);
  $("#units tbody").innerHTML = shown.map((row) => `
    <tr data-unit="${escape(row.unit_id)}" class="${row.state}">
      <th scope="row"><a href="/unit?unit_id=${encodeURIComponent(row.unit_id)}">${escape(row.name)}</a></th>
      <td>${badge(row.state)}</td>
      <td class="num late">${percent(row.late_rate)}</td>
      <td class="num">${number(row.open_overdue)}</td>
      <td class="num">${number(row.resolved)}</td>
      <td class="num satisfaction">${percent(row.satisfaction_index)}</td>
      <td class="num late-resolved">${percent(row.late_rate_resolved)}</td>
      <td class="num paused">${number(row.paused ?? 0)}</td>
    </tr>`).join("");
  document.querySelectorAll("th button[data-sort]").forEach((button) => {
    const active = button.dataset.sort === sortKey;
    button.parentElement.setAttribute("aria-sort", active ? (sortDescending ? "descending" : "ascending") : "none");
  });
}
function compare(a, b) {
  const key = sortKey === "state" ? (row) => [RANK[row.state], row.late_rate ?? -1]
    : sortKey === "name" ? (row) => [row.name] : (row) => [row[sortKey] ?? -1];
  const [x, y] = [key(a), key(b)];
  for (let i = 0; i < x.length; i++) {
    if (x[i] < y[i]) return sortDescending ? 1 : -1;
    if (x[i] > y[i]) return sortDescending ? -1 : 1;
  }
  return a.unit_id < b.unit_id ? -1 : 1;
}

function connect(onUnits) {
  if (source) source.close();
  const period = periodParam();
  source = new EventSource(streamURL(`/api/units/stream${period ? `?period=${encodeURIComponent(period)}` : ""}`));
  source.addEventListener("units", (event) => { setLive(true); onUnits(JSON.parse(event.data)); });
  source.addEventListener("open", () => setLive(true));
  source.addEventListener("error", () => setLive(false));  // EventSource reconnects by itself
}


function startOverview() {
  if (params.get("kiosk")) document.body.classList.add("kiosk");
  document.querySelectorAll("th button[data-sort]").forEach((button) => button.addEventListener("click", () => {
    sortDescending = button.dataset.sort === sortKey ? !sortDescending : button.dataset.sort !== "name";
    sortKey = button.dataset.sort;
    renderOverview();
  }));
  $("#filter-type").addEventListener("change", renderOverview);
  $("#filter-state").addEventListener("change", renderOverview);
  $("#period").addEventListener("change", () => { params.delete("period"); connect(onUnits); });
  let qualityLoaded = 0;
  const onUnits = (snapshot) => {
    latest = snapshot;
    renderOverview();
    if (info.access.admin && Date.now() - qualityLoaded > QUALITY_SECONDS * 1000) {
      qualityLoaded = Date.now();
      loadQuality();
    }
  };
  connect(onUnits);
}

// Contract §9.7, for an administrator: what each unit's one-stop system sends wrong.
const QUALITY_SECONDS = 10;
async function loadQuality() {
  const quality = (await getJSON("/api/sync/quality")).body;
  if (!quality.units) return;
  const names = Object.fromEntries((latest?.units ?? []).map((u) => [u.unit_id, u.name]));
  const marks = ["status_unknown", "end_date_missing", "no_deadline", "unit_unmatched", "flags_unreadable"];
  $("#quality-units tbody").innerHTML = quality.units.map((row) => `<tr>
    <th scope="row">${escape(names[row.unit_id] ?? row.unit_id)}</th>
    ${marks.map((m) => `<td class="num">${number(row.dossiers_marked[m] ?? 0)}</td>`).join("")}
    <td class="num">${number(row.invalid_records)}</td></tr>`).join("");
  $("#quality-waiting").textContent = t("waiting").replace("{n}", number(quality.progress_waiting));
  const other = quality.unmatched_other_records;
  $("#unmatched").innerHTML = (quality.unmatched.length ? quality.unmatched.map((u) =>
    `<li>${escape(u.name)} — ${number(u.records)} ${t("records")}</li>`).join("") : `<li>${t("none")}</li>`)
    + (other ? `<li>${t("other_records").replace("{n}", number(other))}</li>` : "");
  $("#quality").hidden = false;
}

// -- unit page -------------------------------------------------------------------------

async function loadUnit() {
  const unitId = params.get("unit_id");
  const period = periodParam();
  const query = period ? `?period=${encodeURIComponent(period)}` : "";
  const id = encodeURIComponent(unitId);
  const seesUnit = info.access.admin || info.access.units.includes(unitId);
  const [unit, due, alerts, daily, late, targets] = (await Promise.all([
    getJSON(`/api/units/${id}${query}`),
    seesUnit ? getJSON(`/api/units/${id}/due-soon?days=3`) : { body: { overdue: [], dossiers: [], paused: [] } },
    getJSON(`/api/alerts?state=all&unit_id=${id}`),
    getJSON(`/api/units/${id}/daily?days=30`),
    seesUnit ? getJSON(`/api/units/${id}/late${query}`) : { body: { total: 0, dossiers: [] } },
    getJSON(`/api/units/${id}/targets?weeks=4&months=3`),
  ])).map((answer) => answer.body);
  if (unit.error) { $("#unit-name").textContent = unit.error; return; }
  $("#unit-name").textContent = unit.name;
  $("#report-link").href = `/report?unit_id=${id}`;
  $("#as-of").textContent = localTime(daily.as_of);
  $("#period-name").textContent = period || daily.as_of.slice(0, 4);  // default: the clock's year
  document.querySelectorAll(".unit-only").forEach((node) => { node.hidden = !seesUnit; });
  $("#officials-hidden").hidden = seesUnit;
  $("#totals").innerHTML = totalsHTML([
    [t("col_state"), badge(state(unit))], [t("col_late"), percent(unit.late_rate)],
    [t("col_late_resolved"), percent(unit.late_rate_resolved)],
    [t("col_overdue"), opens("#overdue-title", unit.open_overdue, seesUnit)],
    [t("col_ended_late"), opens("#late-title", unit.resolved_late, seesUnit)],
    [t("col_resolved"), number(unit.resolved)],
    [t("col_satisfaction"), percent(unit.satisfaction_index)],
    [t("col_paused"), number(unit.paused ?? 0)], [t("col_rescheduled"), number(unit.rescheduled ?? 0)],
    [t("col_apologised"), number(unit.apologised ?? 0)],
  ]);
  $("#officials tbody").innerHTML = (unit.officials ?? []).map((row) => {
    const kind = row.breaches.length ? "over"
      : (row.late_rate ?? 0) >= info.thresholds.official_late * 0.8 ? "risk" : "ok";
    return `<tr><th scope="row">${escape(row.official_id)}</th><td>${badge(kind)}</td>
      <td class="num">${percent(row.late_rate)}</td><td class="num">${number(row.open_overdue)}</td>
      <td class="num">${number(row.resolved)}</td><td class="num">${percent(row.late_rate_resolved)}</td>
      <td class="num">${number(row.paused ?? 0)}</td><td class="num">${number(row.rescheduled ?? 0)}</td>
      <td class="num">${number(row.apologised ?? 0)}</td></tr>`;
  }).join("");
  const dossierList = (dossiers, word = "due", at = "due_at") => dossiers.length ? dossiers.map((d) =>
    `<li>${dossierButton(d.dossier_id)} — ${t(word)} ${localTime(d[at])}${d.official_id ? ` · ${escape(d.official_id)}` : ""}</li>`).join("")
    : `<li>${t("none")}</li>`;
  $("#overdue").innerHTML = dossierList(due.overdue);
  $("#due-soon").innerHTML = dossierList(due.dossiers);
  $("#paused").innerHTML = dossierList(due.paused ?? [], "paused_since", "paused_at");
  const hidden = late.total - late.dossiers.length;
  $("#late").innerHTML = dossierList(late.dossiers, "ended", "ended_at")
    + (hidden > 0 ? `<li>${t("more").replace("{n}", number(hidden))}</li>` : "");
  $("#alerts").innerHTML = alerts.alerts.length ? alerts.alerts.map((a) =>
    `<li>${alertBadge(a.state)}
      ${escape(info.rules[lang][a.rule] ?? a.rule)}${a.official_id ? ` (${escape(a.official_id)})` : ""} · ${escape(a.period)} ·
      ${a.value !== null ? percent(a.value) : escape(a.detail || "")} · ${t("since")} ${localTime(a.started_at)}</li>`).join("")
    : `<li>${t("none")}</li>`;
  drawChart(daily.days);
  // A share under its target (over its line, for late receipts) is marked; an alert needs
  // enough dossiers besides.
  const share = (cell, below) => {
    const off = cell.share !== null && (below ? cell.share < cell.line : cell.share >= cell.line);
    return `<td class="num${off ? " off-target" : ""}">${percent(cell.share)} <small>(${number(cell.numerator)}/${number(cell.denominator)})</small></td>`;
  };
  $("#targets tbody").innerHTML = [...targets.weeks, ...targets.months].map((row) => `<tr>
    <th scope="row">${escape(row.period)}${row.complete ? "" : " *"}</th>
    ${share(row.target_on_time, true)}${share(row.target_online, true)}${share(row.target_online_payment, true)}${share(row.late_receipt, false)}</tr>`).join("");
}

// A count that opens the list of its dossiers (for a token that may see them).
function opens(target, count, seesUnit) {
  return seesUnit ? `<a href="${target}">${number(count)}</a>` : number(count);
}

function dossierButton(id) {
  return `<button type="button" class="dossier" data-dossier="${escape(id)}">${escape(id)}</button>`;
}

// Contract §8's explanation of one dossier, in a dialog.
async function explainDossier(id) {
  const answer = (await getJSON(`/api/dossiers/${encodeURIComponent(id)}`)).body;
  const unitId = params.get("unit_id");
  const rows = (answer.dossiers ?? []).filter((d) => !unitId || d.unit_id === unitId);
  const when = (text) => text ? localTime(text) : "—";
  const body = rows.length ? rows.map((d) => `<dl class="explain">${[
    [t("x_unit"), escape(d.unit_id)],
    [t("x_source"), t(`source_${d.source}`)],
    [t("x_state"), t(`s_${d.state}`)],
    [t("x_late"), d.late === null ? t("no_deadline") : t(d.late ? "yes" : "no")],
    [t("x_received"), when(d.received_at)], [t("x_due"), when(d.due_at)],
    [t("x_effective_due"), when(d.effective_due_at)], [t("x_ended"), when(d.ended_at)],
    [t("x_official"), escape(d.official_id ?? "—")], [t("x_procedure"), escape(d.procedure_code ?? "—")],
    [t("x_field"), escape(d.field_code ?? "—")], [t("x_channel"), escape(d.channel ?? "—")],
    [t("x_pauses"), d.pauses.length ? d.pauses.map((p) =>
      `${t(`r_${p.reason}`)}: ${when(p.paused_at)} → ${p.resumed_at ? when(p.resumed_at) : t("still")}`).join("<br>") : t("none")],
    [t("x_requests"), number(d.supplement_requests)],
    [t("x_quality"), d.quality.length ? d.quality.map((q) => t(`q_${q}`)).join(", ") : "—"],
  ].map(([k, v]) => `<dt>${k}</dt><dd>${v}</dd>`).join("")}</dl>`).join("") : `<p>${escape(answer.error ?? t("not_found"))}</p>`;
  const dialog = $("#explain");
  dialog.innerHTML = `<h2 id="explain-title">${t("explain")}: ${escape(id)}</h2>${body}
    <form method="dialog"><button type="submit">${t("close")}</button></form>`;
  dialog.showModal();
}

document.addEventListener("click", (event) => {
  const button = event.target.closest?.("button.dossier");
  if (button) explainDossier(button.dataset.dossier);
});

function drawChart(days) {
  const width = 720, height = 180, pad = 24, bar = (width - pad) / days.length;
  const top = Math.max(1, ...days.map((d) => d.resolved));
  const bars = days.map((d, i) => {
    const x = pad + i * bar, h = (height - pad) * d.resolved / top, hl = (height - pad) * d.resolved_late / top;
    return `<g><title>${d.date}: ${d.resolved} (${d.resolved_late} ${t("chart_late")})</title>
      <rect x="${x}" y="${height - pad - h}" width="${bar - 2}" height="${h - hl}" class="on-time"/>
      <rect x="${x}" y="${height - pad - hl}" width="${bar - 2}" height="${hl}" class="late"/></g>`;
  }).join("");
  $("#chart").innerHTML = `<svg viewBox="0 0 ${width} ${height}" role="img" aria-label="${t("chart")}">${bars}
    <text x="${pad}" y="${height - 6}">${days[0].date}</text><text x="${width - 80}" y="${height - 6}">${days[days.length - 1].date}</text></svg>
    <figcaption><span class="key on-time"></span> ${t("chart_on_time")} <span class="key late"></span> ${t("chart_late")}</figcaption>`;
}

function startUnit() {
  let pending = false;
  connect(() => {  // a change anywhere: refresh this unit (at most one load at a time)
    if (pending) return;
    pending = true;
    loadUnit().finally(() => { pending = false; });
  });
}

// Each page: how it starts, and how it draws itself again in the other language.
const PAGES = {
  overview: { start: () => startOverview(), render: () => renderOverview() },
  unit: { start: () => startUnit(), render: () => loadUnit() },
};

// While a worker still reads history (a start, a replay, a recovery), its figures are the
// past's: every screen says so, with its progress, and shows no state as if it were now.
function showCatchUp(state) {
  const behind = Boolean(state) && state.phase !== "live";
  document.body.classList.toggle("catching-up", behind);
  let node = $("#catch-up");
  if (!behind) { if (node) node.remove(); return; }
  if (!node) {
    node = document.createElement("p");
    node.id = "catch-up";
    node.className = "catch-up";
    node.setAttribute("role", "status");
    document.body.prepend(node);
  }
  node.innerHTML = state.phase === "recovering" || state.progress === null ? t("catch_recovering")
    : `${t("catch_up").replace("{p}", percent(state.progress))} <progress max="1" value="${state.progress}"></progress>`;
}
async function watchCatchUp() {
  const answer = await getJSON("/api/info").catch(() => null);
  if (answer && answer.status === 200) info = answer.body;
  showCatchUp(info.catch_up);
  setTimeout(watchCatchUp, (info.catch_up?.phase === "live" ? 15 : 2) * 1000);
}

document.addEventListener("DOMContentLoaded", async () => {
  const answer = await getJSON("/api/info");
  if (answer.status === 401) { applyLanguage(); askForToken(Boolean(token)); return; }
  info = answer.body;
  const page = PAGES[document.body.dataset.page];
  $("#access").textContent = `${t("access")}: ${accessLabel(info.access)}`;
  $("#lang").addEventListener("click", () => {
    lang = lang === "vi" ? "en" : "vi";
    localStorage.setItem("cchc-lang", lang);
    applyLanguage();
    page.render();
  });
  applyLanguage();
  $("#demo").hidden = !info.demo;
  showCatchUp(info.catch_up);
  page.start();
  setTimeout(watchCatchUp, 2000);
});
