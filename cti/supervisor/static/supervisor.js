// The agent board: every agent's state and time in it (ticking), their
// caller and queue, calls and AHT today, the pause reason; each queue's
// callers with their wait and priority. A snapshot, then each change, over
// the ACD's websocket. Actions: force a pause with a reason, force a logout,
// listen / whisper / barge on an agent's call (each written to the audit log).
"use strict";

const { el, duration, label, api } = hotline;
const agents = new Map();   // code -> the agent's view (names from the snapshot)
const names = new Map();
const queues = new Map();   // name -> the queue's view, with the time it came
let skew = 0;               // server clock - this browser's clock
let spying = null;          // {agent, mode, call_id} of our own spy session
const chosen = new Map();   // agent -> the pause reason picked (kept across redraws)

function showError(err) {
  const box = document.getElementById("action-error");
  if (!err) { box.hidden = true; return; }
  box.textContent = hotline.errorText(err);
  box.hidden = false;
}

function now() { return Date.now() / 1000 + skew; }

async function act(path, body) {
  showError(null);
  try { return await api("POST", path, body); } catch (err) { showError(err); return null; }
}

function pauseControl(a) {
  const select = el("select", { "aria-label": "暂停原因 pause reason", "data-action": "reason" },
    ...hotline.codes("pause").map((v) => el("option", { value: v, text: label("pause", v),
      selected: v === (chosen.get(a.agent) || "break") })));
  select.addEventListener("change", () => chosen.set(a.agent, select.value));
  const pause = el("button", { type: "button", text: "暂停 Pause", "data-action": "pause",
    onclick: () => act(`/api/v1/agents/${a.agent}/pause`, { reason: select.value }) });
  return [select, pause];
}

function actions(a) {
  const cells = [];
  if (a.state === "logged_out") return cells;
  if (a.state === "paused") {
    cells.push(el("button", { type: "button", text: "恢复 Resume", "data-action": "unpause",
      onclick: () => act(`/api/v1/agents/${a.agent}/unpause`) }));
  } else {
    cells.push(...pauseControl(a));
  }
  cells.push(el("button", { type: "button", text: "签出 Log out", "data-action": "logout",
    onclick: () => { if (confirm(`签出坐席 ${a.agent}? Log ${a.agent} out of the queues?`))
      act(`/api/v1/agents/${a.agent}/logout`); } }));
  if (a.call_id && ["on_call", "on_hold"].includes(a.state)) {
    for (const mode of ["listen", "whisper", "barge"]) {
      cells.push(el("button", { type: "button", text: label("spy", mode), "data-action": mode,
        onclick: () => spy(a.agent, mode) }));
    }
  }
  return cells;
}

async function spy(agent, mode) {
  const device = document.getElementById("my-phone").value.trim();
  if (!device) { showError(new Error("先填写我的电话 Fill in your phone first")); return; }
  localStorage.setItem("hotline.myPhone", device);
  const path = spying && spying.agent === agent ? "/api/v1/supervisor/spy/mode"
    : "/api/v1/supervisor/spy";
  const out = await act(path, { agent, mode, device });
  if (out) { spying = { agent, mode, call_id: out.call_id }; render(); }
}

function agentRow(a) {
  const t = now();
  const caller = a.caller ? `${a.caller.name || ""} ${a.caller.number || ""}`.trim() : "";
  return el("tr", { "data-agent": a.agent, "data-state": a.state,
    class: spying && spying.agent === a.agent ? "spying" : null },
    el("td", {}, el("strong", { text: names.get(a.agent) || a.agent }), " ",
      el("span", { class: "muted", text: a.agent })),
    el("td", {}, el("span", { class: "state", "data-state": a.state, text: label("state", a.state) }),
      a.reason ? el("span", { class: "reason", text: label("pause", a.reason) }) : null),
    el("td", { class: "num", "data-since": a.since, text: a.state === "logged_out" ? "" : duration(t - a.since) }),
    el("td", {}, caller, a.caller && a.caller.queue ? el("span", { class: "muted", text: ` · ${a.caller.queue}` }) : null),
    el("td", { class: "num", text: String(a.calls_today || 0) }),
    el("td", { class: "num", text: a.aht_today_seconds == null ? "–" : duration(a.aht_today_seconds) }),
    el("td", { class: "actions" }, ...actions(a)),
  );
}

function queueBox(q) {
  const t = now();
  return el("div", { class: "queue", "data-queue": q.queue },
    el("h3", {}, el("span", { text: q.title }),
      el("span", { class: "muted", text: `${q.waiting} 等待 waiting · ${q.agents_available} 空闲 free` })),
    q.callers.length ? el("ol", {}, ...q.callers.map((c) => el("li", {},
      el("span", { text: `${c.caller_name || ""} ${c.caller_number || ""}`.trim() || "—" }),
      c.priority ? el("span", { class: "prio", text: `优先 P${c.priority}` }) : null,
      el("span", { "data-joined": q.received - c.wait_seconds,
        text: duration(t - (q.received - c.wait_seconds)) })))) : el("p", { class: "muted", text: "无人等待 nobody waiting" }),
  );
}

