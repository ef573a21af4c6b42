// Statistics: the KPIs of GET /api/v1/stats for a region subtree and a period, charts drawn here as
// inline SVG (no chart service, nothing from the network), child regions side by side, and the
// CSV exports of the same selection.
"use strict";

(function () {
  const SW = window.SW = window.SW || {};
  const NS = "http://www.w3.org/2000/svg";
  const DAY = 86400000;
  const view = { period: "day", region: "", from: "", to: "", seq: 0, timer: null, built: false, data: null };

  function zone() {
    try { return Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC"; } catch (e) { return "UTC"; }
  }
  function midnight(d) { return new Date(d.getFullYear(), d.getMonth(), d.getDate()); }
  function isoDate(d) {
    return d.getFullYear() + "-" + String(d.getMonth() + 1).padStart(2, "0") + "-" + String(d.getDate()).padStart(2, "0");
  }
  function fromIsoDate(text) {
    const [y, m, d] = text.split("-").map(Number);
    return new Date(y, m - 1, d);
  }

  // Periods in the officer's own calendar: today, this week (from Monday), this month, or dates.
  function range() {
    const today = midnight(new Date(SW.now()));
    if (view.period === "week") {
      const since = new Date(today.getTime());
      since.setDate(since.getDate() - ((since.getDay() + 6) % 7));
      const until = new Date(since.getTime());
      until.setDate(until.getDate() + 7);
      return { since, until };
    }
    if (view.period === "month") {
      return { since: new Date(today.getFullYear(), today.getMonth(), 1), until: new Date(today.getFullYear(), today.getMonth() + 1, 1) };
    }
    if (view.period === "custom" && view.from && view.to) {
      const since = fromIsoDate(view.from);
      const until = fromIsoDate(view.to);
      until.setDate(until.getDate() + 1); // the last day counts whole
      return { since, until };
    }
    const until = new Date(today.getTime());
    until.setDate(until.getDate() + 1);
    return { since: today, until };
  }

  function query(withRegion) {
    const { since, until } = range();
    const q = new URLSearchParams({ since: since.toISOString(), until: until.toISOString(), tz: zone() });
    if (withRegion && view.region) q.set("region", view.region);
    return q.toString();
  }

  function pct(v) { return v === null || v === undefined ? "—" : (Math.round(v * 1000) / 10) + "%"; }
  function secs(v) { return v === null || v === undefined ? "—" : SW.duration(v * 1000); }
  function num(v) { return v === null || v === undefined ? "—" : String(v); }

  function buildControls() {
    if (view.built) return;
    view.built = true;
    document.querySelectorAll("#stats-period button").forEach((b) => b.addEventListener("click", () => {
      view.period = b.dataset.period;
      SW.$("stats-custom").hidden = view.period !== "custom";
      markPeriod();
      if (view.period !== "custom" || (view.from && view.to)) load();
    }));
    SW.$("stats-custom").addEventListener("submit", (e) => {
      e.preventDefault();
      view.from = SW.$("stats-from").value;
      view.to = SW.$("stats-to").value;
      if (view.from && view.to && view.from <= view.to) load();
      else SW.$("stats-error").textContent = SW.t("stats.bad_dates");
    });
    SW.$("stats-region").addEventListener("change", (e) => { view.region = e.target.value; load(); });
    SW.$("export-cases").addEventListener("click", () => exportCsv("/exports/cases.csv?" + query(true), "cases.csv"));
    SW.$("export-kpis").addEventListener("click", () => exportCsv("/exports/kpis.csv?" + query(true), "kpis.csv"));
    const today = isoDate(new Date(SW.now()));
    SW.$("stats-from").value = today;
    SW.$("stats-to").value = today;
  }

  function markPeriod() {
    document.querySelectorAll("#stats-period button").forEach((b) => b.setAttribute("aria-pressed", b.dataset.period === view.period ? "true" : "false"));
  }

  function fillRegions() {
    const select = SW.$("stats-region");
    const regions = (SW.state.lookups.regionList || []).slice().sort((a, b) => a.path.localeCompare(b.path));
    const options = [SW.el("option", { value: "", text: SW.t("stats.all_regions") })].concat(regions.map((r) => SW.el("option", {
      value: r.path, text: "\u00a0\u00a0".repeat(r.path.split("/").length - 1) + r.name,
    })));
    select.replaceChildren(...options);
    select.value = view.region;
  }

  async function exportCsv(path, name) {
    SW.$("stats-error").textContent = "";
    try {
      await SW.download(path + "&lang=" + encodeURIComponent(SW.state.lang), name);
    } catch (e) {
      if (!(e instanceof SW.Expired)) SW.$("stats-error").textContent = SW.t("export.failed", [e.message || e]);
    }
  }

  async function load() {
    const seq = ++view.seq;
    SW.$("stats-error").textContent = "";
    SW.$("stats-view").dataset.loading = "1";
    let r;
    try {
      r = await SW.api("/stats?" + query(true));
    } catch (e) {
      if (!(e instanceof SW.Expired) && seq === view.seq) SW.$("stats-error").textContent = SW.t("stats.error", [e.message || e]);
      return;
    }
    if (seq !== view.seq) return; // a newer selection is on its way
    SW.$("stats-view").dataset.loading = "0";
    if (r.status !== 200) {
      SW.$("stats-error").textContent = SW.t("stats.error", [(r.body && r.body.detail) || "HTTP " + r.status]);
      return;
    }
    view.data = r.body;
    render();
  }

  function render() {
    const d = view.data;
    if (!d) return;
    const { since, until } = range();
    SW.$("stats-range").textContent = SW.t("stats.range", [since.toLocaleDateString(SW.state.lang), new Date(until.getTime() - DAY).toLocaleDateString(SW.state.lang)]);
    const cards = [
      ["alarms", num(d.alarms), "kpi.alarms"],
      ["cases", num(d.cases), "kpi.cases"],
      ["maintenance_cases", num(d.maintenance_cases), "kpi.maintenance"],
      ["within_minute", pct(d.time_to_accept_s.within_60s), "kpi.within_minute"],
      ["accept_median", secs(d.time_to_accept_s.median), "kpi.accept_median"],
      ["accept_p90", secs(d.time_to_accept_s.p90), "kpi.accept_p90"],
      ["close_median", secs(d.time_to_close_s.median), "kpi.close_median"],
      ["closure_rate", pct(d.closure_rate), "kpi.closure"],
      ["on_time_rate", pct(d.on_time_rate), "kpi.on_time"],
      ["rework_rate", pct(d.rework_rate), "kpi.rework"],
      ["extension_rate", pct(d.extension_rate), "kpi.extension"],
      ["false_alarm_rate", pct(d.false_alarm_rate), "kpi.false_alarm"],
      ["satisfaction", d.satisfaction === null ? "—" : d.satisfaction.toFixed(1), "kpi.satisfaction"],
    ];
    SW.$("kpis").replaceChildren(...cards.map(([key, value, name]) => card(key, value, name)));
    const h = d.device_health;
    const health = [
      ["devices", num(h.devices), "health.devices"],
      ["missing", num(h.missing), "health.missing"],
      ["low_battery", num(h.low_battery), "health.low_battery"],
      ["tamper", num(h.tamper), "health.tamper"],
      ["unsupervised", num(h.unsupervised), "health.unsupervised"],
      ["gateways_offline", num(h.gateways_offline), "health.gateways_offline"],
      ["open_maintenance_cases", num(h.open_maintenance_cases), "health.open_maintenance"],
    ];
    SW.$("health").replaceChildren(...health.map(([key, value, name]) => card(key, value, name, key !== "devices" && Number(value) > 0)));
    SW.$("stats-chart").replaceChildren(chart(d.series));
    renderChildren(d);
    SW.$("stats-view").dataset.loaded = String(view.seq);
  }

  function card(key, value, name, warn) {
    return SW.el("div", { class: "kpi" + (warn ? " warn" : ""), "data-kpi": key }, [
      SW.el("span", { class: "kpi-value", text: value }),
      SW.el("span", { class: "kpi-name", text: SW.t(name) }),
    ]);
  }

  function svg(tag, attrs, children) {
    const node = document.createElementNS(NS, tag);
    Object.entries(attrs || {}).forEach(([k, v]) => { if (v !== null && v !== undefined) node.setAttribute(k, String(v)); });
    (children || []).forEach((c) => { if (c) node.append(typeof c === "string" ? document.createTextNode(c) : c); });
    return node;
  }

  function bucketLabel(iso, bucket) {
    const at = new Date(iso);
    if (bucket === "hour") return String(at.getHours()).padStart(2, "0") + ":00";
    return String(at.getMonth() + 1).padStart(2, "0") + "-" + String(at.getDate()).padStart(2, "0");
  }

  // Alarm events and alarm cases per bucket, side by side.
  function chart(series) {
    const points = series.points;
    const W = 960, H = 180, left = 40, bottom = 28, top = 12;
    const max = Math.max(1, ...points.map((p) => Math.max(p.alarms, p.cases)));
    const slot = (W - left) / Math.max(1, points.length);
    const bar = Math.max(1, Math.min(18, slot / 2 - 2));
    const y = (v) => top + (H - top - bottom) * (1 - v / max);
    const every = Math.ceil(points.length / 12);
    const parts = [
      svg("line", { x1: left, x2: W, y1: y(0), y2: y(0), class: "axis" }),
      svg("line", { x1: left, x2: W, y1: y(max), y2: y(max), class: "grid" }),
      svg("text", { x: left - 6, y: y(max) + 4, "text-anchor": "end", class: "tick" }, [String(max)]),
      svg("text", { x: left - 6, y: y(0) + 4, "text-anchor": "end", class: "tick" }, ["0"]),
    ];
    points.forEach((p, i) => {
      const x = left + i * slot + slot / 2;
      const label = bucketLabel(p.start, series.bucket);
      parts.push(svg("rect", { x: x - bar - 1, y: y(p.alarms), width: bar, height: y(0) - y(p.alarms), class: "bar-alarms", "data-start": p.start, "data-value": p.alarms },
        [svg("title", {}, [label + " " + SW.t("chart.alarms") + " " + p.alarms])]));
      parts.push(svg("rect", { x: x + 1, y: y(p.cases), width: bar, height: y(0) - y(p.cases), class: "bar-cases", "data-start": p.start, "data-value": p.cases },
        [svg("title", {}, [label + " " + SW.t("chart.cases") + " " + p.cases])]));
      if (i % every === 0) parts.push(svg("text", { x, y: H - 8, "text-anchor": "middle", class: "tick" }, [label]));
    });
    const total = points.reduce((a, p) => a + p.alarms, 0);
    return svg("svg", { viewBox: "0 0 " + W + " " + H, role: "img", "aria-label": SW.t("chart.summary", [total, points.length]) }, parts);
  }

  // Child regions in one table, each rate with a bar, so siblings compare at a glance.
  function renderChildren(d) {
    const rows = d.children;
    SW.$("stats-children-title").hidden = rows.length === 0;
    const cols = [
      ["stats.col.region", (r) => r.name],
      ["kpi.alarms", (r) => num(r.alarms)],
      ["kpi.cases", (r) => num(r.cases)],
      ["kpi.within_minute", (r) => r.time_to_accept_s.within_60s, true],
      ["kpi.accept_median", (r) => secs(r.time_to_accept_s.median)],
      ["kpi.closure", (r) => r.closure_rate, true],
      ["kpi.on_time", (r) => r.on_time_rate, true],
      ["kpi.rework", (r) => r.rework_rate, true],
      ["kpi.extension", (r) => r.extension_rate, true],
      ["kpi.false_alarm", (r) => r.false_alarm_rate, true],
      ["kpi.satisfaction", (r) => (r.satisfaction === null ? "—" : r.satisfaction.toFixed(1))],
      ["health.missing", (r) => num(r.device_health.missing)],
      ["health.low_battery", (r) => num(r.device_health.low_battery)],
      ["health.unsupervised", (r) => num(r.device_health.unsupervised)],
    ];
    const table = SW.$("stats-children");
    table.hidden = rows.length === 0;
    table.replaceChildren(
      SW.el("thead", {}, [SW.el("tr", {}, cols.map(([name]) => SW.el("th", { scope: "col", text: SW.t(name) })))]),
      SW.el("tbody", {}, rows.map((r) => SW.el("tr", {
        "data-region": r.region,
        tabindex: "0",
        title: SW.t("stats.drill", [r.name]),
        onclick: () => drill(r.region),
        onkeydown: (e) => { if (e.key === "Enter") drill(r.region); },
      }, cols.map(([, get, rate]) => {
        const v = get(r);
        if (!rate) return SW.el("td", { text: v });
        return SW.el("td", { class: "rate" }, [
          SW.el("span", { class: "rate-bar", style: null, "data-width": v === null ? "0" : String(Math.round(v * 100)) }),
          SW.el("span", { class: "rate-text", text: pct(v) }),
        ]);
      })))),
    );
    // Widths are set through the DOM (the page's CSP allows no inline style attributes).
    table.querySelectorAll(".rate-bar").forEach((b) => { b.style.width = b.dataset.width + "%"; });
  }

  function drill(path) {
    view.region = path;
    SW.$("stats-region").value = path;
    load();
  }

  SW.showStats = () => {
    buildControls();
    markPeriod();
    fillRegions();
    load();
  };
  (SW.lookupHooks = SW.lookupHooks || []).push(() => { if (view.built) fillRegions(); });
  // New cases count at once; a burst of changes costs one reload.
  SW.onCaseChange = () => {
    if (SW.state.view !== "stats") return;
    clearTimeout(view.timer);
    view.timer = setTimeout(load, 1000);
  };
  SW.rerenderStats = render;
})();
