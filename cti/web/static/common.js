// What every page of the hotline shares: calling the API, the live feed with
// reconnects, times and durations, sign-out. Plain browser JavaScript, no
// build step, nothing from a CDN.
"use strict";

const hotline = (() => {
  async function api(method, path, body) {
    const opts = { method, headers: {}, credentials: "same-origin" };
    if (body !== undefined) {
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

  function errorText(err) {
    const id = err.body && err.body.error && err.body.error.id;
    const ZH = { "sign-in-failed": "工号/账号或密码错误", "too-many-attempts": "失败次数过多，请稍后再试",
      "forbidden": "无权执行", "not-signed-in": "请重新登录" };
    return (ZH[id] ? ZH[id] + " · " : "") + err.message;
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

  // one catalogue of the codes the pages show, in both languages
  const labels = {
    state: { logged_out: "未签入 logged out", available: "空闲 available", ringing: "振铃 ringing",
      on_call: "通话中 on a call", on_hold: "保持 on hold", wrap_up: "话后 wrap-up",
      paused: "暂停 paused" },
    pause: { break: "小休 break", lunch: "午餐 lunch", training: "培训 training",
      meeting: "会议 meeting", after_call_work: "事后处理 after-call work" },
    spy: { listen: "监听 listen", whisper: "耳语 whisper", barge: "强插 barge" },
  };
  function label(kind, code) {
    return (labels[kind] && labels[kind][code]) || (code == null ? "" : String(code));
  }

  function percent(ratio) { return ratio == null ? "–" : `${(ratio * 100).toFixed(1)}%`; }

  return { api, errorText, toSignIn, signOut, feed, duration, since, el, labels, label,
    percent };
})();
