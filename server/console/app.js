// herald console: the account, follower and node-stats views, over herald-server's public
// API on this origin. No dependencies, no build step. Every value that comes from the
// server or from a field reaches the page through textContent or a property, never as HTML.
"use strict";

const $ = (id) => document.getElementById(id);

/** A new element with its text and class. */
function el(tag, text, className) {
  const e = document.createElement(tag);
  if (text !== undefined) e.textContent = String(text);
  if (className) e.className = className;
  return e;
}

/** A JSON API call; an error answer throws an Error whose message is "code: message". */
async function api(method, path, token, body) {
  const headers = {};
  if (token) headers.Authorization = "Bearer " + token;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const r = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await r.text();
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch (_) {
    // Not JSON: reported below by status if it is an error.
  }
  if (!r.ok) {
    const e = json && json.error;
    const err = new Error(e ? e.code + ": " + e.message : r.status + " " + r.statusText);
    err.status = r.status;
    throw err;
  }
  return json;
}

/** The id in a token `a.ID.…` (account) or `u.ID.…` (user) of `kind`; null otherwise. */
function tokenId(token, kind) {
  const parts = token.split(".");
  return parts[0] === kind && /^\d+$/.test(parts[1] || "") ? Number(parts[1]) : null;
}

// ----- views: #account, #follower, #stats ------------------------------------------------

const VIEWS = ["account", "follower", "stats"];

function showView() {
  const wanted = location.hash.slice(1);
  const name = VIEWS.includes(wanted) ? wanted : "account";
  for (const v of VIEWS) {
    $("view-" + v).hidden = v !== name;
    $("tab-" + v).classList.toggle("active", v === name);
  }
  stats.show(name === "stats");
}

// ----- account: sign in, send, jobs ------------------------------------------------------

/** The signed-in account; jobs keep the credentials they were sent with. */
const account = { id: null, token: null };

$("login-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  $("login-error").textContent = "";
  try {
    let token = $("login-token").value.trim();
    if (!token) {
      const r = await api("POST", "/v1/token", null, {
        appid: $("login-appid").value.trim(),
        secret: $("login-secret").value.trim(),
      });
      token = r.access_token;
    }
    const id = tokenId(token, "a");
    if (id === null) throw new Error("that is not an account access token (a.ID.…)");
    // Checks the token and names the account.
    const profile = await api("GET", "/v1/accounts/" + id, token);
    account.id = id;
    account.token = token;
    $("login-secret").value = "";
    $("login-token").value = "";
    $("login-status").textContent = "Signed in as account " + id + " (" + profile.name + ").";
    $("send-form").hidden = false;
  } catch (e) {
    $("login-error").textContent = e.message;
  }
});

function syncSendForm() {
  const article = $("send-type").value === "article";
  $("send-article").hidden = !article;
  $("send-text-label").hidden = article;
  $("send-tag-label").hidden = $("send-audience").value !== "tag";
}
$("send-type").addEventListener("change", syncSendForm);
$("send-audience").addEventListener("change", syncSendForm);

function composedMessage() {
  if ($("send-type").value === "text") return { type: "text", text: $("send-text").value };
  return {
    type: "article",
    title: $("send-title").value,
    summary: $("send-summary").value,
    body: $("send-body").value,
    cover: {
      media_id: $("send-cover").value,
      format: $("send-cover-format").value,
      bytes: Number($("send-cover-bytes").value),
    },
  };
}

function composedAudience() {
  return $("send-audience").value === "tag"
    ? { type: "tag", tag: Number($("send-tag").value) }
    : { type: "all" };
}

$("send-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  $("send-error").textContent = "";
  const message = composedMessage();
  const button = $("send-submit");
  button.disabled = true; // one click, one send
  try {
    const r = await api("POST", "/v1/accounts/" + account.id + "/sends", account.token, {
      message,
      audience: composedAudience(),
    });
    addJob(account.id, account.token, r.seq, message.type === "text" ? message.text : message.title);
    if (message.type === "text") $("send-text").value = "";
  } catch (e) {
    $("send-error").textContent = e.message;
  } finally {
    button.disabled = false;
  }
});

const UNFINISHED = ["queued", "sending"];
const JOB_POLL_MS = 300;

/** A job row: `#job-SEQ` with `#job-SEQ-bar`, `#job-SEQ-status` and `#job-SEQ-report`. */
function addJob(acct, token, seq, label) {
  const id = "job-" + seq;
  const li = el("li", undefined, "job");
  li.id = id;
  li.dataset.status = "queued";
  const bar = el("progress");
  bar.id = id + "-bar";
  bar.max = 1;
  bar.value = 0;
  const status = el("span", "queued", "status");
  status.id = id + "-status";
  const report = el("dl", undefined, "report");
  report.id = id + "-report";
  li.append(el("div", "#" + seq + " " + label, "job-head"), bar, status, report);
  $("jobs").prepend(li);
  pollJob(acct, token, seq, li, bar, status, report);
}

