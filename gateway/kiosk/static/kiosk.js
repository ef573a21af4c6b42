/* 守望 station kiosk. Live state arrives as server-sent events (/api/events); the page never
   polls. Everything is drawn with textContent (no HTML from data). zh-CN by default. */
"use strict";

const T = {
  "zh-CN": {
    title: "守望 · 服务站", tab_board: "报警", tab_devices: "设备", tab_pairing: "配对", tab_test: "月度测试",
    tab_link: "网络", lang_switch: "English", link_up: "值班室在线", link_down: "与值班室断开",
    page_gone: "未连上本站网关",
    banner_down: "与值班室的连接已断开：报警照常在本站保存和响铃，恢复后自动补发；本站操作会排队，联网后按原时间同步。",
    banner_backlog: "待发送：报警 {alarm} · 故障 {fault} · 状态 {status} · 操作 {actions}",
    banner_disk: "本站存储已满：报警仍有预留空间，但新的本站操作暂时无法保存。请联系技术员。",
    banner_siren: "本站警笛正在鸣响", silence: "关闭警笛", banner_gone: "页面与本站网关失去联系，正在重新连接…",
    sign_in: "登录", sign_out: "退出", locked: "屏幕已锁定：可以查看报警；要处理报警请先登录。",
    no_alarms: "目前没有报警", recent: "最近处理过的报警",
    kind_panic: "紧急呼叫", kind_medical: "医疗求助", kind_fire: "火警", kind_intrusion: "入侵报警",
    kind_tamper: "防拆", kind_battery: "电量", kind_missing: "失联", kind_test: "测试按键",
    kind_door_open: "开门", kind_door_close: "关门", kind_panic_cancel: "取消呼叫", kind_tamper_restore: "外壳合上",
    lvl_stored: "已存本站", lvl_delivered: "已送达值班室", lvl_accepted: "已受理", lvl_accepted_by: "已受理：{by}",
    repeats: "共按 {n} 次", going: "我去处理", handled: "已处理", false_alarm: "误报", mute: "知道了（静音）",
    closed_handled: "已处理（{by}）", closed_false_alarm: "误报（{by}）", closed_cancelled: "设备端已取消",
    closed_closed: "值班室已结案",
    act_going: "我去处理", act_handled: "已处理", act_false_alarm: "误报",
    st_queued: "排队中", st_applied: "已同步到值班室", st_refused: "未被采纳",
    devices_none: "本站还没有登记设备", battery: "电量", signal: "信号", last_heard: "最后联系", never: "尚未联系",
    missing: "失联", tamper: "防拆触发", low_battery: "电量低", unsupervised: "未监测（不定时上报）",
    supervised: "定时监测", wired: "有线",
    unknown_title: "本站听到、但尚未登记的设备",
    unknown_none: "还没有听到未登记的设备。请触发新设备（按一下按钮、开一下门），它会出现在这里。",
    seen_times: "听到 {n} 次 · 最近 {at}", add_here: "添加到本站", pair_title: "添加设备 {id}",
    f_name: "名称（值班人员看到的，如：东村 3 组 王奶奶家按钮）", f_location: "位置", f_model: "型号",
    f_kind: "报警类型", kind_by_model: "按型号", paired: "已添加：{name}", model_none: "（无型号）",
    test_intro: "每月一次：先告知值班室，然后逐个按下每个按钮、开关每扇门、打开一次设备外壳；设备被触发后会自动打勾。",
    test_start: "开始月度测试", test_finish: "完成测试", test_running: "测试进行中：{done} / {total}",
    test_started: "{by} 于 {at} 开始", test_last: "上次测试：{at}，{by}（{done} / {total} 通过）",
    test_never: "还没有月度测试记录", test_waiting: "等待触发",
    link_state: "连接状态", link_since: "自", last_delivery: "最后送达", none_yet: "尚无",
    backlog: "待发送", backlog_detail: "报警 {alarm} · 故障 {fault} · 状态 {status}", actions_queued: "排队的本站操作",
    sms: "短信备用", sms_numbers: "{n} 个号码", sms_sent: "已发短信 {n} 条", sms_failed: "发送失败 {n} 次（最近：{why}）",
    siren: "本站警笛", siren_on: "鸣响中", siren_off: "关闭",
    pick_name: "请选择您的名字", enter_pin: "请输入 {name} 的 PIN",
    no_staff: "本站还没有设置人员 PIN。请技术员在网关上运行：shouwang gateway pin set 姓名",
    clear: "清除", cancel: "取消", ok: "确定", back: "返回",
    note_handled: "已处理：备注（可选）", note_false_alarm: "误报：备注（可选）",
    notes: ["已到场处置", "老人误按", "月度测试", "已联系家属"],
    queued_toast: "已记录：联网后按原时间同步到值班室", done_toast: "已记录", silenced: "警笛已关闭",
    signed_in: "{name} 已登录", signed_out: "已退出",
    err_wrong_pin: "PIN 不正确", err_throttled: "错误次数过多，请 {s} 秒后再试",
    err_no_such_alarm: "这条报警已不在本站记录中", err_disk_full: "本站存储已满，无法保存这次操作（报警的预留空间不受影响）",
    err_signed_out: "请先登录", err_alarm_closed: "这条报警已经结束", err_not_station_network: "只能在服务站网络内使用",
    err_name_required: "请填写名称", err_pairing_failed: "添加失败：{detail}", err_test_running: "月度测试已在进行",
    err_no_test_running: "没有进行中的月度测试", err_siren_failed: "警笛控制失败：{detail}",
    err_no_config_file: "网关不是从配置文件启动的，无法配对", err_bad_kind: "报警类型不正确",
    err_note_too_long: "备注太长", err_internal: "网关出错，请重试", err_offline: "连不上本站网关",
    r_case_closed: "值班室已结案", r_no_event: "值班室没有这条报警", r_not_in_station: "不是本站的设备",
    r_no_case: "这条报警没有对应的案件", r_bad_action: "操作无效",
    today: "", now: "刚刚",
  },
  en: {
    title: "Shouwang · Station", tab_board: "Alarms", tab_devices: "Devices", tab_pairing: "Pairing",
    tab_test: "Monthly test", tab_link: "Network", lang_switch: "中文", link_up: "Duty room online",
    link_down: "Duty room offline", page_gone: "Gateway not reachable",
    banner_down: "The link to the duty room is down: alarms are still stored and sounded here and sent when it returns; actions taken here are queued and synced with their original times.",
    banner_backlog: "Waiting to send: alarms {alarm} · faults {fault} · status {status} · actions {actions}",
    banner_disk: "The station's storage is full: alarms keep their reserved room, but new actions cannot be saved. Call the technician.",
    banner_siren: "The station siren is sounding", silence: "Silence siren",
    banner_gone: "The page lost the station gateway; reconnecting…",
    sign_in: "Sign in", sign_out: "Sign out", locked: "Screen locked: alarms are shown; sign in to act on them.",
    no_alarms: "No alarms", recent: "Recently closed",
    kind_panic: "Panic", kind_medical: "Medical", kind_fire: "Fire", kind_intrusion: "Intrusion",
    kind_tamper: "Tamper", kind_battery: "Battery", kind_missing: "Missing", kind_test: "test press",
    kind_door_open: "door opened", kind_door_close: "door closed", kind_panic_cancel: "cancel",
    kind_tamper_restore: "lid closed",
    lvl_stored: "Stored here", lvl_delivered: "Delivered to duty room", lvl_accepted: "Accepted",
    lvl_accepted_by: "Accepted: {by}", repeats: "{n} presses", going: "I'm going", handled: "Handled",
    false_alarm: "False alarm", mute: "Got it (mute)",
    closed_handled: "Handled ({by})", closed_false_alarm: "False alarm ({by})", closed_cancelled: "Cancelled on the device",
    closed_closed: "Closed by the duty room",
    act_going: "I'm going", act_handled: "Handled", act_false_alarm: "False alarm",
    st_queued: "queued", st_applied: "synced", st_refused: "not applied",
    devices_none: "No devices registered at this station", battery: "Battery", signal: "Signal",
    last_heard: "Last heard", never: "not yet", missing: "Missing", tamper: "Tamper", low_battery: "Low battery",
    unsupervised: "Unsupervised (no regular check-in)", supervised: "Supervised", wired: "wired",
    unknown_title: "Devices heard here but not registered",
    unknown_none: "No unregistered device heard yet. Trigger the new device (press it, open the door) and it appears here.",
    seen_times: "heard {n}× · last {at}", add_here: "Add to this station", pair_title: "Add device {id}",
    f_name: "Name staff will read (e.g. Group 3, Mrs Wang's button)", f_location: "Location", f_model: "Model",
    f_kind: "Alarm kind", kind_by_model: "by model", paired: "Added: {name}", model_none: "(no model)",
    test_intro: "Once a month: tell the duty room first, then press every button, open and close every door and open each device's lid once; each device is ticked when it is triggered.",
    test_start: "Start monthly test", test_finish: "Finish test", test_running: "Test running: {done} / {total}",
    test_started: "started by {by} at {at}", test_last: "Last test: {at}, {by} ({done} / {total} passed)",
    test_never: "No monthly test recorded yet", test_waiting: "waiting",
    link_state: "Link", link_since: "since", last_delivery: "Last delivery", none_yet: "none yet",
    backlog: "Waiting to send", backlog_detail: "alarms {alarm} · faults {fault} · status {status}",
    actions_queued: "Queued station actions", sms: "SMS fallback", sms_numbers: "{n} numbers",
    sms_sent: "{n} texts sent", sms_failed: "{n} failed (last: {why})", siren: "Station siren", siren_on: "sounding",
    siren_off: "off", pick_name: "Who are you?", enter_pin: "PIN for {name}",
    no_staff: "No staff PIN is set at this station. The technician runs: shouwang gateway pin set NAME",
    clear: "Clear", cancel: "Cancel", ok: "OK", back: "Back",
    note_handled: "Handled: note (optional)", note_false_alarm: "False alarm: note (optional)",
    notes: ["On site, dealt with", "Pressed by mistake", "Monthly test", "Family contacted"],
    queued_toast: "Saved: synced to the duty room with its original time when the link returns",
    done_toast: "Saved", silenced: "Siren silenced", signed_in: "{name} signed in", signed_out: "Signed out",
    err_wrong_pin: "Wrong PIN", err_throttled: "Too many wrong PINs; try again in {s} s",
    err_no_such_alarm: "This alarm is no longer kept at the station",
    err_disk_full: "The station's storage is full; this action cannot be saved (alarms keep their reserved room)",
    err_signed_out: "Sign in first", err_alarm_closed: "This alarm is already closed",
    err_not_station_network: "Only on the station's network", err_name_required: "A name is required",
    err_pairing_failed: "Could not add: {detail}", err_test_running: "A monthly test is already running",
    err_no_test_running: "No monthly test is running", err_siren_failed: "Siren control failed: {detail}",
    err_no_config_file: "The gateway was not started from a config file", err_bad_kind: "Unknown alarm kind",
    err_note_too_long: "The note is too long", err_internal: "The gateway failed; try again",
    err_offline: "Cannot reach the station gateway",
    r_case_closed: "closed by the duty room", r_no_event: "the duty room does not have this alarm",
    r_not_in_station: "not a device of this station", r_no_case: "no case for this alarm", r_bad_action: "invalid",
    today: "", now: "just now",
  },
};
const KINDS = ["panic", "medical", "fire", "intrusion", "door_open", "tamper", "test"];
const PAGE = { state: null, tab: "board", lang: localStorage.getItem("sw-kiosk-lang"), gone: false, es: null,
  muted: new Set(), seen: new Map(), first: true, beeper: null, idle: null, audio: null };

