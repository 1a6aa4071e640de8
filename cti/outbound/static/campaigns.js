// Survey campaigns: create one with its questions, import its list (CSV,
// all or nothing), run or pause it, and read its results as charts (per
// question, how often each answer was given) or as CSV.
"use strict";

const { el, api, label } = hotline;
let chosen = null;
const charts = [];

function showError(err) {
  const box = document.getElementById("action-error");
  if (!err) { box.hidden = true; return; }
  box.textContent = hotline.errorText(err);
  box.hidden = false;
}

const STATUS = { draft: "草稿 draft", running: "进行中 running", paused: "暂停 paused", done: "结束 done" };

async function setStatus(id, status) {
  showError(null);
  try { await api("POST", `/api/v1/campaigns/${id}/status`, { status }); } catch (err) { showError(err); }
  load();
}

function row(c) {
  const buttons = [];
  if (c.status !== "running" && c.status !== "done") {
    buttons.push(el("button", { type: "button", text: "开始 Run", "data-action": "run", onclick: () => setStatus(c.id, "running") }));
  }
  if (c.status === "running") {
    buttons.push(el("button", { type: "button", text: "暂停 Pause", onclick: () => setStatus(c.id, "paused") }));
  }
  if (c.status !== "done") {
    buttons.push(el("button", { type: "button", text: "结束 End", onclick: () => setStatus(c.id, "done") }));
  }
  buttons.push(el("button", { type: "button", text: "结果 Results", "data-action": "results", onclick: () => show(c.id) }));
  return el("tr", { "data-campaign": c.id, class: chosen === c.id ? "chosen" : null },
    el("td", { text: c.name }), el("td", { text: STATUS[c.status] || c.status }),
    el("td", { class: "num", text: String(c.contacts.pending + c.contacts.preview) }),
    el("td", { class: "num", text: String(c.contacts.done) }),
    el("td", { class: "num", text: String(c.contacts.failed) }),
    el("td", { class: "num", text: String(c.contacts.skipped) }),
    el("td", { class: "actions" }, ...buttons));
}

async function load() {
  try {
    const d = await api("GET", "/api/v1/campaigns");
    document.querySelector("#campaigns tbody").replaceChildren(...d.campaigns.map(row));
  } catch (err) { showError(err); }
}

async function show(id) {
  chosen = id;
  const d = await api("GET", `/api/v1/campaigns/${id}/results`);
  document.getElementById("detail").hidden = false;
  document.getElementById("detail-title").textContent = `${d.campaign.name} · ${d.answered} 份答卷 answered`;
  document.getElementById("export").href = `/api/v1/campaigns/${id}/results.csv`;
  while (charts.length) charts.pop().destroy();
  const boxes = d.questions.map((q) => {
    const box = el("div", { class: "chart-box", "data-question": q.id }, el("h3", { text: q.text }));
    if (q.kind === "text") {
      box.append(el("ul", {}, ...q.texts.map((t) => el("li", { text: t }))));
    } else {
      const canvas = el("canvas", { height: "180" });
      box.append(canvas);
      charts.push(new Chart(canvas, { type: "bar", data: { labels: Object.keys(q.counts),
        datasets: [{ label: "回答 answers", data: Object.values(q.counts), backgroundColor: "#2563eb" }] },
        options: { animation: false, plugins: { legend: { display: false } },
          scales: { y: { beginAtZero: true, ticks: { precision: 0 } } } } }));
    }
    return box;
  });
  document.getElementById("charts").replaceChildren(...boxes);
  load();
}

let qn = 0;
function addQuestion() {
  qn += 1;
  const kind = el("select", { name: "kind" },
    el("option", { value: "scale", text: "评分 1-5 scale" }), el("option", { value: "choice", text: "选择 choice" }),
    el("option", { value: "text", text: "文字 text" }));
  const options = el("input", { name: "options", placeholder: "选项, 逗号分隔 options, comma separated", size: "34" });
  document.getElementById("questions").append(el("div", { class: "question" },
    el("input", { name: "text", placeholder: `问题 ${qn} Question ${qn}`, size: "40", required: "" }), kind, options,
    el("button", { type: "button", text: "删除 Remove", onclick: (e) => e.target.closest(".question").remove() })));
}

document.getElementById("add-question").addEventListener("click", addQuestion);
document.getElementById("new-campaign").addEventListener("submit", async (e) => {
  e.preventDefault();
  showError(null);
  const questions = [...document.querySelectorAll("#questions .question")].map((div, i) => {
    const kind = div.querySelector("[name=kind]").value;
    const q = { id: `q${i + 1}`, text: div.querySelector("[name=text]").value.trim(), kind };
    if (kind === "choice") q.options = div.querySelector("[name=options]").value.split(/[,，]/).map((s) => s.trim()).filter(Boolean);
    return q;
  });
  try {
    const c = await api("POST", "/api/v1/campaigns", { name: e.target.name.value.trim(), questions });
    e.target.reset();
    document.getElementById("questions").replaceChildren();
    qn = 0; addQuestion();
    show(c.id);
  } catch (err) { showError(err); }
});
document.getElementById("import").addEventListener("submit", async (e) => {
  e.preventDefault();
  showError(null);
  const file = e.target.file.files[0];
  const out = document.getElementById("import-result");
  try {
    const r = await api("POST", `/api/v1/campaigns/${chosen}/contacts`, await file.text(), "text/csv");
    out.textContent = `导入 imported ${r.imported} · 免打扰 do-not-call ${r.do_not_call}`;
  } catch (err) { showError(err); out.textContent = ""; }
  load();
});
document.getElementById("sign-out").addEventListener("click", hotline.signOut);
addQuestion();
hotline.ready.then(load);
setInterval(load, 10000);
