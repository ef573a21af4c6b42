// Duty-room console. Plain browser JavaScript, no build step, no external resource.
//
// The board is read once from the REST API, then kept current by the server's push
// (GET /api/v1/stream, server-sent events, live.js): every case change in the officer's scope
// arrives within a moment. While the push is down the board falls back to reading the API every
// 2 s, and it re-reads it whenever the push reconnects, so nothing is missed in between.
// map.js and stats.js draw the other two views from the same data.
"use strict";

(function () {
  const API = "/api/v1";
  const POLL_MS = 2000;
  // With the push running the board is still re-read now and then, as a safety net.
  const RESYNC_MS = 60000;
  // An alarm nobody has accepted keeps calling, so one missed beep cannot leave it waiting.
  const REMIND_MS = 30000;
  const LOOKUP_MS = 60000;
  const LOOKUP_RETRY_MS = 10000;
  const YELLOW = 0.8;
  const DEADLINE_RANK = { none: 0, green: 1, yellow: 2, red: 3 };
  const PARAMS = {
    dispatch: [{ name: "assignee", kind: "text", label: "field.assignee" }],
    co_handle: [{ name: "assignee", kind: "text", label: "field.co_handler" }],
    transfer: [{ name: "region", kind: "region", label: "field.region", required: true }],
    extend: [{ name: "minutes", kind: "number", label: "field.minutes", required: true, min: 1, max: 43200, value: 30 }],
    evaluate: [{ name: "satisfaction", kind: "score", label: "field.satisfaction", required: true }],
  };
  // The order buttons appear in: the next step of the workflow first, closing ones last.
  const ORDER = ["accept", "dispatch", "start", "reply", "verify", "return", "close", "false_alarm",
    "cancel", "supervise", "transfer", "co_handle", "extend", "comment", "evaluate"];
  const PRIMARY = new Set(["accept", "dispatch", "start", "reply", "verify", "close"]);

  const $ = (id) => document.getElementById(id);
  const dict = window.SW_I18N;
  const store = {
    get: (area, key) => { try { return area.getItem(key); } catch (e) { return null; } },
    set: (area, key, value) => { try { if (value === null) area.removeItem(key); else area.setItem(key, value); } catch (e) { /* private mode */ } },
  };

  const state = {
    lang: dict[store.get(localStorage, "sw.lang")] ? store.get(localStorage, "sw.lang") : "zh-CN",
    muted: store.get(localStorage, "sw.muted") === "1",
    token: store.get(sessionStorage, "sw.token"),
    user: store.get(sessionStorage, "sw.user"),
    workflow: null,
    cases: null,
    total: 0,
    seen: new Set(),
    firstLoad: true,
    lookups: { regions: {}, devices: {}, gateways: {}, stations: {}, at: 0 },
    offset: 0,
    timer: null,
    detailId: null,
    detail: null,
    detailKey: null,
    audio: null,
    cues: 0,
    lastCue: 0,
    played: 0,
    polling: false,
    pollAgain: false,
    view: "board",
    filter: null,
    live: false,
    lastSync: 0,
    points: {},
  };
  // What the other scripts (live.js, map.js, stats.js) use; they add their own parts.
  const SW = window.SW = window.SW || {};

  // -- text ---------------------------------------------------------------------------------

  function t(key, args) {
    let s = dict[state.lang][key];
    if (s === undefined) s = dict["zh-CN"][key];
    if (s === undefined) return key;
    (args || []).forEach((a, i) => { s = s.split("{" + i + "}").join(String(a)); });
    return s;
  }
  // English says "1 alarm" and "2 alarms"; Chinese has one form. Keys end in ".one"/".other".
  function tn(key, n, args) {
    const form = new Intl.PluralRules(state.lang).select(n);
    const full = dict[state.lang][key + "." + form] !== undefined ? key + "." + form : key + ".other";
    return t(full, args || [n]);
  }
  function label(prefix, value) {
    const key = prefix + "." + value;
    return dict[state.lang][key] !== undefined ? dict[state.lang][key] : value;
  }
  function el(tag, attrs, children) {
    const node = document.createElement(tag);
    Object.entries(attrs || {}).forEach(([k, v]) => {
      if (v === null || v === undefined || v === false) return;
      if (k === "text") node.textContent = v;
      else if (k === "class") node.className = v;
      else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v === true ? "" : v);
    });
    (children || []).forEach((c) => { if (c !== null && c !== undefined) node.append(c); });
    return node;
  }
  function duration(ms) {
    const s = Math.max(0, Math.floor(ms / 1000));
    if (s < 60) return t("unit.s", [s]);
    if (s < 3600) return t("unit.m", [Math.floor(s / 60), s % 60]);
    if (s < 86400) return t("unit.h", [Math.floor(s / 3600), Math.floor((s % 3600) / 60)]);
    return t("unit.d", [Math.floor(s / 86400), Math.floor((s % 86400) / 3600)]);
  }
  function clockTime(ms) {
    return new Date(ms).toLocaleTimeString(state.lang, { hour12: false });
  }
  function dateTime(iso) {
    return new Date(iso).toLocaleString(state.lang, { hour12: false });
  }
  // Server time, estimated from the Date header: a duty-room PC with a wrong clock must not
  // turn a case red early or keep it green late.
  function now() { return Date.now() + state.offset; }
  function noteClock(resp) {
    const header = resp.headers.get("Date");
    if (!header) return;
    const server = Date.parse(header);
    if (isNaN(server)) return;
    const skew = server - Date.now();
    // The header has whole seconds only; smaller differences are noise.
    state.offset = Math.abs(skew) > 2000 ? skew : 0;
  }

  function applyLanguage() {
    document.documentElement.lang = state.lang;
    document.title = t("app.title");
    document.querySelectorAll("[data-i18n]").forEach((node) => { node.textContent = t(node.dataset.i18n); });
    document.querySelectorAll("[data-i18n-label]").forEach((node) => { node.setAttribute("aria-label", t(node.dataset.i18nLabel)); });
    const other = state.lang === "zh-CN" ? "en" : "zh-CN";
    $("lang").textContent = t("lang.switch");
    $("lang").setAttribute("lang", other);
    $("lang").setAttribute("aria-label", t("lang.switch.label"));
    renderSound();
    renderWho();
    if (state.cases) renderViews();
    if (state.detail) renderDetail();
    else if (state.detailId !== null) $("detail-title").textContent = t("detail.title", [state.detailId]);
    if (state.token) setLive(state.live);
    if (state.view === "stats" && SW.rerenderStats) SW.rerenderStats();
  }

  // -- sound --------------------------------------------------------------------------------

  function unlockAudio() {
    const Ctx = window.AudioContext || window.webkitAudioContext;
    if (!Ctx) return;
    if (!state.audio) state.audio = new Ctx();
    if (state.audio.state === "suspended") state.audio.resume();
    $("sound-hint").hidden = true;
  }
  function tone(at, freq) {
    const osc = state.audio.createOscillator();
    const gain = state.audio.createGain();
    osc.type = "square";
    osc.frequency.value = freq;
    gain.gain.setValueAtTime(0.0001, at);
    gain.gain.exponentialRampToValueAtTime(0.3, at + 0.02);
    gain.gain.exponentialRampToValueAtTime(0.0001, at + 0.25);
    osc.connect(gain).connect(state.audio.destination);
    osc.start(at);
    osc.stop(at + 0.3);
  }
  function alarmCue() {
    state.lastCue = Date.now();
    state.cues += 1;
    document.body.dataset.cues = String(state.cues);
    if (state.muted) return;
    if (!state.audio || state.audio.state !== "running") {
      // Browsers only allow sound after a click on the page.
      $("sound-hint").hidden = false;
      return;
    }
    const at = state.audio.currentTime;
    tone(at, 880);
    tone(at + 0.35, 660);
    tone(at + 0.7, 880);
    state.played += 1;
    document.body.dataset.played = String(state.played);
  }
  function renderSound() {
    const btn = $("sound");
    btn.textContent = state.muted ? t("sound.off") : t("sound.on");
    btn.setAttribute("aria-pressed", state.muted ? "true" : "false");
    btn.classList.toggle("muted", state.muted);
  }

  // -- API ----------------------------------------------------------------------------------

  class Expired extends Error {}

  async function api(path, options) {
    const opts = options || {};
    const headers = Object.assign({ Accept: "application/json" }, opts.headers || {});
    if (state.token) headers.Authorization = "Bearer " + state.token;
    let body = opts.body;
    if (opts.json !== undefined) {
      headers["Content-Type"] = "application/json";
      body = JSON.stringify(opts.json);
    }
    const resp = await fetch(API + path, { method: opts.method || "GET", headers, body, cache: "no-store" });
    noteClock(resp);
    let data = null;
    try { data = await resp.json(); } catch (e) { data = null; }
    if (resp.status === 401 && state.token) {
      signOut(t("error.expired"));
      throw new Expired("sign-in expired");
    }
    return { status: resp.status, body: data };
  }

  async function fetchAll(path) {
    const items = [];
    for (let offset = 0; ; offset += 500) {
      const sep = path.includes("?") ? "&" : "?";
      const r = await api(path + sep + "limit=500&offset=" + offset);
      if (r.status !== 200) throw new Error(path + ": " + r.status);
      items.push(...r.body.items);
      if (r.body.items.length === 0 || items.length >= r.body.total) return items;
    }
  }

  // Names for what a case row only holds ids of; all scoped by the server like the cases.
  async function loadLookups() {
    const l = state.lookups;
    l.at = Date.now();
    const [regions, devices, gateways, stations] = await Promise.all([
      fetchAll("/regions"), fetchAll("/devices"), fetchAll("/gateways"), fetchAll("/stations"),
    ]);
    l.regions = {}; regions.forEach((r) => { l.regions[r.path] = r.name; });
    l.regionList = regions;
    l.devices = {}; devices.forEach((d) => { l.devices[d.id] = d; });
    l.gateways = {}; gateways.forEach((g) => { l.gateways[g.id] = g.station; });
    l.stations = {}; stations.forEach((s) => { l.stations[s.code] = s.name; });
    l.stationList = stations;
    (SW.lookupHooks || []).forEach((hook) => hook());
    // A case opened before the names arrived shows ids: show it again with names.
    if (state.detail) renderDetail();
  }
  function lookupsStale(cases) {
    const age = Date.now() - state.lookups.at;
    if (age > LOOKUP_MS) return true;
    return age > LOOKUP_RETRY_MS && cases.some((c) => !state.lookups.devices[c.device]);
  }

  function deviceName(c) {
    const d = state.lookups.devices[c.device];
    return d && d.name ? d.name : c.device;
  }
  function stationName(c) {
    const d = state.lookups.devices[c.device];
    const gw = (d && d.gateway) || c.gateway;
    const code = gw ? state.lookups.gateways[gw] : null;
    if (!code) return t("unknown");
    return state.lookups.stations[code] || code;
  }
  function regionNames(path) {
    if (!path) return t("unassigned");
    const parts = path.split("/");
    const names = [];
    for (let i = 1; i <= parts.length; i++) {
      const name = state.lookups.regions[parts.slice(0, i).join("/")];
      // Levels above the officer's own region are not theirs to list: leave them out.
      if (name) names.push(name);
      else if (names.length) names.push(parts[i - 1]);
    }
    return names.length ? names.join(" › ") : path;
  }

  // green; yellow from 80 % of the step's time; red at and after the deadline. The server's
  // own status (kept by its escalator) wins when it is further along.
  function deadlineOf(c, at) {
    if (!c.deadline || !c.open) return { status: "none", left: null };
    const end = Date.parse(c.deadline);
    let status = "green";
    if (at >= end) status = "red";
    else if (c.state === "new") {
      const start = Date.parse(c.opened_at);
      if (end > start && (at - start) / (end - start) >= YELLOW) status = "yellow";
    }
    const server = DEADLINE_RANK[c.deadline_status] !== undefined ? c.deadline_status : "green";
    if (DEADLINE_RANK[server] > DEADLINE_RANK[status]) status = server;
    return { status, left: end - at };
  }
  function deadlineBadge(c, at) {
    const badge = el("span", {}, [el("span", { class: "dl-word" }), el("span", { class: "dl-time" }), el("span", { class: "dl-esc" })]);
    fillBadge(badge, c, at);
    return badge;
  }
  // Updated in place every second: a node replaced under the pointer would swallow the click.
  function fillBadge(badge, c, at) {
    const d = deadlineOf(c, at);
    const text = d.left === null ? "" : d.left >= 0 ? t("deadline.left", [duration(d.left)]) : t("deadline.over", [duration(-d.left)]);
    badge.className = "deadline dl-" + d.status;
    badge.dataset.deadline = d.status;
    const [word, time, esc] = badge.children;
    word.textContent = t("deadline." + d.status);
    time.textContent = text;
    esc.textContent = c.escalation_level > 0 ? tn("escalated", c.escalation_level) : "";
    esc.hidden = c.escalation_level <= 0;
  }

  // -- board --------------------------------------------------------------------------------

  function sortCases(cases) {
    cases.sort((a, b) => Date.parse(b.opened_at) - Date.parse(a.opened_at) || b.id - a.id);
  }

  // New alarm cases sound and are announced, once each; at sign-in only those still waiting.
  function announceNew(cases) {
    const fresh = cases.filter((c) => !state.seen.has(c.id));
    const alarms = fresh.filter((c) => c.priority === "alarm" && (!state.firstLoad || c.state === "new"));
    cases.forEach((c) => state.seen.add(c.id));
    state.firstLoad = false;
    if (alarms.length) {
      const c = alarms[0];
      $("announce").textContent = t("board.new_alarm", [label("kind", c.kind), deviceName(c)]);
      alarmCue();
    }
  }

  // An alarm nobody has accepted keeps calling (checked every second, push or no push).
  function remindWaiting() {
    if (!state.cases) return;
    const waiting = state.cases.filter((c) => c.priority === "alarm" && c.state === "new");
    if (waiting.length && Date.now() - state.lastCue >= REMIND_MS) {
      $("announce").textContent = tn("board.waiting", waiting.length);
      alarmCue();
    }
  }

  function markSynced() {
    state.lastSync = Date.now();
    $("board-status").textContent = "";
    renderUpdated();
  }
  function renderUpdated() {
    if (!state.lastSync) return;
    const time = clockTime(state.lastSync);
    $("board-updated").textContent = state.live ? t("board.live", [time]) : t("board.updated", [time]);
    $("board-updated").dataset.live = state.live ? "1" : "0";
  }

  async function refreshBoard() {
    const r = await api("/cases?state=open&limit=500");
    if (r.status !== 200) throw new Error((r.body && r.body.detail) || "HTTP " + r.status);
    const cases = r.body.items.slice();
    sortCases(cases);
    if (lookupsStale(cases)) {
      try { await loadLookups(); } catch (e) { if (e instanceof Expired) throw e; /* names only; the board goes on */ }
    }
    state.cases = cases;
    state.total = r.body.total;
    announceNew(cases);
    renderViews();
    markSynced();
  }

  // One case change pushed by the server (live.js): the board, the map and the open case follow.
  function applyChange(change) {
    if (!state.cases) return;
    const c = change.case;
    if (change.location) state.points[c.id] = change.location;
    const at = state.cases.findIndex((x) => x.id === c.id);
    if (!c.open) {
      if (at >= 0) { state.cases.splice(at, 1); state.total = Math.max(0, state.total - 1); }
    } else if (at >= 0) {
      state.cases[at] = Object.assign({}, state.cases[at], c);
    } else {
      state.cases.push(c);
      state.total += 1;
      sortCases(state.cases);
    }
    if (c.open && !state.lookups.devices[c.device] && Date.now() - state.lookups.at > LOOKUP_RETRY_MS) {
      loadLookups().then(renderViews).catch(() => { /* names only */ });
    }
    announceNew(c.open ? [c] : []);
    renderViews();
    markSynced();
    if (state.detailId === c.id) loadDetail().catch(showLoadError);
    if (SW.onCaseChange) SW.onCaseChange(change);
  }

  function caseGone(id) {
    if (!state.cases) return;
    const at = state.cases.findIndex((x) => x.id === id);
    if (at >= 0) { state.cases.splice(at, 1); state.total = Math.max(0, state.total - 1); }
    renderViews();
    if (state.detailId === id) loadDetail().catch(showLoadError);
  }

  function renderViews() {
    renderBoard();
    if (state.view === "map" && SW.renderMap) SW.renderMap();
  }

  function regionFilter(path) {
    state.filter = path;
    renderBoard();
  }

  function rowKey(c) {
    return [state.lang, c.state, c.kind, c.priority, c.event_count, deviceName(c), stationName(c),
      regionNames(c.region_path), state.detailId === c.id].join("|");
  }

  // Rows are kept across renders and rebuilt only when what they show changes; the clock-driven
  // cells are updated in place, so the board can tick every second under the officer's mouse.
  function inFilter(c) {
    return !state.filter || c.region_path === state.filter || (c.region_path || "").startsWith(state.filter + "/");
  }

  function renderBoard() {
    if (!state.cases) return;
    const at = now();
    const rows = $("case-rows");
    const old = new Map(Array.from(rows.children, (tr) => [tr.dataset.caseId, tr]));
    const shown = state.cases.filter(inFilter);
    const wanted = shown.map((c) => {
      const key = rowKey(c);
      let tr = old.get(String(c.id));
      if (!tr || tr.dataset.key !== key) {
        const focused = tr && tr === document.activeElement;
        const fresh = caseRow(c, at);
        fresh.dataset.key = key;
        if (tr) tr.replaceWith(fresh);
        if (focused) fresh.focus();
        tr = fresh;
      } else {
        tr.querySelector(".age").textContent = duration(at - Date.parse(c.opened_at));
        fillBadge(tr.querySelector(".deadline"), c, at);
      }
      return tr;
    });
    const current = Array.from(rows.children);
    if (current.length !== wanted.length || wanted.some((tr, i) => current[i] !== tr)) {
      const focused = document.activeElement;
      rows.replaceChildren(...wanted);
      if (wanted.includes(focused)) focused.focus();
    }
    $("board-empty").hidden = shown.length > 0;
    $("cases").hidden = shown.length === 0;
    const waiting = state.cases.filter((c) => c.priority === "alarm" && c.state === "new").length;
    $("board-count").textContent = tn("board.count.cases", state.total) + t("board.count.join") + tn("board.count.waiting", waiting);
    const chip = $("board-filter");
    chip.hidden = !state.filter;
    if (state.filter) {
      $("board-filter-name").textContent = t("board.filter", [regionNames(state.filter)]);
      chip.dataset.region = state.filter;
    }
    // The tab title carries the count, so a background tab still shows that alarms wait.
    document.title = (waiting ? "(" + waiting + ") " : "") + t("app.title");
    // Never let a long list hide silently that some open cases are not on screen.
    $("board-truncated").textContent = state.total > state.cases.length ? t("board.truncated", [state.cases.length, state.total]) : "";
  }

  function caseRow(c, at) {
    const alarm = c.priority === "alarm";
    const open = () => { location.hash = "#/case/" + c.id; };
    const row = el("tr", {
      class: ["case", alarm ? "alarm" : "", c.state === "new" ? "unaccepted" : "", state.detailId === c.id ? "selected" : ""].filter(Boolean).join(" "),
      "data-case-id": String(c.id),
      "data-state": c.state,
      tabindex: "0",
      "aria-label": t("detail.title", [c.id]) + " " + label("kind", c.kind) + " " + label("state", c.state),
      onclick: open,
      onkeydown: (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); open(); } },
    }, [
      el("td", { class: "id", text: "#" + c.id }),
      el("td", { class: "what" }, [
        alarm ? el("span", { class: "prio", text: t("priority.alarm") }) : null,
        el("span", { class: "kind", text: label("kind", c.kind) }),
        c.event_count > 1 ? el("span", { class: "evcount", text: "×" + c.event_count }) : null,
      ]),
      el("td", { class: "state" }, [el("span", { class: "state-badge st-" + c.state, text: label("state", c.state) })]),
      el("td", { class: "device" }, [
        el("span", { class: "device-name", text: deviceName(c) }),
        el("span", { class: "sub", text: c.device }),
      ]),
      el("td", { class: "station", text: stationName(c) }),
      el("td", { class: "region", text: regionNames(c.region_path) }),
      el("td", { class: "age", text: duration(at - Date.parse(c.opened_at)) }),
      el("td", { class: "dl" }, [deadlineBadge(c, at)]),
    ]);
    return row;
  }

  // -- case detail ----------------------------------------------------------------------------

  const VIEWS = { "#/map": "map", "#/stats": "stats" };

  // Three views share the page: the board (with a case open beside it), the map, the statistics.
  function showView(view) {
    const changed = view !== state.view;
    state.view = view;
    document.body.dataset.view = view;
    $("work").hidden = !state.token || view !== "board";
    $("map-view").hidden = !state.token || view !== "map";
    $("stats-view").hidden = !state.token || view !== "stats";
    document.querySelectorAll("nav.views a").forEach((a) => {
      if (a.dataset.view === view) a.setAttribute("aria-current", "page");
      else a.removeAttribute("aria-current");
    });
    if (!state.token) return;
    if (view === "map" && SW.renderMap) SW.renderMap();
    if (view === "stats" && changed && SW.showStats) SW.showStats();
  }

  function routeFromHash() {
    const m = /^#\/case\/(\d+)$/.exec(location.hash);
    showView(m ? "board" : VIEWS[location.hash] || "board");
    const id = m ? Number(m[1]) : null;
    if (id === state.detailId) return;
    state.detailId = id;
    state.detail = null;
    state.detailKey = null;
    $("detail-message").textContent = "";
    $("detail-message").className = "message";
    if (id === null) {
      $("detail").hidden = true;
      $("work").classList.remove("with-detail");
      if (state.cases) renderBoard();
      return;
    }
    $("detail").hidden = false;
    $("work").classList.add("with-detail");
    $("detail-title").textContent = t("detail.title", [id]);
    $("detail-body").replaceChildren(el("p", { text: t("detail.loading") }));
    if (state.cases) renderBoard();
    if (state.token) loadDetail().then(() => $("detail-title").focus()).catch(showLoadError);
  }

  function showLoadError(e) {
    if (e instanceof Expired) return;
    message(t("error.network"), true);
  }

  async function loadDetail() {
    const id = state.detailId;
    if (id === null) return;
    const r = await api("/cases/" + id);
    if (id !== state.detailId) return;
    if (r.status === 404) {
      state.detail = null;
      state.detailKey = null;
      $("detail-body").replaceChildren(el("p", { class: "error", role: "alert", "data-not-found": "1", text: t("detail.not_found") }));
      return;
    }
    if (r.status !== 200) throw new Error("HTTP " + r.status);
    showDetail(r.body);
  }

  function showDetail(c) {
    const key = [c.state, c.updated_at, c.event_count, c.deadline, c.deadline_status, c.escalation_level].join("|");
    state.detail = c;
    // Re-rendering only on change keeps what the officer is typing in the note field.
    if (key !== state.detailKey) {
      state.detailKey = key;
      renderDetail();
    } else {
      const badge = $("detail-body").querySelector(".info-deadline .deadline");
      if (badge) fillBadge(badge, c, now());
      const age = $("detail-body").querySelector(".info-age");
      if (age) age.textContent = duration(now() - Date.parse(c.opened_at));
    }
  }

  function message(text, isError) {
    const m = $("detail-message");
    m.textContent = text;
    m.className = "message" + (isError ? " error" : " ok");
    m.setAttribute("role", isError ? "alert" : "status");
  }

  function renderDetail() {
    const c = state.detail;
    if (!c) return;
    const at = now();
    const note = $("detail-body").querySelector("#action-note");
    const noteText = note ? note.value : "";
    $("detail-title").textContent = t("detail.title", [c.id]) + " · " + label("kind", c.kind);
    const info = el("dl", { class: "info" + (c.priority === "alarm" ? " alarm" : "") });
    const add = (k, v, cls) => { info.append(el("dt", { text: t(k) }), el("dd", { class: cls || null }, [v])); };
    add("col.state", el("span", { class: "state-badge st-" + c.state, "data-state": c.state, text: label("state", c.state) }), "info-state");
    add("col.device", deviceName(c) + " (" + c.device + ")");
    add("col.station", stationName(c));
    add("col.region", regionNames(c.region_path));
    add("detail.opened", dateTime(c.opened_at));
    add("col.age", duration(at - Date.parse(c.opened_at)), "info-age");
    add("col.deadline", deadlineBadge(c, at), "info-deadline");
    if (c.assignee) add("detail.assignee", c.assignee);
    add("detail.event_count", String(c.event_count));
    if (c.resolution) add("detail.resolution", label("resolution", c.resolution));
    if (c.satisfaction) add("field.satisfaction", String(c.satisfaction));

    const cap = el("button", {
      type: "button", class: "tool", id: "cap-export", text: t("detail.cap"),
      onclick: () => download("/cases/" + c.id + "/cap", "case-" + c.id + ".cap.xml").catch((e) => {
        if (!(e instanceof Expired)) message(t("export.failed", [e.message || e]), true);
      }),
    });
    const body = [el("h3", { text: t("detail.info") }), info, el("p", { class: "detail-tools" }, [cap]), actionPanel(c, noteText)];
    body.push(el("h3", { text: t("detail.events") }), table(["th.time", "th.kind", "th.data"], c.events.map((e) => [
      dateTime(e.at), label("kind", e.kind), Object.entries(e.data || {}).map(([k, v]) => k + "=" + v).join(", "),
    ]), "events"));
    body.push(el("h3", { text: t("detail.actions") }));
    body.push(c.actions.length === 0 ? el("p", { text: t("detail.no_actions") }) : table(
      ["th.time", "th.action", "th.from_to", "th.actor", "th.note"],
      c.actions.map((a) => [
        dateTime(a.at), label("action", a.action),
        !a.from_state || a.from_state === a.to_state ? label("state", a.to_state) : label("state", a.from_state) + " → " + label("state", a.to_state),
        a.actor, a.note || "",
      ]), "audit"));
    $("detail-body").replaceChildren(...body);
  }

  function table(heads, rows, cls) {
    return el("table", { class: "plain " + cls }, [
      el("thead", {}, [el("tr", {}, heads.map((h) => el("th", { scope: "col", text: t(h) })))]),
      el("tbody", {}, rows.map((r) => el("tr", {}, r.map((v) => el("td", { text: v }))))),
    ]);
  }

  function allowedActions(c) {
    if (!state.workflow) return [];
    return ORDER.filter((a) => state.workflow.actions[a] && state.workflow.actions[a].from.includes(c.state))
      .concat(Object.keys(state.workflow.actions).filter((a) => !ORDER.includes(a) && state.workflow.actions[a].from.includes(c.state)));
  }

  function paramInput(action, p) {
    const id = "p-" + action + "-" + p.name;
    let input;
    if (p.kind === "region") {
      input = el("select", { id, name: p.name, required: true }, Object.keys(state.lookups.regions).sort()
        .map((path) => el("option", { value: path, text: regionNames(path) + " (" + path + ")" })));
    } else if (p.kind === "score") {
      input = el("select", { id, name: p.name, required: true }, [5, 4, 3, 2, 1].map((n) => el("option", { value: String(n), text: String(n) })));
    } else if (p.kind === "number") {
      input = el("input", { id, name: p.name, type: "number", min: String(p.min), max: String(p.max), value: String(p.value), required: true });
    } else {
      input = el("input", { id, name: p.name, type: "text", autocomplete: "off" });
    }
    return el("span", { class: "param" }, [el("label", { for: id, text: t(p.label) }), input]);
  }

  function actionPanel(c, noteText) {
    const actions = allowedActions(c);
    const panel = el("div", { class: "actions", role: "group", "aria-labelledby": "actions-title" }, [
      el("h3", { id: "actions-title", text: t("detail.do") }),
    ]);
    if (actions.length === 0) {
      panel.append(el("p", { text: t("detail.none_allowed") }));
      return panel;
    }
    const note = el("textarea", { id: "action-note", rows: "2", maxlength: "2000" });
    note.value = noteText;
    panel.append(el("label", { for: "action-note", text: t("detail.note") }), note);
    const simple = el("div", { class: "buttons" });
    const withParams = el("div", { class: "param-actions" });
    actions.forEach((a) => {
      const button = el("button", {
        type: "button",
        class: PRIMARY.has(a) ? "primary" : (a === "false_alarm" || a === "cancel" ? "danger" : "secondary"),
        "data-action": a,
        text: label("action", a),
        onclick: () => perform(c.id, a),
      });
      if (PARAMS[a]) withParams.append(el("div", { class: "param-row" }, PARAMS[a].map((p) => paramInput(a, p)).concat([button])));
      else simple.append(button);
    });
    panel.append(simple, withParams);
    return panel;
  }

  async function perform(id, action) {
    const payload = { action };
    const note = $("action-note");
    if (note && note.value.trim()) payload.note = note.value.trim();
    for (const p of PARAMS[action] || []) {
      const input = $("p-" + action + "-" + p.name);
      const raw = input ? input.value.trim() : "";
      if (!raw) {
        if (p.required) { input.focus(); message(t("error.invalid", [t(p.label)]), true); return; }
        continue;
      }
      if (p.name === "minutes") payload.seconds = Number(raw) * 60;
      else if (p.name === "satisfaction") payload.satisfaction = Number(raw);
      else payload[p.name] = raw;
    }
    document.querySelectorAll("#detail-body button").forEach((b) => { b.disabled = true; });
    let r;
    try {
      r = await api("/cases/" + id + "/actions", { method: "POST", json: payload });
    } catch (e) {
      document.querySelectorAll("#detail-body button").forEach((b) => { b.disabled = false; });
      showLoadError(e);
      return;
    }
    const name = label("action", action);
    if (r.status === 200) {
      if (note) note.value = "";
      state.detailKey = null;
      showDetail(r.body);
      message(t("action.done", [name]), false);
      poll(true);
      return;
    }
    const detail = (r.body && r.body.detail) || "HTTP " + r.status;
    if (r.status === 409) {
      // Someone else acted first: show the case as it now is, and say why nothing happened.
      state.detailKey = null;
      await loadDetail().catch(showLoadError);
      const now = state.detail ? label("state", state.detail.state) : "?";
      message(r.body && r.body.reason === "illegal_transition" ? t("error.illegal", [name, now]) : t("error.conflict", [detail]), true);
    } else if (r.status === 403) {
      renderDetail();
      message(t("error.forbidden"), true);
    } else if (r.status === 404) {
      await loadDetail().catch(showLoadError);
      message(t("error.not_found"), true);
    } else if (r.status === 422) {
      renderDetail();
      message(t("error.invalid", [detail]), true);
    } else {
      renderDetail();
      message(t("error.generic", [r.status, detail]), true);
    }
    $("detail-message").dataset.status = String(r.status);
  }

  // -- reading the board: pushed while the stream runs, polled while it does not --------------

  async function poll(once) {
    if (!state.token) return;
    if (state.polling) {
      // A read asked for while one is running (the push just subscribed) may need what the
      // running one missed: read once more when it is done.
      state.pollAgain = true;
      return;
    }
    state.polling = true;
    document.body.dataset.polling = "1";
    try {
      await refreshBoard();
      if (state.detailId !== null) await loadDetail();
    } catch (e) {
      if (!(e instanceof Expired)) $("board-status").textContent = t("board.stale", [e.message || e]);
    } finally {
      state.polling = false;
      document.body.dataset.polling = "0";
    }
    if (!once && state.token) schedulePoll();
    if (state.pollAgain && state.token) {
      state.pollAgain = false;
      poll(true);
    }
  }
  function schedulePoll() {
    clearTimeout(state.timer);
    state.timer = setTimeout(() => poll(false), state.live ? RESYNC_MS : POLL_MS);
  }

  // live.js says whether pushed changes are arriving; without them the board polls every 2 s.
  function setLive(live) {
    const changed = live !== state.live;
    state.live = live;
    document.body.dataset.live = live ? "1" : "0";
    const badge = $("live-status");
    badge.hidden = false;
    badge.textContent = t(live ? "live.on" : "live.off");
    badge.className = "live " + (live ? "on" : "off");
    renderUpdated();
    if (changed && state.token) schedulePoll();
  }

  async function download(path, fallbackName) {
    const resp = await fetch(API + path, { headers: { Authorization: "Bearer " + state.token }, cache: "no-store" });
    if (resp.status === 401) { signOut(t("error.expired")); throw new Expired("sign-in expired"); }
    if (!resp.ok) {
      const body = await resp.json().catch(() => null);
      throw new Error((body && body.detail) || "HTTP " + resp.status);
    }
    const named = /filename="([^"]+)"/.exec(resp.headers.get("Content-Disposition") || "");
    const url = URL.createObjectURL(await resp.blob());
    const a = el("a", { href: url, download: named ? named[1] : fallbackName, hidden: true });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 30000);
  }

  async function loadWorkflow() {
    const resp = await fetch("/console/workflow.json", { cache: "no-store" });
    state.workflow = await resp.json();
  }

  function renderWho() {
    $("who").textContent = state.user ? t("user.signed_in", [state.user]) : "";
  }

  function showSignedIn(signedIn) {
    $("login").hidden = signedIn;
    document.querySelector("nav.views").hidden = !signedIn;
    showView(state.view);
    $("who").hidden = !signedIn;
    $("logout").hidden = !signedIn;
    $("sound").hidden = !signedIn;
    renderWho();
  }

  async function start() {
    state.view = null;
    showSignedIn(true);
    state.seen = new Set();
    state.firstLoad = true;
    state.lookups.at = 0;
    state.filter = null;
    if (!state.workflow) await loadWorkflow().catch(() => { /* retried on the next sign-in */ });
    state.detailId = null;
    routeFromHash();
    setLive(false);
    if (SW.live) SW.live.connect();
    await poll(false);
  }

  function signOut(reason) {
    clearTimeout(state.timer);
    if (SW.live) SW.live.disconnect();
    $("live-status").hidden = true;
    state.token = null;
    state.user = null;
    state.cases = null;
    state.detail = null;
    store.set(sessionStorage, "sw.token", null);
    store.set(sessionStorage, "sw.user", null);
    $("case-rows").replaceChildren();
    document.title = t("app.title");
    $("login-error").textContent = reason || "";
    showSignedIn(false);
    $("username").focus();
  }

  async function login(ev) {
    ev.preventDefault();
    unlockAudio();
    const username = $("username").value.trim();
    const form = new URLSearchParams({ grant_type: "password", username, password: $("password").value });
    $("login-error").textContent = "";
    let resp;
    try {
      resp = await fetch(API + "/auth/token", { method: "POST", body: form, headers: { Accept: "application/json" } });
    } catch (e) {
      $("login-error").textContent = t("error.network");
      return;
    }
    const data = await resp.json().catch(() => null);
    if (resp.status === 401) { $("login-error").textContent = t("login.failed"); return; }
    if (resp.status === 429) {
      $("login-error").textContent = t("login.locked", [resp.headers.get("Retry-After") || "60"]);
      return;
    }
    if (resp.status !== 200 || !data) {
      $("login-error").textContent = t("login.error", [(data && data.detail) || resp.status]);
      return;
    }
    $("password").value = "";
    state.token = data.access_token;
    state.user = username;
    store.set(sessionStorage, "sw.token", state.token);
    store.set(sessionStorage, "sw.user", username);
    await start();
  }

  async function checkSetup() {
    // A server nobody can sign in to says so on the sign-in page (no token needed to ask).
    const resp = await fetch(API + "/setup", { cache: "no-store" }).catch(() => null);
    const data = resp && resp.ok ? await resp.json().catch(() => null) : null;
    $("setup-warning").hidden = !(data && data.admin_missing);
  }

  function init() {
    applyLanguage();
    checkSetup();
    $("login-form").addEventListener("submit", login);
    $("logout").addEventListener("click", () => signOut(""));
    $("lang").addEventListener("click", () => {
      state.lang = state.lang === "zh-CN" ? "en" : "zh-CN";
      store.set(localStorage, "sw.lang", state.lang);
      applyLanguage();
    });
    $("sound").addEventListener("click", () => {
      state.muted = !state.muted;
      store.set(localStorage, "sw.muted", state.muted ? "1" : "0");
      renderSound();
    });
    $("detail-close").addEventListener("click", () => { location.hash = ""; });
    document.addEventListener("click", unlockAudio);
    document.addEventListener("keydown", unlockAudio);
    document.addEventListener("keydown", (e) => { if (e.key === "Escape" && state.detailId !== null) location.hash = ""; });
    window.addEventListener("hashchange", routeFromHash);
    // Browsers slow timers down in hidden tabs; catch up at once when the console is shown again.
    document.addEventListener("visibilitychange", () => { if (!document.hidden && state.token) { clearTimeout(state.timer); poll(false); } });
    document.querySelectorAll("nav.views a").forEach((a) => a.addEventListener("click", () => { if (a.dataset.view === "board") regionFilter(null); }));
    $("board-filter-clear").addEventListener("click", () => regionFilter(null));
    // Ages and deadline colours move on between changes too; waiting alarms call again.
    setInterval(() => {
      if (state.cases) renderBoard();
      if (state.detail) showDetail(state.detail);
      if (state.view === "map" && state.cases && SW.tickMap) SW.tickMap();
      remindWaiting();
    }, 1000);
    if (state.token) start();
    else { showSignedIn(false); $("username").focus(); }
  }

  Object.assign(SW, {
    API, state, $, t, tn, label, el, api, fetchAll, duration, dateTime, clockTime, now, deadlineOf,
    regionNames, deviceName, stationName, applyChange, caseGone, poll, setLive, regionFilter, download,
    signOut, Expired, message,
  });

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
