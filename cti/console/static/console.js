// The agent console: ACD state, the screen pop and the wrap-up (sign-in is
// the shared page /sign-in).
// Plain browser JavaScript, no build step and nothing from a CDN.
"use strict";

const $ = (sel) => document.querySelector(sel);
// labels come from the one catalogue (common.js: hotline.label)
const label = (kind, code) => hotline.label(kind, code);

let me = null;        // {code, name}
let agent = null;     // the ACD's view of this agent
let offer = null;     // the card on screen
let socket = null;
let outlets = null;
// the card's clocks: the caller's wait (ticking while the phone rings, final
// once answered), the talk since the agent answered, the time on hold
const clock = { queuedAt: null, waited: null, answeredAt: null, holdSince: null, held: 0,
  skew: 0 };

// the API and durations as every page has them (common.js)
const api = hotline.api;
const fmtSeconds = hotline.duration;

function showError(err) {
  const el = $("#action-error");
  if (!err) { el.hidden = true; return; }
  el.textContent = hotline.errorText(err);
  el.hidden = false;
}

function text(el, value) { el.textContent = value == null ? "" : String(value); }

function fmtTime(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  return d.toLocaleString("zh-CN", { month: "2-digit", day: "2-digit", hour: "2-digit",
    minute: "2-digit" });
}

// ---------------------------------------------------------------- start
function toSignIn() { location.replace("/sign-in?next=/console"); }

async function start() {
  try {
    const data = await api("GET", "/api/v1/console/me");
    me = { code: data.agent.agent, name: data.agent.name };
    enterConsole(data.agent, data.offer);
  } catch (err) {
    if (err.status === 401) { toSignIn(); return; }
    showError(err);
  }
}

$("#sign-out").addEventListener("click", async () => {
  await api("POST", "/api/v1/sign-out").catch(() => {});
  if (socket) socket.close();
  toSignIn();
});

function enterConsole(view, current) {
  $("#console").hidden = false;
  text($("#agent-name"), me.name || view.name);
  text($("#agent-code"), me.code);
  showAgent(view);
  if (current) showOffer(current);
  connect();
}

// ---------------------------------------------------------------- the ACD
function showAgent(view) {
  agent = view;
  const st = $("#state");
  st.dataset.state = view.state;
  text(st, label("state", view.state));
  if (view.state === "paused" && view.reason) st.textContent += ` · ${view.reason}`;
  const out = view.state === "logged_out";
  $("#acd-login").hidden = !out;
  $("#acd-logout").hidden = out;
  $("#pause-form").hidden = out || view.state === "paused";
  $("#unpause").hidden = view.state !== "paused";
  if (view.device) $("#acd-login").device.value = view.device;
}

async function acd(path, body) {
  showError(null);
  try {
    showAgent(await api("POST", `/api/v1/console/acd/${path}`, body));
  } catch (err) { showError(err); }
}

$("#acd-login").addEventListener("submit", (ev) => {
  ev.preventDefault();
  acd("login", { device: ev.target.device.value.trim() });
});
$("#pause-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  acd("pause", { reason: ev.target.reason.value });
});
$("#unpause").addEventListener("click", () => acd("unpause"));
$("#acd-logout").addEventListener("click", () => acd("logout"));

// ---------------------------------------------------------------- live feed
function connect() {
  const proto = location.protocol === "https:" ? "wss" : "ws";
  socket = new WebSocket(`${proto}://${location.host}/api/v1/console/ws`);
  socket.onopen = () => { $("#conn").className = "conn up"; };
  socket.onclose = () => {
    $("#conn").className = "conn down";
    setTimeout(reconnect, 1500);  // the hello after reconnecting brings the card back
  };
  socket.onmessage = (ev) => handle(JSON.parse(ev.data));
}

async function reconnect() {
  try {
    await api("GET", "/api/v1/console/me");
    connect();
  } catch (err) {
    if (err.status === 401) { toSignIn(); return; }  // the session ended: sign in
    setTimeout(reconnect, 3000);  // the server is away: keep trying
  }
}

