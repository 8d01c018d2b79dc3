// Orderline live dashboard: the public API only, no build step, no external assets.
// The event stream is read with fetch() (so the token travels in the Authorization header).
"use strict";

const STATUSES = ["PENDING", "CONFIRMED", "PROCESSING", "SHIPPED", "DELIVERED", "CANCELLED"];
const HOUR = 3600 * 1000;
const $ = (id) => document.getElementById(id);
const state = { token: null, claims: {}, lastId: null, retryMs: 3000, abort: null, expired: false,
  current: {}, entries: {}, hours: new Map(), board: new Map(), restaurant: null, changes: 0 };

function claimsOf(token) {
  try {
    const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    return JSON.parse(atob(part.padEnd(part.length + (4 - part.length % 4) % 4, "=")));
  } catch (error) { return null; }
}
const scopes = () => String(state.claims.scope || "").split(" ");
const isAdmin = () => scopes().includes("orders:admin");

async function api(path) {
  const response = await fetch(path, { headers: { Authorization: `Bearer ${state.token}` } });
  if (!response.ok) {
    let detail = response.statusText;
    try { detail = (await response.json()).detail || detail; } catch (error) { /* not JSON */ }
    throw new Error(`${response.status}: ${detail}`);
  }
  return response.json();
}

function setState(name, text) { const el = $("state"); el.dataset.state = name; el.textContent = text; }
function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "style") node.style.cssText = value; else node.setAttribute(key, value);
  }
  for (const child of children) node.append(child);
  return node;
}
const colour = (status) => `--c: var(--${status})`;
const pill = (status) => el("span", { class: "pill", style: colour(status) }, status);
const hourKey = (date) => new Date(Math.floor(date.getTime() / HOUR) * HOUR).toISOString();
const clock = (iso) => new Date(iso).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });

// -- counts and chart ------------------------------------------------------------------------
async function loadCounts() {
  const rid = state.claims.role === "restaurant" ? state.claims.restaurantId : null;
  let counts = null;
  if (rid) counts = await api(`/api/restaurants/${encodeURIComponent(rid)}/status-counts`);
  else if (scopes().includes("analytics:read")) counts = await api("/api/analytics/status-counts");
  for (const status of STATUSES) {
    state.current[status] = counts ? counts.current[status] || 0 : 0;
    state.entries[status] = counts && counts.totals[status] ? counts.totals[status].count : 0;
  }
  state.hours.clear();
  for (const bucket of counts ? counts.buckets : []) {
    const cells = {};
    for (const [status, cell] of Object.entries(bucket.statuses)) cells[status] = cell.count;
    state.hours.set(new Date(bucket.hour).toISOString(), cells);
  }
  renderCounts(); renderChart();
}

function renderCounts(bumped) {
  const box = $("counts"); box.replaceChildren();
  for (const status of STATUSES) {
    const card = el("div", { class: "count" + (status === bumped ? " bump" : ""), style: colour(status), "data-status": status },
      el("div", { class: "label" }, status),
      el("div", { class: "value" }, String(Math.max(0, state.current[status] || 0))),
      el("div", { class: "sub" }, `${state.entries[status] || 0} entered in 24 h`));
    box.append(card);
  }
}

function renderChart() {
  const now = new Date(), hours = [];
  for (let back = 23; back >= 0; back--) hours.push(hourKey(new Date(now.getTime() - back * HOUR)));
  const totals = hours.map((hour) => STATUSES.reduce((sum, s) => sum + ((state.hours.get(hour) || {})[s] || 0), 0));
  const max = Math.max(1, ...totals), width = 720, height = 220, left = 34, bottom = 22, top = 8;
  const barWidth = (width - left) / 24, scale = (height - bottom - top) / max;
  const ns = "http://www.w3.org/2000/svg", svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  const add = (tag, attrs, text) => {
    const node = document.createElementNS(ns, tag);
    for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
    if (text !== undefined) node.textContent = text;
    svg.append(node); return node;
  };
  for (const tick of [0, 0.5, 1]) {
    const y = height - bottom - tick * max * scale;
    add("line", { x1: left, x2: width, y1: y, y2: y, stroke: "#e4e7ec" });
    add("text", { x: left - 6, y: y + 3, "text-anchor": "end" }, String(Math.round(tick * max)));
  }
  hours.forEach((hour, index) => {
    let y = height - bottom;
    const cells = state.hours.get(hour) || {};
    for (const status of STATUSES) {
      const h = (cells[status] || 0) * scale;
      if (h > 0) {
        const rect = add("rect", { x: left + index * barWidth + 2, y: y - h, width: barWidth - 4, height: h, rx: 2,
          fill: getComputedStyle(document.documentElement).getPropertyValue(`--${status}`).trim() });
        rect.append(Object.assign(document.createElementNS(ns, "title"), { textContent: `${status} ${cells[status]} at ${hour.slice(11, 16)} UTC` }));
        y -= h;
      }
    }
    if (index % 3 === 0) add("text", { x: left + index * barWidth + barWidth / 2, y: height - 6, "text-anchor": "middle" },
      new Date(hour).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }));
  });
  $("chart").replaceChildren(svg);
}