function lang() { return PAGE.lang || (PAGE.state && PAGE.state.lang) || "zh-CN"; }
function t(key, args) {
  const table = T[lang()] || T["zh-CN"];
  let s = key in table ? table[key] : (T["zh-CN"][key] !== undefined ? T["zh-CN"][key] : key);
  if (args && typeof s === "string") for (const [k, v] of Object.entries(args)) s = s.split("{" + k + "}").join(String(v));
  return s;
}
function h(tag, attrs, ...kids) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") el.className = v;
    else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const kid of kids.flat()) if (kid !== null && kid !== undefined && kid !== false) el.append(kid);
  return el;
}
function $(id) { return document.getElementById(id); }

function fmtTime(iso) {
  if (!iso) return t("never");
  const d = new Date(iso), now = new Date();
  const two = (n) => String(n).padStart(2, "0");
  const hms = two(d.getHours()) + ":" + two(d.getMinutes()) + ":" + two(d.getSeconds());
  if (d.toDateString() === now.toDateString()) return hms;
  return two(d.getMonth() + 1) + "-" + two(d.getDate()) + " " + hms.slice(0, 5);
}

/* --- talking to the gateway --------------------------------------------------------------- */

async function api(method, path, body) {
  let resp;
  try {
    resp = await fetch(path, { method, headers: body ? { "Content-Type": "application/json" } : {},
      body: body ? JSON.stringify(body) : undefined, credentials: "same-origin" });
  } catch (e) {
    toast(t("err_offline"), true);
    throw e;
  }
  const data = await resp.json().catch(() => ({}));
  if (!resp.ok) {
    const err = new Error(data.error || "internal");
    err.reason = data.error || "internal";
    err.data = data;
    throw err;
  }
  return data;
}
function explain(err) {
  const reason = err.reason || "internal";
  const key = "err_" + reason;
  const text = T[lang()][key] !== undefined ? t(key, { s: (err.data && err.data.retry_after) || "", detail: (err.data && err.data.detail) || "" })
    : ((err.data && err.data.detail) || t("err_internal"));
  return text;
}
function failed(err) {
  if (err.reason === "signed_out") { setMe(null); openSignIn(); }
  if (err.reason) toast(explain(err), true);
}

