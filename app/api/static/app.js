/* SLO engine web UI: fills the page shells (app/api/ui.py) from /graphql and the REST API,
   and keeps them live from the event stream (/api/v1/events/stream). No build step. */
"use strict";

const $ = (sel, root = document) => root.querySelector(sel);
const esc = (v) => String(v ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
const app = $("#app");
const view = document.body.dataset.view;
const STATUS_RANK = { HEALTHY: 0, WARNING: 1, CRITICAL: 2, EXHAUSTED: 3 };

async function gql(query, variables = {}) {
  const res = await fetch("/graphql", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ query, variables }),
  });
  const body = await res.json();
  if (body.errors) throw new Error(body.errors.map((e) => e.message).join("; "));
  return body.data;
}

function pct(v, digits = 3) {
  return v === null || v === undefined ? "–" : `${Number(v).toFixed(digits)}%`;
}
function ratioPct(v, digits = 1) {
  return v === null || v === undefined ? "–" : `${(100 * v).toFixed(digits)}%`;
}
function num(v, digits = 2) {
  return v === null || v === undefined ? "–" : Number(v).toFixed(digits);
}
function duration(s) {
  if (s === null || s === undefined) return "–";
  const m = Math.floor(s / 60), d = Math.floor(m / 1440), h = Math.floor((m % 1440) / 60), mm = m % 60;
  if (d) return h ? `${d}d ${h}h` : `${d}d`;
  if (h) return mm ? `${h}h ${mm}m` : `${h}h`;
  return `${mm}m`;
}
function badge(status) {
  return `<span class="badge ${esc(status)}">${esc(status)}</span>`;
}
function budgetBar(ratio) {
  const w = Math.max(0, Math.min(100, 100 * (ratio ?? 0)));
  const cls = ratio < 0.2 ? "low" : ratio < 0.5 ? "mid" : "ok";
  return `<span class="bar" title="${ratioPct(ratio)}"><span class="fill ${cls}" style="width:${w}%"></span></span> ${ratioPct(ratio)}`;
}
/* Fewer events in the period than one bad event's worth of budget: the target cannot be measured. */
function volumeWarning(slo) {
  const st = slo.status;
  if (!st || !st.hasData) return `<span class="warn" title="no events received yet">no data</span>`;
  if (st.totalBudget < 1) {
    const needed = Math.ceil(100 / (100 - slo.targetPercentage));
    return `<span class="warn" title="the period has fewer than ${needed} events: a single bad event overspends the budget">⚠ low volume</span>`;
  }
  return "";
}

/* -- the live event stream ------------------------------------------------------------ */
function live(params, handlers) {
  const qs = new URLSearchParams(params).toString();
  const indicator = $("#live");
  const source = new EventSource(`/api/v1/events/stream${qs ? "?" + qs : ""}`);
  source.onopen = () => { indicator.textContent = "live"; indicator.className = "live on"; };
  source.onerror = () => { indicator.textContent = "reconnecting"; indicator.className = "live off"; };
  source.addEventListener("slo_status_updated", (e) => handlers.status && handlers.status(JSON.parse(e.data)));
  source.addEventListener("slo_alert", (e) => handlers.alert && handlers.alert(JSON.parse(e.data)));
  source.addEventListener("reset", () => handlers.reset && handlers.reset());
  return source;
}

/* A status event's figures, in the GraphQL status shape the pages keep. */
function applyStatusEvent(slo, event) {
  const u = event.slo_status_update;
  const st = slo.status || {};
  Object.assign(st, {
    status: u.status,
    currentSli: u.current_sli,
    errorBudgetRemaining: u.error_budget_remaining,
    errorBudgetConsumed: u.error_budget_consumed,
    burnRate: u.burn_rate,
    timeToExhaustionSeconds: u.time_to_exhaustion_seconds,
    totalBudget: (u.total_events * (100 - u.target_percentage)) / 100,
    hasData: u.total_events > 0 || st.hasData,
    firing: u.firing_alerts.map((name) => ({ name })),
    burnRates: Object.entries(u.burn_rates).map(([window, burnRate]) => ({ window, burnRate })),
  });
  slo.status = st;
  slo.recommendations = u.recommendations;
  slo.totalEvents = u.total_events;
}

