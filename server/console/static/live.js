// Live push: GET /api/v1/stream, server-sent events read with fetch, so the token travels in the
// Authorization header like every other call and never in a URL (where logs would keep it).
// A break reconnects with the last event id; the server replays what was missed or says to
// re-read the board. console.js polls meanwhile, so a lost stream never means a stale board.
"use strict";

(function () {
  const SW = window.SW = window.SW || {};
  const BACKOFF_MS = [1000, 2000, 5000, 10000];
  const live = { controller: null, lastId: null, attempt: 0, timer: null, running: false, events: 0 };

  function connect() {
    disconnect();
    live.running = true;
    open();
  }

  function disconnect() {
    live.running = false;
    clearTimeout(live.timer);
    const controller = live.controller;
    live.controller = null;
    live.lastId = null;
    live.attempt = 0;
    if (controller) controller.abort();
  }

  async function open() {
    if (!live.running || !SW.state.token) return;
    const controller = new AbortController();
    live.controller = controller;
    const headers = { Accept: "text/event-stream", Authorization: "Bearer " + SW.state.token };
    if (live.lastId) headers["Last-Event-ID"] = live.lastId;
    let resp;
    try {
      resp = await fetch(SW.API + "/stream", { headers, cache: "no-store", signal: controller.signal });
    } catch (e) {
      retry(controller);
      return;
    }
    if (resp.status === 401) {
      if (controller === live.controller) SW.signOut(SW.t("error.expired"));
      return;
    }
    if (resp.ok && resp.body) {
      try { await read(resp.body.getReader()); } catch (e) { /* the connection broke */ }
    }
    retry(controller);
  }

  function retry(controller) {
    if (controller !== live.controller || !live.running) return; // replaced, or signed out
    SW.setLive(false);
    const wait = BACKOFF_MS[Math.min(live.attempt, BACKOFF_MS.length - 1)];
    live.attempt += 1;
    live.timer = setTimeout(open, wait);
  }

  async function read(reader) {
    const decoder = new TextDecoder();
    let buffer = "";
    let fields = {};
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += decoder.decode(value, { stream: true });
      const lines = buffer.split("\n");
      buffer = lines.pop();
      for (let line of lines) {
        if (line.endsWith("\r")) line = line.slice(0, -1);
        if (line === "") {
          if (fields.data !== undefined) dispatch(fields);
          fields = {};
        } else if (!line.startsWith(":")) { // ":" starts a keep-alive comment
          const colon = line.indexOf(":");
          const name = colon < 0 ? line : line.slice(0, colon);
          let text = colon < 0 ? "" : line.slice(colon + 1);
          if (text.startsWith(" ")) text = text.slice(1);
          fields[name] = name === "data" && fields.data !== undefined ? fields.data + "\n" + text : text;
        }
      }
    }
  }

  function dispatch(fields) {
    if (fields.id) live.lastId = fields.id;
    let data;
    try { data = JSON.parse(fields.data); } catch (e) { return; }
    const kind = fields.event || "message";
    if (kind === "ready") {
      live.attempt = 0;
      if (data.resync) SW.poll(true);
      SW.setLive(Boolean(data.live));
    } else if (kind === "case") {
      live.events += 1;
      document.body.dataset.pushed = String(live.events);
      SW.applyChange(data);
    } else if (kind === "gone") {
      SW.caseGone(data.id);
    } else if (kind === "feed") {
      // The server's own feed was down: alerts may have passed it, so read the board again.
      if (data.live) SW.poll(true);
      SW.setLive(Boolean(data.live));
    }
  }

  SW.live = { connect, disconnect };
})();