function connect() {
  if (PAGE.es) PAGE.es.close();
  const es = new EventSource("/api/events");
  es.addEventListener("state", (e) => { PAGE.gone = false; apply(JSON.parse(e.data)); });
  es.addEventListener("open", () => { if (PAGE.gone) { PAGE.gone = false; draw(); } });
  es.addEventListener("error", () => { PAGE.gone = true; drawTop(); });
  PAGE.es = es;
}

/* --- state and drawing ---------------------------------------------------------------------- */

function apply(state) {
  const old = PAGE.state;
  PAGE.state = state;
  document.documentElement.lang = lang();
  let fresh = false;
  for (const a of state.alarms) {
    const prior = PAGE.seen.get(a.id);
    if (!a.closed && a.level !== "accepted" && prior !== a.last_at && !PAGE.first) { fresh = true; PAGE.muted.delete(a.id); }
    PAGE.seen.set(a.id, a.last_at);
  }
  PAGE.first = false;
  if (old && old.me !== state.me && !state.me) closeModal();
  if (!old || old.me !== state.me) armIdle();  // a push is no touch: only people keep a session alive
  draw();
  if (fresh) sound();
}

function flashing(a) { return !a.closed && a.level !== "accepted"; }
function ringing() { return PAGE.state && PAGE.state.alarms.some((a) => flashing(a) && !PAGE.muted.has(a.id)); }