function handle(msg) {
  switch (msg.type) {
    case "hello":
      showAgent(msg.agent);
      if (msg.offer) showOffer(msg.offer); else if (offer && offer.state === "ringing") clearOffer();
      break;
    case "agent": showAgent(msg.agent); followHold(msg.agent); break;
    case "pop": showOffer(msg); break;
    case "pop.gone": if (offer && offer.call_id === msg.call_id) clearOffer(); break;
    case "call.connected":
      if (offer && offer.call_id === msg.call_id) {
        loadPicker();
        clock.answeredAt = msg.answered_at;
        if (msg.waited_seconds != null) clock.waited = msg.waited_seconds;
        setCallState("talking");
        tick();
      }
      break;
    case "call.ended":
      if (offer && offer.call_id === msg.call_id) {
        endHold(Date.now() / 1000 + clock.skew);
        clock.endedAt = Date.now() / 1000 + clock.skew;
        setCallState("wrap_up");
        tick();
        setTimeout(loadDay, 1500);  // the call's record is written within a second
      }
      break;
    case "pop.closed":
      if (offer && offer.call_id === msg.call_id) clearOffer();
      loadDay();  // the wrap-up's disposition is on the call now
      break;
  }
}

// ---------------------------------------------------------------- the card
function clearOffer() {
  offer = null;
  $("#pop").hidden = true;
  $("#idle").hidden = false;
  $("#pop").dataset.callId = "";
}

// on hold, off hold: the agent's state says (the ACD sees the call's hold)
function followHold(view) {
  if (!offer || !["talking", "on_hold"].includes(offer.state)) return;
  if (view.state === "on_hold" && offer.state === "talking") {
    clock.holdSince = view.since;
    setCallState("on_hold");
  } else if (view.state === "on_call" && offer.state === "on_hold") {
    endHold(view.since);
    setCallState("talking");
  }
  tick();
}

function endHold(at) {
  if (clock.holdSince != null) clock.held += Math.max(0, at - clock.holdSince);
  clock.holdSince = null;
}

function tick() {
  if (!offer) return;
  const now = Date.now() / 1000 + clock.skew;
  const wait = clock.waited != null && offer.state !== "ringing" ? clock.waited
    : clock.queuedAt != null ? now - clock.queuedAt : (clock.waited || 0);
  text($("#pop-wait"), fmtSeconds(wait));
  const end = clock.endedAt || now;
  $("#pop-talk-box").hidden = clock.answeredAt == null;
  if (clock.answeredAt != null) text($("#pop-talk"), fmtSeconds(end - clock.answeredAt));
  const held = clock.held + (clock.holdSince != null ? end - clock.holdSince : 0);
  $("#pop-hold-box").hidden = held <= 0 && clock.holdSince == null;
  text($("#pop-hold"), fmtSeconds(held));
}
setInterval(tick, 1000);

function setCallState(state) {
  offer.state = state;
  $("#pop").dataset.state = state;
  text($("#pop-state"), label("call_state", state));
  $("#wrapup").hidden = state === "ringing";  // notes can be typed while talking
  $("#controls").hidden = state === "ringing";
  const talking = state === "talking";
  $("#btn-hold").hidden = !talking;
  $("#btn-unhold").hidden = state !== "on_hold";
  $("#btn-hangup").hidden = !(talking || state === "on_hold");
  $("#transfer-form").hidden = !talking;
  $("#consulting").hidden = state !== "consulting";
  $("#btn-dismiss").hidden = state !== "wrap_up";
}

async function control(path, body) {
  showError(null);
  try {
    return await api("POST", `/api/v1/console/call/${path}`, body);
  } catch (err) { showError(err); return null; }
}

$("#btn-hold").addEventListener("click", async () => {
  if (await control("hold")) { $("#btn-hold").hidden = true; $("#btn-unhold").hidden = false; }
});
$("#btn-unhold").addEventListener("click", async () => {
  if (await control("unhold")) { $("#btn-hold").hidden = false; $("#btn-unhold").hidden = true; }
});
$("#btn-hangup").addEventListener("click", () => control("hangup"));
$("#transfer-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const f = ev.target;
  const how = ev.submitter ? ev.submitter.value : "transfer";
  const body = { to: f.to.value, target: f.target.value.trim(),
    notes: $("#wrapup").notes.value.trim() };
  const done = await control(how, body);
  if (done && body.to === "number") rememberNumber(body.target);
  if (done && how === "consult") {
    setCallState("consulting");
    $("#consulting").hidden = false;
    f.hidden = true;
    $("#btn-hold").hidden = true;
  }
});
// ---------------------------------------------------------------- the picker
// Queues with their waiting callers, colleagues with their live state
// (available first), recent outside numbers; typing filters. What the API
// would refuse is shown before the click: a busy or paused colleague, yourself.
const NUMBER = /^\+?\d{3,20}$/;
let picker = { queues: [], agents: [] };