function alertLine(a) {
  const when = new Date(a.state === "resolved" && a.resolved_at ? a.resolved_at : a.started_at).toLocaleString();
  return `<li class="alert ${esc(a.state)}" data-alert-id="${esc(a.alert_id)}"><span class="state">${esc(a.state.toUpperCase())}</span>
    <b>${esc(a.rule)}</b> <span class="sev ${esc(a.severity)}">${esc(a.severity)}</span>
    on <a href="/slos/${encodeURIComponent(a.slo_id)}">${esc(a.slo_name)}</a> <span class="muted">${esc(when)}</span></li>`;
}

const SLO_FIELDS = `sloId sloName serviceName sloType targetPercentage timePeriod enabled totalEvents
  status { status currentSli errorBudgetRemaining burnRate totalBudget hasData firing { name severity } }`;

/* -- services overview ----------------------------------------------------------------- */
async function overview() {
  const { slos } = await gql(`{ slos { ${SLO_FIELDS} } }`);
  const byId = new Map(slos.map((s) => [s.sloId, s]));
  const render = () => {
    const services = new Map();
    for (const s of byId.values()) {
      const row = services.get(s.serviceName) || { name: s.serviceName, slos: 0, burning: 0, firing: 0, worst: "HEALTHY" };
      row.slos += 1;
      if (s.status.burnRate > 1) row.burning += 1;
      if (s.status.firing.length) row.firing += 1;
      if (STATUS_RANK[s.status.status] > STATUS_RANK[row.worst]) row.worst = s.status.status;
      services.set(s.serviceName, row);
    }
    const rows = [...services.values()].sort((a, b) => STATUS_RANK[b.worst] - STATUS_RANK[a.worst] || a.name.localeCompare(b.name));
    app.innerHTML = `<h1>Services</h1>
      <div class="cards">${rows.map((r) => `<a class="card ${r.worst}" data-service="${esc(r.name)}" href="/slos?service=${encodeURIComponent(r.name)}">
        <h2>${esc(r.name)}</h2>${badge(r.worst)}
        <dl><dt>SLOs</dt><dd>${r.slos}</dd><dt>burning</dt><dd class="burning">${r.burning}</dd><dt>firing</dt><dd class="firing">${r.firing}</dd></dl></a>`).join("") || '<p class="muted">No SLOs defined.</p>'}</div>
      <h2>Live alerts</h2><ul id="alerts" class="alerts"><li class="muted">none since this page opened</li></ul>`;
  };
  render();
  live({}, {
    status: (e) => { const s = byId.get(e.slo_status_update.slo_id); if (s) { applyStatusEvent(s, e); render(); } },
    alert: (a) => addAlert(a),
    reset: () => location.reload(),
  });
}

function addAlert(a) {
  const list = $("#alerts");
  if (!list) return;
  const empty = $(".muted", list);
  if (empty && empty.tagName === "LI") empty.remove();
  list.insertAdjacentHTML("afterbegin", alertLine(a));
  while (list.children.length > 20) list.lastElementChild.remove();
}