const ORDER = { on_call: 0, on_hold: 0, ringing: 1, wrap_up: 2, available: 3, paused: 4, logged_out: 5 };

function render() {
  const list = [...agents.values()].sort((a, b) =>
    (ORDER[a.state] - ORDER[b.state]) || a.agent.localeCompare(b.agent));
  document.querySelector("#agents tbody").replaceChildren(...list.map(agentRow));
  document.getElementById("agent-count").textContent =
    `${list.filter((a) => a.state !== "logged_out").length} / ${list.length} 在线 signed in`;
  document.getElementById("queues").replaceChildren(
    ...[...queues.values()].filter((q) => q.waiting || q.agents_logged_in).map(queueBox));
}

function tick() {  // the timers, between messages
  const t = now();
  for (const td of document.querySelectorAll("#agents td[data-since]")) {
    const tr = td.closest("tr");
    if (tr.dataset.state !== "logged_out") td.textContent = duration(t - Number(td.dataset.since));
  }
  for (const span of document.querySelectorAll("#queues [data-joined]")) {
    span.textContent = duration(t - Number(span.dataset.joined));
  }
}

function onMessage(msg) {
  const received = Date.now() / 1000 + skew;
  if (msg.type === "snapshot") {
    agents.clear(); queues.clear();
    for (const a of msg.agents) { names.set(a.agent, a.name); agents.set(a.agent, a); }
    for (const q of msg.queues) queues.set(q.queue, { ...q, received });
  } else if (msg.type === "acd.agent") {
    agents.set(msg.agent.agent, { ...(agents.get(msg.agent.agent) || {}), ...msg.agent });
  } else if (msg.type === "acd.queue") {
    queues.set(msg.queue.queue, { ...msg.queue, received });
  } else if (msg.type === "spy.ended" && spying && spying.call_id === msg.call_id) {
    spying = null;
  }
  render();
}

document.getElementById("sign-out").addEventListener("click", hotline.signOut);
document.getElementById("my-phone").value = localStorage.getItem("hotline.myPhone") || "";
api("GET", "/api/v1/session").then((d) => {
  document.getElementById("who").textContent = `${d.user.name} (${d.user.login})`;
}).catch(() => {});
api("GET", "/api/v1/status").then((d) => { skew = d.time - Date.now() / 1000; }).catch(() => {});
hotline.ready.then(() => hotline.feed("/api/v1/acd/ws", onMessage, (up) => {
  const link = document.getElementById("link");
  link.dataset.up = up ? "yes" : "no";
  link.textContent = up ? "实时 live" : "重新连接中 reconnecting";
}));
setInterval(tick, 1000);

// Callbacks owed (waiting their turn in their caller's place, or being
// dialled), and those reached, not reached or dropped: read every 5 s.
function callbackRow(c) {
  const cancel = ["waiting", "dialling"].includes(c.status) ? el("button", { type: "button",
    text: "取消 Cancel", "data-action": "cancel-callback",
    onclick: async () => {
      if (!confirm(`取消给 ${c.number} 的回电? Cancel the callback to ${c.number}?`)) return;
      showError(null);
      try { await api("DELETE", `/api/v1/callbacks/${c.id}`); } catch (err) { showError(err); }
      loadCallbacks();
    } }) : null;
  return el("tr", { "data-callback": c.id, "data-status": c.status },
    el("td", { text: c.number }),
    el("td", { text: label("callback_kind", c.kind) }),
    el("td", {}, el("span", { class: "state", "data-state": c.status, text: label("callback_status", c.status) })),
    el("td", { text: c.queue || "" }),
    el("td", { text: hotline.clock(c.joined_at) }),
    el("td", { class: "num", text: String(c.attempts) }),
    el("td", { text: c.last_outcome ? label("try_outcome", c.last_outcome) : "" }),
    el("td", { text: c.status === "waiting" ? (hotline.clock(c.next_attempt_at) || "排队中 in line") : "" }),
    el("td", { class: "muted", text: c.note || "" }),
    el("td", {}, cancel));
}

async function loadCallbacks() {
  const filter = document.getElementById("callback-filter").value;
  try {
    const d = await api("GET", `/api/v1/callbacks?status=${filter}&limit=200`);
    document.querySelector("#callbacks tbody").replaceChildren(...d.callbacks.map(callbackRow));
    document.getElementById("callback-count").textContent = `${d.count}`;
  } catch (err) { showError(err); }
}

document.getElementById("callback-filter").addEventListener("change", loadCallbacks);
document.getElementById("callback-book").addEventListener("submit", async (e) => {
  e.preventDefault();
  const form = e.target;
  showError(null);
  try {
    await api("POST", "/api/v1/callbacks", { number: form.number.value.trim(), note: form.note.value.trim() });
    form.reset();
  } catch (err) { showError(err); }
  loadCallbacks();
});
hotline.ready.then(loadCallbacks);
setInterval(loadCallbacks, 5000);
