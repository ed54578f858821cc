// The sandbox page: long-polls the workspace state and sends what the person does.
// Every action goes to the sandbox server, which builds the payload Slack would send,
// signs it and POSTs it to the app. All HTML comes from the server's Block Kit renderer.
"use strict";

const params = new URLSearchParams(location.search);
const view = {
  me: params.get("as") || localStorage.getItem("sandbox-as") || "",
  channel: params.get("in") || "home", // "home", the DM id, or a channel id
  version: -1,
  modalKey: "",
  thread: "", // the ts of the thread the composer replies in, if any
  poller: null,
  dm: "",
};

const $ = (sel) => document.querySelector(sel);

function toast(text, kind) {
  const el = document.createElement("div");
  el.className = "toast " + (kind || "");
  el.textContent = text;
  $("#toasts").appendChild(el);
  setTimeout(() => el.remove(), 6000);
}

async function post(path, body) {
  const resp = await fetch(path, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(Object.assign({ user: view.me }, body)),
  });
  const data = await resp.json().catch(() => ({}));
  if (!resp.ok) {
    toast(data.error || "HTTP " + resp.status, "error");
    return null;
  }
  return data;
}

// What the person typed or chose inside `root`, keyed "block_id/action_id".
function typed(root) {
  const out = {};
  root.querySelectorAll("[name]").forEach((el) => {
    if (!el.name.includes("/")) return;
    out[el.name] = out[el.name] || [];
    if (el.type === "checkbox" || el.type === "radio") {
      if (el.checked) out[el.name].push(el.value);
    } else if (el.value !== "") {
      out[el.name].push(el.value);
    } else if (el.tagName !== "SELECT") {
      out[el.name].push("");
    }
  });
  return out;
}

function restore(root, values) {
  root.querySelectorAll("[name]").forEach((el) => {
    const got = values[el.name];
    if (!got) return;
    if (el.type === "checkbox" || el.type === "radio") el.checked = got.includes(el.value);
    else if (got.length) el.value = got[0];
  });
}

// Slack's client refuses to submit a modal with an empty required input, and says so.
function requiredFilled(form) {
  let ok = true;
  form.querySelectorAll(".bk-input-block[data-required]").forEach((block) => {
    const values = Object.values(typed(block)).flat().filter((v) => v.trim() !== "");
    block.querySelectorAll(".bk-local-error").forEach((e) => e.remove());
    if (values.length) return;
    ok = false;
    const err = document.createElement("div");
    err.className = "bk-error bk-local-error";
    err.setAttribute("role", "alert");
    err.textContent = "Please complete this required field.";
    block.classList.add("bk-has-error");
    block.querySelector(".bk-input, .bk-select, .bk-choices").after(err);
  });
  return ok;
}

function where(el) {
  const modal = el.closest(".modal");
  if (modal) return { view_id: modal.dataset.viewId, root: modal };
  const home = el.closest(".home");
  if (home) return { view_id: home.dataset.viewId, root: home };
  const msg = el.closest(".msg");
  return { channel: conversation(), ts: msg.dataset.ts, root: msg };
}

function conversation() {
  return view.channel === "home" ? view.dm : view.channel;
}

async function act(el) {
  const w = where(el);
  const values = typed(w.root);
  if (el.tagName === "BUTTON") values[el.dataset.blockId + "/" + el.dataset.actionId] = [el.dataset.value || ""];
  await post("/sandbox/action", {
    channel: w.channel, ts: w.ts, view_id: w.view_id,
    block_id: el.dataset.blockId, action_id: el.dataset.actionId, typed: values,
  });
}

function renderPeople(state) {
  const who = $("#who");
  if (!who.options.length) {
    state.people.forEach((p) => who.add(new Option(p.name, p.id)));
  }
  state.people.forEach((p, i) => { who.options[i].text = `${p.name} · ${p.local} ${p.tz}`; });
  who.value = state.me;
}

function sideItem(label, channel, prefix) {
  const a = document.createElement("a");
  a.className = "side-item" + (view.channel === channel ? " active" : "");
  a.dataset.channel = channel;
  a.innerHTML = `<span class="hash">${prefix}</span>`;
  a.append(label);
  return a;
}

function renderSidebar(state) {
  $("#ws-name").textContent = state.workspace;
  const list = $("#channels");
  list.replaceChildren(...state.channels.map((c) => sideItem(c.name, c.id, "#")));
  const app = $("#apps .side-item");
  app.classList.toggle("active", view.channel === "home" || view.channel === state.dm);
  const jobs = $("#jobs");
  if (!jobs.children.length) {
    state.jobs.forEach((j) => {
      const b = document.createElement("button");
      b.className = "job";
      b.dataset.job = j.name;
      b.textContent = j.label;
      if (j.unavailable) { b.disabled = true; b.title = j.unavailable; }
      jobs.appendChild(b);
    });
  }
}

