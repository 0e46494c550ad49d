// The wall screen (/wall): every unit at once as a tile, grouped by level and coloured by
// its worst rule; the province's figures and the national index estimate above; the latest
// alert changes below. Live over the units stream and the alert stream; groups rotate if
// they do not fit. Uses app.js (loaded first): texts, token, helpers, the catch-up banner.
"use strict";

Object.assign(TEXT.vi, {
  wall_title: "Giám sát cải cách hành chính tỉnh Khánh Hòa",
  ticker: "Cảnh báo mới nhất", w_late: "Tỷ lệ trễ hạn (năm)", w_satisfaction: "Chỉ số hài lòng (KL 91)",
  w_overdue: "Hồ sơ quá hạn đang mở", w_over: "Đơn vị vượt ngưỡng", w_firing: "Cảnh báo đang bật",
  w_estimate: "Bộ chỉ số 766 — ước tính tháng {m}", w_of: "/ {n} điểm tính được",
  w_missing: "Chưa tính {n}/100 điểm không có trong hồ sơ", w_ok: "Đạt các ngưỡng",
  w_no_data: "Chưa có hồ sơ", w_rotation: "Nhóm {n}/{total}", w_none: "Chưa có cảnh báo",
  s_firing: "bật", s_resolved: "đã hết",
  level_province: "Cấp tỉnh", level_commune: "Cấp xã", level_unlisted: "Đơn vị ngoài danh mục",
  band_xuat_sac: "Xuất sắc", band_tot: "Tốt", band_kha: "Khá", band_trung_binh: "Trung bình", band_yeu: "Yếu",
});
Object.assign(TEXT.en, {
  wall_title: "Administrative reform monitor, Khánh Hòa province",
  ticker: "Latest alerts", w_late: "Late rate (year)", w_satisfaction: "Satisfaction (C91)",
  w_overdue: "Open overdue dossiers", w_over: "Units over a line", w_firing: "Alerts firing",
  w_estimate: "Decision 766 index — estimate, {m}", w_of: "/ {n} points at stake",
  w_missing: "{n} of the 100 points are not in dossiers: left out", w_ok: "Within every line",
  w_no_data: "No dossiers yet", w_rotation: "Group {n}/{total}", w_none: "No alerts yet",
  s_firing: "firing", s_resolved: "resolved",
  level_province: "Province level", level_commune: "Commune level", level_unlisted: "Units outside the registry",
  band_xuat_sac: "Excellent", band_tot: "Good", band_kha: "Fair", band_trung_binh: "Average", band_yeu: "Weak",
});

// The worst rule first: Conclusion 91's lines colour a tile red, warnings amber.
const RED_RULES = ["leader_accountability", "unit_late_rate", "unit_satisfaction", "rank_conflict"];
const AMBER_RULES = ["unit_late_rate_risk", "late_receipt", "target_on_time", "target_online",
  "target_online_payment", "waiting_long", "official_late_rate"];
const SEVERITY = [...RED_RULES, ...AMBER_RULES];
const ROTATE_SECONDS = 15, ESTIMATE_SECONDS = 60, TICKER_SIZE = 6;

const firing = new Map();  // alert_id → alert, for the tiles' colours
let changes = [], estimate = null, rotation = { pages: [], shown: 0 }, alertSource = null;

function worstRule(row) {
  const rules = new Set(row.breaches);
  for (const alert of firing.values()) if (alert.unit_id === row.unit_id) rules.add(alert.rule);
  return SEVERITY.find((rule) => rules.has(rule)) ?? null;
}
function tileState(row, rule) {
  if (rule && RED_RULES.includes(rule)) return "over";
  if (rule) return "risk";
  return row.late_rate === null && row.satisfaction_index === null ? "none" : "ok";
}
const ruleName = (rule) => info.rules[lang]?.[rule] ?? rule;
const month = () => info.as_of.slice(0, 7);