function recentNumbers() {
  try { return JSON.parse(localStorage.getItem(`hotline.recent.${me && me.code}`) || "[]"); }
  catch (err) { return []; }
}

function rememberNumber(number) {
  const list = [number, ...recentNumbers().filter((n) => n !== number)].slice(0, 8);
  localStorage.setItem(`hotline.recent.${me && me.code}`, JSON.stringify(list));
}

async function loadPicker() {
  try {
    const [q, a] = await Promise.all([api("GET", "/api/v1/queues"),
      api("GET", "/api/v1/console/acd/colleagues")]);
    picker = { queues: q.queues, agents: a.agents };
  } catch (err) { showError(err); }
  renderPicker();
}

function choose(to, target) {
  const f = $("#transfer-form");
  f.to.value = to;
  f.target.value = target;
  for (const li of document.querySelectorAll("#picker-list li")) {
    li.setAttribute("aria-selected", li.dataset.to === to && li.dataset.target === target ? "true" : "false");
  }
}

function pickItem(to, target, title, detail, refusal) {
  const li = document.createElement("li");
  li.dataset.to = to;
  li.dataset.target = target;
  li.setAttribute("role", "option");
  if (refusal) li.setAttribute("aria-disabled", "true");
  const main = document.createElement("span");
  main.textContent = title;
  const side = document.createElement("span");
  side.className = refusal ? "why-not" : "muted";
  side.textContent = refusal || detail;
  li.append(main, side);
  li.addEventListener("click", () => {
    if (refusal) { showError(new Error(`不能转接 cannot transfer: ${refusal}`)); return; }
    showError(null);
    choose(to, target);
  });
  return li;
}

function renderPicker() {
  const q = $("#picker-filter").value.trim().toLowerCase();
  const hit = (...texts) => !q || texts.some((t) => String(t || "").toLowerCase().includes(q));
  const items = [];
  for (const queue of picker.queues) {
    if (hit(queue.queue, queue.title)) {
      items.push(pickItem("queue", queue.queue, `队列 ${queue.title}`,
        `${queue.waiting} 等待 waiting · ${queue.agents_available} 空闲 free`));
    }
  }
  for (const a of picker.agents) {
    if (hit(a.agent, a.name)) {
      const why = a.transferable ? null
        : a.why_not === "you" ? "这是您自己 that is you"
          : a.state === "paused" && a.reason ? `${label("state", a.state)} · ${label("pause", a.reason)}`
            : label("state", a.state);
      items.push(pickItem("agent", a.agent, `坐席 ${a.name} ${a.agent}`, label("state", a.state), why));
    }
  }
  for (const n of recentNumbers()) {
    if (hit(n)) items.push(pickItem("number", n, `外线 ${n}`, "最近 recent"));
  }
  const typed = $("#picker-filter").value.trim();
  if (NUMBER.test(typed) && !recentNumbers().includes(typed)) {
    items.push(pickItem("number", typed, `外线 ${typed}`, "拨打 dial out"));
  }
  $("#picker-list").replaceChildren(...items);
}

$("#picker-filter").addEventListener("input", renderPicker);
$("#picker-filter").addEventListener("focus", loadPicker);

$("#btn-complete").addEventListener("click", () => control("consult/complete"));
$("#btn-cancel").addEventListener("click", async () => {
  if (await control("consult/cancel")) { setCallState("talking"); $("#transfer-form").hidden = false; }
});
$("#btn-dismiss").addEventListener("click", async () => {
  if (!offer) return;
  try {
    await api("POST", `/api/v1/console/calls/${encodeURIComponent(offer.call_id)}/dismiss`);
  } catch (err) { showError(err); }
});