function draw() { drawTop(); drawTabs(); drawView(); }

function drawTop() {
  const s = PAGE.state;
  document.title = t("title");
  $("station").textContent = s ? s.station : "";
  const link = $("link");
  if (PAGE.gone || !s) { link.className = "pill gone"; link.textContent = t("page_gone"); }
  else { link.className = "pill " + (s.link.up ? "up" : "down"); link.textContent = s.link.up ? t("link_up") : t("link_down"); }
  $("lang").textContent = t("lang_switch");
  $("who").textContent = s && s.me ? s.me + " · " + t("sign_out") : t("sign_in");
  const banners = $("banners");
  banners.replaceChildren();
  if (PAGE.gone) banners.append(h("div", { class: "banner-gone", id: "banner-gone" }, t("banner_gone")));
  if (!s) return;
  if (!s.link.up) {
    const b = s.link.backlog;
    banners.append(h("div", { class: "banner-down", id: "banner-offline" }, "⚠ " + t("banner_down"), h("br"),
      h("small", {}, t("banner_backlog", { alarm: b.alarm, fault: b.fault, status: b.status, actions: s.link.actions_queued }))));
  }
  if (s.disk_full) banners.append(h("div", { class: "banner-disk", id: "banner-disk" }, t("banner_disk")));
  if (s.siren.on) {
    banners.append(h("div", { class: "banner-siren" }, h("span", {}, t("banner_siren")),
      h("button", { class: "warn", id: "silence", onclick: silence }, t("silence"))));
  }
}

const TABS = ["board", "devices", "pairing", "test", "link"];
function drawTabs() {
  const s = PAGE.state;
  const open = s ? s.alarms.filter((a) => !a.closed).length : 0;
  const unknown = s ? s.unknown.length : 0;
  $("tabs").replaceChildren(...TABS.map((name) => {
    const count = name === "board" ? open : name === "pairing" ? unknown : 0;
    return h("button", { type: "button", class: PAGE.tab === name ? "on" : "", "data-tab": name,
      onclick: () => { PAGE.tab = name; draw(); $("view").scrollTop = 0; } },
    t("tab_" + name), count ? h("span", { class: "count" }, String(count)) : null);
  }));
}

function drawView() {
  const view = $("view");
  const top = view.scrollTop;
  const s = PAGE.state;
  if (!s) { view.replaceChildren(h("div", { class: "empty" }, t("page_gone"))); return; }
  const render = { board: drawBoard, devices: drawDevices, pairing: drawPairing, test: drawTest, link: drawLink }[PAGE.tab];
  view.replaceChildren(...render(s));
  view.scrollTop = top;
}