async function pollJob(acct, token, seq, li, bar, status, report) {
  let r;
  try {
    r = await api("GET", "/v1/accounts/" + acct + "/jobs/" + seq, token);
  } catch (e) {
    status.textContent = e.message;
    // A refusal will not change; a network failure may pass.
    if (!(e.status >= 400 && e.status < 500)) {
      setTimeout(() => pollJob(acct, token, seq, li, bar, status, report), 1000);
    }
    return;
  }
  const done = r.sent + r.errors + r.filtered;
  const finished = !UNFINISHED.includes(r.status);
  bar.max = Math.max(r.total, 1);
  bar.value = r.total > 0 ? done : finished ? 1 : 0;
  Object.assign(li.dataset, { status: r.status, sent: r.sent, total: r.total, done });
  status.textContent = r.status + ": " + done + " / " + r.total;
  if (!finished) {
    setTimeout(() => pollJob(acct, token, seq, li, bar, status, report), JOB_POLL_MS);
    return;
  }
  const rows = [
    ["status", r.status],
    ["total", r.total],
    ["sent", r.sent],
    ["errors", r.errors],
    ["filtered", r.filtered],
    ["cancelled", r.cancelled],
    ["took", r.finished_at_ms - r.accepted_at_ms + " ms"],
  ];
  if (r.last_error) rows.push(["last error", r.last_error]);
  for (const [k, v] of rows) report.append(el("dt", k), el("dd", v));
}

// ----- follower: the push gateway over a WebSocket ---------------------------------------

/**
 * The follower's connection. `next` is the cursor to resume from (the last entry's cursor
 * + 1, or a `missed` frame's next_cursor), kept in localStorage per user.
 */
const follower = {
  ws: null,
  token: null,
  user: null,
  next: 0,
  wanted: false, // false once the person pressed Disconnect
  retryMs: 1000, // backoff after a failed attempt, doubled up to 30 s, reset by a hello
  hintMs: null, // a `reconnect` frame's after_ms, used for the next attempt
  timer: null,
};

const FEED_LIMIT = 200;
const cursorKey = (user) => "herald.console.cursor." + user;

function setFollowerState(text) {
  $("follower-state").textContent = text;
}

function remember(next) {
  follower.next = next;
  localStorage.setItem(cursorKey(follower.user), String(next));
}

function feed(type, text, cursor) {
  const li = el("li", undefined, "frame frame-" + type);
  li.dataset.type = type;
  if (cursor !== undefined) li.dataset.cursor = cursor;
  li.append(el("span", type, "tag"), el("span", text));
  const list = $("follower-feed");
  list.prepend(li);
  while (list.children.length > FEED_LIMIT) list.lastChild.remove();
}

$("follower-user").addEventListener("change", () => {
  const saved = localStorage.getItem(cursorKey($("follower-user").value));
  $("follower-cursor").placeholder = saved === null ? "0" : saved;
});

$("follow-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const token = $("follower-token").value.trim();
  const typed = $("follower-user").value.trim();
  const user = typed === "" ? tokenId(token, "u") : Number(typed);
  if (user === null) {
    setFollowerState("enter the user id (or a user token u.ID.…)");
    return;
  }
  $("follower-user").value = user;
  disconnect();
  follower.token = token;
  follower.user = user;
  const cursor = $("follower-cursor").value.trim();
  const saved = localStorage.getItem(cursorKey(user));
  follower.next = cursor !== "" ? Number(cursor) : saved !== null ? Number(saved) : 0;
  follower.wanted = true;
  follower.retryMs = 1000;
  $("follower-disconnect").disabled = false;
  openSocket();
});

$("follower-disconnect").addEventListener("click", () => {
  disconnect();
  setFollowerState("disconnected");
});

function disconnect() {
  follower.wanted = false;
  clearTimeout(follower.timer);
  if (follower.ws) follower.ws.close(1000);
  follower.ws = null;
  $("follower-disconnect").disabled = true;
}