function row(cells) {
  const tr = document.createElement("tr");
  for (const c of cells) {
    const td = document.createElement("td");
    if (c instanceof Node) td.appendChild(c); else td.textContent = c == null ? "" : String(c);
    tr.appendChild(td);
  }
  return tr;
}

function fill(tbody, rows, empty) {
  if (rows.length) { tbody.replaceChildren(...rows); return; }
  const blank = row([empty]);
  blank.firstChild.colSpan = tbody.closest("table").tHead.rows[0].cells.length;
  blank.className = "muted";
  tbody.replaceChildren(blank);
}

function showOffer(o) {
  const fresh = !offer || offer.call_id !== o.call_id;
  offer = o;
  const card = o.card || {};
  const pop = $("#pop");
  pop.dataset.callId = o.call_id;
  pop.dataset.known = card.known ? "yes" : "no";
  $("#idle").hidden = true;
  pop.hidden = false;
  const c = card.customer;
  text($("#pop-name"), c ? c.name : "未知来电 Unknown caller");
  $("#pop-vip").hidden = !(c && c.vip);
  text($("#pop-number"), card.number_display || o.caller_number);
  text($("#pop-queue"), o.queue);
  // a callback keeping the caller's place: answering it calls the customer
  const cb = $("#pop-callback");
  cb.hidden = o.callback_id == null;
  if (o.callback_id != null) {
    const mins = o.queued_at ? Math.max(0, Math.round((Date.now() / 1000 + (clock.skew || 0) - o.queued_at) / 60)) : 0;
    text(cb, `回电 Callback · 排队自 in line since ${o.queued_at ? hotline.clock(o.queued_at * 1000) : "—"}` +
      `，已 ${mins} 分钟 (${mins} min) · 接听后拨打客户 answer to call the customer`);
  }
  if (fresh) {
    Object.assign(clock, { queuedAt: o.queued_at, waited: o.waited_seconds,
      answeredAt: o.answered_at || null, holdSince: null, held: 0, endedAt: null,
      skew: o.sent_at ? o.sent_at - Date.now() / 1000 : 0 });
  }
  tick();
  text($("#pop-lang"), o.language === "en" ? "English" : o.language === "zh" ? "中文" : "—");
  text($("#pop-ivr"), o.ivr_path || "—");
  setCallState(o.state || "ringing");

  const notes = $("#pop-notes");
  notes.hidden = !(o.notes && o.notes.length);
  notes.querySelector("ul").replaceChildren(...(o.notes || []).map((n) => {
    const li = document.createElement("li");
    li.textContent = `${n.name ? `${n.name} (${n.agent})` : n.agent}: ${n.notes}`;
    return li;
  }));

  $("#known").hidden = !card.known;
  const form = $("#new-customer");
  form.hidden = !!card.known;
  if (!card.known && fresh) {
    form.reset();
    form.number.value = card.number || o.caller_number || "";
  }
  if (card.known) {
    fill($("#appliances"), (card.appliances || []).map((a) => {
      const w = document.createElement("span");
      w.className = a.in_warranty ? "warranty-in" : "warranty-out";
      w.textContent = a.in_warranty ? `在保 ${a.warranty_days_left} 天` : "过保 expired";
      return row([label("category", a.category), a.model, a.purchase_date, w]);
    }), "—");
    fill($("#tickets"), (card.open_tickets || []).map((t) =>
      row([t.id, label("ticket_kind", t.kind), label("ticket_status", t.status), t.summary])),
    "无 none");
    fill($("#calls"), (card.last_calls || []).map((r) =>
      row([fmtTime(r.started_at), r.queue, r.agent, r.outcome])), "无 none");
  }
  if (fresh) prepareWrapUp(card);
}

// ---------------------------------------------------------------- new customer
$("#new-customer").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const f = ev.target;
  showError(null);
  try {
    await api("POST", "/api/v1/customers", {
      name: f.name.value.trim(), region: f.region.value.trim(), address: f.address.value.trim(),
      phones: [{ number: f.number.value.trim() }],
    });
    const card = await api("GET",
      `/api/v1/console/calls/${encodeURIComponent(offer.call_id)}/card`);
    showOffer({ ...offer, card });
    prepareWrapUp(card);
  } catch (err) { showError(err); }
});