function lockedNote(s) {
  if (s.me) return null;
  return h("div", { class: "locked-note", id: "locked" }, h("span", {}, t("locked")),
    h("button", { type: "button", onclick: openSignIn }, t("sign_in")));
}

function drawBoard(s) {
  const open = s.alarms.filter((a) => !a.closed), closed = s.alarms.filter((a) => a.closed);
  const out = [lockedNote(s)];
  if (!open.length) out.push(h("div", { class: "empty", id: "no-alarms" }, t("no_alarms")));
  out.push(...open.map((a) => card(a, s)));
  if (closed.length) out.push(h("h2", {}, t("recent")), ...closed.slice(0, 10).map((a) => card(a, s)));
  return out.filter(Boolean);
}

function card(a, s) {
  const level = { stored: 1, delivered: 2, accepted: 3 }[a.level] || 1;
  const cls = ["card", a.closed ? "closed" : a.level === "accepted" ? "accepted" : "", flashing(a) ? "flash" : ""];
  const steps = h("div", { class: "steps" },
    h("span", { class: "step" + (level >= 1 ? " on" : "") }, t("lvl_stored")),
    h("span", { class: "step" + (a.delivered ? " on" : ""), "data-delivered": a.delivered ? "yes" : "no" }, t("lvl_delivered")),
    h("span", { class: "step" + (level >= 3 ? " on acc" : ""), "data-level": a.level },
      level >= 3 && a.accepted_by ? t("lvl_accepted_by", { by: a.accepted_by }) : t("lvl_accepted")));
  const acts = h("div", { class: "acts" });
  if (!a.closed) {
    if (flashing(a) && !PAGE.muted.has(a.id)) {
      acts.append(h("button", { type: "button", class: "light", onclick: () => { PAGE.muted.add(a.id); draw(); } }, t("mute")));
    }
    if (s.me) {
      const going = a.actions.some((x) => x.action === "going");
      if (!going) acts.append(h("button", { type: "button", class: "ok", "data-act": "going", onclick: () => act(a, "going") }, t("going")));
      acts.append(h("button", { type: "button", "data-act": "handled", onclick: () => askNote(a, "handled") }, t("handled")));
      acts.append(h("button", { type: "button", class: "grey", "data-act": "false_alarm", onclick: () => askNote(a, "false_alarm") }, t("false_alarm")));
    }
  }
  const closedLine = a.closed ? h("div", { class: "where" }, t("closed_" + a.closed, { by: a.closed_by })) : null;
  const history = h("div", { class: "history" }, ...a.actions.map((x) => h("div", {},
    fmtTime(x.at) + " " + x.by + " · " + t("act_" + x.action) + (x.note ? " · " + x.note : ""),
    h("span", { class: "tag " + x.state, "data-state": x.state },
      t("st_" + x.state) + (x.state === "refused" && x.reason ? "：" + (T[lang()]["r_" + x.reason] ? t("r_" + x.reason) : x.reason) : "")))));
  return h("article", { class: cls.filter(Boolean).join(" "), "data-alarm": a.id },
    h("div", { class: "head" }, h("span", { class: "kind" }, t("kind_" + a.kind)), h("span", { class: "name" }, a.name),
      h("span", { class: "time" }, fmtTime(a.last_at) + (a.repeats ? " · " + t("repeats", { n: a.repeats + 1 }) : ""))),
    a.location ? h("div", { class: "where" }, a.location) : null,
    steps, closedLine, acts.childElementCount ? acts : null, a.actions.length ? history : null);
}

function drawDevices(s) {
  if (!s.devices.length) return [h("div", { class: "empty" }, t("devices_none"))];
  return [h("div", { class: "rows" }, ...s.devices.map((d) => {
    const badges = [];
    if (d.missing) badges.push(h("span", { class: "badge bad" }, t("missing")));
    if (d.tamper) badges.push(h("span", { class: "badge warn" }, t("tamper")));
    if (d.low_battery) badges.push(h("span", { class: "badge warn" }, t("low_battery")));
    badges.push(h("span", { class: "badge " + (d.supervised ? "good" : "mute") }, d.supervised ? t("supervised") : t("unsupervised")));
    const model = lang() === "en" ? d.model_name_en : d.model_name;
    return h("div", { class: "row", "data-device": d.id },
      h("div", { class: "main" }, h("b", {}, d.name), ...badges,
        h("div", { class: "sub" }, [d.location, model || d.model, d.id].filter(Boolean).join(" · "))),
      h("div", { class: "vals" },
        h("span", {}, t("battery") + " " + (d.battery === null ? "—" : d.battery + "%")),
        h("span", {}, t("signal") + " " + (d.rssi === null ? (d.transport === "serial" ? t("wired") : "—") : d.rssi + " dBm")),
        h("span", {}, t("last_heard") + " " + fmtTime(d.last_heard))));
  }))];
}

