// The reports: queues, agents and the IVR for any range of the site's days,
// by day or by 15/30/60-minute intervals, each table with its CSV and each
// KPI with its formula. Charts drawn by Chart.js (vendored, MIT).
"use strict";

const { el, api, percent, duration } = hotline;
const charts = {};
let isAdmin = false;
let lastQuery = null;

function showError(err) {
  const box = document.getElementById("action-error");
  if (!err) { box.hidden = true; return; }
  box.textContent = hotline.errorText(err);
  box.hidden = false;
}

function siteDay(offsetDays) {  // a date in the site's zone (Asia/Shanghai by default)
  const d = new Date(Date.now() + offsetDays * 86400000);
  return d.toLocaleDateString("sv-SE", { timeZone: "Asia/Shanghai" });
}

function params(extra) {
  const f = document.getElementById("range");
  const p = new URLSearchParams({ from: f.from.value, to: f.to.value, ...extra });
  return p;
}

function chart(id, config) {
  if (charts[id]) charts[id].destroy();
  charts[id] = new Chart(document.getElementById(id), config);
}

const COLUMNS = {
  queues: [["queue", "队列 Queue"], ["offered", "进线 Offered"], ["answered", "接通 Answered"],
    ["abandoned", "放弃 Abandoned"], ["short_abandons", "短放弃 Short"],
    ["service_level", "服务水平 SL", percent], ["abandon_rate", "放弃率 Abandon", percent],
    ["asa_seconds", "ASA", (v) => v == null ? "–" : `${v.toFixed(1)}s`],
    ["aht_seconds", "AHT", (v) => v == null ? "–" : duration(v)],
    ["dispositions", "结果 Dispositions", (d) => Object.entries(d || {})
      .map(([k, n]) => `${hotline.label("disposition", k)} ${n}`).join(" · ") || "–"]],
  agents: [["date", "日期 Date"], ["agent", "坐席 Agent"], ["answered", "接听 Answered"],
    ["aht_seconds", "AHT", (v) => v == null ? "–" : duration(v)],
    ["occupancy", "占用率 Occupancy", percent]],
};

function table(id, columns, rows, formulas) {
  const t = document.getElementById(id);
  t.querySelector("thead").replaceChildren(el("tr", {}, ...columns.map(([key, title]) =>
    el("th", { class: ["queue", "agent", "date", "dispositions", "outlet"].includes(key) ? null : "num",
      title: formulas && formulas[key] ? formulas[key] : null }, title,
      formulas && formulas[key] ? el("span", { class: "formula", text: formulas[key].split(" · ")[0] }) : null))));
  t.querySelector("tbody").replaceChildren(...rows.map((r) => el("tr", {},
    ...columns.map(([key, , fmt]) => el("td", { class: typeof r[key] === "number" ? "num" : null,
      text: fmt ? fmt(r[key]) : (r[key] == null ? "–" : String(r[key])) })))));
}