/* -- SLO list ---------------------------------------------------------------------------- */
async function sloList() {
  const { slos } = await gql(`{ slos { ${SLO_FIELDS} } }`);
  const byId = new Map(slos.map((s) => [s.sloId, s]));
  const params = new URLSearchParams(location.search);
  const services = [...new Set(slos.map((s) => s.serviceName))].sort();
  const state = { q: params.get("q") || "", service: params.get("service") || "", status: params.get("status") || "",
    firing: params.get("firing") === "1", below: params.get("below") || "", sort: params.get("sort") || "status", desc: true };
  app.innerHTML = `<h1>SLOs</h1>
    <form class="filters" id="filters" onsubmit="return false">
      <input type="search" name="q" placeholder="search id, name, service" value="${esc(state.q)}">
      <select name="service"><option value="">all services</option>${services.map((s) => `<option${s === state.service ? " selected" : ""}>${esc(s)}</option>`).join("")}</select>
      <select name="status"><option value="">any status</option>${["HEALTHY", "WARNING", "CRITICAL", "EXHAUSTED"].map((s) => `<option${s === state.status ? " selected" : ""}>${s}</option>`).join("")}</select>
      <label><input type="checkbox" name="firing"${state.firing ? " checked" : ""}> firing</label>
      <label>budget below <input type="number" name="below" min="0" max="100" step="1" value="${esc(state.below)}" size="4">%</label>
    </form>
    <div class="scroll"><table id="slos" class="slos"><thead><tr>
      <th data-sort="name">SLO</th><th data-sort="service">service</th><th data-sort="status">status</th>
      <th data-sort="sli">SLI</th><th data-sort="objective">objective</th><th data-sort="budget">budget remaining</th>
      <th data-sort="burn">1h burn</th><th data-sort="firing">firing alerts</th></tr></thead><tbody></tbody></table></div>
    <p id="count" class="muted"></p>
    <h2>Live alerts</h2><ul id="alerts" class="alerts"><li class="muted">none since this page opened</li></ul>`;
  const keys = {
    name: (s) => s.sloName.toLowerCase(), service: (s) => s.serviceName.toLowerCase(),
    status: (s) => STATUS_RANK[s.status.status], sli: (s) => s.status.currentSli ?? -1, objective: (s) => s.targetPercentage,
    budget: (s) => s.status.errorBudgetRemaining, burn: (s) => s.status.burnRate, firing: (s) => s.status.firing.length,
  };
  const row = (s) => `<tr data-slo-id="${esc(s.sloId)}" class="${esc(s.status.status)}">
      <td><a href="/slos/${encodeURIComponent(s.sloId)}">${esc(s.sloName)}</a> ${volumeWarning(s)}<div class="muted small">${esc(s.sloId)} · ${esc(s.timePeriod)}</div></td>
      <td>${esc(s.serviceName)}</td><td class="status">${badge(s.status.status)}</td>
      <td class="sli">${pct(s.status.currentSli)}</td><td>${pct(s.targetPercentage, 2)}</td>
      <td class="budget">${budgetBar(s.status.errorBudgetRemaining)}</td><td class="burn">${num(s.status.burnRate)}×</td>
      <td class="firing">${s.status.firing.map((f) => `<span class="chip">${esc(f.name)}</span>`).join(" ")}</td></tr>`;
  const render = () => {
    const q = state.q.toLowerCase();
    let items = [...byId.values()].filter((s) =>
      (!q || `${s.sloId} ${s.sloName} ${s.serviceName}`.toLowerCase().includes(q)) &&
      (!state.service || s.serviceName === state.service) && (!state.status || s.status.status === state.status) &&
      (!state.firing || s.status.firing.length > 0) &&
      (state.below === "" || 100 * s.status.errorBudgetRemaining < Number(state.below)));
    const key = keys[state.sort] || keys.status;
    items.sort((a, b) => { const x = key(a), y = key(b); return (x < y ? -1 : x > y ? 1 : a.sloId.localeCompare(b.sloId)) * (state.desc ? -1 : 1); });
    $("#slos tbody").innerHTML = items.map(row).join("") || '<tr><td colspan="8" class="muted">No SLO matches.</td></tr>';
    $("#count").textContent = `${items.length} of ${byId.size} SLOs`;
    document.querySelectorAll("#slos th").forEach((th) => { th.className = th.dataset.sort === state.sort ? (state.desc ? "desc" : "asc") : ""; });
  };
  $("#filters").addEventListener("input", (e) => {
    const f = e.target;
    state[f.name] = f.type === "checkbox" ? f.checked : f.value;
    render();
  });
  document.querySelectorAll("#slos th").forEach((th) => th.addEventListener("click", () => {
    state.desc = state.sort === th.dataset.sort ? !state.desc : true;
    state.sort = th.dataset.sort;
    render();
  }));
  render();
  live({}, {
    status: (e) => {
      const s = byId.get(e.slo_status_update.slo_id);
      if (!s) return;
      applyStatusEvent(s, e);
      render();
      const tr = $(`tr[data-slo-id="${CSS.escape(s.sloId)}"]`);
      if (tr) tr.classList.add("flash");
    },
    alert: (a) => addAlert(a),
    reset: () => location.reload(),
  });
}

/* -- SLO detail --------------------------------------------------------------------------- */
const RANGES = [["1h", 3600], ["6h", 21600], ["24h", 86400], ["7d", 604800], ["30d", 2592000], ["90d", 7776000]];