function drawPairing(s) {
  const out = [lockedNote(s), h("h2", {}, t("unknown_title"))];
  if (!s.unknown.length) { out.push(h("div", { class: "empty", id: "no-unknown" }, t("unknown_none"))); return out.filter(Boolean); }
  out.push(h("div", { class: "rows" }, ...s.unknown.map((u) => h("div", { class: "row", "data-unknown": u.device },
    h("div", { class: "main" }, h("b", {}, u.device), h("div", { class: "sub" },
      u.transport + " · " + t("seen_times", { n: u.count, at: fmtTime(u.last_seen) }) + (u.detail ? " · " + u.detail : ""))),
    s.me ? h("button", { type: "button", onclick: () => openPair(u) }, t("add_here")) : null))));
  return out.filter(Boolean);
}

function drawTest(s) {
  const out = [lockedNote(s), h("p", { class: "hint" }, t("test_intro"))];
  const run = s.test.running;
  if (run) {
    out.push(h("div", { class: "progress", id: "test-progress" }, t("test_running", { done: run.done, total: run.total })),
      h("p", { class: "hint" }, t("test_started", { by: run.started_by, at: fmtTime(run.started_at) })));
    const names = Object.fromEntries(s.devices.map((d) => [d.id, d]));
    out.push(h("div", { class: "rows" }, ...run.devices.map((d) => h("div", { class: "row", "data-test-device": d.device, "data-ticked": d.at ? "yes" : "no" },
      h("span", { class: "tick " + (d.at ? "yes" : "no") }, d.at ? "✓" : "○"),
      h("div", { class: "main" }, h("b", {}, names[d.device] ? names[d.device].name : d.device),
        h("div", { class: "sub" }, d.at ? fmtTime(d.at) + " · " + t("kind_" + d.kind) : t("test_waiting")))))));
    if (s.me) out.push(h("div", { class: "acts" }, h("button", { type: "button", class: "ok", id: "test-finish", onclick: () => call("DELETE", "/api/test") }, t("test_finish"))));
  } else {
    const last = s.test.last;
    out.push(h("p", {}, last ? t("test_last", { at: fmtTime(last.finished_at), by: last.finished_by, done: last.done, total: last.total }) : t("test_never")));
    if (s.me) out.push(h("div", { class: "acts" }, h("button", { type: "button", id: "test-start", onclick: () => call("POST", "/api/test", {}) }, t("test_start"))));
  }
  return out.filter(Boolean);
}

function drawLink(s) {
  const b = s.link.backlog;
  const rows = [
    [t("link_state"), (s.link.up ? t("link_up") : t("link_down")) + " · " + t("link_since") + " " + fmtTime(s.link.since)],
    [t("last_delivery"), s.link.last_delivery ? fmtTime(s.link.last_delivery) : t("none_yet")],
    [t("backlog"), t("backlog_detail", { alarm: b.alarm, fault: b.fault, status: b.status })],
    [t("actions_queued"), String(s.link.actions_queued)],
    [t("siren"), s.siren.on ? t("siren_on") : t("siren_off")],
  ];
  if (s.link.sms) rows.push([t("sms"), smsLine(s.link.sms)]);
  const out = [h("dl", { class: "kv", id: "link-facts" }, ...rows.flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]))];
  if (s.siren.on && s.me) out.push(h("div", { class: "acts" }, h("button", { type: "button", class: "warn", onclick: silence }, t("silence"))));
  return out;
}

/* The gateway's SMS fallback (its status): numbers, texts sent, and failures in red. */
function smsLine(sms) {
  if (typeof sms !== "object" || sms === null) return String(sms);
  const sent = sms.texts_sent && typeof sms.texts_sent === "object"
    ? Object.values(sms.texts_sent).reduce((a, b) => a + (Number(b) || 0), 0) : null;
  const failed = sms.failures && typeof sms.failures === "object"
    ? Object.values(sms.failures).reduce((a, b) => a + (Number(b) || 0), 0) : 0;
  if (sent === null && sms.numbers === undefined) {
    return Object.entries(sms).map(([k, v]) => k + ": " + (typeof v === "object" ? JSON.stringify(v) : v)).join(" · ");
  }
  const parts = [t("sms_numbers", { n: sms.numbers ?? "—" }), t("sms_sent", { n: sent ?? 0 })];
  const line = h("span", { id: "sms-state" }, parts.join(" · "));
  if (failed) line.append(" · ", h("span", { class: "bad-text" }, t("sms_failed", { n: failed, why: sms.last_error || "—" })));
  return line;
}