function renderMain(state) {
  const isApp = view.channel === "home" || view.channel === state.dm;
  const chan = state.channels.find((c) => c.id === view.channel);
  $("#title").innerHTML = isApp
    ? '<span class="app-icon big">ct</span> crowdtune <span class="app-badge">APP</span>'
    : "# " + (chan ? chan.name : "");
  $("#tabs").style.display = isApp ? "" : "none";
  document.querySelectorAll(".tab").forEach((t) => {
    t.classList.toggle("active", (t.dataset.tab === "home") === (view.channel === "home"));
  });
  const main = $("#main");
  const keep = typed(main);
  const atBottom = main.scrollHeight - main.scrollTop - main.clientHeight < 40;
  main.innerHTML = state.main;
  restore(main, keep);
  if (view.channel !== "home" && atBottom) main.scrollTop = main.scrollHeight;
  $("#composer").style.display = view.channel === "home" ? "none" : "";
  $("#compose").placeholder = isApp ? "Message crowdtune — try /crowdtune write" : "Message #" + (chan ? chan.name : "");
}

function renderModal(state) {
  const layer = $("#modal-layer");
  if (!state.modal) {
    layer.replaceChildren();
    layer.classList.remove("open");
    view.modalKey = "";
    return;
  }
  const key = state.modal.id + "|" + state.modal.hash + "|" + state.modal.html.length;
  if (key === view.modalKey) return;
  const old = layer.querySelector(".modal");
  const keep = old && old.dataset.viewId === state.modal.id ? typed(old) : null;
  layer.innerHTML = state.modal.html;
  layer.classList.add("open");
  if (keep) restore(layer.querySelector(".modal"), keep);
  view.modalKey = key;
  const firstError = layer.querySelector(".bk-has-error textarea, .bk-has-error input, .bk-has-error select");
  if (firstError) firstError.focus();
}

function render(state) {
  const first = !view.me;
  view.me = state.me;
  view.dm = state.dm;
  localStorage.setItem("sandbox-as", view.me);
  renderPeople(state);
  renderSidebar(state);
  renderMain(state);
  renderModal(state);
  document.body.dataset.version = state.version;
  if (first && view.channel === "home") post("/sandbox/home", {});
}

async function poll(since) {
  if (view.poller) view.poller.abort();
  const ctrl = new AbortController();
  view.poller = ctrl;
  const q = new URLSearchParams({ user: view.me, channel: view.channel, since: String(since) });
  try {
    const resp = await fetch("/sandbox/state?" + q, { signal: ctrl.signal });
    const state = await resp.json();
    if (ctrl.signal.aborted) return;
    view.version = state.version;
    render(state);
    poll(state.version);
  } catch (err) {
    if (ctrl.signal.aborted) return;
    setTimeout(() => poll(-1), 1000); // the sandbox restarted or stopped: try again
  }
}

function go(channel) {
  view.channel = channel;
  const url = new URL(location.href);
  url.searchParams.set("as", view.me);
  url.searchParams.set("in", channel);
  history.replaceState(null, "", url);
  if (channel === "home" && view.me) post("/sandbox/home", {}); // Slack sends app_home_opened
  poll(-1);
}

document.addEventListener("click", async (ev) => {
  const el = ev.target.closest("button, a");
  if (!el) return;
  if (el.matches("[data-close]")) {
    ev.preventDefault();
    await post("/sandbox/close", { view_id: el.closest(".modal").dataset.viewId });
  } else if (el.matches("button[data-shortcut]")) {
    ev.preventDefault();
    await post("/sandbox/shortcut", { channel: conversation(), ts: el.closest(".msg").dataset.ts });
  } else if (el.matches("button[data-reply]")) {
    ev.preventDefault();
    view.thread = el.dataset.reply;
    $("#compose").placeholder = "Reply in thread…";
    $("#compose").focus();
  } else if (el.matches("button[data-action-id]")) {
    ev.preventDefault();
    await act(el);
  } else if (el.matches(".side-item")) {
    ev.preventDefault();
    go(el.dataset.channel === "app" ? "home" : el.dataset.channel);
  } else if (el.matches(".tab")) {
    ev.preventDefault();
    go(el.dataset.tab === "home" ? "home" : view.dm);
  } else if (el.matches("button.job")) {
    el.disabled = true;
    const res = await post("/sandbox/job", { name: el.dataset.job });
    el.disabled = false;
    if (res) {
      const detail = res.error || Object.entries(res.result || {})
        .map(([k, v]) => `${k} ${typeof v === "object" ? JSON.stringify(v) : v}`).join(", ");
      toast(`${res.job}: ${res.outcome}` + (detail ? ` — ${detail}` : ""), res.outcome === "failed" ? "error" : "");
    }
  }
});

document.addEventListener("change", async (ev) => {
  const el = ev.target;
  if (el.id === "who") {
    view.me = el.value;
    view.modalKey = "";
    go(view.channel === "home" || view.channel === view.dm ? "home" : view.channel);
  } else if (el.matches("[data-dispatch]")) {
    await act(el);
  }
});

document.addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const form = ev.target;
  if (form.id === "composer") {
    const input = $("#compose");
    const text = input.value.trim();
    if (!text) return;
    input.value = "";
    if (view.channel === "home") go(view.dm);
    const thread_ts = view.thread || undefined;
    view.thread = "";
    input.placeholder = "";
    await post("/sandbox/command", { channel: conversation(), text, thread_ts });
  } else if (form.matches(".modal")) {
    if (!requiredFilled(form)) return; // Slack checks required fields before sending
    await post("/sandbox/submit", { view_id: form.dataset.viewId, typed: typed(form) });
  }
});

go(view.channel);