function label(iso, by) {
  const d = new Date(iso);
  const opts = by === "day" ? { month: "2-digit", day: "2-digit" }
    : { month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit" };
  return d.toLocaleString("zh-CN", { timeZone: "Asia/Shanghai", ...opts });
}

async function load() {
  showError(null);
  const f = document.getElementById("range");
  const queueParams = params({ by: f.by.value, ...(f.queue.value ? { queue: f.queue.value } : {}) });
  const callParams = params({ limit: "50", ...(f.queue.value ? { queue: f.queue.value } : {}) });
  lastQuery = { queues: queueParams, agents: params({}), ivr: params({}), calls: callParams };
  try {
    const [queues, agents, ivr, calls] = await Promise.all([
      api("GET", `/api/v1/reports/queues?${queueParams}`),
      api("GET", `/api/v1/reports/agents?${params({})}`),
      api("GET", `/api/v1/reports/ivr?${params({})}`),
      api("GET", `/api/v1/calls?${callParams}`)]);
    renderCalls(calls.calls);
    if (isAdmin) renderAudit(await api("GET", `/api/v1/audit?${params({})}`));
    renderSatisfaction(await api("GET", `/api/v1/reports/satisfaction?${params({})}`));
    document.getElementById("zone").textContent = `时区 zone: ${queues.zone}`;
    renderQueues(queues, f.by.value);
    renderAgents(agents);
    renderIvr(ivr);
    renderFormulas(queues.formulas);
  } catch (err) { showError(err); }
}

// follow-up surveys per outlet (mean score, share solved) and the ratings
// after calls per agent
function renderSatisfaction(report) {
  const score = (v) => v == null ? "–" : v.toFixed(2);
  const share = (v) => v == null ? "–" : `${v.toFixed(1)}%`;
  table("outlets-table", [["outlet", "网点 Outlet"], ["surveys", "回访 Follow-ups"],
    ["satisfaction", "满意度 Score (1-5)", score], ["solved_rate", "解决率 Solved", share]],
  report.outlets.map((o) => ({ ...o, outlet: o.outlet || "未派网点 no outlet" })));
  table("ratings-table", [["agent", "坐席 Agent"], ["surveys", "评价 Ratings"],
    ["satisfaction", "满意度 Score (1-5)", score]], report.agents);
  chart("satisfaction-chart", {
    type: "bar",
    data: { labels: report.outlets.map((o) => o.outlet || "—"), datasets: [
      { label: "满意度 score", data: report.outlets.map((o) => o.satisfaction), backgroundColor: "#1a7f37" }] },
    options: { animation: false, scales: { y: { min: 0, max: 5 } } },
  });
}

function renderQueues(report, by) {
  // the chart: offered per bucket (all queues shown), answered and abandoned stacked, SL line
  const buckets = report.buckets;  // every day or interval of the range, empty ones too
  const sum = (key) => buckets.map((b) => report.rows.filter((r) => r.from === b)
    .reduce((n, r) => n + (r[key] || 0), 0));
  const answered = sum("answered"), abandoned = sum("abandoned"), within = sum("answered_within_threshold");
  const offered = sum("offered"), short = sum("short_abandons");
  const sl = buckets.map((_, i) => offered[i] - short[i] ? 100 * within[i] / (offered[i] - short[i]) : null);
  chart("queues-chart", {
    type: "bar",
    data: { labels: buckets.map((b) => label(b, by)), datasets: [
      { label: "接通 answered", data: answered, backgroundColor: "#1f6feb", stack: "calls" },
      { label: "放弃 abandoned", data: abandoned, backgroundColor: "#cf222e", stack: "calls" },
      { label: "服务水平 SL %", data: sl, type: "line", yAxisID: "sl", borderColor: "#1a7f37",
        backgroundColor: "#1a7f37", spanGaps: true },
    ] },
    options: { maintainAspectRatio: false, animation: false, scales: {
      y: { stacked: true, title: { display: true, text: "来电 calls" } },
      x: { stacked: true },
      sl: { position: "right", min: 0, max: 100, title: { display: true, text: "SL %" },
        grid: { drawOnChartArea: false } } } },
  });
  table("queues-table", COLUMNS.queues, report.totals, report.formulas);
}

function renderAgents(report) {
  const byAgent = {};
  for (const r of report.rows) {
    const a = byAgent[r.agent] || (byAgent[r.agent] = { agent: r.agent, answered: 0 });
    a.answered += r.answered;
  }
  const list = Object.values(byAgent).sort((a, b) => b.answered - a.answered);
  chart("agents-chart", {
    type: "bar",
    data: { labels: list.map((a) => a.agent), datasets: [
      { label: "接听 answered", data: list.map((a) => a.answered), backgroundColor: "#0e7490" }] },
    options: { maintainAspectRatio: false, animation: false, indexAxis: "y" },
  });
  table("agents-table", COLUMNS.agents, report.rows, report.formulas);
}

function renderIvr(report) {
  const menus = Object.entries(report.nodes);
  chart("ivr-chart", {
    type: "bar",
    data: { labels: menus.map(([m]) => m), datasets: [
      { label: "进入 callers", data: menus.map(([, n]) => n.callers), backgroundColor: "#8250df" },
      { label: "挂机 hung up", data: menus.map(([, n]) => n.hangups), backgroundColor: "#cf222e" }] },
    options: { maintainAspectRatio: false, animation: false },
  });
  const t = document.getElementById("ivr-table");
  t.querySelector("thead").replaceChildren(el("tr", {}, el("th", { text: "菜单 Menu" }),
    el("th", { class: "num", text: "进入 Callers" }), el("th", { class: "num", text: "挂机 Hung up" }),
    el("th", { text: "按键 Keys (t = 超时 timeout)" })));
  t.querySelector("tbody").replaceChildren(...menus.map(([menu, n]) => el("tr", {},
    el("td", { text: menu }), el("td", { class: "num", text: String(n.callers) }),
    el("td", { class: "num", text: String(n.hangups) }),
    el("td", { text: Object.entries(n.keys).map(([k, c]) => `${k}: ${c}`).join(" · ") }))));
}


function endText(end) {
  if (end.backfilled) return "补录 from Asterisk's ledger";
  if (end.completed_from) return `补全 completed (${end.completed_from})`;
  return end.observed ? "实时 observed" : "估计 estimated (AMI drop)";
}

function renderCalls(calls) {
  document.querySelector("#calls-table tbody").replaceChildren(...calls.map((c) => el("tr",
    { "data-call": c.linkedid },
    el("td", { text: label(c.started_at, "min") }),
    el("td", { text: `${c.caller_name || ""} ${c.caller_number}`.trim() }),
    el("td", { text: c.ivr_path || "–" }),
    el("td", { text: c.queues.join(" → ") || "–" }),
    el("td", { text: c.agents.map((a) => `${a.agent} ${duration(a.seconds)}`).join(", ") || "–" }),
    el("td", { class: "num", text: c.wait_seconds == null ? "–" : `${c.wait_seconds.toFixed(0)}s` }),
    el("td", { text: hotline.label("outcome", c.outcome) }),
    el("td", { class: "num", text: c.holds ? `${c.holds} · ${duration(c.hold_seconds || 0)}` : "0" }),
    el("td", { text: endText(c.end) }),
    el("td", {}, c.recording ? el("audio", { controls: true, preload: "metadata",
      src: c.recording.url, title: `${c.recording.seconds}s` }) : "–"))));
}

function renderAudit(report) {
  document.querySelector("#audit-table tbody").replaceChildren(...report.entries.map((e) =>
    el("tr", {}, el("td", { text: label(e.at, "min") }), el("td", { text: e.actor }),
      el("td", { text: e.action }), el("td", { text: e.target }),
      el("td", { text: JSON.stringify(e.details.request || e.details) }))));
}

function renderFormulas(formulas) {
  document.getElementById("formula-list").replaceChildren(...Object.entries(formulas)
    .flatMap(([key, text]) => [el("dt", { text: key }), el("dd", { text })]));
}

document.querySelectorAll("a.csv").forEach((a) => a.addEventListener("click", (ev) => {
  if (!lastQuery) { ev.preventDefault(); return; }
  const q = new URLSearchParams(lastQuery[a.dataset.report]);
  q.set("format", "csv");
  a.href = a.dataset.report === "calls" ? `/api/v1/calls?${q}`
    : `/api/v1/reports/${a.dataset.report}?${q}`;
}));

document.getElementById("range").addEventListener("submit", (ev) => { ev.preventDefault(); load(); });
document.getElementById("sign-out").addEventListener("click", hotline.signOut);
const session = api("GET", "/api/v1/session").then((d) => {
  document.getElementById("who").textContent = `${d.user.name} (${d.user.login})`;
  isAdmin = d.user.role === "admin";
  document.getElementById("audit-report").hidden = !isAdmin;
}).catch(() => {});
api("GET", "/api/v1/queues").then((d) => {
  const select = document.querySelector("#range select[name=queue]");
  for (const q of d.queues) select.append(el("option", { value: q.queue, text: q.title }));
}).catch(() => {});
const form = document.getElementById("range");
form.from.value = siteDay(-6);
form.to.value = siteDay(0);
Promise.all([session, hotline.ready]).then(load);