/* --- actions ------------------------------------------------------------------------------- */

async function call(method, path, body) {
  try { await api(method, path, body); toast(t("done_toast")); } catch (e) { failed(e); }
}
async function act(a, verb, note) {
  try {
    await api("POST", "/api/alarms/" + encodeURIComponent(a.id) + "/actions", { action: verb, note: note || "" });
    PAGE.muted.add(a.id);
    toast(PAGE.state && PAGE.state.link.up ? t("done_toast") : t("queued_toast"));
  } catch (e) { failed(e); }
}
async function silence() {
  if (!PAGE.state.me) { openSignIn(); return; }
  try { await api("POST", "/api/siren", { on: false }); toast(t("silenced")); } catch (e) { failed(e); }
}

function closeModal() { const m = $("modal"); m.hidden = true; m.replaceChildren(); }
function modal(...kids) { const m = $("modal"); m.replaceChildren(h("div", { class: "sheet" }, ...kids)); m.hidden = false; }

function askNote(a, verb) {
  const area = h("textarea", { id: "note", maxlength: "500" });
  modal(h("h3", {}, t("note_" + verb) + " · " + a.name),
    h("div", { class: "chips" }, ...t("notes").map((n) => h("button", { type: "button", onclick: () => { area.value = n; } }, n))),
    area,
    h("div", { class: "bar" }, h("button", { type: "button", class: "grey", onclick: closeModal }, t("cancel")),
      h("button", { type: "button", id: "note-ok", onclick: () => { closeModal(); act(a, verb, area.value); } }, t("ok"))));
}

function openSignIn() {
  const s = PAGE.state;
  if (!s) return;
  if (!s.staff.length) { modal(h("h3", {}, t("sign_in")), h("p", {}, t("no_staff")), h("div", { class: "bar" }, h("button", { type: "button", onclick: closeModal }, t("ok")))); return; }
  if (s.staff.length === 1) { pinPad(s.staff[0]); return; }
  modal(h("h3", {}, t("pick_name")), h("div", { class: "names" }, ...s.staff.map((n) => h("button", { type: "button", class: "light", "data-staff": n, onclick: () => pinPad(n) }, n))),
    h("div", { class: "bar" }, h("button", { type: "button", class: "grey", onclick: closeModal }, t("cancel"))));
}

function pinPad(name) {
  let pin = "";
  const show = h("div", { class: "pinshow", id: "pin-dots" });
  const err = h("div", { class: "err", id: "pin-error" });
  const put = () => { show.textContent = "●".repeat(pin.length); };
  const submit = async () => {
    if (!pin) return;
    try {
      await api("POST", "/api/session", { name, pin });
      closeModal();
      document.removeEventListener("keydown", keys);
      toast(t("signed_in", { name }));
      connect();
    } catch (e) { pin = ""; put(); err.textContent = explain(e); }
  };
  const press = (d) => { if (pin.length < 8) { pin += d; put(); err.textContent = ""; } };
  const keys = (e) => {
    if ($("modal").hidden) { document.removeEventListener("keydown", keys); return; }
    if (/^[0-9]$/.test(e.key)) press(e.key);
    else if (e.key === "Backspace") { pin = pin.slice(0, -1); put(); }
    else if (e.key === "Enter") submit();
  };
  document.addEventListener("keydown", keys);
  const pad = h("div", { class: "pad" }, ..."123456789".split("").map((d) => h("button", { type: "button", "data-digit": d, onclick: () => press(d) }, d)),
    h("button", { type: "button", class: "clear", onclick: () => { pin = ""; put(); } }, t("clear")),
    h("button", { type: "button", "data-digit": "0", onclick: () => press("0") }, "0"),
    h("button", { type: "button", class: "ok", id: "pin-ok", onclick: submit }, t("ok")));
  modal(h("h3", {}, t("enter_pin", { name })),
    h("div", { class: "pinrow" }, h("div", { class: "pinleft" }, show, err,
      h("button", { type: "button", class: "grey", onclick: () => { document.removeEventListener("keydown", keys); closeModal(); } }, t("cancel"))), pad));
}