// -- board -----------------------------------------------------------------------------------
async function loadBoard(restaurant) {
  state.restaurant = restaurant || null; state.board.clear();
  $("restaurant").value = restaurant || ""; $("board-name").textContent = restaurant ? `· ${restaurant}` : "";
  if (restaurant) {
    const page = await api(`/api/restaurants/${encodeURIComponent(restaurant)}/orders?limit=50`);
    for (const item of page.items) state.board.set(item.orderId, item);
  }
  renderBoard();
}

function renderBoard(moved) {
  const board = $("board"); board.replaceChildren();
  for (const status of STATUSES) {
    const tickets = [...state.board.values()].filter((o) => o.status === status)
      .sort((a, b) => String(b.updatedAt).localeCompare(String(a.updatedAt)));
    const column = el("div", { class: "column", style: colour(status), "data-status": status },
      el("h3", {}, status, el("span", {}, String(tickets.length))));
    for (const order of tickets.slice(0, 30)) {
      column.append(el("div", { class: "ticket" + (order.orderId === moved ? " moved" : ""), style: colour(status), "data-order": order.orderId },
        el("div", { class: "id" }, order.orderId.slice(0, 8)),
        el("div", { class: "meta" }, `${order.totalAmount} ${order.currency || ""} · ${clock(order.updatedAt)}`)));
    }
    if (!tickets.length) column.append(el("div", { class: "empty" }, state.restaurant ? "—" : "pick a restaurant"));
    board.append(column);
  }
}

// -- events ----------------------------------------------------------------------------------
function apply(change) {
  const status = change.status.status, previous = change.previousStatus;
  if (change.deleted) state.current[status] = (state.current[status] || 0) - 1;
  else if (change.eventType === "OrderPlaced" || change.eventType === "OrderStatusChanged") {
    if (previous) state.current[previous] = (state.current[previous] || 0) - 1;
    state.current[status] = (state.current[status] || 0) + 1;
    state.entries[status] = (state.entries[status] || 0) + 1;
    const hour = hourKey(new Date(change.occurredAt)), cells = state.hours.get(hour) || {};
    cells[status] = (cells[status] || 0) + 1; state.hours.set(hour, cells);
  }
  renderCounts(status); renderChart(); addToFeed(change);
  const rid = change.status.restaurantId;
  if (!state.restaurant && rid && isAdmin()) { loadBoard(rid).catch(showError); return; }
  if (rid !== state.restaurant) return;
  const known = state.board.get(change.orderId);
  if (change.deleted) state.board.delete(change.orderId);
  else if (!known || known.version < change.version) state.board.set(change.orderId, change.status);
  renderBoard(change.orderId);
}

function addToFeed(change) {
  const feed = $("feed");
  const what = change.deleted ? "deleted" : change.previousStatus ? `${change.previousStatus} →` : change.eventType === "OrderPlaced" ? "placed" : "updated";
  feed.prepend(el("li", { class: "fresh", "data-order": change.orderId },
    el("time", { datetime: change.occurredAt }, clock(change.occurredAt)),
    el("span", {}, el("span", { class: "id" }, change.orderId.slice(0, 8)), ` ${what} `),
    pill(change.status.status)));
  while (feed.children.length > 60) feed.lastChild.remove();
  state.changes += 1; $("feed-count").textContent = `${state.changes} change${state.changes === 1 ? "" : "s"}`;
}