async function sloDetail() {
  const sloId = document.body.dataset.sloId;
  const data = await gql(`query($id: String!) { slo(sloId: $id) { ${SLO_FIELDS} periodSeconds spec recommendations alertTimeline
    status { status currentSli targetSli errorBudgetRemaining errorBudgetConsumed burnRate timeToExhaustion timeToExhaustionSeconds
      totalBudget consumedBudget remainingBudget hasData lastUpdated burnRates { window burnRate }
      firing { name severity longWindow shortWindow threshold burnRateLong burnRateShort } }
    budget { periodStart totalBudget consumedBudget remainingBudget errorBudgetRemaining }
    rules { name kind severity longWindow shortWindow threshold } } }`, { id: sloId });
  const slo = data.slo;
  if (!slo) { app.innerHTML = `<h1>No SLO ${esc(sloId)}</h1><p><a href="/slos">All SLOs</a></p>`; return; }
  document.title = `${slo.sloName} · SLO engine`;
  const ranges = RANGES.filter(([, s]) => s <= Math.max(slo.periodSeconds, 86400));
  app.innerHTML = `<p class="crumbs"><a href="/">Services</a> › <a href="/slos?service=${encodeURIComponent(slo.serviceName)}">${esc(slo.serviceName)}</a> › ${esc(slo.sloId)}</p>
    <h1>${esc(slo.sloName)} <span id="status">${badge(slo.status.status)}</span></h1>
    <p class="muted">${esc(slo.sloType)} · ${esc(slo.timePeriod)} · ${esc(slo.spec.description || "")}</p>
    <div id="tiles" class="tiles"></div>
    <section><h2>SLI</h2><div class="presets" id="presets">${ranges.map(([n, s], i) => `<button data-range="${s}"${i === 2 ? ' class="on"' : ""}>${n}</button>`).join("")}</div>
      <div id="sli-chart" class="chart"></div></section>
    <section><h2>Error budget burn-down</h2><p class="muted small">Exact: at each point, the budget left over the period's events so far; dashed: the ideal straight line to zero at the period's end.</p>
      <div id="budget-chart" class="chart"></div></section>
    <section><h2>Burn rate per window</h2><div id="burn"></div></section>
    <section><h2>Alert rules</h2><div class="scroll"><table id="rules" class="rules"></table></div></section>
    <section><h2>Alert timeline</h2><ul id="timeline" class="alerts"></ul></section>
    <section><h2>Recommendations</h2><ul id="recommendations"></ul></section>
    <section><h2>Definition</h2><pre id="definition">${esc(JSON.stringify(slo.spec, null, 2))}</pre></section>`;
  const renderFigures = () => {
    const st = slo.status;
    const minutes = st.errorBudgetRemaining * (1 - slo.targetPercentage / 100) * slo.periodSeconds / 60;
    $("#status").innerHTML = badge(st.status);
    $("#tiles").innerHTML = [
      ["SLI", pct(st.currentSli), volumeWarning(slo)],
      ["objective", pct(slo.targetPercentage, 2), esc(slo.timePeriod)],
      ["budget remaining", ratioPct(st.errorBudgetRemaining), budgetBar(st.errorBudgetRemaining)],
      ["budget in events", `${num(st.remainingBudget ?? 0, 1)}`, `of ${num(st.totalBudget, 1)} allowed bad events`],
      ["budget in minutes", `${num(minutes, 1)} min`, "of full downtime left this period"],
      ["time to exhaustion", st.timeToExhaustionSeconds === null ? "not burning" : duration(st.timeToExhaustionSeconds), "at the 1h burn rate"],
      ["1h burn rate", `${num(st.burnRate)}×`, ""],
    ].map(([k, v, sub]) => `<div class="tile"><div class="k">${k}</div><div class="v">${v}</div><div class="sub">${sub}</div></div>`).join("");
    const rates = st.burnRates || [];
    const max = Math.max(1, ...rates.map((r) => r.burnRate));
    $("#burn").innerHTML = `<table class="burn">${rates.map((r) => `<tr class="${r.burnRate > 1 ? "hot" : ""}"><th>${esc(r.window)}</th>
      <td class="barcell"><span class="hbar" style="width:${(100 * r.burnRate) / max}%"></span><span class="one" style="left:${100 / max}%"></span></td>
      <td>${num(r.burnRate)}×</td></tr>`).join("")}</table>`;
    const firing = new Map(st.firing.map((f) => [f.name, f]));
    const rate = (w) => (rates.find((r) => r.window === w) || {}).burnRate;
    $("#rules").innerHTML = `<thead><tr><th>rule</th><th>state</th><th>severity</th><th>windows</th><th>burn rates (long / short)</th><th>threshold</th></tr></thead><tbody>${slo.rules.map((r) => `
      <tr class="${firing.has(r.name) ? "firing" : ""}" data-rule="${esc(r.name)}"><td>${esc(r.name)}</td><td>${firing.has(r.name) ? '<span class="badge CRITICAL">firing</span>' : "ok"}</td>
      <td><span class="sev ${esc(r.severity)}">${esc(r.severity)}</span></td>
      <td>${r.longWindow ? `${esc(r.longWindow)} / ${esc(r.shortWindow)}` : r.kind === "budget" ? "period" : "–"}</td>
      <td>${r.longWindow ? `${num(rate(r.longWindow))}× / ${num(rate(r.shortWindow))}×` : r.kind === "budget" ? `${ratioPct(st.errorBudgetConsumed)} consumed` : "–"}</td>
      <td>${r.threshold === null ? "no data" : r.kind === "budget" ? ratioPct(r.threshold, 0) : `${num(r.threshold)}×`}</td></tr>`).join("")}</tbody>`;
    $("#recommendations").innerHTML = (slo.recommendations || []).map((r) => `<li>${esc(r)}</li>`).join("") || '<li class="muted">None: all is well.</li>';
  };
  const renderTimeline = () => {
    $("#timeline").innerHTML = slo.alertTimeline.map(alertLine).join("") || '<li class="muted">No alert seen.</li>';
  };
  renderFigures();
  renderTimeline();
  let rangeS = ranges.length > 2 ? ranges[2][1] : ranges[ranges.length - 1][1];
  const charts = {};
  const drawSli = async () => {
    const end = new Date();
    const start = new Date(end.getTime() - rangeS * 1000);
    const { slo: h } = await gql(`query($id: String!, $s: DateTime!, $e: DateTime!) { slo(sloId: $id) { history(start: $s, end: $e) { timestamp sliValue totalEvents } } }`,
      { id: sloId, s: start.toISOString(), e: end.toISOString() });
    const xs = h.history.map((p) => Date.parse(p.timestamp) / 1000);
    const ys = h.history.map((p) => p.sliValue);
    draw("sli-chart", charts, [xs, ys, xs.map(() => slo.targetPercentage)], [
      { label: "SLI %", stroke: "#2563eb", width: 2, spanGaps: false },
      { label: "objective", stroke: "#dc2626", dash: [6, 4], width: 1.5 },
    ], { x: { time: true }, y: { auto: true } }, "%");
  };
  const drawBudget = async () => {
    const start = new Date(slo.budget.periodStart);
    const now = new Date();
    const periodEnd = new Date(start.getTime() + slo.periodSeconds * 1000);
    const spanS = (now - start) / 1000;
    const step = spanS <= 86400 ? 60 : 3600;
    const { slo: h } = await gql(`query($id: String!, $s: DateTime!, $e: DateTime!, $st: Int) { slo(sloId: $id) { history(start: $s, end: $e, stepSeconds: $st) { timestamp goodEvents totalEvents } } }`,
      { id: sloId, s: start.toISOString(), e: now.toISOString(), st: step });
    const allowed = 1 - slo.targetPercentage / 100;
    let good = 0, total = 0;
    const xs = [], left = [], ideal = [];
    const t0 = start.getTime() / 1000, t1 = periodEnd.getTime() / 1000;
    for (const p of h.history) {
      good += p.goodEvents; total += p.totalEvents;
      const x = Date.parse(p.timestamp) / 1000;
      xs.push(x);
      left.push(total ? 100 * (1 - (total - good) / (allowed * total)) : 100);
      ideal.push(100 * Math.max(0, (t1 - x) / (t1 - t0)));
    }
    xs.push(t1); left.push(null); ideal.push(0);
    draw("budget-chart", charts, [xs, left, ideal], [
      { label: "budget left %", stroke: "#16a34a", width: 2, fill: "rgba(22,163,74,0.08)" },
      { label: "ideal", stroke: "#6b7280", dash: [6, 4], width: 1.5 },
    ], { x: { time: true }, y: { auto: true } }, "%");
  };
  $("#presets").addEventListener("click", (e) => {
    const b = e.target.closest("button");
    if (!b) return;
    document.querySelectorAll("#presets button").forEach((x) => x.classList.toggle("on", x === b));
    rangeS = Number(b.dataset.range);
    drawSli();
  });
  await Promise.all([drawSli(), drawBudget()]);
  let redraw = null;
  live({ slo_id: sloId }, {
    status: (e) => {
      applyStatusEvent(slo, e);
      renderFigures();
      clearTimeout(redraw);
      redraw = setTimeout(() => { drawSli(); drawBudget(); }, 1000);
    },
    alert: (a) => { slo.alertTimeline.unshift(a); renderTimeline(); },
    reset: () => location.reload(),
  });
}

