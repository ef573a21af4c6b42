// Notification rules panel (admins) and the accept link of notifications (#/case/N/accept).
// Its own module: it reads the console's sign-in (sessionStorage "sw.token") and language
// (localStorage "sw.lang") and talks to /api/v1 with the same token; the server checks scope.
"use strict";

(function () {
  const API = "/api/v1";
  const CLASSES = ["panic", "medical", "fire", "intrusion", "tamper", "battery", "missing", "gateway_offline", "notify_failed"];
  const TEXT = {
    "zh-CN": {
      open: "通知设置", title: "通知规则", close: "关闭", add: "新增规则", save: "保存", cancel: "取消",
      name: "名称", region: "区域路径（空 = 全部）", target: "通知目标 URL（apprise，或 sms://手机号）",
      target_keep: "通知目标（留空则不变）", classes: "警情类别（不选 = 全部报警类）", level: "从第几次升级起（0 = 新警情起）",
      quiet: "免打扰时段（对紧急求助、医疗、火警无效）", quiet_from: "开始 HH:MM", quiet_to: "结束 HH:MM",
      language: "消息语言", enabled: "启用", edit: "编辑", remove: "删除", test: "发送测试",
      none: "还没有通知规则。建议先为本级值班群添加一条，并点“发送测试”。",
      saved: "已保存。", removed: "已删除。", test_ok: "测试消息已发送：{0}", test_failed: "测试失败：{0}",
      failed: "操作失败：{0}", confirm_remove: "删除规则“{0}”？",
      accept_title: "受理案件 {0}", accept_go: "确认受理", accept_done: "案件 {0} 已受理。",
      accept_login: "请先登录，登录后即可受理案件 {0}。", accept_failed: "无法受理：{0}",
      all: "全部", yes: "是", no: "否",
      cls: { panic: "紧急求助", medical: "医疗求助", fire: "火警", intrusion: "入侵", tamper: "防拆", battery: "电量低",
        missing: "设备失联", gateway_offline: "网关离线", notify_failed: "通知失败" },
    },
    en: {
      open: "Notifications", title: "Notification rules", close: "Close", add: "Add a rule", save: "Save", cancel: "Cancel",
      name: "Name", region: "Region path (empty = everything)", target: "Target URL (apprise, or sms://number)",
      target_keep: "Target (empty keeps it)", classes: "Alarm classes (none ticked = the alarm classes)",
      level: "From escalation (0 = from the new case)", quiet: "Quiet hours (never for panic, medical, fire)",
      quiet_from: "From HH:MM", quiet_to: "To HH:MM", language: "Message language", enabled: "Enabled",
      edit: "Edit", remove: "Delete", test: "Send a test",
      none: "No rules yet. Start with one for your own duty group, then press “Send a test”.",
      saved: "Saved.", removed: "Deleted.", test_ok: "Test sent: {0}", test_failed: "Test failed: {0}",
      failed: "Failed: {0}", confirm_remove: "Delete the rule “{0}”?",
      accept_title: "Accept case {0}", accept_go: "Accept", accept_done: "Case {0} accepted.",
      accept_login: "Sign in first; then you can accept case {0}.", accept_failed: "Could not accept: {0}",
      all: "all", yes: "yes", no: "no",
      cls: { panic: "Panic", medical: "Medical", fire: "Fire", intrusion: "Intrusion", tamper: "Tamper", battery: "Battery",
        missing: "Missing", gateway_offline: "Gateway offline", notify_failed: "Notify failing" },
    },
  };

  const el = (tag, attrs, children) => {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "text") node.textContent = v;
      else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else if (v !== false && v !== null && v !== undefined) node.setAttribute(k, v === true ? "" : v);
    }
    for (const c of children || []) node.append(c);
    return node;
  };
  const lang = () => (localStorage.getItem("sw.lang") === "en" ? "en" : "zh-CN");
  const t = (key, arg) => String(TEXT[lang()][key]).replace("{0}", arg === undefined ? "" : arg);
  const token = () => sessionStorage.getItem("sw.token");

  async function api(path, method, json) {
    const headers = { Accept: "application/json", Authorization: "Bearer " + token() };
    if (json !== undefined) headers["Content-Type"] = "application/json";
    const resp = await fetch(API + path, { method: method || "GET", headers, body: json === undefined ? undefined : JSON.stringify(json), cache: "no-store" });
    let body = null;
    try { body = await resp.json(); } catch (e) { body = null; }
    return { status: resp.status, body };
  }
  const why = (r) => (r.body && r.body.detail ? (typeof r.body.detail === "string" ? r.body.detail : JSON.stringify(r.body.detail)) : "HTTP " + r.status);

  // -- the panel ------------------------------------------------------------------------------

  let button = null;
  let panel = null;
  let editing = null; // rule being edited, or {} for a new one

  function mount() {
    const css = el("link", { rel: "stylesheet", href: "/console/static/notify.css" });
    document.head.append(css);
    button = el("button", { type: "button", id: "notify-open", class: "tool", hidden: true, onclick: toggle });
    const bar = document.querySelector("header.bar");
    const logout = document.getElementById("logout");
    if (bar) bar.insertBefore(button, logout);
    panel = el("section", { id: "notify-panel", class: "notify-panel", "aria-labelledby": "notify-title", hidden: true });
    document.querySelector("main").append(panel);
  }

  async function checkAdmin() {
    if (!token()) { button.hidden = true; panel.hidden = true; return; }
    const r = await api("/notify-rules?limit=1");
    button.hidden = r.status !== 200;
    button.textContent = t("open");
  }

  function toggle() {
    panel.hidden = !panel.hidden;
    if (!panel.hidden) render();
  }

  function say(text, bad) {
    const msg = document.getElementById("notify-message");
    if (msg) { msg.textContent = text; msg.className = bad ? "error" : "message"; }
  }

  async function render() {
    const r = await api("/notify-rules?limit=500");
    panel.replaceChildren(
      el("div", { class: "notify-head" }, [
        el("h2", { id: "notify-title", text: t("title") }),
        el("button", { type: "button", class: "tool", text: t("add"), onclick: () => { editing = {}; render(); } }),
        el("button", { type: "button", class: "tool", text: t("close"), onclick: toggle }),
      ]),
      el("p", { id: "notify-message", class: "message", role: "status", "aria-live": "polite" }),
    );
    if (r.status !== 200) { say(t("failed", why(r)), true); return; }
    if (editing) panel.append(form(editing));
    const rules = r.body.items;
    if (!rules.length) { panel.append(el("p", { class: "empty", text: t("none") })); return; }
    const head = ["name", "region", "target", "classes", "level", "quiet", "enabled", ""].map((k) => el("th", { scope: "col", text: k ? t(k).split("（")[0].split(" (")[0] : "" }));
    const rows = rules.map((rule) => el("tr", { "data-rule": rule.id }, [
      el("td", { text: rule.name }),
      el("td", { text: rule.region || "/" }),
      el("td", { class: "target", text: rule.target }),
      el("td", { text: rule.classes ? rule.classes.map((c) => TEXT[lang()].cls[c] || c).join("、") : t("all") }),
      el("td", { text: String(rule.min_level) }),
      el("td", { text: rule.quiet_start ? rule.quiet_start + "–" + rule.quiet_end : "" }),
      el("td", { text: rule.enabled ? t("yes") : t("no") }),
      el("td", {}, [
        el("button", { type: "button", class: "tool", text: t("test"), onclick: () => test(rule) }),
        el("button", { type: "button", class: "tool", text: t("edit"), onclick: () => { editing = rule; render(); } }),
        el("button", { type: "button", class: "tool", text: t("remove"), onclick: () => remove(rule) }),
      ]),
    ]));
    panel.append(el("table", { class: "notify-rules" }, [el("thead", {}, [el("tr", {}, head)]), el("tbody", {}, rows)]));
  }

  function field(label, input) {
    return el("label", { class: "notify-field" }, [el("span", { text: label }), input]);
  }

  function form(rule) {
    const isNew = rule.id === undefined;
    const name = el("input", { name: "name", required: true, value: rule.name || "" });
    const region = el("input", { name: "region", value: rule.region || "" });
    const target = el("input", { name: "target", required: isNew, placeholder: "dingtalk://TOKEN/  wecombot://KEY  json://host/path  sms://+86…" });
    const level = el("input", { name: "min_level", type: "number", min: "0", max: "10", value: String(rule.min_level || 0) });
    const qs = el("input", { name: "quiet_start", placeholder: "22:00", value: rule.quiet_start || "" });
    const qe = el("input", { name: "quiet_end", placeholder: "07:00", value: rule.quiet_end || "" });
    const language = el("select", { name: "language" }, [
      el("option", { value: "zh", text: "中文", selected: (rule.language || "zh") === "zh" }),
      el("option", { value: "en", text: "English", selected: rule.language === "en" }),
    ]);
    const enabled = el("input", { name: "enabled", type: "checkbox", checked: rule.enabled !== false });
    const boxes = CLASSES.map((c) => el("label", { class: "notify-class" }, [
      el("input", { type: "checkbox", value: c, checked: !!(rule.classes && rule.classes.includes(c)) }),
      TEXT[lang()].cls[c],
    ]));
    const submit = async (ev) => {
      ev.preventDefault();
      const classes = boxes.map((b) => b.querySelector("input")).filter((i) => i.checked).map((i) => i.value);
      const body = {
        name: name.value.trim(),
        region: region.value.trim() || null,
        target: target.value.trim() || null,
        classes: classes.length ? classes : null,
        min_level: Number(level.value || 0),
        quiet_start: qs.value.trim() || null,
        quiet_end: qe.value.trim() || null,
        language: language.value,
        enabled: enabled.checked,
      };
      const r = isNew ? await api("/notify-rules", "POST", body) : await api("/notify-rules/" + rule.id, "PUT", body);
      if (r.status === 200 || r.status === 201) { editing = null; await render(); say(t("saved")); }
      else say(t("failed", why(r)), true);
    };
    return el("form", { class: "notify-form", onsubmit: submit }, [
      field(t("name"), name),
      field(t("region"), region),
      field(isNew ? t("target") : t("target_keep"), target),
      el("fieldset", {}, [el("legend", { text: t("classes") }), ...boxes]),
      field(t("level"), level),
      el("fieldset", {}, [el("legend", { text: t("quiet") }), field(t("quiet_from"), qs), field(t("quiet_to"), qe)]),
      field(t("language"), language),
      field(t("enabled"), enabled),
      el("div", { class: "notify-actions" }, [
        el("button", { type: "submit", class: "primary", text: t("save") }),
        el("button", { type: "button", class: "tool", text: t("cancel"), onclick: () => { editing = null; render(); } }),
      ]),
    ]);
  }

  async function test(rule) {
    const r = await api("/notify-rules/" + rule.id + "/test", "POST");
    if (r.status === 200 && r.body.ok) say(t("test_ok", r.body.detail));
    else say(t("test_failed", r.status === 200 ? r.body.detail : why(r)), true);
  }

  async function remove(rule) {
    if (!window.confirm(t("confirm_remove", rule.name))) return;
    const r = await api("/notify-rules/" + rule.id, "DELETE");
    if (r.status === 204) { await render(); say(t("removed")); } else say(t("failed", why(r)), true);
  }

  // -- the accept link --------------------------------------------------------------------------

  let dialog = null;

  function acceptRoute() {
    const m = /^#\/case\/(\d+)\/accept$/.exec(location.hash);
    if (!m) { if (dialog) { dialog.remove(); dialog = null; } return; }
    const id = m[1];
    if (dialog) dialog.remove();
    dialog = el("section", { id: "accept-link", class: "notify-accept", role: "dialog", "aria-labelledby": "accept-title" });
    document.querySelector("main").prepend(dialog);
    const msg = el("p", { id: "accept-message", role: "status" });
    if (!token()) {
      dialog.append(el("h2", { id: "accept-title", text: t("accept_title", id) }), el("p", { text: t("accept_login", id) }));
      return;
    }
    const go = el("button", { type: "button", class: "primary", text: t("accept_go"), onclick: async () => {
      go.disabled = true;
      const r = await api("/cases/" + id + "/actions", "POST", { action: "accept" });
      if (r.status === 200) { msg.textContent = t("accept_done", id); location.hash = "#/case/" + id; }
      else { msg.textContent = t("accept_failed", why(r)); go.disabled = false; }
    } });
    dialog.append(el("h2", { id: "accept-title", text: t("accept_title", id) }), go, msg);
  }

  function start() {
    mount();
    window.addEventListener("hashchange", acceptRoute);
    let seen;  // undefined: the first look always acts
    // The console signs in and out in this tab: follow its token.
    const follow = () => {
      const now = token();
      if (now !== seen) { seen = now; checkAdmin(); acceptRoute(); }
      if (button && !button.hidden) button.textContent = t("open");
    };
    follow();
    setInterval(follow, 1000);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
