// pykeepalived dashboard: reads /api/v1/snapshot every REFRESH_MS and renders it; drain /
// undrain and release / reclaim mastership call the API with the bearer token kept in
// sessionStorage (asked for once).
// No framework, no build step; text goes in with textContent only (no HTML from data).
"use strict";

const REFRESH_MS = 2000;
const TOKEN_KEY = "pykeepalived-token";

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value);
  }
  for (const child of children) {
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

const badge = (text, cls = text) => el("span", { class: `badge ${cls}` }, text);

function ago(at) {
  const s = Math.max(0, Date.now() / 1000 - at);
  if (s < 90) return `${Math.round(s)} s ago`;
  if (s < 5400) return `${Math.round(s / 60)} min ago`;
  return `${(s / 3600).toFixed(1)} h ago`;
}

function bytes(n) {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return `${i ? n.toFixed(1) : n} ${units[i]}`;
}

function notice(message, isError = false) {
  const box = document.getElementById("notice");
  box.textContent = message;
  box.className = isError ? "error" : "";
  box.hidden = false;
  clearTimeout(notice.timer);
  notice.timer = setTimeout(() => { box.hidden = true; }, 8000);
}

function renderInstances(snap) {
  const body = document.querySelector("#instances tbody");
  const rows = snap.instances.map((i) => {
    const last = i.transitions[i.transitions.length - 1];
    const held = i.held
      ? el("span", { class: "held", title: i.held_reason || "" },
        ` held by ${i.held_by}${i.held_until ? ` until ${new Date(i.held_until * 1000).toLocaleTimeString()}` : ""}`)
      : "";
    let action = "";
    if (i.held) {
      action = el("button", { type: "button", "data-action": "reclaim-master",
                              onclick: () => mastership("reclaim-master", i.name) }, "Reclaim");
    } else if (i.state === "MASTER") {
      action = el("button", { type: "button", "data-action": "release-master",
                              onclick: () => mastership("release-master", i.name) }, "Release");
    }
    return el("tr", { "data-instance": i.name },
      el("td", {}, el("strong", {}, i.name)),
      el("td", {}, badge(i.state), held),
      el("td", { class: "num" }, i.priority === i.effective_priority
        ? i.priority : `${i.effective_priority} (configured ${i.priority})`),
      el("td", {}, i.vips.join(", ")),
      el("td", {}, i.state === "MASTER" ? "this node" : (i.master_ip || "unknown")),
      el("td", {}, `${i.interface} / ${i.virtual_router_id}`),
      el("td", { class: "num" }, `${i.adverts_sent} / ${i.adverts_received}`),
      el("td", {}, last ? `${last.old} → ${last.new}, ${ago(last.at)} (${last.reason})` : "—"),
      el("td", {}, action));
  });
  if (!rows.length) rows.push(el("tr", {}, el("td", { colspan: 9, class: "muted" }, "none")));
  body.replaceChildren(...rows);
  const groups = snap.sync_groups.map((g) => `${g.name} ${g.state} (${g.members.join(", ")})`);
  document.getElementById("sync-groups").textContent =
    groups.length ? `Sync groups: ${groups.join("; ")}` : "";
}

function probeText(rs) {
  return rs.probes.map((p) => {
    const ms = p.latency_s == null ? "" : `, ${(p.latency_s * 1000).toFixed(1)} ms`;
    return `${p.checker}: ${p.reason || (p.ok ? "ok" : "failed")}${ms}`;
  }).join("; ") || "no checker";
}

function renderServices(snap) {
  const cards = snap.virtual_servers.map((vs) => {
    const rows = vs.real_servers.map((rs) => {
      const name = `${rs.address}:${rs.port}`;
      const health = rs.healthy ? badge("up") : badge("down");
      const state = el("td", {}, health, " ", rs.drained ? badge("drained") : "");
      const programmed = rs.programmed_weight == null ? "not in table" : rs.programmed_weight;
      const action = rs.drained
        ? el("button", { type: "button", "data-action": "undrain",
                         onclick: () => command("undrain", vs.id, rs) }, "Undrain")
        : el("button", { type: "button", "data-action": "drain",
                         onclick: () => command("drain", vs.id, rs) }, "Drain");
      const cls = rs.drained ? "drained" : (rs.healthy ? "" : "down");
      return el("tr", { "data-rs": name, class: cls },
        el("td", {}, el("strong", {}, name)), state,
        el("td", { class: "num weight" }, `${rs.weight}`),
        el("td", { class: "num programmed" }, `${rs.configured_weight} / ${programmed}`),
        el("td", {}, probeText(rs)),
        el("td", { class: "num" }, `${rs.counters.active_connections} / ${rs.counters.connections}`),
        el("td", { class: "num" }, `${bytes(rs.counters.bytes_in)} / ${bytes(rs.counters.bytes_out)}`),
        el("td", {}, action));
    });
    const quorum = vs.quorum_up ? badge("quorum up", "up") : badge("quorum down", "down");
    return el("div", { class: "card", "data-vs": vs.id },
      el("h3", {}, vs.id, " ", quorum),
      el("div", { class: "muted" }, `${vs.services.join(", ")} · ${vs.scheduler} · ${vs.method}`),
      el("table", {},
        el("thead", {}, el("tr", {}, ...["Real server", "Health", "Weight",
          "Configured / programmed", "Last probe", "Active / total conns", "Bytes in / out", ""]
          .map((h) => el("th", {}, h)))),
        el("tbody", {}, ...rows)));
  });
  if (!cards.length) cards.push(el("p", { class: "muted" }, "No virtual services."));
  const notes = [snap.backend_reason, ...snap.backend_notes].filter(Boolean);
  document.getElementById("backend").textContent =
    `Data plane: ${snap.backend}${notes.length ? ` (${notes.join("; ")})` : ""}`;
  document.getElementById("services").replaceChildren(...cards);
}

function renderEvents(snap) {
  const items = snap.events.slice(-50).reverse().map((e) =>
    el("li", {}, `${new Date(e.at * 1000).toLocaleTimeString()} [${e.kind}] ${e.message}`));
  document.getElementById("events").replaceChildren(...items);
}

function render(snap) {
  const up = ago(snap.started_at).replace(" ago", "");
  document.getElementById("summary").textContent =
    `${snap.version} · data plane ${snap.backend} · up ${up} · reloads ${snap.reloads}`;
  renderInstances(snap);
  renderServices(snap);
  renderEvents(snap);
  document.getElementById("refreshed").textContent =
    `updated ${new Date().toLocaleTimeString()}`;
}

async function refresh() {
  const secret = sessionStorage.getItem(TOKEN_KEY);
  const headers = secret ? { "Authorization": `Bearer ${secret}` } : {};
  const status = document.getElementById("refreshed");
  try {
    const resp = await fetch("/api/v1/snapshot", { cache: "no-store", headers });
    if (resp.status === 401 || resp.status === 403) {
      // Beyond loopback, reading needs the token too.
      const answer = await resp.json().catch(() => ({}));
      if (resp.status === 401 && secret) sessionStorage.removeItem(TOKEN_KEY);
      updateTokenButton();
      status.textContent = `cannot read the state: ${answer.error || resp.statusText}`;
      return;
    }
    if (!resp.ok) throw new Error(`HTTP ${resp.status}`);
    render(await resp.json());
  } catch (err) {
    status.textContent = `cannot reach the daemon (${err.message})`;
  }
}

function token() {
  let value = sessionStorage.getItem(TOKEN_KEY);
  if (!value) {
    value = (window.prompt("API token (from the daemon's api_token_file):") || "").trim();
    if (value) sessionStorage.setItem(TOKEN_KEY, value);
  }
  updateTokenButton();
  return value;
}

function updateTokenButton() {
  document.getElementById("token").textContent =
    sessionStorage.getItem(TOKEN_KEY) ? "Forget token" : "Set token";
}

async function post(path, body, what) {
  const secret = token();
  if (!secret) { notice("No token given: nothing was changed.", true); return; }
  const resp = await fetch(path, {
    method: "POST",
    headers: { "Content-Type": "application/json", "Authorization": `Bearer ${secret}` },
    body: JSON.stringify(body),
  });
  let answer = {};
  try { answer = await resp.json(); } catch (err) { /* not JSON: keep the status */ }
  if (resp.status === 401) {
    sessionStorage.removeItem(TOKEN_KEY);
    updateTokenButton();
  }
  if (resp.ok) notice(`${what}: ${answer.message || "done"}`);
  else notice(`${what} refused (HTTP ${resp.status}): ${answer.error || resp.statusText}`, true);
  await refresh();
}

function command(action, vsId, rs) {
  return post(`/api/v1/real-servers/${action}`,
    { virtual_server: vsId, address: rs.address, port: rs.port },
    `${action} ${rs.address}:${rs.port}`);
}

function mastership(action, name) {
  return post(`/api/v1/instances/${encodeURIComponent(name)}/${action}`, {}, `${action} ${name}`);
}

document.getElementById("token").addEventListener("click", () => {
  if (sessionStorage.getItem(TOKEN_KEY)) sessionStorage.removeItem(TOKEN_KEY);
  else token();
  updateTokenButton();
  refresh();
});
updateTokenButton();
refresh();
setInterval(refresh, REFRESH_MS);