function draw(id, charts, data, series, scales, unit) {
  const el = document.getElementById(id);
  const width = Math.max(280, el.clientWidth);
  const opts = {
    width, height: 240, scales,
    series: [{}, ...series],
    axes: [{}, { values: (u, ticks) => ticks.map((t) => `${+t.toFixed(3)}${unit}`), size: 70 }],
    legend: { live: true },
  };
  if (charts[id]) charts[id].destroy();
  el.innerHTML = data[0].length ? "" : '<p class="muted">No data in this range.</p>';
  charts[id] = new uPlot(opts, data, el);
  el.dataset.points = String(data[0].length);
}

/* -- reports ------------------------------------------------------------------------------- */
async function reports() {
  const params = new URLSearchParams(location.search);
  const now = new Date();
  const period = params.get("period") || `${now.getUTCFullYear()}-${String(now.getUTCMonth() + 1).padStart(2, "0")}`;
  app.innerHTML = `<h1>Reports</h1>
    <form id="report-form" class="filters"><label>period <input name="period" value="${esc(period)}" size="9" title="YYYY, YYYY-MM, YYYY-Qn or YYYY-Www"></label>
      <button>Show</button></form><div id="report"></div>`;
  $("#report-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const p = new FormData(e.target).get("period");
    history.replaceState(null, "", `?period=${encodeURIComponent(p)}`);
    showReport(p);
  });
  await showReport(period);
}