// ---------------------------------------------------------------- wrap-up
async function prepareWrapUp(card) {
  const f = $("#wrapup");
  f.reset();
  text($("#wrap-result"), "");
  toggleTicket(false);
  const appl = f.appliance_id;
  appl.replaceChildren(new Option("—", ""), ...(card.appliances || []).map((a) =>
    new Option(`${label("category", a.category)} ${a.model}`, a.id)));
  if (outlets === null) {
    outlets = await api("GET", "/api/v1/outlets").then((d) => d.outlets).catch(() => []);
  }
  f.outlet_id.replaceChildren(new Option("—", ""), ...outlets.map((o) =>
    new Option(`${o.name} (${o.region})`, o.id)));
}

function toggleTicket(on) {
  const fs = $("#ticket-fields");
  fs.hidden = !on;
  fs.disabled = !on;
}

$("#wrapup").make_ticket.addEventListener("change", (ev) => {
  toggleTicket(ev.target.checked);
  if (ev.target.checked) $("#wrapup").disposition.value = "ticket_created";
});

$("#wrapup").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  if (!offer) return;
  const f = ev.target;
  showError(null);
  const body = { disposition: f.disposition.value, notes: f.notes.value.trim() };
  const customer = offer.card && offer.card.customer;
  if (customer) body.customer_id = customer.id;
  if (f.make_ticket.checked) {
    if (!customer) { showError(new Error("先保存客户 · save the customer first")); return; }
    const t = { kind: f.kind.value, customer_id: customer.id, summary: f.summary.value.trim() };
    if (f.appliance_id.value) t.appliance_id = Number(f.appliance_id.value);
    if (f.outlet_id.value) t.outlet_id = Number(f.outlet_id.value);
    if (f.appointment_start.value) t.appointment_start = f.appointment_start.value;
    if (f.appointment_end.value) t.appointment_end = f.appointment_end.value;
    body.new_ticket = t;
  }
  try {
    const saved = await api("POST",
      `/api/v1/console/calls/${encodeURIComponent(offer.call_id)}/wrap-up`, body);
    text($("#idle p"), saved.ticket
      ? `上一通已保存，工单 #${saved.ticket.id} · last call saved, ticket #${saved.ticket.id}`
      : "上一通已保存 · last call saved");
  } catch (err) { showError(err); }
});

setInterval(() => {  // the wrap-up countdown from the ACD's view
  if (agent && agent.state === "wrap_up" && agent.wrap_up_until) {
    text($("#wrap-timer"), `· ${fmtSeconds(agent.wrap_up_until - Date.now() / 1000)}`);
  } else {
    text($("#wrap-timer"), "");
  }
}, 500);

// ---------------------------------------------------------------- my day
// The agent's own figures (their calls, nobody else's), read at start and
// after each call; the time since the last call ticks.
let lastCallAt = null;

async function loadDay() {
  try {
    const [day, calls] = await Promise.all([api("GET", "/api/v1/console/acd/day"),
      api("GET", "/api/v1/calls?limit=8")]);
    text($("#day-answered"), day.answered);
    text($("#day-aht"), day.aht_seconds == null ? "–" : fmtSeconds(day.aht_seconds));
    text($("#day-talk"), fmtSeconds(day.talk_seconds));
    text($("#day-hold"), fmtSeconds(day.hold_seconds));
    text($("#day-pause"), fmtSeconds(day.pause_seconds));
    lastCallAt = day.last_call_at;
    $("#day-calls tbody").replaceChildren(...calls.calls.map((c) => row([
      fmtTime(c.started_at), `${c.caller_name || ""} ${c.caller_number}`.trim(), c.queue || "–",
      c.disposition ? label("disposition", c.disposition) : "—"])));
    tickDay();
  } catch (err) { if (err.status !== 401) showError(err); }
}

function tickDay() {
  text($("#day-since"), lastCallAt ? fmtSeconds(Date.now() / 1000 + clock.skew - lastCallAt) : "–");
}
setInterval(tickDay, 1000);