function openSocket() {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  const url =
    scheme + "//" + location.host + "/v1/ws?cursor=" + follower.next +
    "&token=" + encodeURIComponent(follower.token);
  setFollowerState("connecting from cursor " + follower.next);
  const ws = new WebSocket(url);
  let greeted = false;
  follower.ws = ws;
  ws.onmessage = (ev) => {
    let f;
    try {
      f = JSON.parse(ev.data);
    } catch (_) {
      return;
    }
    if (f.type === "hello") {
      greeted = true;
      follower.retryMs = 1000;
      remember(f.cursor);
      $("follower-hello").textContent = "hello: user " + f.user + ", from cursor " + f.cursor;
      setFollowerState("connected");
    } else if (f.type === "message") {
      const m = f.message || {};
      const what = m.type === "text" ? m.text : m.title !== undefined ? m.title : m.type;
      feed("message", "account " + f.account + " #" + f.seq + ": " + what, f.cursor);
      remember(f.cursor + 1);
    } else if (f.type === "retracted" || f.type === "expired") {
      feed(f.type, "account " + f.account + " #" + f.seq, f.cursor);
      remember(f.cursor + 1);
    } else if (f.type === "missed") {
      const from = (f.from || []).map((x) => "account " + x.account + " up to #" + x.seq);
      feed("missed", f.count + " entries evicted before they were read (" + from.join(", ") +
        "); recover them through /v1/users/{user}/recover");
      remember(f.next_cursor);
    } else if (f.type === "reconnect") {
      follower.hintMs = f.after_ms;
      feed("reconnect", "the server asks to reconnect after " + f.after_ms + " ms");
    } else {
      feed(String(f.type), JSON.stringify(f));
    }
  };
  ws.onclose = (ev) => {
    if (follower.ws !== ws) return; // replaced or closed on purpose
    follower.ws = null;
    if (follower.wanted) closed(ev.code, greeted);
  };
}

/** After an unwanted close: find out whether the token is refused, else come back. */
async function closed(code, greeted) {
  if (!greeted) {
    // The handshake failed before any frame; a browser hides why, the API says it.
    try {
      await api("GET", "/v1/inbox?limit=1", follower.token);
    } catch (e) {
      if (e.status >= 400 && e.status < 500) {
        setFollowerState("refused: " + e.message);
        disconnect();
        return;
      }
    }
  }
  if (!follower.wanted) return;
  let delay = follower.retryMs;
  if (follower.hintMs !== null) {
    delay = follower.hintMs;
    follower.hintMs = null;
  } else if (!greeted) {
    follower.retryMs = Math.min(follower.retryMs * 2, 30000);
  }
  setFollowerState("closed (" + code + "), reconnecting in " + delay + " ms from cursor " +
    follower.next);
  follower.timer = setTimeout(openSocket, delay);
}

// ----- node stats: /metrics and /readyz --------------------------------------------------

const SERIES = [
  ["herald_users", "users"],
  ["herald_accounts", "accounts"],
  ["herald_follow_edges", "follow edges"],
  ["herald_unfinished_jobs", "unfinished jobs"],
  ["herald_gateway_connections", "gateway connections"],
  ["herald_gateway_deliveries_pushed_total", "deliveries pushed by the gateway"],
  ["herald_deliveries_stored_total", "deliveries stored in inboxes"],
];
const STATS_POLL_MS = 2000;

/**
 * Prometheus text exposition → name → sum of its samples over all labels. Label values
 * are quoted strings and may hold braces (route templates), hence the label pattern.
 */
function parseMetrics(text) {
  const sample = /^([A-Za-z_:][A-Za-z0-9_:]*)(?:\{(?:[^"}]|"(?:[^"\\]|\\.)*")*\})?\s+(\S+)/;
  const sums = new Map();
  for (const line of text.split("\n")) {
    if (line === "" || line[0] === "#") continue;
    const m = sample.exec(line);
    const v = m ? Number(m[2]) : NaN;
    if (Number.isFinite(v)) sums.set(m[1], (sums.get(m[1]) || 0) + v);
  }
  return sums;
}

const stats = {
  timer: null,
  show(on) {
    if (on && this.timer === null) {
      refreshStats();
      this.timer = setInterval(refreshStats, STATS_POLL_MS);
    } else if (!on && this.timer !== null) {
      clearInterval(this.timer);
      this.timer = null;
    }
  },
};

function buildStatsTable() {
  const body = $("stats-body");
  for (const [name, label] of SERIES) {
    const value = el("td", "–", "num");
    value.id = "stat-" + name;
    const tr = el("tr");
    tr.append(el("th", label), el("td", name, "muted code"), value);
    body.append(tr);
  }
}

async function refreshStats() {
  try {
    const r = await fetch("/readyz");
    const body = await r.json().catch(() => null);
    $("stats-ready").textContent = r.ok ? "ready" : body && body.error ? body.error.code : r.status;
    const text = await (await fetch("/metrics")).text();
    const sums = parseMetrics(text);
    for (const [name] of SERIES) {
      // A series appears once first recorded: absent is shown as a dash, not 0.
      $("stat-" + name).textContent = sums.has(name) ? String(sums.get(name)) : "–";
    }
    $("stats-error").textContent = "";
    $("stats-updated").textContent = "updated " + new Date().toLocaleTimeString();
  } catch (e) {
    $("stats-ready").textContent = "unreachable";
    $("stats-error").textContent = e.message;
  }
}

buildStatsTable();
syncSendForm();
window.addEventListener("hashchange", showView);
showView();