async function showReport(period) {
  const out = $("#report");
  const url = (fmt) => `/api/v1/reports?period=${encodeURIComponent(period)}&format=${fmt}`;
  const res = await fetch(url("json"));
  if (res.status === 404 || res.status === 405) {
    out.innerHTML = `<p id="reports-unavailable" class="warn">Reports unavailable: this engine has no report API (GET /api/v1/reports).</p>`;
    return;
  }
  const body = await res.json();
  if (!res.ok) {
    out.innerHTML = `<p class="warn">${esc(JSON.stringify(body.detail))}</p>`;
    return;
  }
  const iv = body.interval;
  out.innerHTML = `<p>${esc(iv.label)}: ${esc(iv.from)} to ${esc(iv.to)} ${iv.closed ? "(closed)" : "(open: figures still change)"}${iv.complete ? "" : ' <span class="warn">starts before the history retained</span>'}
    · <a id="csv" href="${url("csv")}" download="slo-report-${esc(period)}.csv">Download CSV</a> · <a href="${url("md")}" download="slo-report-${esc(period)}.md">Markdown</a></p>
    <div class="scroll"><table class="report" id="report-slos"><thead><tr><th>SLO</th><th>service</th><th>status</th><th>SLI</th><th>target</th><th>budget consumed</th><th>alert minutes</th><th>pages</th><th>tickets</th></tr></thead><tbody>
    ${body.slos.map((r) => `<tr><td><a href="/slos/${encodeURIComponent(r.slo_id)}">${esc(r.slo_name)}</a></td><td>${esc(r.service_name)}</td><td>${badge(r.status)}</td><td>${pct(r.sli)}</td><td>${pct(r.target, 2)}</td><td>${ratioPct(r.error_budget_consumed)}</td><td>${r.alert_minutes}</td><td>${r.pages}</td><td>${r.tickets}</td></tr>`).join("")}
    </tbody></table></div>
    <h2>Services</h2><div class="scroll"><table class="report"><thead><tr><th>service</th><th>SLI</th><th>met</th><th>at risk</th><th>failed</th><th>no data</th><th>compliance</th></tr></thead><tbody>
    ${[...body.services, { service_name: "all", ...body.all }].map((s) => `<tr><td>${esc(s.service_name)}</td><td>${pct(s.sli)}</td><td>${s.met}</td><td>${s.at_risk}</td><td>${s.failed}</td><td>${s.no_data}</td><td>${pct(s.compliance_percentage, 1)}</td></tr>`).join("")}
    </tbody></table></div>`;
}

const VIEWS = { overview, list: sloList, detail: sloDetail, reports };
(VIEWS[view] || overview)().catch((err) => {
  app.innerHTML = `<p class="warn">Could not load this page: ${esc(err.message)}</p>`;
  console.error(err);
});
