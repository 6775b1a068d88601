/*
 * AI Foundation operator console (console/app.js): the script of the page nginx serves
 * at /console/ (docs/CONSOLE.md). It reads the admin JSON endpoints (/admin/overview,
 * /admin/jobs, /admin/jobs/{id}) with the admin key kept in sessionStorage, draws the
 * overview (queue, replicas, workers, last-hour charts), the job list and one job with
 * its timeline, and runs the operator actions (cancel, signal, retry).
 *
 * Rules this file keeps (the page runs under a strict CSP, see index.html):
 *   - every text from the API goes in with textContent / text nodes, never as HTML
 *     (no HTML-parsing DOM API is used anywhere in this file);
 *   - no inline styles: looks come from classes in app.css, SVG gets geometry attributes;
 *   - no framework, no build step, no external assets.
 */
"use strict";

(function () {

/* ---- constants and small state ----------------------------------------------------- */

const KEY_STORE = "aif-console-key";
const FINAL = new Set(["succeeded", "failed", "cancelled"]);
const OVERVIEW_REFRESH_MS = 5000;
const JOB_REFRESH_MS = 3000;
const JOB_STATES = ["queued", "running", "waiting", "succeeded", "failed", "compensating", "cancelled"];
/* the admin API sits next to the console: /console/ -> /admin/ */
const API_BASE = new URL("../admin/", document.baseURI);
const SVG_NS = "http://www.w3.org/2000/svg";

const ui = {
	gen: 0,          /* bumped on every navigation: answers of older loads are dropped */
	timer: null,     /* the auto-refresh of the view shown */
	job: null,       /* the job view's skeleton (refs) and its last document */
	memKey: "",      /* fallback when sessionStorage is unavailable */
	lastOk: 0,       /* time of the last successful load */
};

const $ = (id) => document.getElementById(id);

/* ---- DOM helpers (text only, never HTML) ------------------------------------------- */

function setAttrs(n, attrs) {
	if (!attrs)
		return;
	for (const [k, v] of Object.entries(attrs)) {
		if (v === null || v === undefined || v === false)
			continue;
		if (k === "text")
			n.textContent = String(v);
		else if (k === "data")
			for (const [dk, dv] of Object.entries(v)) {
				if (dv !== null && dv !== undefined)
					n.dataset[dk] = String(dv);
			}
		else if (k.startsWith("on") && typeof v === "function")
			n.addEventListener(k.slice(2), v);
		else if (k === "style")
			throw new Error("inline styles are blocked by the CSP; use a class");
		else
			n.setAttribute(k, v === true ? "" : String(v));
	}
}

function appendKids(n, kids) {
	for (const k of kids.flat(Infinity)) {
		if (k === null || k === undefined || k === false)
			continue;
		n.appendChild(k instanceof Node ? k : document.createTextNode(String(k)));
	}
	return n;
}

/* replace the children of n (null/false kids are skipped, strings become text nodes) */
function setKids(n, ...kids) {
	n.textContent = "";
	return appendKids(n, kids);
}

/* el("td", {class: "num"}, "text", otherNode): an element with text nodes as children */
function el(tag, attrs, ...kids) {
	const n = document.createElement(tag);
	setAttrs(n, attrs);
	return appendKids(n, kids);
}

/* the same for SVG: text children become SVG text nodes */
function svg(tag, attrs, ...kids) {
	const n = document.createElementNS(SVG_NS, tag);
	setAttrs(n, attrs);
	return appendKids(n, kids);
}

function svgTitle(text) {
	return svg("title", null, text);
}

function show(n, yes) {
	n.hidden = !yes;
}

function safeClass(s) {
	return String(s == null ? "none" : s).toLowerCase().replace(/[^a-z0-9_-]/g, "-");
}

function badge(state) {
	return el("span", { class: "state state-" + safeClass(state) }, state == null ? "—" : state);
}

function jobLink(id, text) {
	return el("a", { href: "#/job/" + encodeURIComponent(String(id)), class: "mono" },
	    text === undefined ? String(id) : text);
}

/* a table with a header row; returns {table, tbody} */
function makeTable(id, heads) {
	const tbody = el("tbody");
	const table = el("table", { id, class: "grid" },
	    el("thead", null, el("tr", null, heads.map((h) => {
		    const [label, cls] = Array.isArray(h) ? h : [h, null];
		    return el("th", { scope: "col", class: cls }, label);
	    }))),
	    tbody);
	return { table, tbody };
}

function emptyRow(cols, text) {
	return el("tr", { class: "empty" }, el("td", { colspan: cols }, text));
}

function td(content, cls) {
	return el("td", { class: cls }, content);
}

/* ---- formatting --------------------------------------------------------------------- */

const pad = (n, w = 2) => String(n).padStart(w, "0");

function isNum(v) {
	return typeof v === "number" && isFinite(v);
}

function fmtDate(ms) {
	if (!isNum(ms))
		return "—";
	const d = new Date(ms);
	return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
	    `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

function fmtClock(ms, withMs) {
	if (!isNum(ms))
		return "—";
	const d = new Date(ms);
	const s = `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
	return withMs ? s + "." + pad(d.getMilliseconds(), 3) : s;
}

function fmtHM(ms) {
	const d = new Date(ms);
	return `${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

function trimNum(v, digits) {
	return String(+v.toFixed(digits));
}

/* a duration, human: 340 ms, 3.4 s, 4 min 12 s, 3 h 12 min, 2 d 4 h */
function fmtDur(ms) {
	if (!isNum(ms))
		return "—";
	if (ms < 0)
		ms = 0;
	if (ms < 1000)
		return Math.round(ms) + " ms";
	if (ms < 60000)
		return trimNum(ms / 1000, ms < 10000 ? 2 : 1) + " s";
	const s = Math.floor(ms / 1000);
	if (s < 3600)
		return `${Math.floor(s / 60)} min ${s % 60} s`;
	if (s < 86400)
		return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
	return `${Math.floor(s / 86400)} d ${Math.floor((s % 86400) / 3600)} h`;
}

/* an offset on the timeline axis: 0, +250 ms, +1.5 s, +2 min 30 s, +1 h 5 min */
function fmtRel(ms) {
	if (ms <= 0)
		return "0";
	if (ms < 1000)
		return "+" + Math.round(ms) + " ms";
	if (ms < 60000)
		return "+" + trimNum(ms / 1000, 3) + " s";
	const s = Math.round(ms / 1000);
	if (s < 3600)
		return `+${Math.floor(s / 60)} min` + (s % 60 ? ` ${s % 60} s` : "");
	return `+${Math.floor(s / 3600)} h` + (Math.floor((s % 3600) / 60) ? ` ${Math.floor((s % 3600) / 60)} min` : "");
}

function fmtInt(v) {
	return isNum(v) ? String(Math.round(v)).replace(/\B(?=(\d{3})+(?!\d))/g, ",") : "—";
}

function fmtPct(r) {
	return isNum(r) ? trimNum(r * 100, 2) + " %" : "—";
}

function fmtMicros(m) {
	return isNum(m) ? (m / 1e6).toFixed(6) : "—";
}

function orDash(v) {
	return v === null || v === undefined || v === "" ? "—" : String(v);
}

/* Unix ms <-> the value of an <input type="datetime-local"> (browser local time) */
function msToLocalInput(ms) {
	if (!isNum(ms))
		return "";
	const d = new Date(ms);
	return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T` +
	    `${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

function localInputToMs(v) {
	if (!v)
		return null;
	const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2}))?/.exec(v);
	if (!m)
		return null;
	const d = new Date(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +(m[6] || 0), 0);
	return isNaN(d.getTime()) ? null : d.getTime();
}

/* a body as text: pretty JSON when it parses, else as stored */
function pretty(t) {
	try {
		return JSON.stringify(JSON.parse(t), null, 2);
	} catch (_) {
		return t;
	}
}

/* ---- the admin key (sessionStorage only) ------------------------------------------- */

function getKey() {
	try {
		return sessionStorage.getItem(KEY_STORE) || "";
	} catch (_) {
		return ui.memKey;
	}
}

function setKey(k) {
	try {
		sessionStorage.setItem(KEY_STORE, k);
	} catch (_) {
		ui.memKey = k;
	}
}

function forgetKey() {
	ui.memKey = "";
	try {
		sessionStorage.removeItem(KEY_STORE);
	} catch (_) { /* nothing kept */ }
}

/* ---- API ---------------------------------------------------------------------------- */

class ApiError extends Error {
	constructor(status, message, type, code) {
		super(message);
		this.status = status;
		this.type = type || null;
		this.code = code || null;
	}
}

/* api("GET", "jobs/job_x"): the JSON answer, or throws ApiError (status 0: network) */
async function api(method, path, body) {
	const key = getKey();
	if (!key)
		throw new ApiError(401, "No admin key.", "authentication_error", "no_key");
	const headers = { "Authorization": "Bearer " + key, "Accept": "application/json" };
	const opts = { method, headers, cache: "no-store", credentials: "omit", referrerPolicy: "no-referrer" };
	if (body !== undefined) {
		headers["Content-Type"] = "application/json";
		opts.body = JSON.stringify(body);
	}
	let res;
	try {
		res = await fetch(new URL(path, API_BASE), opts);
	} catch (e) {
		throw new ApiError(0, "Network error: the gateway could not be reached (" +
		    (e && e.message ? e.message : "fetch failed") + ").", "network_error", null);
	}
	let data = null;
	let text = "";
	try {
		text = await res.text();
		data = text ? JSON.parse(text) : null;
	} catch (_) {
		data = null;
	}
	if (!res.ok) {
		const e = data && typeof data === "object" && data.error ? data.error : null;
		const msg = e && e.message ? String(e.message) :
		    `HTTP ${res.status}${res.statusText ? " " + res.statusText : ""}`;
		throw new ApiError(res.status, msg, e && e.type, e && e.code);
	}
	if (data === null || typeof data !== "object")
		throw new ApiError(res.status, "The answer was not JSON.", "invalid_response", null);
	return data;
}

/* ---- status, errors, login ---------------------------------------------------------- */

function setStatus(text) {
	$("status").textContent = text;
}

function refreshedStatus(every) {
	ui.lastOk = Date.now();
	setStatus("Last refresh " + fmtClock(ui.lastOk) +
	    (every ? ` · refreshing every ${every / 1000} s` : " · not refreshing"));
}

function showError(message) {
	const e = $("error");
	e.textContent = message;
	show(e, true);
}

function clearError() {
	const e = $("error");
	e.textContent = "";
	show(e, false);
}

function stopTimer() {
	if (ui.timer !== null)
		clearTimeout(ui.timer);
	ui.timer = null;
}

function schedule(gen, fn, ms) {
	stopTimer();
	ui.timer = setTimeout(() => {
		ui.timer = null;
		if (gen === ui.gen)
			fn(gen);
	}, ms);
}

function hideViews() {
	for (const v of ["view-overview", "view-jobs", "view-job"])
		show($(v), false);
}

function updateKeyState() {
	const has = !!getKey();
	$("key-state").textContent = has ? "admin key set (this tab only)" : "no key";
	show($("forget-key"), has);
}

function showLogin(message, isError) {
	ui.gen++;
	stopTimer();
	hideViews();
	updateKeyState();
	const m = $("login-msg");
	m.textContent = message ||
	    "Paste an admin key. It is kept in this tab's session storage only and is gone when the tab closes.";
	m.classList.toggle("error-text", !!isError);
	show($("login"), true);
	setActiveNav(null);
	setStatus("Not signed in");
	$("login-key").focus();
}

/* the key itself was refused (401), or is not an admin key (403 admin_only): any other
 * 403 (a retry the job's own key may not make) is the answer to an action, not to the key */
function keyRefused(err) {
	return err instanceof ApiError && (err.status === 401 ||
	    (err.status === 403 && (err.code === "admin_only" || err.code === null)));
}

/* what every load does with an error: a refused key goes to the login box */
function handleError(err) {
	if (err instanceof ApiError && err.status === 401) {
		forgetKey();
		clearError();
		showLogin("The key was refused: it is invalid, revoked or expired (HTTP 401: " +
		    err.message + "). Paste a valid admin key.", true);
		return true;
	}
	if (keyRefused(err)) {
		forgetKey();
		clearError();
		const f = $("forbidden");
		f.textContent = "This key is not an admin key (HTTP 403: " + err.message +
		    "). The console needs a key with an admin role (aifctl keys create --role admin).";
		show(f, true);
		showLogin("Paste an admin key.", false);
		return true;
	}
	showError(err instanceof ApiError ? err.message : "Unexpected error: " + String(err && err.message || err));
	setStatus("Error at " + fmtClock(Date.now()) +
	    (ui.lastOk ? " · last good refresh " + fmtClock(ui.lastOk) : ""));
	return false;
}

/* ---- routing ------------------------------------------------------------------------ */

function parseHash() {
	const h = location.hash.replace(/^#\/?/, "");
	const q = h.indexOf("?");
	const path = q >= 0 ? h.slice(0, q) : h;
	const params = new URLSearchParams(q >= 0 ? h.slice(q + 1) : "");
	const parts = path.split("/");
	if (parts[0] === "jobs")
		return { view: "jobs", params };
	if (parts[0] === "job" && parts.length > 1 && parts.slice(1).join("/") !== "") {
		let id = parts.slice(1).join("/");
		try {
			id = decodeURIComponent(id);
		} catch (_) { /* keep as typed */ }
		return { view: "job", id };
	}
	return { view: "overview", params };
}

function navigate(hash) {
	if (location.hash === hash)
		route();
	else
		location.hash = hash;
}

function setActiveNav(view) {
	for (const [id, v] of [["nav-overview", "overview"], ["nav-jobs", "jobs"]]) {
		const a = $(id);
		const on = view === v;
		a.classList.toggle("active", on);
		if (on)
			a.setAttribute("aria-current", "page");
		else
			a.removeAttribute("aria-current");
	}
}

function route() {
	ui.gen++;
	stopTimer();
	clearError();
	updateKeyState();
	if (!getKey()) {
		showLogin();
		return;
	}
	show($("login"), false);
	const r = parseHash();
	setActiveNav(r.view);
	hideViews();
	const gen = ui.gen;
	if (r.view === "jobs") {
		show($("view-jobs"), true);
		ui.job = null;
		jobsView(r.params, gen);
	} else if (r.view === "job") {
		show($("view-job"), true);
		jobView(r.id, gen);
	} else {
		show($("view-overview"), true);
		ui.job = null;
		loadOverview(gen);
	}
}

/* ---- overview ----------------------------------------------------------------------- */

async function loadOverview(gen) {
	if (!$("view-overview").firstChild)
		setStatus("Loading…");
	let again = true;
	try {
		const d = await api("GET", "overview");
		if (gen !== ui.gen)
			return;
		clearError();
		renderOverview(d);
		refreshedStatus(OVERVIEW_REFRESH_MS);
	} catch (e) {
		if (gen !== ui.gen)
			return;
		again = !handleError(e);
	}
	if (again && gen === ui.gen)
		schedule(gen, loadOverview, OVERVIEW_REFRESH_MS);
}

function renderOverview(d) {
	const view = $("view-overview");
	const totals = d.totals || {};
	const points = (d.hour && Array.isArray(d.hour.points)) ? d.hour.points : [];
	setKids(view,
	    el("div", { class: "view-head" },
		el("h2", null, "Overview"),
		el("p", { id: "totals", class: "totals" },
		    "Last hour: ",
		    el("strong", { class: "ok-text" }, fmtInt(totals.succeeded)), " succeeded · ",
		    el("strong", { class: "bad-text" }, fmtInt(totals.failed)), " failed · error rate ",
		    el("strong", null, fmtPct(totals.error_rate)),
		    el("span", { class: "muted" }, " · server time " + fmtDate(d.now_ms)))),
	    el("div", { class: "charts" },
		el("figure", { class: "card chart-card" }, throughputChart(points)),
		el("figure", { class: "card chart-card" }, errorChart(points)),
		el("figure", { class: "card chart-card" }, latencyChart(points))),
	    el("div", { class: "two-col" },
		queueCard(d.queue || []),
		replicasCard(d.replicas || [])),
	    workersCard(d.workers || []));
}

function queueCard(rows) {
	const { table, tbody } = makeTable("queue-table",
	    ["Model", ["Priority", "num"], "State", ["Jobs", "num"], ["Oldest", "num"]]);
	if (!rows.length)
		tbody.append(emptyRow(5, "The queue is empty."));
	for (const r of rows) {
		const q = new URLSearchParams();
		if (r.model)
			q.set("model", r.model);
		if (r.state)
			q.set("state", r.state);
		tbody.append(el("tr", { data: { model: r.model, state: r.state, priority: r.priority } },
		    td(el("a", { href: "#/jobs?" + q.toString() }, orDash(r.model))),
		    td(orDash(r.priority), "num"),
		    td(badge(r.state)),
		    td(fmtInt(r.jobs), "num jobs"),
		    td(fmtDur(r.oldest_age_ms), "num age")));
	}
	return el("section", { class: "card" },
	    el("h3", null, "Queue ", el("span", { class: "muted" }, "(jobs not final, by model, priority and state)")),
	    table);
}

function replicasCard(rows) {
	const { table, tbody } = makeTable("replicas-table",
	    ["Model", "Replica", ["In flight", "num"], "Circuit", "Healthy"]);
	if (!rows.length)
		tbody.append(emptyRow(5, "No replicas reported."));
	for (const r of rows) {
		tbody.append(el("tr", { data: { model: r.model, replica: r.replica } },
		    td(orDash(r.model)),
		    td(orDash(r.replica), "mono"),
		    td(fmtInt(r.in_flight), "num"),
		    td(el("span", { class: "pill " + (r.circuit_open ? "pill-bad" : "pill-ok") },
			r.circuit_open ? "open" : "closed")),
		    td(el("span", { class: "pill " + (r.healthy ? "pill-ok" : "pill-bad") },
			r.healthy ? "healthy" : "unhealthy"))));
	}
	return el("section", { class: "card" }, el("h3", null, "Replicas"), table);
}

function workersCard(rows) {
	const { table, tbody } = makeTable("workers-table",
	    [["ID", "num"], "Instance", "Host", ["PID", "num"], "State", "Live", ["Slots", "num"],
		["In flight", "num"], ["Heartbeat", "num"], "Started"]);
	let live = 0, draining = 0, slots = 0, inflight = 0;
	if (!rows.length)
		tbody.append(emptyRow(10, "No workers registered."));
	for (const w of rows) {
		if (w.live)
			live++;
		if (w.state === "draining")
			draining++;
		if (w.live) {
			slots += isNum(w.slots) ? w.slots : 0;
			inflight += isNum(w.in_flight) ? w.in_flight : 0;
		}
		tbody.append(el("tr", { data: { worker: w.id, state: w.state, live: w.live ? "1" : "0" },
		    class: w.live ? null : "dim" },
		    td(orDash(w.id), "num"),
		    td(orDash(w.instance), "mono"),
		    td(orDash(w.host)),
		    td(orDash(w.pid), "num"),
		    td(el("span", { class: "wstate wstate-" + safeClass(w.state) }, orDash(w.state))),
		    td(el("span", { class: "pill " + (w.live ? "pill-ok" : "pill-bad") }, w.live ? "live" : "not live")),
		    td(fmtInt(w.slots), "num"),
		    td(fmtInt(w.in_flight), "num"),
		    td(isNum(w.heartbeat_age_s) ? fmtDur(w.heartbeat_age_s * 1000) + " ago" : "—", "num"),
		    td(fmtDate(w.started_at_ms))));
	}
	return el("section", { class: "card" },
	    el("h3", null, "Workers"),
	    el("p", { id: "workers-summary", class: "summary" },
		el("strong", null, String(live)), " live · ",
		el("strong", null, String(draining)), " draining · ",
		el("strong", null, fmtInt(slots)), " slots on live workers · ",
		el("strong", null, fmtInt(inflight)), " in flight · ",
		String(rows.length), " registered"),
	    table);
}

/* ---- charts (inline SVG, 60 one-minute points) ------------------------------------- */

const CH = { W: 420, H: 176, L: 46, R: 10, T: 30, B: 22 };

function niceMax(v) {
	if (!isNum(v) || v <= 0)
		return 1;
	const p = Math.pow(10, Math.floor(Math.log10(v)));
	for (const m of [1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10])
		if (m * p >= v)
			return m * p;
	return 10 * p;
}

function fmtMsAxis(v) {
	return v < 1000 ? trimNum(v, 0) + " ms" : trimNum(v / 1000, 2) + " s";
}

/* title, axes, grid and legend; x(i) is the left edge of slot i */
function chartFrame(id, title, n, maxV, fmtY, legend) {
	const pw = CH.W - CH.L - CH.R;
	const ph = CH.H - CH.T - CH.B;
	const slots = Math.max(n, 1);
	const s = svg("svg", { id, class: "chart", viewBox: `0 0 ${CH.W} ${CH.H}`,
	    role: "img", "aria-label": title });
	s.append(svg("text", { x: 4, y: 14, class: "chart-title" }, title));
	/* legend, right aligned */
	let lx = CH.W - CH.R;
	for (const [label, cls] of legend.slice().reverse()) {
		const w = label.length * 6.1;
		lx -= w;
		s.append(svg("text", { x: lx, y: 14, class: "chart-legend" }, label));
		lx -= 12;
		s.append(svg("rect", { x: lx, y: 6, width: 9, height: 9, rx: 2, class: cls }));
		lx -= 10;
	}
	for (const f of [0, 0.5, 1]) {
		const y = CH.T + ph - f * ph;
		s.append(svg("line", { x1: CH.L, x2: CH.L + pw, y1: y, y2: y, class: f === 0 ? "axis" : "gridline" }));
		s.append(svg("text", { x: CH.L - 5, y: y + 3.5, class: "axis-label", "text-anchor": "end" },
		    f === 0 ? fmtY(0) : fmtY(maxV * f)));
	}
	const by = CH.H - 6;
	s.append(svg("text", { x: CH.L, y: by, class: "axis-label" }, "-60 min"));
	s.append(svg("text", { x: CH.L + pw / 2, y: by, class: "axis-label", "text-anchor": "middle" }, "-30 min"));
	s.append(svg("text", { x: CH.L + pw, y: by, class: "axis-label", "text-anchor": "end" }, "now"));
	return {
		s, pw, ph, slot: pw / slots,
		x: (i) => CH.L + (i / slots) * pw,
		y: (v) => CH.T + ph - (Math.min(v, maxV) / maxV) * ph,
	};
}

/* an invisible column over slot i carrying the point's tooltip */
function hoverColumn(f, i, text) {
	return svg("g", { class: "pt" }, svgTitle(text),
	    svg("rect", { x: f.x(i), y: CH.T, width: f.slot, height: f.ph, class: "hover" }));
}

function throughputChart(points) {
	const maxV = niceMax(Math.max(0, ...points.map((p) => (p.succeeded || 0) + (p.failed || 0))));
	const f = chartFrame("chart-throughput", "Jobs per minute", points.length, maxV,
	    (v) => trimNum(v, 1), [["succeeded", "c-ok"], ["failed", "c-bad"]]);
	const bw = Math.max(f.slot - 1.5, 1);
	points.forEach((p, i) => {
		const ok = p.succeeded || 0, bad = p.failed || 0;
		const g = hoverColumn(f, i, `${fmtHM(p.t_ms)} — ${ok} succeeded, ${bad} failed`);
		const x = f.x(i) + (f.slot - bw) / 2;
		if (ok > 0)
			g.append(svg("rect", { x, y: f.y(ok), width: bw, height: f.y(0) - f.y(ok), class: "c-ok" }));
		if (bad > 0)
			g.append(svg("rect", { x, y: f.y(ok + bad), width: bw, height: f.y(ok) - f.y(ok + bad), class: "c-bad" }));
		f.s.append(g);
	});
	return f.s;
}

function errorChart(points) {
	const rates = points.map((p) => {
		const n = (p.succeeded || 0) + (p.failed || 0);
		return n > 0 ? ((p.failed || 0) / n) * 100 : null;
	});
	const maxV = niceMax(Math.max(1, ...rates.filter(isNum)));
	const f = chartFrame("chart-errors", "Error rate per minute", points.length, maxV,
	    (v) => trimNum(v, 1) + " %", [["failed / finished", "c-bad"]]);
	const bw = Math.max(f.slot - 1.5, 1);
	points.forEach((p, i) => {
		const r = rates[i];
		const g = hoverColumn(f, i, `${fmtHM(p.t_ms)} — ` + (r === null ? "no finished jobs" :
		    `${trimNum(r, 2)} % (${p.failed || 0} of ${(p.succeeded || 0) + (p.failed || 0)})`));
		if (r !== null && r > 0)
			g.append(svg("rect", { x: f.x(i) + (f.slot - bw) / 2, y: f.y(r), width: bw,
			    height: Math.max(f.y(0) - f.y(r), 1), class: "c-bad" }));
		f.s.append(g);
	});
	return f.s;
}

/* a polyline with gaps where the value is null */
function gapPath(values, f) {
	let d = "";
	let pen = false;
	values.forEach((v, i) => {
		if (!isNum(v)) {
			pen = false;
			return;
		}
		const x = (f.x(i) + f.slot / 2).toFixed(1), y = f.y(v).toFixed(1);
		d += (pen ? "L" : "M") + x + " " + y + " ";
		pen = true;
	});
	return d.trim();
}

function latencyChart(points) {
	const p50 = points.map((p) => (isNum(p.p50_ms) ? p.p50_ms : null));
	const p95 = points.map((p) => (isNum(p.p95_ms) ? p.p95_ms : null));
	const maxV = niceMax(Math.max(1, ...p50.filter(isNum), ...p95.filter(isNum)));
	const f = chartFrame("chart-latency", "Latency (queue + engine)", points.length, maxV,
	    fmtMsAxis, [["p50", "c-p50"], ["p95", "c-p95"]]);
	points.forEach((p, i) => {
		f.s.append(hoverColumn(f, i, `${fmtHM(p.t_ms)} — ` + (p50[i] === null && p95[i] === null ?
		    "no successful jobs" : `p50 ${fmtDur(p50[i])}, p95 ${fmtDur(p95[i])}`)));
	});
	for (const [vals, cls] of [[p95, "c-p95"], [p50, "c-p50"]]) {
		const d = gapPath(vals, f);
		if (d)
			f.s.append(svg("path", { d, class: "line " + cls }));
		vals.forEach((v, i) => {
			if (isNum(v))
				f.s.append(svg("circle", { cx: f.x(i) + f.slot / 2, cy: f.y(v), r: 1.8, class: "dot " + cls }));
		});
	}
	return f.s;
}

/* ---- jobs list ---------------------------------------------------------------------- */

const FILTERS = [
	["id", "f-id", "Job id", "job_… or #"],
	["key", "f-key", "Key prefix", "aif_Ab3x"],
	["tenant", "f-tenant", "Tenant", ""],
	["model", "f-model", "Model", ""],
];

function jobsView(params, gen) {
	const view = $("view-jobs");
	const form = el("form", { id: "jobs-filter", class: "filters card", autocomplete: "off" });
	for (const [name, id, label, ph] of FILTERS)
		form.append(el("div", { class: "field" },
		    el("label", { for: id }, label),
		    el("input", { id, name, type: "text", value: params.get(name) || "", placeholder: ph, spellcheck: "false" })));
	const sel = el("select", { id: "f-state", name: "state" }, el("option", { value: "" }, "any"),
	    JOB_STATES.map((s) => el("option", { value: s }, s)));
	sel.value = JOB_STATES.includes(params.get("state")) ? params.get("state") : "";
	form.append(el("div", { class: "field" }, el("label", { for: "f-state" }, "State"), sel));
	for (const [name, id, label] of [["since", "f-since", "Created since"], ["until", "f-until", "Created until"]]) {
		const v = params.get(name);
		form.append(el("div", { class: "field" }, el("label", { for: id }, label),
		    el("input", { id, name, type: "datetime-local", value: msToLocalInput(v === null ? NaN : Number(v)) })));
	}
	form.append(el("div", { class: "field field-narrow" }, el("label", { for: "f-limit" }, "Limit"),
	    el("input", { id: "f-limit", name: "limit", type: "number", min: 1, max: 200, step: 1,
		value: params.get("limit") || "50" })));
	const apply = el("button", { type: "button", id: "filter-apply", class: "btn-primary" }, "Search");
	const clear = el("button", { type: "button", id: "filter-clear" }, "Clear");
	form.append(el("div", { class: "field field-buttons" }, apply, clear));
	onSubmit(form, () => navigate("#/jobs?" + filterQuery().toString()));
	apply.addEventListener("click", () => form.requestSubmit());
	clear.addEventListener("click", () => navigate("#/jobs"));

	const { table, tbody } = makeTable("jobs-table",
	    ["Job", "Model", "Kind", "State", ["Prio", "num"], ["Attempts", "num"], "Key", "Tenant",
		"Created", ["Duration", "num"], ["HTTP", "num"], "Error"]);
	tbody.append(emptyRow(12, "Loading…"));
	const newest = el("button", { type: "button", id: "first-page" }, "← Newest");
	const older = el("button", { type: "button", id: "next-page" }, "Older →");
	const refresh = el("button", { type: "button", id: "jobs-refresh" }, "Refresh");
	show(newest, params.has("before"));
	show(older, false);
	newest.addEventListener("click", () => {
		const q = new URLSearchParams(params);
		q.delete("before");
		navigate("#/jobs" + (q.toString() ? "?" + q.toString() : ""));
	});
	refresh.addEventListener("click", () => loadJobs(params, ui.gen, tbody, older, count));
	const count = el("span", { id: "jobs-count", class: "muted" });
	setKids(view,
	    el("div", { class: "view-head" }, el("h2", null, "Jobs"),
		el("span", { class: "muted" }, "newest first")),
	    form,
	    el("section", { class: "card" },
		el("div", { class: "table-tools" }, count, el("span", { class: "spacer" }), refresh, newest, older),
		el("div", { class: "table-wrap" }, table)));
	older.addEventListener("click", () => {
		const nb = older.dataset.before;
		if (!nb)
			return;
		const q = new URLSearchParams(params);
		q.set("before", nb);
		navigate("#/jobs?" + q.toString());
	});
	loadJobs(params, gen, tbody, older, count);
}

/* the filter form as hash parameters (since/until: local time -> Unix ms) */
function filterQuery() {
	const q = new URLSearchParams();
	for (const [name, id] of FILTERS) {
		const v = $(id).value.trim();
		if (v)
			q.set(name, v);
	}
	if ($("f-state").value)
		q.set("state", $("f-state").value);
	for (const [name, id] of [["since", "f-since"], ["until", "f-until"]]) {
		const ms = localInputToMs($(id).value);
		if (ms !== null)
			q.set(name, String(ms));
	}
	const lim = parseInt($("f-limit").value, 10);
	if (isNum(lim) && lim !== 50)
		q.set("limit", String(Math.min(Math.max(lim, 1), 200)));
	return q;
}

async function loadJobs(params, gen, tbody, older, count) {
	setStatus("Loading…");
	const q = new URLSearchParams();
	for (const name of ["id", "key", "tenant", "model", "state", "since", "until", "before", "limit"]) {
		const v = params.get(name);
		if (v !== null && v !== "")
			q.set(name, v);
	}
	try {
		const d = await api("GET", "jobs" + (q.toString() ? "?" + q.toString() : ""));
		if (gen !== ui.gen)
			return;
		clearError();
		const rows = Array.isArray(d.data) ? d.data : [];
		setKids(tbody, ...rows.map(jobRow));
		if (!rows.length)
			tbody.append(emptyRow(12, "No jobs match."));
		count.textContent = `${rows.length} job${rows.length === 1 ? "" : "s"}` +
		    (params.has("before") ? " (older page)" : "") + (d.has_more ? ", more below" : "");
		const more = !!d.has_more && d.next_before !== null && d.next_before !== undefined;
		older.dataset.before = more ? String(d.next_before) : "";
		show(older, more);
		refreshedStatus(0);
	} catch (e) {
		if (gen !== ui.gen)
			return;
		setKids(tbody, emptyRow(12, "Could not load the jobs."));
		show(older, false);
		handleError(e);
	}
}

function jobRow(j) {
	const href = "#/job/" + encodeURIComponent(String(j.id));
	const end = isNum(j.finished_ms) ? j.finished_ms : null;
	const dur = isNum(j.created_ms) && end !== null ? fmtDur(end - j.created_ms) :
	    (isNum(j.created_ms) && !FINAL.has(j.state) ? fmtDur(Date.now() - j.created_ms) + "…" : "—");
	const tr = el("tr", { class: "row-link", data: { job: j.id, state: j.state } },
	    td(el("a", { href, class: "mono" }, String(j.id))),
	    td(orDash(j.model)),
	    td([orDash(j.kind), j.workflow ? el("span", { class: "tag tag-workflow" }, "workflow") : null]),
	    td(badge(j.state)),
	    td(orDash(j.priority), "num"),
	    td(`${orDash(j.attempts)}/${orDash(j.max_attempts)}`, "num"),
	    td(orDash(j.key_prefix), "mono"),
	    td(orDash(j.tenant)),
	    td(fmtDate(j.created_ms), "nowrap"),
	    td(dur, "num"),
	    td(orDash(j.http_status), "num" + (j.http_status >= 400 ? " bad-text" : "")),
	    td(orDash(j.error_code), j.error_code ? "mono bad-text" : null));
	tr.addEventListener("click", (e) => {
		if (e.target.closest("a") || (window.getSelection && String(window.getSelection()) !== ""))
			return;
		navigate(href);
	});
	return tr;
}

/* a form that never submits anywhere (CSP form-action 'none'): Enter and the buttons
   call fn */
function onSubmit(form, fn) {
	form.addEventListener("submit", (e) => {
		e.preventDefault();
		fn();
	});
	form.addEventListener("keydown", (e) => {
		if (e.key === "Enter" && e.target instanceof HTMLInputElement) {
			e.preventDefault();
			form.requestSubmit();
		}
	});
}

/* ---- one job ------------------------------------------------------------------------ */

function jobView(id, gen) {
	buildJobSkeleton(id);
	/* public ids are job_ + base62, numbers are digits: anything else is no job */
	if (!/^[A-Za-z0-9_-]{1,64}$/.test(id)) {
		showError(`"${id}" is not a job id (job_… or a number).`);
		setStatus("");
		return;
	}
	setStatus("Loading…");
	loadJob(gen);
}

function section(title, id, ...kids) {
	return el("section", { class: "card", id }, el("h3", null, title), ...kids);
}

function buildJobSkeleton(id) {
	const view = $("view-job");
	const r = { id };
	r.title = el("span", { id: "job-title", class: "mono" }, id);
	r.badges = el("span", { class: "head-badges" });
	r.sub = el("span", { class: "muted", id: "job-sub" });
	r.err = el("div", { id: "job-error", class: "error banner", hidden: true });
	r.facts = el("dl", { id: "job-facts", class: "facts" });
	r.body = el("div", { id: "job-body", hidden: true });

	r.cancel = el("button", { type: "button", id: "action-cancel", class: "btn-danger", hidden: true }, "Cancel");
	r.retry = el("button", { type: "button", id: "action-retry", hidden: true }, "Retry as new job");
	r.signalName = el("input", { id: "signal-name", type: "text", placeholder: "approval", spellcheck: "false" });
	r.signalPayload = el("textarea", { id: "signal-payload", rows: 3, spellcheck: "false" });
	r.signalPayload.value = "{}";
	r.signalBtn = el("button", { type: "button", id: "action-signal" }, "Signal");
	r.signalErr = el("p", { id: "signal-error", class: "error-text", hidden: true });
	r.signalForm = el("form", { id: "signal-form", class: "signal-form", hidden: true, autocomplete: "off" },
	    el("div", { class: "field" }, el("label", { for: "signal-name" }, "Signal name"), r.signalName),
	    el("div", { class: "field field-grow" }, el("label", { for: "signal-payload" }, "Payload (JSON)"), r.signalPayload),
	    el("div", { class: "field field-buttons" }, r.signalBtn),
	    r.signalErr);
	r.noActions = el("p", { class: "muted", id: "no-actions" }, "No action applies to a job in this state.");
	r.result = el("p", { id: "action-result", class: "action-result", role: "status", hidden: true });
	r.cancel.addEventListener("click", () => actionCancel());
	r.retry.addEventListener("click", () => actionRetry());
	onSubmit(r.signalForm, () => actionSignal());
	r.signalBtn.addEventListener("click", () => r.signalForm.requestSubmit());

	r.tlWrap = el("div", { class: "timeline-wrap", id: "timeline-wrap" });
	r.tlLegend = timelineLegend();
	r.steps = makeTable("steps-table", [["#", "num"], "Step", "Kind", "State", ["Attempts", "num"],
	    ["Duration", "num"], "Detail"]);
	r.stepsCard = section("Workflow steps", "steps-card", el("div", { class: "table-wrap" }, r.steps.table));
	r.comps = makeTable("compensations-table", [["Step", "num"], "Compensation", "State",
	    ["Attempts", "num"], "Next", "Last error"]);
	r.compsCard = section("Compensations", "compensations-card", el("div", { class: "table-wrap" }, r.comps.table));
	r.events = makeTable("events-table", [["#", "num"], "Time", ["+ms", "num"], "Event", ["Attempt", "num"],
	    "Worker", "Replica", "Detail", "By"]);
	r.reqMeta = el("span", { class: "muted", id: "request-meta" });
	r.respMeta = el("span", { class: "muted", id: "response-meta" });
	r.reqPre = el("pre", { id: "request-text", class: "body" });
	r.respPre = el("pre", { id: "response-text", class: "body" });

	setKids(view,
	    el("div", { class: "view-head" },
		el("h2", null, el("span", { class: "muted" }, "Job "), r.title), r.badges, r.sub),
	    r.err,
	    r.body);
	setKids(r.body,
	    el("div", { class: "job-top" },
		el("section", { class: "card" }, el("h3", null, "Details"), r.facts),
		el("section", { class: "card actions", id: "job-actions" }, el("h3", null, "Actions"),
		    el("div", { class: "action-buttons" }, r.cancel, r.retry), r.signalForm, r.noActions, r.result)),
	    section("Timeline", "timeline-card", r.tlWrap, r.tlLegend),
	    r.stepsCard,
	    r.compsCard,
	    section("Events", "events-card", el("div", { class: "table-wrap" }, r.events.table)),
	    el("div", { class: "two-col" },
		section("Request", "request-card", r.reqMeta, r.reqPre),
		section("Answer", "response-card", r.respMeta, r.respPre)),
	    el("p", { class: "muted note" }, "Bodies are stored masked (personal data replaced before they were written) and are shown as plain text."));
	show(r.stepsCard, false);
	show(r.compsCard, false);
	ui.job = { refs: r, data: null };
}

async function loadJob(gen) {
	const st = ui.job;
	if (!st)
		return;
	let again = true;
	try {
		const d = await api("GET", "jobs/" + encodeURIComponent(st.refs.id));
		if (gen !== ui.gen || ui.job !== st)
			return;
		clearError();
		st.data = d;
		renderJob(st.refs, d);
		const final = isJobFinal(d.job);
		refreshedStatus(final ? 0 : JOB_REFRESH_MS);
		again = !final;
	} catch (e) {
		if (gen !== ui.gen)
			return;
		again = !handleError(e) && e.status !== 404 && e.status !== 400;
	}
	if (again && gen === ui.gen)
		schedule(gen, loadJob, JOB_REFRESH_MS);
}

function isJobFinal(job) {
	return !!job && FINAL.has(job.state);
}

function renderJob(r, d) {
	const j = d.job || {};
	const u = d.usage || null;
	show(r.body, true);
	r.title.textContent = String(j.id);
	setKids(r.badges, badge(j.state),
	    j.workflow ? el("span", { class: "tag tag-workflow" }, "workflow") : null,
	    j.stream ? el("span", { class: "tag" }, "stream") : null);
	r.sub.textContent = `#${orDash(j.number)} · ${orDash(j.model)} · ${orDash(j.kind)}`;

	if (j.error) {
		setKids(r.err, el("strong", null, "Error "),
		    el("span", { class: "mono" }, `${orDash(j.error.type)} · ${orDash(j.error.code)}`), ": ",
		    orDash(j.error.message));
		show(r.err, true);
	} else {
		show(r.err, false);
	}

	const dur = isNum(j.created_ms) && isNum(j.finished_ms) ? fmtDur(j.finished_ms - j.created_ms) : null;
	const pii = j.pii_counts && typeof j.pii_counts === "object" ? Object.entries(j.pii_counts) : [];
	const facts = [
		["Model", orDash(j.model)],
		["Kind", [orDash(j.kind), j.workflow ? " (workflow run)" : ""]],
		["Key", [el("span", { class: "mono" }, orDash(j.key_prefix)), j.key_name ? " " + j.key_name : "",
		    isNum(j.key_id) ? el("span", { class: "muted" }, ` (key ${j.key_id})`) : null], "job-key"],
		["Tenant", orDash(j.tenant)],
		["Priority", orDash(j.priority)],
		["Attempts", `${orDash(j.attempts)} / ${orDash(j.max_attempts)}`],
		["HTTP status", orDash(j.http_status)],
		["Replica", orDash(j.replica || (u && u.replica))],
		["Created", fmtDate(j.created_ms)],
		["Started", fmtDate(j.started_ms)],
		["Finished", fmtDate(j.finished_ms)],
		["Duration", dur || (isNum(j.created_ms) && !isJobFinal(j) ? fmtDur(Date.now() - j.created_ms) + " so far" : "—")],
		["Queue / engine", u ? `${fmtDur(u.queue_ms)} / ${fmtDur(u.engine_ms)}` : "—"],
		["Tokens", u ? `${fmtInt(u.prompt_tokens)} prompt · ${fmtInt(u.completion_tokens)} completion` : "—"],
		["Cost", u && isNum(u.cost_micros) ? fmtMicros(u.cost_micros) : "—", "job-cost"],
		["Engine", u ? `${orDash(u.engine)}` : "—"],
		["Budget", `${orDash(j.budget_state)}` + (isNum(j.budget_hold_micros) && j.budget_hold_micros > 0 ?
		    ` (hold ${fmtMicros(j.budget_hold_micros)})` : ""), "job-budget"],
		["PII masked", pii.length ? pii.map(([k, v]) => `${k} ${v}`).join(" · ") : "none", "job-pii"],
	];
	if (j.parent !== null && j.parent !== undefined)
		facts.push(["Parent run", [jobLink(j.parent), j.parent_step ? ` step ${j.parent_step}` : ""]]);
	setKids(r.facts, ...facts.flatMap(([k, v, id]) => [el("dt", null, k), el("dd", { id }, v)]));

	renderActions(r, j);
	renderTimeline(r, d);
	renderSteps(r, d);
	renderCompensations(r, d);
	renderEvents(r, d);
	renderBody(r.reqPre, r.reqMeta, d.request, "not kept (zero retention or past retention)");
	renderBody(r.respPre, r.respMeta, d.response, j.state === "succeeded" ?
	    "not kept (zero retention or past retention)" :
	    "none stored: only a job that succeeded keeps an answer");
}

function renderBody(pre, meta, b, why) {
	if (!b || typeof b.text !== "string") {
		pre.textContent = "—";
		pre.classList.add("not-kept");
		meta.textContent = why;
		return;
	}
	pre.classList.remove("not-kept");
	pre.textContent = pretty(b.text);
	meta.textContent = (isNum(b.bytes) ? `${fmtInt(b.bytes)} bytes` : "") +
	    (b.truncated ? " (truncated at 64 KiB)" : "");
}

/* ---- job: actions ------------------------------------------------------------------- */

function canCancel(j) {
	return ["queued", "running", "compensating", "waiting"].includes(j.state) || (!!j.workflow && !FINAL.has(j.state));
}

function canSignal(j) {
	return !!j.workflow && !FINAL.has(j.state);
}

function canRetry(j) {
	return (j.state === "failed" || j.state === "cancelled") && !j.workflow;
}

function renderActions(r, j) {
	const c = canCancel(j), s = canSignal(j), t = canRetry(j);
	show(r.cancel, c);
	show(r.retry, t);
	show(r.signalForm, s);
	show(r.noActions, !c && !s && !t);
	r.cancel.textContent = j.workflow ? "Cancel run" : "Cancel";
}

/* the in-page confirm dialog: resolves true on "Confirm" */
function confirmDialog(text, yesLabel) {
	return new Promise((resolve) => {
		const dlg = $("confirm-dialog");
		const yes = $("confirm-yes"), no = $("confirm-no");
		$("confirm-text").textContent = text;
		yes.textContent = yesLabel || "Confirm";
		const ac = new AbortController();
		const done = (v) => {
			ac.abort();
			if (dlg.open)
				dlg.close();
			resolve(v);
		};
		yes.addEventListener("click", () => done(true), { signal: ac.signal });
		no.addEventListener("click", () => done(false), { signal: ac.signal });
		dlg.addEventListener("cancel", (e) => {
			e.preventDefault();
			done(false);
		}, { signal: ac.signal });
		if (dlg.open)
			dlg.close();
		dlg.showModal();
		no.focus();
	});
}

function actionMessage(r, kids, isError) {
	setKids(r.result, ...[].concat(kids));
	r.result.classList.toggle("error", !!isError);
	r.result.classList.toggle("ok", !isError);
	show(r.result, true);
}

/* confirm, POST, show the answer, reload the job */
async function runAction(what, confirmText, yesLabel, body, onOk) {
	const st = ui.job;
	if (!st || !st.data)
		return;
	const r = st.refs;
	if (!(await confirmDialog(confirmText, yesLabel)))
		return;
	if (ui.job !== st)
		return;
	const buttons = [r.cancel, r.retry, r.signalBtn];
	buttons.forEach((b) => { b.disabled = true; });
	try {
		const a = await api("POST", "jobs/" + encodeURIComponent(r.id) + "/" + what, body);
		if (ui.job !== st)
			return;
		actionMessage(r, onOk(a), false);
	} catch (e) {
		if (keyRefused(e)) {
			handleError(e);
			return;
		}
		if (ui.job === st)
			actionMessage(r, `${what} failed: ${e.message}`, true);
	} finally {
		buttons.forEach((b) => { b.disabled = false; });
	}
	if (ui.job === st) {
		const gen = ui.gen;
		stopTimer();
		loadJob(gen);
	}
}

function actionCancel() {
	const j = ui.job && ui.job.data && ui.job.data.job;
	if (!j)
		return;
	const text = j.workflow ?
	    `Cancel the workflow run ${j.id}? Its runner stops it; the compensations of its finished steps run.` :
	    `Cancel job ${j.id} (${orDash(j.model)}, ${j.state})? A running attempt is stopped and the job will not be retried.`;
	runAction("cancel", text, "Cancel job", undefined,
	    (a) => `Cancel requested: ${a.job || j.id} is ${a.state || "being cancelled"}.`);
}

function actionRetry() {
	const d = ui.job && ui.job.data;
	if (!d)
		return;
	const j = d.job;
	const key = (j.key_name ? `"${j.key_name}" ` : "") + `(${orDash(j.key_prefix)}` +
	    (isNum(j.key_id) ? `, key ${j.key_id}` : "") + ")";
	let text = `Retry ${j.id} as a new job? The new job is billed to the original key ${key}: ` +
	    "its rate limits and budget apply. It sends the stored, masked request, not the original one.";
	if (!d.request)
		text += "\n\nThe request of this job was not kept: the gateway may refuse the retry.";
	else if (d.request.truncated)
		text += "\n\nThe stored request was truncated at 64 KiB.";
	runAction("retry", text, "Retry as new job", undefined, (a) => [
		"Retried as new job ", jobLink(a.new_job),
		isNum(a.key_id) ? ` (billed to key ${a.key_id}).` : "."]);
}

function actionSignal() {
	const st = ui.job;
	if (!st || !st.data)
		return;
	const r = st.refs;
	const name = r.signalName.value.trim();
	const raw = r.signalPayload.value.trim();
	show(r.signalErr, false);
	if (!name) {
		r.signalErr.textContent = "Give the signal a name.";
		show(r.signalErr, true);
		r.signalName.focus();
		return;
	}
	let payload;
	try {
		payload = JSON.parse(raw);
	} catch (e) {
		r.signalErr.textContent = "The payload is not valid JSON: " + e.message;
		show(r.signalErr, true);
		r.signalPayload.focus();
		return;
	}
	runAction("signal",
	    `Send the signal "${name}" to the workflow run ${st.data.job.id} with the payload ${JSON.stringify(payload)}?`,
	    "Send signal", { name, payload },
	    (a) => `Signal "${a.name || name}" sent to ${a.job || st.data.job.id}.`);
}

/* ---- job: tables -------------------------------------------------------------------- */

function firstEnqueueMs(d) {
	const evs = d.events || [];
	const enq = evs.find((e) => e.event === "enqueued" && isNum(e.at_ms));
	if (enq)
		return enq.at_ms;
	if (d.job && isNum(d.job.created_ms))
		return d.job.created_ms;
	const first = evs.find((e) => isNum(e.at_ms));
	return first ? first.at_ms : null;
}

function renderEvents(r, d) {
	const evs = d.events || [];
	const base = firstEnqueueMs(d);
	const rows = evs.map((e, i) => el("tr", {
		class: "ev ev-" + safeClass(e.event) + (e.actor_key_id !== null && e.actor_key_id !== undefined ? " ev-operator" : ""),
		data: { event: e.event, attempt: e.attempt === null || e.attempt === undefined ? "" : e.attempt, seq: e.seq },
	},
	    td(String(i + 1), "num muted"),
	    el("td", { class: "mono nowrap", title: fmtDate(e.at_ms) }, fmtClock(e.at_ms, true)),
	    td(isNum(e.at_ms) && isNum(base) ? `+${Math.round(e.at_ms - base)} ms` : "—", "num mono"),
	    td(el("span", { class: "evname evname-" + eventCategory(e) }, orDash(e.event))),
	    td(e.attempt ? String(e.attempt) : "—", "num"),
	    td(orDash(e.worker_id), "num"),
	    td(orDash(e.replica), "mono"),
	    td(orDash(e.detail), "detail"),
	    td(e.actor_key_id !== null && e.actor_key_id !== undefined ? `by admin key ${e.actor_key_id}` : "", "actor")));
	setKids(r.events.tbody, ...rows);
	if (!rows.length)
		r.events.tbody.append(emptyRow(9, "No events recorded."));
}

/* the step where a run stopped: its failed step, else (a run that did not succeed) its
   last step that did not succeed */
function stoppedStepIndex(d) {
	const steps = d.steps || [];
	const j = d.job || {};
	const failed = steps.findIndex((s) => s.state === "failed");
	if (failed >= 0)
		return failed;
	if (["failed", "cancelled", "compensating"].includes(j.state))
		for (let i = steps.length - 1; i >= 0; i--)
			if (steps[i].state !== "succeeded")
				return i;
	return -1;
}

function renderSteps(r, d) {
	const steps = d.steps || [];
	const isRun = !!(d.job && d.job.workflow) || steps.length > 0;
	show(r.stepsCard, isRun);
	if (!isRun)
		return;
	const stop = stoppedStepIndex(d);
	const rows = steps.map((s, i) => {
		const detail = [];
		if (s.branch_taken)
			detail.push(el("span", { class: "branch" }, "→ " + s.branch_taken));
		if (s.waiting_for)
			detail.push(el("span", null, "waits for " + s.waiting_for +
			    (isNum(s.wake_at_ms) ? " until " + fmtDate(s.wake_at_ms) : "")));
		else if (isNum(s.wake_at_ms))
			detail.push(el("span", null, "wakes at " + fmtDate(s.wake_at_ms)));
		if (s.child)
			detail.push(el("span", null, "job ", jobLink(s.child), s.child_state ? " " : "",
			    s.child_state ? badge(s.child_state) : null));
		if (s.error)
			detail.push(el("span", { class: "error-text" }, String(s.error)));
		if (i === stop)
			detail.unshift(el("span", { class: "stopped-tag" }, "stopped here"));
		const end = isNum(s.finished_ms) ? s.finished_ms : (isNum(s.started_ms) && !isJobFinal(d.job) ? Date.now() : null);
		return el("tr", { class: "step" + (i === stop ? " stopped-here" : ""), data: { step: s.name, state: s.state } },
		    td(orDash(s.seq !== undefined && s.seq !== null ? s.seq : i + 1), "num"),
		    td(orDash(s.name), "mono"),
		    td(orDash(s.kind)),
		    td(badge(s.state)),
		    td(`${orDash(s.attempts)}/${orDash(s.max_attempts)}`, "num"),
		    td(isNum(s.started_ms) && end !== null ? fmtDur(end - s.started_ms) + (isNum(s.finished_ms) ? "" : "…") : "—", "num"),
		    el("td", { class: "detail" }, detail.flatMap((n, k) => (k ? [" · ", n] : [n]))));
	});
	setKids(r.steps.tbody, ...rows);
	if (!rows.length)
		r.steps.tbody.append(emptyRow(7, "No step has run yet."));
}

function renderCompensations(r, d) {
	const comps = d.compensations || [];
	show(r.compsCard, comps.length > 0);
	setKids(r.comps.tbody, ...comps.map((c) => el("tr", {
		class: "comp", data: { name: c.name, state: c.state, step: c.step_no },
	},
	    td(orDash(c.step_no), "num"),
	    td(orDash(c.name), "mono"),
	    td(badge(c.state)),
	    td(`${orDash(c.attempts)}/${c.max_attempts === 0 ? "until done" : orDash(c.max_attempts)}`, "num"),
	    td(isNum(c.next_ms) && (c.state === "pending" || c.state === "running") ? fmtDate(c.next_ms) : "—", "nowrap"),
	    td(c.last_error ? el("span", { class: "error-text" }, String(c.last_error)) : "—", "detail"))));
}

/* ---- job: the timeline (inline SVG) ------------------------------------------------- */

/* colour family of an event marker */
function eventCategory(e) {
	const n = String(e.event || "");
	if (e.actor_key_id !== null && e.actor_key_id !== undefined && n !== "cancelled")
		return "operator";
	if (n === "succeeded" || n === "compensation_succeeded")
		return "ok";
	if (n === "failed" || n === "attempt_failed" || n === "compensation_gave_up" || n === "expired")
		return "bad";
	if (n === "cancelled")
		return "cancel";
	if (n === "claimed")
		return "run";
	if (n.startsWith("compensat"))
		return "comp";
	if (n === "retry_scheduled" || n === "lease_expired" || n === "released" || n === "fallback" || n === "budget_overage")
		return "warn";
	if (n.startsWith("signal"))
		return "signal";
	return "info";
}

/* attempts of a model job: rows of [wait before it][its bar], in order */
function timelineAttempts(evs, job, final, tEnd) {
	const rows = [];
	let cur = null;       /* the open attempt bar */
	let pending = null;   /* a row whose wait is open (queued, backoff, requeued) */
	const nextN = () => {
		for (let i = rows.length - 1; i >= 0; i--)
			if (rows[i].n)
				return rows[i].n + 1;
		return 1;
	};
	const newRow = (kind, t, ev) => {
		const r = { n: nextN(), wait: kind ? { kind, start: t, end: null, ev } : null, bar: null };
		rows.push(r);
		return r;
	};
	const close = (bar, t, outcome, e) => {
		bar.end = t;
		bar.outcome = outcome;
		if (e && e.detail && outcome !== "succeeded")
			bar.detail = e.detail;
		if (e && e.replica)
			bar.replica = e.replica;
	};
	const cutWait = (t) => {
		if (pending) {
			pending.wait.end = t;
			pending = null;
		}
	};
	for (const e of evs) {
		const t = e.at_ms;
		if (!isNum(t))
			continue;
		switch (e.event) {
		case "enqueued":
			if (!pending && !cur)
				pending = newRow("queued", t, e);
			break;
		case "claimed": {
			if (cur)
				close(cur, t, "lost", null);
			const r = pending || newRow(null, t, e);
			if (r.wait)
				r.wait.end = t;
			pending = null;
			if (e.attempt)
				r.n = e.attempt;
			r.bar = { start: t, end: null, outcome: "running", worker: e.worker_id, replica: e.replica, detail: null };
			cur = r.bar;
			break;
		}
		case "attempt_failed":
			if (cur) {
				close(cur, t, "failed", e);
				cur = null;
			} else {
				const r = newRow(null, t, e);
				if (e.attempt)
					r.n = e.attempt;
				r.bar = { start: t, end: t, outcome: "failed", worker: e.worker_id, replica: e.replica, detail: e.detail };
			}
			break;
		case "retry_scheduled":
			if (cur) {
				close(cur, t, "failed", e);
				cur = null;
			}
			cutWait(t);
			pending = newRow("backoff", t, e);
			break;
		case "lease_expired":
		case "released":
			if (cur) {
				close(cur, t, e.event, e);
				cur = null;
			}
			cutWait(t);
			if (e.event === "released" || /requeued/.test(String(e.detail || "")))
				pending = newRow("requeued", t, e);
			break;
		case "succeeded":
		case "failed":
		case "cancelled":
		case "expired":
		case "compensating":
			if (cur) {
				close(cur, t, e.event === "compensating" ? "failed" : e.event, e);
				cur = null;
			}
			if (pending && e.event !== "compensating")
				pending.wait.cut = e.event;
			cutWait(t);
			break;
		default:
			break;
		}
	}
	if (cur) {
		cur.end = final ? (isNum(job.finished_ms) ? job.finished_ms : tEnd) : tEnd;
		cur.open = !final;
	}
	if (pending) {
		pending.wait.end = tEnd;
		pending.wait.open = !final;
	}
	return rows;
}

/* compensations: the compensating phase and one row per compensation with its attempts */
function timelineCompensations(evs, comps, final, tEnd) {
	const rows = new Map();
	const rowOf = (name, stepNo) => {
		let r = rows.get(name);
		if (!r) {
			r = { name, stepNo, segs: [], open: null, lastFail: null };
			rows.set(name, r);
		}
		return r;
	};
	for (const c of comps)
		rowOf(String(c.name), c.step_no).state = c.state;
	let phase = null;
	for (const e of evs) {
		const t = e.at_ms;
		if (!isNum(t))
			continue;
		if (e.event === "compensating" && !phase)
			phase = { start: t, end: null };
		else if (phase && phase.end === null && (e.event === "failed" || e.event === "cancelled"))
			phase.end = t;
		const m = /^compensation_(started|succeeded|failed|gave_up)$/.exec(String(e.event));
		if (!m)
			continue;
		const nm = /^(.+?) \(step (\d+)/.exec(String(e.detail || ""));
		if (!nm)
			continue;
		const r = rowOf(nm[1], +nm[2]);
		if (m[1] === "started") {
			if (r.lastFail !== null)
				r.segs.push({ kind: "backoff", start: r.lastFail, end: t });
			r.lastFail = null;
			r.open = { start: t };
		} else {
			r.segs.push({ kind: m[1], start: r.open ? r.open.start : t, end: t, detail: e.detail });
			r.open = null;
			r.lastFail = m[1] === "failed" ? t : null;
		}
	}
	for (const r of rows.values()) {
		if (r.open)
			r.segs.push({ kind: "running", start: r.open.start, end: tEnd, open: !final });
		else if (r.lastFail !== null && !final)
			r.segs.push({ kind: "backoff", start: r.lastFail, end: tEnd, open: true });
	}
	if (phase && phase.end === null)
		phase.end = tEnd;
	return { phase, rows: [...rows.values()].sort((a, b) => (b.stepNo || 0) - (a.stepNo || 0)) };
}

const TIME_STEPS = [1, 2, 5, 10, 20, 50, 100, 200, 250, 500, 1e3, 2e3, 5e3, 1e4, 15e3, 3e4, 6e4,
	12e4, 3e5, 6e5, 9e5, 18e5, 36e5, 72e5, 108e5, 216e5, 432e5, 864e5, 1728e5, 6048e5];

function niceTimeStep(raw) {
	return TIME_STEPS.find((s) => s >= raw) || Math.ceil(raw / 864e5) * 864e5;
}

/* time -> x, linear, except that a few very long idle gaps (a wait of hours between
   busy moments) are drawn as short breaks so the busy parts stay readable */
function timelineScale(times, t0, t1, x0, x1) {
	const span = Math.max(t1 - t0, 1);
	const ts = [...new Set(times.filter((t) => isNum(t) && t >= t0 && t <= t1).concat([t0, t1]))].sort((a, b) => a - b);
	let breaks = [];
	for (let i = 0; i + 1 < ts.length; i++) {
		const g = ts[i + 1] - ts[i];
		if (g >= 30000 && g > 0.4 * span)
			breaks.push({ a: ts[i], b: ts[i + 1], g });
	}
	breaks = breaks.sort((p, q) => q.g - p.g).slice(0, 3).sort((p, q) => p.a - q.a);
	const kept = span - breaks.reduce((s, b) => s + b.g, 0);
	const frac = 0.1;
	const B = breaks.length ? Math.max(kept, 1) * frac / (1 - frac * breaks.length) : 0;
	const V = breaks.length ? Math.max(kept, 0) + B * breaks.length : span;
	const k = (x1 - x0) / (V || 1);
	const x = (t) => {
		let v = 0;
		let prev = t0;
		for (const br of breaks) {
			if (t <= br.a)
				break;
			v += br.a - prev;
			if (t < br.b)
				return x0 + (v + ((t - br.a) / br.g) * B) * k;
			v += B;
			prev = br.b;
		}
		return x0 + (v + (t - prev)) * k;
	};
	for (const br of breaks) {
		br.xa = x(br.a);
		br.xb = x(br.b);
	}
	/* ticks: real time from t0, on the parts that are not breaks */
	const segs = [];
	let from = t0;
	for (const br of breaks) {
		segs.push([from, br.a]);
		from = br.b;
	}
	segs.push([from, t1]);
	const visiblePx = (x1 - x0) * (breaks.length ? 1 - frac * breaks.length : 1);
	const step = niceTimeStep((breaks.length ? Math.max(kept, 1) : span) / Math.max(visiblePx / 95, 1));
	const ticks = [];
	for (const [a, b] of segs) {
		for (let n = Math.ceil((a - t0) / step); t0 + n * step <= b; n++)
			ticks.push({ t: t0 + n * step, x: x(t0 + n * step) });
	}
	return { x, breaks, ticks };
}

/* staggered label rows for the event markers: rows[i] is the row of label i */
function layoutLabels(items, x0, xMax) {
	const ends = [];
	const MAXROWS = 10;
	return items.map((it) => {
		const w = it.text.length * 6.2 + 4;
		let left = it.x - 3;
		let anchor = "start";
		if (left + w > xMax) {
			left = it.x + 3 - w;
			anchor = "end";
		}
		if (left < x0 - 20)
			left = x0 - 20;
		let row = ends.findIndex((end) => end + 6 <= left);
		if (row < 0) {
			if (ends.length < MAXROWS) {
				row = ends.length;
				ends.push(-Infinity);
			} else {
				row = ends.indexOf(Math.min(...ends));
			}
		}
		ends[row] = left + w;
		return { row, anchor, rows: () => ends.length };
	});
}

function timelineLegend() {
	const items = [["queued", "lg-queued"], ["attempt succeeded", "lg-ok"], ["attempt failed", "lg-bad"],
		["running", "lg-run"], ["lease expired / released", "lg-warn"], ["backoff / requeued", "lg-backoff"],
		["waiting", "lg-waiting"],
		["compensation", "lg-comp"], ["operator action", "lg-operator"], ["cancelled", "lg-cancel"]];
	return el("div", { class: "tl-legend", "aria-hidden": "true" },
	    items.map(([t, c]) => el("span", { class: "lg" }, el("span", { class: "sw " + c }), t)));
}

function renderTimeline(r, d) {
	const width = r.tlWrap.clientWidth || 1100;
	const s = drawTimeline(d, width);
	setKids(r.tlWrap, s);
}

function drawTimeline(d, width) {
	const job = d.job || {};
	const evs = (d.events || []).filter((e) => isNum(e.at_ms));
	const steps = d.steps || [];
	const comps = d.compensations || [];
	const final = isJobFinal(job);
	const now = Date.now();

	const times = evs.map((e) => e.at_ms);
	for (const st of steps)
		times.push(st.started_ms, st.finished_ms);
	times.push(job.finished_ms);
	if (!evs.length)
		times.push(job.created_ms, job.started_ms);
	const known = times.filter(isNum);
	const W = Math.max(640, Math.round(width));
	if (!known.length)
		return svg("svg", { id: "timeline", class: "timeline", viewBox: `0 0 ${W} 40`, width: W, height: 40 },
		    svg("text", { x: 12, y: 24, class: "tl-empty" }, "No events to draw."));
	const t0 = Math.min(...known);
	let t1 = Math.max(...known);
	if (!final)
		t1 = Math.max(t1, now);
	if (t1 <= t0)
		t1 = t0 + 1;
	const tEnd = t1;
	if (!final)
		times.push(now);

	const GUT = 150, PADR = 24;
	const x0 = GUT, x1 = W - PADR;
	TL.xMin = GUT;
	TL.xMax = W - 4;
	const sc = timelineScale(known.concat(final ? [] : [now]), t0, t1, x0, x1);
	const X = (t) => sc.x(Math.min(Math.max(t, t0), t1));

	/* rows below the event lane */
	const lanes = [];   /* {label, group, title, data, draw(g, y)} */
	if (job.workflow) {
		lanes.push({ label: "run", group: "run", data: { lane: "run" }, draw: (g, y) => drawRunBar(g, y, job, evs, tEnd, X, final) });
	} else {
		for (const row of timelineAttempts(evs, job, final, tEnd))
			lanes.push({ label: row.bar || row.wait && row.wait.kind !== "queued" ? `attempt ${row.n}` : "queued",
			    group: "attempts", data: { lane: "attempt", attempt: row.n, wait: row.wait ? row.wait.kind : null,
				outcome: row.bar ? (row.bar.open ? "running" : row.bar.outcome) : null },
			    draw: (g, y) => drawAttemptRow(g, y, row, X) });
	}
	const stop = stoppedStepIndex(d);
	steps.forEach((st, i) => {
		lanes.push({ label: `${i + 1}. ${st.name}`, group: "steps", title: `step ${i + 1}: ${st.name} (${st.kind})`,
		    data: { lane: "step", step: st.name, state: st.state, stopped: i === stop ? "1" : null },
		    draw: (g, y) => drawStepRow(g, y, st, i === stop, X, final, tEnd) });
	});
	const cp = timelineCompensations(evs, comps, final, tEnd);
	if (cp.phase)
		lanes.push({ label: "compensating", group: "comp", data: { lane: "compensating" }, draw: (g, y) => drawPhase(g, y, cp.phase, X, final) });
	for (const row of cp.rows)
		lanes.push({ label: "↺ " + row.name, group: "comp", title: `compensation ${row.name} (step ${orDash(row.stepNo)})`,
		    data: { lane: "compensation", name: row.name, state: row.state },
		    draw: (g, y) => drawCompRow(g, y, row, X) });

	/* event labels */
	const labelItems = evs.map((e) => ({ x: X(e.at_ms), text: eventLabel(e) }));
	const lay = layoutLabels(labelItems, x0, W - 4);
	const nrows = lay.length ? lay[0].rows() : 0;
	const LROW = 14, LANE = 24;
	const yBase = 10 + nrows * LROW + 10;
	const laneTop = yBase + 14;
	const axisY = laneTop + lanes.length * LANE + 6;
	const H = axisY + 40;

	const root = svg("svg", { id: "timeline", class: "timeline", viewBox: `0 0 ${W} ${H}`, width: W, height: H,
	    role: "img", "aria-label": `Timeline of ${job.id}: ${evs.length} events` });
	root.append(svg("defs", null,
	    svg("pattern", { id: "tl-hatch", width: 6, height: 6, patternUnits: "userSpaceOnUse", patternTransform: "rotate(45)" },
		svg("rect", { x: 0, y: 0, width: 6, height: 6, class: "hatch-bg" }),
		svg("line", { x1: 0, y1: 0, x2: 0, y2: 6, class: "hatch-line" })),
	    svg("pattern", { id: "tl-hatch-wait", width: 6, height: 6, patternUnits: "userSpaceOnUse", patternTransform: "rotate(45)" },
		svg("rect", { x: 0, y: 0, width: 6, height: 6, class: "hatch-wait-bg" }),
		svg("line", { x1: 0, y1: 0, x2: 0, y2: 6, class: "hatch-wait-line" }))));

	/* lane backgrounds and labels */
	const bg = svg("g", { class: "tl-lanes" });
	bg.append(svg("text", { x: 8, y: yBase + 4, class: "tl-lanelabel tl-lanelabel-ev" }, "events"));
	let prevGroup = null;
	lanes.forEach((ln, i) => {
		const y = laneTop + i * LANE;
		if (i % 2 === 0)
			bg.append(svg("rect", { x: 0, y, width: W, height: LANE, class: "tl-zebra" }));
		if (ln.group !== prevGroup)
			bg.append(svg("line", { x1: 0, x2: W, y1: y, y2: y, class: "tl-groupline" }));
		prevGroup = ln.group;
		const label = ln.label.length > 22 ? ln.label.slice(0, 21) + "…" : ln.label;
		bg.append(svg("text", { x: 8, y: y + LANE / 2 + 4, class: "tl-lanelabel tl-lanelabel-" + ln.group },
		    svgTitle(ln.title || ln.label), label));
	});
	root.append(bg);

	/* breaks, grid, axis */
	const grid = svg("g", { class: "tl-grid" });
	const busy = [];   /* [from, to] of the tick-label row already used by break labels */
	for (const br of sc.breaks) {
		const text = "≈ " + fmtDur(br.g);
		const cx = (br.xa + br.xb) / 2;
		grid.append(svg("rect", { x: br.xa, y: yBase - 6, width: Math.max(br.xb - br.xa, 2), height: axisY - yBase + 6,
		    class: "tl-break" }, svgTitle(`${fmtDur(br.g)} without events (drawn compressed)`)));
		grid.append(svg("text", { x: cx, y: axisY + 15, class: "tl-breaklabel", "text-anchor": "middle" },
		    svgTitle(`${fmtDur(br.g)} without events (drawn compressed)`), text));
		busy.push([cx - text.length * 3.2 - 8, cx + text.length * 3.2 + 8]);
		for (const xx of [br.xa, br.xb])
			grid.append(svg("line", { x1: xx - 3, y1: axisY + 4, x2: xx + 3, y2: axisY - 4, class: "tl-breakmark" }));
	}
	let lastTickX = -Infinity;
	for (const tk of sc.ticks) {
		grid.append(svg("line", { x1: tk.x, x2: tk.x, y1: yBase - 6, y2: axisY, class: "tl-gridline" }));
		grid.append(svg("line", { x1: tk.x, x2: tk.x, y1: axisY, y2: axisY + 4, class: "tl-tick" }));
		const text = fmtRel(tk.t - t0);
		const half = text.length * 3.2;
		const clash = busy.some(([a, b]) => tk.x + half > a && tk.x - half < b);
		if (tk.x - lastTickX >= 58 && tk.x <= x1 - 20 && !clash) {
			grid.append(svg("text", { x: tk.x, y: axisY + 15, class: "tl-ticklabel", "text-anchor": tk.x === x0 ? "start" : "middle" },
			    text));
			lastTickX = tk.x;
		}
	}
	grid.append(svg("line", { x1: x0, x2: x1, y1: axisY, y2: axisY, class: "tl-axis" }));
	grid.append(svg("line", { x1: x0, x2: x1, y1: yBase, y2: yBase, class: "tl-baseline" }));
	grid.append(svg("text", { x: x0, y: axisY + 28, class: "tl-endlabel" }, fmtDate(t0) + "." + pad(new Date(t0).getMilliseconds(), 3)));
	grid.append(svg("text", { x: x1, y: axisY + 28, class: "tl-endlabel", "text-anchor": "end" },
	    (final ? "end " : "now ") + fmtClock(t1, true) + " · " + fmtRel(t1 - t0).replace(/^\+/, "") + " in all"));
	grid.append(svg("text", { x: 8, y: axisY + 15, class: "tl-lanelabel" }, "time since first event"));
	root.append(grid);

	/* rows */
	const rowsG = svg("g", { class: "tl-rows" });
	lanes.forEach((ln, i) => {
		const g = svg("g", { class: "tl-row tl-row-" + ln.group, data: ln.data });
		ln.draw(g, laneTop + i * LANE + LANE / 2);
		rowsG.append(g);
	});
	root.append(rowsG);

	/* vertical marks: cancellation, operator actions, now */
	const marks = svg("g", { class: "tl-marks" });
	for (const e of evs) {
		const op = e.actor_key_id !== null && e.actor_key_id !== undefined;
		const cancel = /cancel/.test(String(e.event));
		if (!cancel && !op)
			continue;
		const xx = X(e.at_ms);
		marks.append(svg("line", { x1: xx, x2: xx, y1: yBase, y2: axisY, class: cancel ? "tl-vcancel" : "tl-voperator" },
		    svgTitle(`${e.event}${op ? " by admin key " + e.actor_key_id : ""} at ${fmtClock(e.at_ms, true)}`)));
	}
	if (!final) {
		const xn = X(now);
		marks.append(svg("line", { x1: xn, x2: xn, y1: yBase - 6, y2: axisY + 4, class: "tl-vnow" },
		    svgTitle("now " + fmtClock(now, true))));
	}
	root.append(marks);

	/* event markers with staggered labels (drawn last, on top) */
	const evG = svg("g", { class: "tl-events" });
	const leaders = svg("g", { class: "tl-leaders" });
	const texts = svg("g", { class: "tl-labels" });
	const dots = svg("g", { class: "tl-dots" });
	evs.forEach((e, i) => {
		const xx = labelItems[i].x;
		const L = lay[i];
		const ty = yBase - 12 - L.row * LROW;
		const cat = eventCategory(e);
		const tip = `${fmtClock(e.at_ms, true)} (${fmtRel(e.at_ms - t0)}) · ${e.event}` +
		    (e.attempt ? ` · attempt ${e.attempt}` : "") +
		    (e.worker_id !== null && e.worker_id !== undefined ? ` · worker ${e.worker_id}` : "") +
		    (e.replica ? ` · replica ${e.replica}` : "") +
		    (e.detail ? ` · ${e.detail}` : "") +
		    (e.actor_key_id !== null && e.actor_key_id !== undefined ? ` · by admin key ${e.actor_key_id}` : "");
		leaders.append(svg("line", { x1: xx, x2: xx, y1: yBase - 5, y2: ty + 3, class: "tl-leader tl-c-" + cat }));
		texts.append(svg("text", { x: L.anchor === "start" ? xx - 3 : xx + 3, y: ty, "text-anchor": L.anchor,
		    class: "tl-evlabel tl-c-" + cat, data: { i } }, svgTitle(tip), labelItems[i].text));
		const m = svg("g", { class: "tl-ev tl-c-" + cat, data: { event: e.event, i, attempt: e.attempt } }, svgTitle(tip));
		if (cat === "operator")
			m.append(svg("polygon", { points: `${xx},${yBase - 6} ${xx + 6},${yBase} ${xx},${yBase + 6} ${xx - 6},${yBase}`, class: "tl-marker" }));
		else
			m.append(svg("circle", { cx: xx, cy: yBase, r: 4.5, class: "tl-marker" }));
		dots.append(m);
	});
	evG.append(leaders, texts, dots);
	root.append(evG);
	return root;
}

function eventLabel(e) {
	const n = String(e.event || "?");
	const who = e.actor_key_id !== null && e.actor_key_id !== undefined ? " (admin)" : "";
	if (["claimed", "attempt_failed", "retry_scheduled", "lease_expired", "released"].includes(n) && e.attempt)
		return `${n} #${e.attempt}${who}`;
	if (n === "signal_received" && e.detail)
		return String(e.detail) + who;
	return n + who;
}

/* where bar labels may go: set by drawTimeline (the gutter's right edge, the svg's) */
const TL = { xMin: 150, xMax: 1000 };
const CHAR_W = 6.1;

/* light fills get dark text inside them, dark fills white text */
function isLightFill(cls) {
	return /queued|backoff|waiting|soft/.test(cls);
}

/* a bar (rect) with its tooltip and label: right of it when there is room, else inside
   it, else left of the row (opts.leftEdge), else cut to the widest of the three */
function bar(g, y, xa, xb, cls, tip, label, opts) {
	opts = opts || {};
	const w = Math.max(xb - xa, 2);
	const h = opts.thin ? 8 : 14;
	const grp = svg("g", { class: "tl-bar" }, svgTitle(tip),
	    svg("rect", { x: xa, y: y - h / 2, width: w, height: h, rx: 2, class: cls }));
	if (opts.open)
		grp.append(svg("path", { d: `M${xa + w + 1} ${y - h / 2 - 1} l5 ${h / 2 + 1} l-5 ${h / 2 + 1}`, class: "tl-openend" }));
	if (opts.inside && w >= opts.inside.length * CHAR_W + 10)
		grp.append(svg("text", { x: xa + w / 2, y: y + 4, "text-anchor": "middle", class: "tl-inlabel" }, opts.inside));
	if (label)
		placeLabel(grp, y, xa, xa + w + (opts.open ? 7 : 0), label, cls, opts);
	g.append(grp);
}

function placeLabel(grp, y, xa, xb, label, cls, opts) {
	const leftEdge = isNum(opts.leftEdge) ? Math.min(opts.leftEdge, xa) : xa;
	const spaces = {
		right: TL.xMax - (xb + 6),
		inside: opts.inside || opts.thin ? 0 : xb - xa - 12,
		left: leftEdge - 6 - TL.xMin,
	};
	const need = label.length * CHAR_W;
	let where = ["right", "inside", "left"].find((k) => need <= spaces[k]);
	let text = label;
	if (!where && opts.optional)
		return;
	if (!where) {
		where = Object.keys(spaces).reduce((a, b) => (spaces[b] > spaces[a] ? b : a));
		text = trunc(label, Math.max(6, Math.floor(spaces[where] / CHAR_W)));
	}
	let attrs;
	if (where === "right")
		attrs = { x: xb + 6, class: "tl-barlabel" };
	else if (where === "inside")
		attrs = { x: xa + 6, class: isLightFill(cls) ? "tl-onbar-dark" : "tl-onbar" };
	else
		attrs = { x: leftEdge - 6, "text-anchor": "end", class: "tl-barlabel" };
	attrs.y = y + 4;
	grp.append(svg("text", attrs, text));
}

function trunc(s, n) {
	s = String(s);
	return s.length > n ? s.slice(0, n - 1) + "…" : s;
}

const OUTCOME_FILL = { succeeded: "tl-ok", failed: "tl-bad", lease_expired: "tl-warn", running: "tl-run",
	cancelled: "tl-cancel", released: "tl-warn", lost: "tl-warn", expired: "tl-bad" };

function drawAttemptRow(g, y, row, X) {
	const w = row.wait;
	const rowStart = w && isNum(w.start) ? X(w.start) : null;
	if (w && isNum(w.start)) {
		const name = w.kind;
		const dur = fmtDur(w.end - w.start);
		const cls = w.kind === "queued" ? "tl-queued" : "tl-backoff";
		const lbl = !row.bar ? `${name} ${dur}${w.open ? " so far" : ""}${w.cut ? " → " + w.cut : ""}` : null;
		bar(g, y, X(w.start), X(w.end), cls, `${name}: ${dur}${w.open ? " (still waiting)" : ""}`, lbl,
		    { thin: w.kind === "queued" && !!row.bar, inside: w.kind === "queued" || !row.bar ? null : name, open: w.open && !row.bar });
	}
	if (row.bar) {
		const b = row.bar;
		const outcome = b.open ? "running" : b.outcome.replace(/_/g, " ");
		const where = [isNum(b.worker) ? `worker ${b.worker}` : null, b.replica].filter(Boolean).join(" · ");
		const lbl = `${outcome} ${fmtDur(b.end - b.start)}` + (where ? ` · ${where}` : "") +
		    (b.detail ? ` · ${trunc(b.detail, 60)}` : "");
		bar(g, y, X(b.start), X(b.end), OUTCOME_FILL[b.outcome] || "tl-warn",
		    `attempt ${row.n}: ${outcome}, ${fmtDur(b.end - b.start)}` + (where ? `, ${where}` : "") +
		    (b.detail ? ` — ${b.detail}` : ""), lbl, { open: b.open, leftEdge: rowStart });
	}
}

function drawRunBar(g, y, job, evs, tEnd, X, final) {
	const start = evs.length ? evs[0].at_ms : job.created_ms;
	const end = final && isNum(job.finished_ms) ? job.finished_ms : tEnd;
	const cls = { succeeded: "tl-ok-soft", failed: "tl-bad-soft", cancelled: "tl-cancel-soft",
		compensating: "tl-comp-soft", waiting: "tl-waiting-soft" }[job.state] || "tl-run-soft";
	bar(g, y, X(start), X(end), cls, `workflow run, ${job.state}: ${fmtDur(end - start)}`,
	    `run ${job.state} ${fmtDur(end - start)}${final ? "" : " so far"}`, { thin: true, open: !final, optional: true });
}

function drawStepRow(g, y, st, stopped, X, final, tEnd) {
	const cls = { succeeded: "tl-ok", failed: "tl-bad", running: "tl-run", waiting: "tl-waiting",
		cancelled: "tl-cancel", scheduled: "tl-queued" }[st.state] || "tl-queued";
	const bits = [st.state];
	if (st.branch_taken)
		bits.push("→ " + st.branch_taken);
	if (st.waiting_for)
		bits.push("waits for " + st.waiting_for);
	if (st.attempts > 1)
		bits.push(`${st.attempts} attempts`);
	if (!isNum(st.started_ms)) {
		g.append(svg("text", { x: TL.xMin + 10, y: y + 4, class: "tl-barlabel muted" },
		    svgTitle(`step ${st.name}: ${st.state}`), `${st.state} (not started)`));
		return;
	}
	const open = !isNum(st.finished_ms) && !final;
	const end = isNum(st.finished_ms) ? st.finished_ms : tEnd;
	const label = (stopped ? "stopped here · " : "") + bits.join(" · ") + " " + fmtDur(end - st.started_ms) +
	    (st.error ? " · " + trunc(st.error, 60) : "");
	bar(g, y, X(st.started_ms), X(end), cls + (stopped ? " tl-stopped" : ""),
	    `step ${st.name} (${st.kind}): ${st.state}, ${fmtDur(end - st.started_ms)}` + (st.error ? ` — ${st.error}` : ""),
	    label, { open });
}

function drawPhase(g, y, phase, X, final) {
	bar(g, y, X(phase.start), X(phase.end), "tl-comp-soft", `compensating: ${fmtDur(phase.end - phase.start)}`,
	    `compensating ${fmtDur(phase.end - phase.start)}${final ? "" : " so far"}`, { thin: true, open: !final, optional: true });
}

function drawCompRow(g, y, row, X) {
	const fill = { succeeded: "tl-ok", failed: "tl-bad", gave_up: "tl-bad", running: "tl-comp", backoff: "tl-backoff" };
	const rowStart = row.segs.length ? X(row.segs[0].start) : null;
	row.segs.forEach((s, i) => {
		const last = i === row.segs.length - 1;
		const n = row.segs.filter((x) => x.kind !== "backoff").length;
		const label = last ? `${row.state || s.kind.replace(/_/g, " ")}` + (s.kind === "gave_up" ? " (gave up)" : "") +
		    ` · ${n} attempt${n === 1 ? "" : "s"}` : null;
		bar(g, y, X(s.start), X(s.end), fill[s.kind] || "tl-comp",
		    `${row.name}: ${s.kind.replace(/_/g, " ")} ${fmtDur(s.end - s.start)}` + (s.detail ? ` — ${s.detail}` : ""),
		    label, { open: s.open, inside: s.kind === "backoff" ? "backoff" : null, leftEdge: rowStart });
	});
	if (!row.segs.length)
		g.append(svg("text", { x: TL.xMin + 10, y: y + 4, class: "tl-barlabel muted" }, `${row.state || "pending"} (no attempt yet)`));
}

/* ---- wiring ------------------------------------------------------------------------- */

function init() {
	onSubmit($("login-form"), () => {
		const k = $("login-key").value.trim();
		if (!k) {
			$("login-msg").textContent = "Paste the key first.";
			$("login-msg").classList.add("error-text");
			return;
		}
		setKey(k);
		$("login-key").value = "";
		show($("forbidden"), false);
		route();
	});
	$("login-go").addEventListener("click", () => $("login-form").requestSubmit());

	$("forget-key").addEventListener("click", () => {
		forgetKey();
		show($("forbidden"), false);
		clearError();
		showLogin("The key was forgotten. Paste an admin key to continue.", false);
	});

	onSubmit($("jump-form"), () => {
		const id = $("jump-id").value.trim();
		if (!id)
			return;
		$("jump-id").value = "";
		navigate("#/job/" + encodeURIComponent(id));
	});
	$("jump-go").addEventListener("click", () => $("jump-form").requestSubmit());

	window.addEventListener("hashchange", route);
	let resizeTimer = null;
	window.addEventListener("resize", () => {
		clearTimeout(resizeTimer);
		resizeTimer = setTimeout(() => {
			if (ui.job && ui.job.data && !$("view-job").hidden)
				renderTimeline(ui.job.refs, ui.job.data);
		}, 200);
	});
	if (!location.hash || location.hash === "#" || location.hash === "#/")
		history.replaceState(null, "", "#/overview");
	route();
}

if (document.readyState === "loading")
	document.addEventListener("DOMContentLoaded", init);
else
	init();

})();
