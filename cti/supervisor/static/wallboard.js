// The wallboard: one message per half second over the websocket (every queue
// in numbers, its KPIs for the last 60 minutes and today, its thresholds);
// the longest wait and the clock tick here between messages.
"use strict";

const { el, duration, percent } = hotline;
let last = null;       // the last wallboard message
let skew = 0;          // server clock - this screen's clock, in seconds

// the level of a value against a band: "alarm", "warn" or "" (low is bad
// for the service level; high is bad for the rest)
function level(value, band, lowIsBad) {
  if (value == null || !band) return "";
  if (lowIsBad) return value <= band.alarm ? "alarm" : value <= band.warn ? "warn" : "";
  return value >= band.alarm ? "alarm" : value >= band.warn ? "warn" : "";
}

function cell(main, small, lvl, cls) {
  const td = el("td", { class: cls || null, "data-level": lvl || null }, main);
  if (small != null) td.append(el("small", { text: small }));
  return td;
}

function longest(q, now) {
  return q.oldest_joined_at ? Math.max(0, now - q.oldest_joined_at) : 0;
}

function render() {
  if (!last) return;
  const now = Date.now() / 1000 + skew;
  const body = document.querySelector("#board tbody");
  let waiting = 0;
  const all = last.agents;
  const rows = last.queues.map((q) => {
    const t = q.thresholds, h = q.last_60_min, d = q.today;
    const wait = longest(q, now);
    waiting += q.waiting;
    const tr = el("tr", { "data-queue": q.queue,
      class: q.waiting === 0 && q.agents_logged_in === 0 && !d.offered ? "quiet" : null });
    tr.append(
      cell(q.title, q.queue, "", "q"),
      cell(String(q.waiting), null, level(q.waiting, t.waiting), "waiting"),
      cell(q.waiting ? duration(wait) : "–", null,
        q.waiting ? level(wait, t.longest_wait) : "", "longest"),
      cell(percent(h.service_level), `今日 ${percent(d.service_level)} · ${q.service_level_seconds}s`,
        level(h.service_level == null ? null : h.service_level * 100, t.service_level, true), "sl"),
      cell(percent(h.abandon_rate), `今日 ${percent(d.abandon_rate)}`,
        level(h.abandon_rate == null ? null : h.abandon_rate * 100, t.abandon_rate), "abandon"),
      cell(h.asa_seconds == null ? "–" : `${Math.round(h.asa_seconds)}s`,
        `今日 ${d.asa_seconds == null ? "–" : Math.round(d.asa_seconds) + "s"}`,
        level(h.asa_seconds, t.asa), "asa"),
      cell(`${q.agents.available} · ${q.agents.on_call + q.agents.on_hold + q.agents.ringing}`
        + ` · ${q.agents.wrap_up} · ${q.agents.paused}`, null, "", "agents"),
    );
    return tr;
  });
  body.replaceChildren(...rows);
  document.getElementById("total-waiting").textContent = waiting;
  document.getElementById("total-available").textContent = all.available;
  document.getElementById("total-talking").textContent = all.on_call + all.on_hold + all.ringing;
  document.getElementById("clock").textContent =
    new Date(now * 1000).toLocaleTimeString("zh-CN", { hour12: false, timeZone: last.zone });
}

hotline.feed("/api/v1/wallboard/ws", (msg) => {
  if (msg.type !== "wallboard") return;
  skew = msg.at - Date.now() / 1000;
  last = msg;
  render();
}, (up) => {
  const link = document.getElementById("link");
  link.dataset.up = up ? "yes" : "no";
  link.textContent = up ? "实时 live" : "重新连接中 reconnecting";
});
setInterval(render, 1000);  // the longest waits and the clock tick