function handle(frame) {
  let event = "message", data = "", id = null;
  for (const line of frame.split("\n")) {
    if (!line || line.startsWith(":")) continue;
    const colon = line.indexOf(":"), field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
    if (field === "event") event = value; else if (field === "data") data += (data ? "\n" : "") + value;
    else if (field === "id") id = value; else if (field === "retry") state.retryMs = Number(value) || state.retryMs;
  }
  if (id !== null) state.lastId = id;
  if (event === "change" && data) apply(JSON.parse(data));
  if (event === "resume") setState("reconnecting", "catching up…");
  if (event === "reauthenticate") state.expired = true;  // the token expired: the stream ends
  if (event === "truncated") reload().catch((error) => setState("error", error.message));  // too much missed
}

const reload = () => Promise.all([loadCounts(), loadBoard(state.restaurant)]);

// The stream ended at the token's expiry: ask for a fresh one; start() resumes from state.lastId.
function askForToken() {
  state.token = null; state.expired = false; sessionStorage.removeItem("orderline-token");
  setState("error", "token expired");
  showError("your token expired: paste a fresh one to go on (the dashboard resumes where it stopped)");
  $("token").value = ""; $("login").hidden = false;
}

async function follow() {
  const path = isAdmin() ? "/api/events" : `/api/restaurants/${encodeURIComponent(state.claims.restaurantId)}/events`;
  while (state.token) {
    state.abort = new AbortController();
    const headers = { Authorization: `Bearer ${state.token}`, Accept: "text/event-stream" };
    if (state.lastId) headers["Last-Event-ID"] = state.lastId;
    try {
      setState("connecting", "connecting…");
      const response = await fetch(path, { headers, signal: state.abort.signal, cache: "no-store" });
      if ([401, 403, 404].includes(response.status)) { setState("error", `refused (${response.status})`); return; }
      if (!response.ok) throw new Error(String(response.status));
      setState("live", "live");
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer = (buffer + value).replace(/\r\n?/g, "\n");
        let end;
        while ((end = buffer.indexOf("\n\n")) >= 0) { handle(buffer.slice(0, end)); buffer = buffer.slice(end + 2); }
      }
    } catch (error) {
      if (state.abort.signal.aborted) return;
    }
    if (state.expired) { askForToken(); return; }
    setState("reconnecting", "reconnecting…");
    await new Promise((resolve) => setTimeout(resolve, state.retryMs));
  }
}

// -- start -----------------------------------------------------------------------------------
function showError(error) { $("login-error").textContent = String(error.message || error); }

async function start(token) {
  const claims = claimsOf(token);
  if (!claims) { showError("that is not a JWT"); return; }
  if (!(String(claims.scope || "").split(" ").includes("orders:admin") || claims.role === "restaurant")) {
    showError("this dashboard needs a staff token with orders:admin, or a restaurant token"); return;
  }
  state.token = token; state.claims = claims; sessionStorage.setItem("orderline-token", token);
  $("login").hidden = true; $("main").hidden = false;
  $("who").textContent = claims.role === "restaurant" ? `restaurant ${claims.restaurantId}` : `${claims.role} ${claims.sub}`;
  $("board-form").hidden = claims.role === "restaurant";
  renderCounts(); renderChart(); renderBoard();
  const params = new URLSearchParams(location.search);
  try {
    await Promise.all([loadCounts(), loadBoard(claims.role === "restaurant" ? claims.restaurantId : params.get("restaurant"))]);
  } catch (error) { setState("error", error.message); }
  follow();
}

function logout() {
  if (state.abort) state.abort.abort();
  state.token = null; sessionStorage.removeItem("orderline-token");
  $("main").hidden = true; $("login").hidden = false; setState("idle", "not connected");
}

document.addEventListener("DOMContentLoaded", () => {
  const fromHash = new URLSearchParams(location.hash.slice(1)).get("token");
  if (fromHash) history.replaceState(null, "", location.pathname + location.search);  // not left in the address bar
  $("login-form").addEventListener("submit", (event) => { event.preventDefault(); showError(""); start($("token").value.trim()); });
  $("board-form").addEventListener("submit", (event) => { event.preventDefault(); loadBoard($("restaurant").value.trim()).catch(showError); });
  $("logout").addEventListener("click", logout);
  setInterval(renderChart, 60_000);  // the 24-hour window moves on
  const token = fromHash || sessionStorage.getItem("orderline-token");
  if (token) start(token); else $("login").hidden = false;
});