// ---------------------------------------------------------------- keyboard
// The answer-side actions without the mouse: shown on their buttons.
const KEYS = { h: "#btn-hold", r: "#btn-unhold", x: "#btn-hangup" };
document.addEventListener("keydown", (ev) => {
  if (!ev.altKey || ev.ctrlKey || ev.metaKey) return;
  const key = ev.key.toLowerCase();
  if (KEYS[key]) {
    const b = $(KEYS[key]);
    if (b && !b.hidden && !$("#pop").hidden) { ev.preventDefault(); b.click(); }
  } else if (key === "t" && !$("#transfer-form").hidden) {
    ev.preventDefault();
    $("#picker-filter").focus();
  } else if (key === "s" && !$("#wrapup").hidden) {
    ev.preventDefault();
    $("#wrapup").requestSubmit();
  }
});

// the code lists (pause reasons, dispositions, ticket kinds) from the catalogue
function fillCodeLists() {
  for (const select of document.querySelectorAll("select[data-codes]")) {
    select.replaceChildren(...hotline.codes(select.dataset.codes).map(
      (code) => new Option(label(select.dataset.codes, code), code)));
  }
}

hotline.ready.then(() => { fillCodeLists(); start(); loadDay(); });

// Survey campaigns: preview calls. The next contact comes with the customer's
// card and the questions; the agent dials (their phone rings first, then the
// customer's), asks, and saves the answers with the outcome.
let campaignContact = null;

function campaignQuestion(q) {
  const name = `answer-${q.id}`;
  let input;
  if (q.kind === "choice") {
    input = hotline.el("select", { name, "data-question": q.id },
      hotline.el("option", { value: "", text: "—" }),
      ...q.options.map((o) => hotline.el("option", { value: o, text: o })));
  } else if (q.kind === "scale") {
    input = hotline.el("select", { name, "data-question": q.id },
      hotline.el("option", { value: "", text: "—" }),
      ...[1, 2, 3, 4, 5].map((n) => hotline.el("option", { value: String(n), text: String(n) })));
  } else {
    input = hotline.el("input", { name, "data-question": q.id, size: "50", maxlength: "500" });
  }
  return hotline.el("label", { class: "question" }, hotline.el("span", { text: q.text }), input);
}

function showCampaign(preview) {
  const box = $("#campaign");
  campaignContact = preview && preview.contact;
  if (!campaignContact) {
    box.hidden = true;
    showError(preview ? new Error("没有待呼的对象 Nobody to call now") : null);
    return;
  }
  const card = preview.card || {};
  const c = card.customer;
  text($("#cp-name"), c ? c.name : (campaignContact.name || "未知 Unknown"));
  $("#cp-vip").hidden = !(c && c.vip);
  text($("#cp-number"), campaignContact.number);
  text($("#cp-campaign"), preview.campaign.name);
  text($("#cp-try"), campaignContact.attempts + 1);
  const owned = (card.appliances || []).map((a) => `${label("category", a.category)} ${a.model}`);
  text($("#cp-card"), c ? `客户档案 on file · ${owned.join("，") || "无家电 no appliances"}` : "不在档案中 not on file");
  $("#cp-questions").replaceChildren(...preview.campaign.questions.map(campaignQuestion));
  $("#cp-dial").disabled = false;
  box.hidden = false;
  $("#idle").hidden = true;
  box.dataset.contact = campaignContact.id;
}

$("#campaign-next").addEventListener("click", async () => {
  showError(null);
  try { showCampaign(await api("POST", "/api/v1/console/campaign/next")); } catch (err) { showError(err); }
});
$("#cp-dial").addEventListener("click", async () => {
  showError(null);
  try {
    await api("POST", `/api/v1/console/campaign/${campaignContact.id}/dial`);
    $("#cp-dial").disabled = true;
  } catch (err) { showError(err); }
});
$("#cp-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  showError(null);
  const answers = {};
  for (const input of $("#cp-questions").querySelectorAll("[data-question]")) {
    if (input.value !== "") answers[input.dataset.question] = input.value;
  }
  try {
    await api("POST", `/api/v1/console/campaign/${campaignContact.id}/result`,
      { outcome: ev.target.outcome.value, answers });
    ev.target.reset();
    $("#campaign").hidden = true;
    $("#idle").hidden = !$("#pop").hidden;
    campaignContact = null;
  } catch (err) { showError(err); }
});
