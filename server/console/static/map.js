// The grid map: region polygons from the regions' GeoJSON drawn as SVG (no tile server, nothing
// from the network), stations and devices at their coordinates, every open case in its grid
// coloured by its deadline. A grid (or a region in the tree) filters the board; a case opens it.
"use strict";

(function () {
  const SW = window.SW = window.SW || {};
  const NS = "http://www.w3.org/2000/svg";
  const WIDTH = 1000;
  const PAD = 0.05;
  const RANK = { none: 0, green: 1, yellow: 2, red: 3 };
  let lastKey = null;

  function svg(tag, attrs, children) {
    const node = document.createElementNS(NS, tag);
    Object.entries(attrs || {}).forEach(([k, v]) => {
      if (v === null || v === undefined) return;
      if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, String(v));
    });
    (children || []).forEach((c) => { if (c) node.append(c); });
    return node;
  }

  // Polygon or MultiPolygon as a list of polygons, each a list of rings of [lon, lat].
  function polygonsOf(geometry) {
    if (!geometry) return [];
    if (geometry.type === "Polygon") return [geometry.coordinates];
    if (geometry.type === "MultiPolygon") return geometry.coordinates;
    return [];
  }

  function inRing(lon, lat, ring) {
    let inside = false;
    for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) {
      const [xi, yi] = ring[i];
      const [xj, yj] = ring[j];
      if ((yi > lat) !== (yj > lat) && lon < ((xj - xi) * (lat - yi)) / (yj - yi) + xi) inside = !inside;
    }
    return inside;
  }
  function contains(geometry, lon, lat) {
    return polygonsOf(geometry).some((poly) => inRing(lon, lat, poly[0]) && !poly.slice(1).some((h) => inRing(lon, lat, h)));
  }
  function centre(geometry) {
    // The middle of the largest polygon's box: good enough to place a marker in a small grid.
    let best = null;
    polygonsOf(geometry).forEach((poly) => {
      const xs = poly[0].map((p) => p[0]);
      const ys = poly[0].map((p) => p[1]);
      const area = (Math.max(...xs) - Math.min(...xs)) * (Math.max(...ys) - Math.min(...ys));
      if (!best || area > best.area) best = { area, lon: (Math.max(...xs) + Math.min(...xs)) / 2, lat: (Math.max(...ys) + Math.min(...ys)) / 2 };
    });
    return best;
  }

  // Equirectangular, longitude narrowed by cos(latitude), so a county keeps its shape.
  function projection(points) {
    const lons = points.map((p) => p[0]);
    const lats = points.map((p) => p[1]);
    let minLon = Math.min(...lons), maxLon = Math.max(...lons);
    let minLat = Math.min(...lats), maxLat = Math.max(...lats);
    if (maxLon - minLon < 0.002) { minLon -= 0.001; maxLon += 0.001; }
    if (maxLat - minLat < 0.002) { minLat -= 0.001; maxLat += 0.001; }
    const k = Math.cos(((minLat + maxLat) / 2) * Math.PI / 180);
    const w = (maxLon - minLon) * k;
    const h = maxLat - minLat;
    const scale = WIDTH / (w * (1 + 2 * PAD));
    return {
      height: h * (1 + 2 * PAD) * scale,
      xy: (lon, lat) => [((lon - minLon) * k + w * PAD) * scale, ((maxLat - lat) + h * PAD) * scale],
    };
  }

  function within(path, prefix) {
    return path === prefix || (path || "").startsWith(prefix + "/");
  }

  function regionWithGeometry(path, byPath) {
    let p = path;
    while (p) {
      const r = byPath[p];
      if (r && r.geometry) return r;
      p = p.includes("/") ? p.slice(0, p.lastIndexOf("/")) : "";
    }
    return null;
  }

  // Where a case goes: its device (or its station), if that lies in the case's grid; otherwise
  // (transferred, or no coordinates) the middle of the case's region.
  function placeOf(c, byPath) {
    const l = SW.state.lookups;
    const device = l.devices[c.device];
    let point = null;
    if (device && device.lat !== null && device.lon !== null && device.lat !== undefined) point = { lon: device.lon, lat: device.lat };
    if (!point) {
      const gw = (device && device.gateway) || c.gateway;
      const code = gw ? l.gateways[gw] : null;
      const st = code ? (l.stationList || []).find((s) => s.code === code) : null;
      if (st && st.lat !== null && st.lon !== null) point = { lon: st.lon, lat: st.lat };
    }
    if (!point && SW.state.points[c.id]) point = SW.state.points[c.id];
    const region = regionWithGeometry(c.region_path, byPath);
    if (region && (!point || !contains(region.geometry, point.lon, point.lat))) point = centre(region.geometry);
    return point;
  }

  function statusOf(c, at) {
    return SW.deadlineOf(c, at).status;
  }

  function renderMap() {
    const state = SW.state;
    if (!state.cases || state.view !== "map") return;
    const l = state.lookups;
    const regions = (l.regionList || []).slice().sort((a, b) => a.path.split("/").length - b.path.split("/").length || a.path.localeCompare(b.path));
    const byPath = {};
    regions.forEach((r) => { byPath[r.path] = r; });
    const at = SW.now();
    const cases = state.cases.map((c) => ({ c, status: statusOf(c, at), point: placeOf(c, byPath) }));
    const key = JSON.stringify([state.lang, l.at, cases.map((x) => [x.c.id, x.c.state, x.status, x.c.region_path, x.point])]);
    renderTree(regions, cases);
    if (key === lastKey && document.querySelector("#map svg")) return;
    lastKey = key;

    const stations = (l.stationList || []).filter((s) => s.lat !== null && s.lon !== null);
    const devices = Object.values(l.devices).filter((d) => d.lat !== null && d.lon !== null && d.lat !== undefined);
    const points = [];
    regions.forEach((r) => polygonsOf(r.geometry).forEach((poly) => poly[0].forEach((p) => points.push(p))));
    stations.forEach((s) => points.push([s.lon, s.lat]));
    devices.forEach((d) => points.push([d.lon, d.lat]));
    cases.forEach((x) => { if (x.point) points.push([x.point.lon, x.point.lat]); });
    const holder = $map();
    if (!points.length) {
      holder.replaceChildren(SW.el("p", { class: "empty", text: SW.t("map.empty") }));
      return;
    }
    const proj = projection(points);
    const d = (geometry) => polygonsOf(geometry).map((poly) => poly.map((ring) => "M" + ring.map(([lon, lat]) => proj.xy(lon, lat).map((v) => v.toFixed(1)).join(",")).join("L") + "Z").join("")).join("");

    // The worst deadline among a region's own open cases colours it.
    const worst = {};
    cases.forEach((x) => {
      const p = x.c.region_path || "";
      if (!worst[p] || RANK[x.status] > RANK[worst[p]]) worst[p] = x.status;
    });
    const parents = new Set(regions.filter((r) => r.geometry).map((r) => r.path.slice(0, r.path.lastIndexOf("/"))));
    const shapes = regions.filter((r) => r.geometry).map((r) => {
      const leaf = !parents.has(r.path);
      const status = worst[r.path] || "";
      return svg("path", {
        d: d(r.geometry),
        class: "rg lvl-" + r.level + (leaf ? " leaf" : "") + (status ? " has-" + status : ""),
        "data-region": r.path,
        "data-alarm": status || null,
        tabindex: leaf ? 0 : null,
        role: leaf ? "button" : null,
        "aria-label": SW.t("map.filter_region", [r.name]),
        onclick: () => filterTo(r.path),
        onkeydown: (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); filterTo(r.path); } },
      }, [svg("title", {}, [document.createTextNode(SW.regionNames(r.path))])]);
    });
    const leaves = regions.filter((r) => r.geometry && !parents.has(r.path));
    const labels = leaves.map((r) => {
      const c = centre(r.geometry);
      const [x, y] = proj.xy(c.lon, c.lat);
      return svg("text", { x: x.toFixed(1), y: (y - 16).toFixed(1), class: "rg-label", "text-anchor": "middle" }, [document.createTextNode(r.name)]);
    });
    // A township or village is named where none of its grids is drawn (its open ground).
    regions.filter((r) => r.geometry && parents.has(r.path) && r.level !== "county").forEach((r) => {
      const c = centre(r.geometry);
      if (leaves.some((g) => contains(g.geometry, c.lon, c.lat))) return;
      const [x, y] = proj.xy(c.lon, c.lat);
      labels.push(svg("text", { x: x.toFixed(1), y: y.toFixed(1), class: "rg-label outer", "text-anchor": "middle" }, [document.createTextNode(r.name)]));
    });
    const stationMarks = stations.map((s) => {
      const [x, y] = proj.xy(s.lon, s.lat);
      return svg("rect", { x: (x - 6).toFixed(1), y: (y - 6).toFixed(1), width: 12, height: 12, class: "st", "data-station": s.code },
        [svg("title", {}, [document.createTextNode(SW.t("map.station") + "：" + s.name)])]);
    });
    const deviceMarks = devices.map((dev) => {
      const [x, y] = proj.xy(dev.lon, dev.lat);
      return svg("circle", { cx: x.toFixed(1), cy: y.toFixed(1), r: 4, class: "dev", "data-device": dev.id },
        [svg("title", {}, [document.createTextNode(SW.t("map.device") + "：" + (dev.name || dev.id))])]);
    });
    // Several cases at one spot are fanned out, so each stays clickable.
    const taken = {};
    const caseMarks = cases.filter((x) => x.point).sort((a, b) => RANK[a.status] - RANK[b.status]).map((x) => {
      let [cx, cy] = proj.xy(x.point.lon, x.point.lat);
      const spot = Math.round(cx) + "," + Math.round(cy);
      const n = taken[spot] || 0;
      taken[spot] = n + 1;
      cx += n * 22;
      const alarm = x.c.priority === "alarm";
      const open = () => { location.hash = "#/case/" + x.c.id; };
      const name = SW.t("detail.title", [x.c.id]) + " " + SW.label("kind", x.c.kind) + " · " + SW.t("deadline." + x.status);
      return svg("g", {
        class: "case-mark dl-" + x.status + (alarm ? " alarm" : "") + (x.c.state === "new" ? " unaccepted" : ""),
        transform: "translate(" + cx.toFixed(1) + "," + cy.toFixed(1) + ")",
        "data-case-id": x.c.id,
        "data-region": x.c.region_path || "",
        "data-deadline": x.status,
        tabindex: 0,
        role: "button",
        "aria-label": name,
        onclick: open,
        onkeydown: (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); open(); } },
      }, [
        x.c.state === "new" && alarm ? svg("circle", { r: 18, class: "pulse" }) : null,
        svg("circle", { r: alarm ? 11 : 8, class: "dot" }),
        svg("title", {}, [document.createTextNode(name + " · " + SW.deviceName(x.c))]),
      ]);
    });
    const map = svg("svg", {
      viewBox: "0 0 " + WIDTH + " " + Math.ceil(proj.height),
      role: "group",
      "aria-label": SW.t("map.title"),
      preserveAspectRatio: "xMidYMid meet",
    }, [
      svg("g", { class: "regions" }, shapes),
      svg("g", { class: "labels" }, labels),
      svg("g", { class: "devices" }, deviceMarks),
      svg("g", { class: "stations" }, stationMarks),
      svg("g", { class: "cases" }, caseMarks),
    ]);
    holder.replaceChildren(map);
  }

  function $map() { return SW.$("map"); }

  function filterTo(path) {
    SW.regionFilter(path);
    location.hash = "#/board";
  }

  // The region tree lists every region in scope, with or without a boundary, and what is open in it.
  function renderTree(regions, cases) {
    const tree = SW.$("region-tree");
    const items = regions.slice().sort((a, b) => a.path.localeCompare(b.path)).map((r) => {
      const inside = cases.filter((x) => within(x.c.region_path, r.path));
      const alarms = inside.filter((x) => x.c.priority === "alarm").length;
      const depth = r.path.split("/").length;
      const worst = inside.reduce((w, x) => (RANK[x.status] > RANK[w] ? x.status : w), "none");
      return SW.el("li", { class: "lvl-" + r.level, style: null, "data-depth": String(depth), "data-region": r.path }, [
        SW.el("button", { type: "button", class: "tree-item", onclick: () => filterTo(r.path) }, [
          SW.el("span", { class: "tree-name", text: r.name }),
          r.geometry ? null : SW.el("span", { class: "tree-note", text: SW.t("map.no_geometry") }),
          inside.length ? SW.el("span", { class: "tree-count dl-" + worst, text: SW.tn("map.open", inside.length) + (alarms ? " · " + SW.tn("map.alarms", alarms) : "") }) : null,
        ]),
      ]);
    });
    tree.replaceChildren(...items);
  }

  SW.renderMap = renderMap;
  SW.tickMap = renderMap;
  (SW.lookupHooks = SW.lookupHooks || []).push(() => { lastKey = null; });
})();
