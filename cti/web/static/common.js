// What every page of the hotline shares: calling the API, the live feed with
// reconnects, times and durations, sign-out. Plain browser JavaScript, no
// build step, nothing from a CDN.
"use strict";

const hotline = (() => {
  // body: JSON, or with contentType given, the text as it is (a CSV upload)
  async function api(method, path, body, contentType) {
    const opts = { method, headers: {}, credentials: "same-origin" };
    if (body !== undefined && contentType) {
      opts.headers["Content-Type"] = contentType;
      opts.body = body;
    } else if (body !== undefined) {
      opts.headers["Content-Type"] = "application/json";
      opts.body = JSON.stringify(body);
    }
    const resp = await fetch(path, opts);
    const data = await resp.json().catch(() => ({}));
    if (!resp.ok) {
      const err = new Error((data.error && data.error.message) || resp.statusText);
      err.status = resp.status;
      err.body = data;
      if (resp.status === 401 && !path.startsWith("/api/v1/sign-in")) toSignIn();
      throw err;
    }
    return data;
  }

  // the one catalogue of codes and error ids, both languages (catalogue.json);
  // pages start once it is here (hotline.ready)
  let catalogue = {};
  const ready = fetch("/static/web/catalogue.json", { credentials: "same-origin" })
    .then((r) => r.json()).then((c) => { catalogue = c; }).catch(() => {});

  function texts(kind, code) {
    return catalogue[kind] && catalogue[kind][code];
  }

  // "空闲 available": the Chinese, then the English
  function label(kind, code) {
    const t = texts(kind, code);
    return t ? `${t.zh} ${t.en}` : (code == null ? "" : String(code));
  }

  // an error as the page says it: the catalogue's words for its id (the id is
  // the contract), then what the server said of this case
  function errorText(err) {
    const id = err.body && err.body.error && err.body.error.id;
    const t = id && texts("error", id);
    const fields = err.body && err.body.error && err.body.error.details
      && err.body.error.details.fields;
    const detail = fields && fields.length
      ? fields.map((f) => `${f.field}: ${f.message}`).join("; ") : err.message;
    return t ? `${t.zh} · ${t.en} — ${detail}` : detail;
  }

  function toSignIn() {
    location.replace("/sign-in?next=" + encodeURIComponent(location.pathname + location.search));
  }

  async function signOut() {
    await api("POST", "/api/v1/sign-out").catch(() => {});
    location.replace("/sign-in");
  }

  // A websocket feed: onMessage(msg) for each message; a new snapshot comes
  // first after every (re)connect. onState(true|false) says connected or not.
  function feed(path, onMessage, onState) {
    let retry = 500;
    function open() {
      const ws = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://")
        + location.host + path);
      ws.onopen = () => { retry = 500; onState && onState(true); };
      ws.onmessage = (ev) => onMessage(JSON.parse(ev.data));
      ws.onclose = () => {
        onState && onState(false);
        // a refused upgrade (the session ended) shows up as a quick close:
        // ask the API who we are, which sends us to sign in on a 401
        api("GET", "/api/v1/session").catch(() => {});
        setTimeout(open, retry);
        retry = Math.min(retry * 2, 10000);
      };
    }
    open();
  }

  function duration(s) {
    s = Math.max(0, Math.floor(s));
    const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
    const mm = String(m).padStart(h ? 2 : 1, "0") + ":" + String(sec).padStart(2, "0");
    return h ? `${h}:${mm}` : mm;
  }

  // a moment as people say it: "10:42" today, "11/28 10:42" another day
  function clock(when) {
    if (when == null || when === "") return "";
    const d = new Date(when);
    const hm = d.toTimeString().slice(0, 5);
    return new Date().toDateString() === d.toDateString() ? hm
      : `${d.getMonth() + 1}/${d.getDate()} ${hm}`;
  }

  function since(iso, now) {
    return iso ? duration(((now || Date.now()) - Date.parse(iso)) / 1000) : "";
  }

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v == null || v === false) continue;
      if (k === "class") node.className = v; else if (k.startsWith("data-")) node.setAttribute(k, v);
      else if (k === "text") node.textContent = v; else node[k] = v;
    }
    for (const c of children) if (c != null) node.append(c);
    return node;
  }

  function codes(kind) { return Object.keys(catalogue[kind] || {}); }

  function percent(ratio) { return ratio == null ? "–" : `${(ratio * 100).toFixed(1)}%`; }

  return { api, errorText, toSignIn, signOut, feed, duration, since, clock, el, label, codes,
    percent, ready };
})();