function openPair(u) {
  const name = h("input", { type: "text", id: "pair-name", maxlength: "60" });
  const location = h("input", { type: "text", id: "pair-location", maxlength: "60" });
  const model = h("select", { id: "pair-model" }, h("option", { value: "" }, t("model_none")),
    ...u.models.map((m) => h("option", { value: m, selected: u.models.length === 1 }, m)));
  const kind = h("select", { id: "pair-kind" }, h("option", { value: "" }, t("kind_by_model")),
    ...KINDS.map((k) => h("option", { value: k }, (T[lang()]["kind_" + k] ? t("kind_" + k) + " · " : "") + k)));
  const err = h("div", { class: "err", id: "pair-error" });
  const submit = async () => {
    try {
      await api("POST", "/api/pairing", { device: u.device, name: name.value, location: location.value, model: model.value, kind: kind.value });
      closeModal();
      toast(t("paired", { name: name.value }));
    } catch (e) { err.textContent = explain(e); }
  };
  modal(h("h3", {}, t("pair_title", { id: u.device })),
    h("label", { class: "field" }, h("span", {}, t("f_name")), name),
    h("label", { class: "field" }, h("span", {}, t("f_location")), location),
    h("label", { class: "field" }, h("span", {}, t("f_model")), model),
    h("label", { class: "field" }, h("span", {}, t("f_kind")), kind), err,
    h("div", { class: "bar" }, h("button", { type: "button", class: "grey", onclick: closeModal }, t("cancel")),
      h("button", { type: "button", id: "pair-ok", onclick: submit }, t("add_here"))));
}

function setMe(name) { if (PAGE.state) { PAGE.state.me = name; draw(); } }
async function signOut() {
  try { await api("DELETE", "/api/session"); } catch (e) { /* signed out either way */ }
  setMe(null);
  toast(t("signed_out"));
  connect();
}

/* --- sound, idle lock, clock ---------------------------------------------------------------- */

function sound() {
  if (!ringing()) return;
  if (!PAGE.beeper) { beep(); PAGE.beeper = setInterval(() => { if (ringing()) beep(); else { clearInterval(PAGE.beeper); PAGE.beeper = null; } }, 1500); }
}
function beep() {
  try {
    PAGE.audio = PAGE.audio || new (window.AudioContext || window.webkitAudioContext)();
    const ctx = PAGE.audio;
    if (ctx.state === "suspended") ctx.resume();
    [0, 0.4].forEach((start, i) => {
      const osc = ctx.createOscillator(), gain = ctx.createGain();
      osc.frequency.value = i ? 660 : 880;
      gain.gain.setValueAtTime(0.0001, ctx.currentTime + start);
      gain.gain.exponentialRampToValueAtTime(0.5, ctx.currentTime + start + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, ctx.currentTime + start + 0.35);
      osc.connect(gain).connect(ctx.destination);
      osc.start(ctx.currentTime + start);
      osc.stop(ctx.currentTime + start + 0.36);
    });
  } catch (e) { /* no audio device: the card still flashes */ }
}
function armIdle() {
  clearTimeout(PAGE.idle);
  if (PAGE.state && PAGE.state.me) PAGE.idle = setTimeout(signOut, PAGE.state.idle_s * 1000);
}

let toastTimer = null;
function toast(text, bad) {
  const el = $("toast");
  el.textContent = text;
  el.className = "toast" + (bad ? " bad" : "");
  el.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { el.hidden = true; }, bad ? 6000 : 3500);
}

function tickClock() {
  const d = new Date();
  const two = (n) => String(n).padStart(2, "0");
  $("clock").textContent = two(d.getHours()) + ":" + two(d.getMinutes()) + ":" + two(d.getSeconds());
}

document.addEventListener("DOMContentLoaded", () => {
  $("lang").addEventListener("click", () => {
    PAGE.lang = lang() === "zh-CN" ? "en" : "zh-CN";
    localStorage.setItem("sw-kiosk-lang", PAGE.lang);
    document.documentElement.lang = PAGE.lang;
    draw();
  });
  $("who").addEventListener("click", () => { if (PAGE.state && PAGE.state.me) signOut(); else openSignIn(); });
  for (const ev of ["pointerdown", "keydown"]) document.addEventListener(ev, () => {
    armIdle();
    if (PAGE.audio && PAGE.audio.state === "suspended") PAGE.audio.resume();
  }, { passive: true });
  const q = new URLSearchParams(location.search).get("lang");
  if (q === "en" || q === "zh-CN") PAGE.lang = q;
  tickClock();
  setInterval(tickClock, 1000);
  drawTop(); drawTabs(); drawView();
  connect();
});