function renderWall() {
  if (!latest) return;
  $("#wall-clock").textContent = localTime(latest.as_of).slice(0, 16);
  const rows = latest.units;
  const sum = (key) => rows.reduce((total, row) => total + (row[key] || 0), 0);
  const late = sum("resolved_late") + sum("open_overdue"), dossiers = sum("resolved") + sum("open_overdue");
  const over = document.body.classList.contains("catching-up") ? "…"
    : rows.filter((row) => tileState(row, worstRule(row)) === "over").length;
  const unitAlerts = [...firing.values()].filter((alert) => alert.state === "firing").length;
  $("#province-figures").innerHTML = totalsHTML([
    [t("w_late"), percent(dossiers ? late / dossiers : null)],
    [t("w_satisfaction"), percent(sum("surveys") ? sum("satisfied") / sum("surveys") : null)],
    [t("w_overdue"), number(sum("open_overdue"))],
    [t("w_over"), `${over}/${rows.length}`],
    [t("w_firing"), number(unitAlerts)],
  ]);
  renderEstimate();
  const levels = [["province", t("level_province")], ["commune", t("level_commune")], ["unlisted", t("level_unlisted")]];
  $("#tiles").innerHTML = levels.map(([level, name]) => {
    const group = rows.filter((row) => (row.level ?? "unlisted") === level);
    if (!group.length) return "";
    group.sort((a, b) => a.name.localeCompare(b.name, "vi"));
    return `<section data-level="${level}"><h2>${escape(name)} (${group.length})</h2><ol>${group.map(tileHTML).join("")}</ol></section>`;
  }).join("");
  paginate();
  renderTicker();
}
function tileHTML(row) {
  const rule = worstRule(row);
  const kind = tileState(row, rule);
  const score = estimate?.units.get(row.unit_id);
  const why = rule ? ruleName(rule)
    : kind === "none" ? t("w_no_data")
    : score?.percent != null ? `766: ${percent(score.percent / 100)}` : t("w_ok");
  return `<li class="tile ${kind}" data-unit="${escape(row.unit_id)}" title="${escape(row.name)}">
    <span class="name">${escape(row.name)}</span>
    <span class="late">${percent(row.late_rate)}</span>
    <span class="why">${escape(why)}</span></li>`;
}
function renderEstimate() {
  if (!estimate) return;
  const total = estimate.body.total;
  const missing = estimate.body.missing;
  const lacking = missing.reduce((n, group) => n + group.points, 0);
  const names = missing.map((group) => lang === "vi" ? group.vi : group.en).join(", ");
  const monthText = lang === "vi" ? `${month().slice(5)}/${month().slice(0, 4)}` : month();
  $("#estimate").innerHTML = `<h2>${escape(t("w_estimate").replace("{m}", monthText))}</h2>
    <div class="points">${number(total.points)} <small>${t("w_of").replace("{n}", number(total.of))}${total.band ? ` · ${t(`band_${total.band}`)}` : ""}</small></div>
    <p title="${escape(names)}">${escape(t("w_missing").replace("{n}", number(lacking)))}</p>`;
}
function renderTicker() {
  const names = Object.fromEntries((latest?.units ?? []).map((row) => [row.unit_id, row.name]));
  $("#ticker").innerHTML = changes.length ? changes.slice(0, TICKER_SIZE).map((alert) => `
    <li class="${alert.state}">${localTime(alert.evaluated_at).slice(11, 16)} ${escape(names[alert.unit_id] ?? alert.unit_id)}:
      ${escape(ruleName(alert.rule))} — ${t(`s_${alert.state}`)}${alert.value === null ? "" : ` (${percent(alert.value)})`}</li>`).join("")
    : `<li>${t("w_none")}</li>`;
}

// When the groups do not fit the screen, they are shown in turn: a group at a time, and a
// group taller than the screen a screenful of its tiles at a time.
function paginate() {
  const area = $("#tiles");
  const sections = [...area.querySelectorAll("section")];
  for (const node of area.querySelectorAll("section, li")) node.hidden = false;
  if (area.scrollHeight <= area.clientHeight + 1) {
    rotation = { pages: [], shown: 0 };
    $("#rotation").textContent = "";
    return;
  }
  const pages = [];
  sections.forEach((section, index) => {
    const tiles = [...section.querySelectorAll("li")];
    const columns = getComputedStyle(section.querySelector("ol")).gridTemplateColumns.split(" ").length;
    const heading = section.querySelector("h2").offsetHeight + 6;
    const rows = Math.max(1, Math.floor((area.clientHeight - heading + 8) / (tiles[0].offsetHeight + 8)));
    for (let start = 0; start < tiles.length; start += rows * columns) pages.push([index, start, start + rows * columns]);
  });
  rotation.pages = pages;
  rotation.shown %= pages.length;
  const [shown, start, end] = pages[rotation.shown];
  sections.forEach((section, index) => {
    section.hidden = index !== shown;
    section.querySelectorAll("li").forEach((tile, n) => { tile.hidden = n < start || n >= end; });
  });
  $("#rotation").textContent = t("w_rotation").replace("{n}", rotation.shown + 1).replace("{total}", pages.length);
}

async function loadEstimate() {
  const answer = await getJSON(`/api/index766?period=${month()}`);
  if (answer.status !== 200) return;
  const units = new Map();
  for (const group of answer.body.groups) for (const row of group.rows) units.set(row.unit_id, row);
  estimate = { body: answer.body, units };
  renderWall();
}

function noteAlert(alert) {
  if (alert.state === "firing") firing.set(alert.alert_id, alert);
  else firing.delete(alert.alert_id);
}
async function followAlerts() {
  const [now, all] = await Promise.all([getJSON("/api/alerts"), getJSON("/api/alerts?state=all")]);
  (now.body.alerts ?? []).forEach(noteAlert);
  changes = (all.body.alerts ?? []).sort((a, b) => (a.evaluated_at < b.evaluated_at ? 1 : -1)).slice(0, TICKER_SIZE);
  if (alertSource) alertSource.close();
  alertSource = new EventSource(streamURL("/api/alerts/stream"));
  alertSource.addEventListener("alert", (event) => {
    const alert = JSON.parse(event.data);
    noteAlert(alert);
    changes = [alert, ...changes.filter((c) => c.alert_id !== alert.alert_id)].slice(0, TICKER_SIZE);
    renderWall();
  });
}

// A kiosk runs for weeks: a failed request is tried again later, never the end of the page.
const retried = (load) => () => load().catch(() => {});

function startWall() {
  setInterval(retried(loadEstimate), ESTIMATE_SECONDS * 1000);
  setInterval(() => {
    if (!alertSource || alertSource.readyState === EventSource.CLOSED) retried(followAlerts)();
  }, ESTIMATE_SECONDS * 1000);
  setInterval(() => {
    if (rotation.pages.length < 2) return;
    rotation.shown = (rotation.shown + 1) % rotation.pages.length;
    paginate();
  }, ROTATE_SECONDS * 1000);
  connect((snapshot) => { latest = snapshot; renderWall(); });
  retried(followAlerts)();
  retried(loadEstimate)();
}

PAGES.wall = { start: startWall, render: renderWall };
