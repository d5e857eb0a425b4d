// rlmx web UI: start runs, watch their trajectory tree fill in live (SSE), browse past runs.
// Plain JavaScript, no build step. Events are applied in batches once per animation frame
// and every event touches only its own DOM nodes, so runs with thousands of sub-calls stay
// responsive; sub-call prompts and responses are rendered only when opened.
"use strict";

const EVENT_TYPES = ["run_started", "llm_call", "cell_started", "code_executed", "sub_call",
  "tool_call", "child_run", "final_answer", "sub_batch", "notice", "error", "run_finished"];
const LONG_ANSWER_LINES = 12;
const VIDEO_SUFFIXES = [".mp4", ".webm", ".mkv", ".mov", ".m4v", ".avi"];
const $ = (selector) => document.querySelector(selector);
let token = localStorage.getItem("rlmx-token") || "";
let currentView = null;

// -- helpers ------------------------------------------------------------------------------
function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value);
  }
  for (const child of children) if (child != null) node.append(child);
  return node;
}

function withToken(url) {
  if (!token) return url;
  return url + (url.includes("?") ? "&" : "?") + "token=" + encodeURIComponent(token);
}

async function api(path, options = {}) {
  const headers = Object.assign({}, options.headers || {});
  if (token) headers.Authorization = "Bearer " + token;
  const response = await fetch(path, Object.assign({}, options, { headers }));
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    const detail = body.detail ?? response.statusText;
    throw new Error(typeof detail === "string" ? detail : JSON.stringify(detail));
  }
  return body;
}

// The first line of a text, at most `limit` characters: a label for a sub-call's prompt.
function oneLine(text, limit) {
  const line = (text || "").replace(/\s+/g, " ").trim();
  return line.length > limit ? line.slice(0, limit - 1) + "…" : line || "(empty prompt)";
}

// A root reply without its code blocks, which the cells below it show already.
function withoutCode(reply) {
  const text = (reply || "").replace(/```(?:repl|python)?\n[\s\S]*?(?:```|$)/g, "[code: see the cell below]");
  return text.trim() || "(only code)";
}

function tokensOf(usage) {
  return usage ? (usage.input_tokens || 0) + (usage.output_tokens || 0) : 0;
}

function fmtCost(cost) {
  return cost == null ? "–" : "$" + cost.toFixed(cost < 0.01 ? 5 : 3);
}

// "1,234 tokens · $0.00012 · 1.5 s" (the cost only when the model's price is known)
function usageText(usage, seconds) {
  const parts = [`${tokensOf(usage).toLocaleString()} tokens`];
  if (usage && usage.cost_usd != null) parts.push(fmtCost(usage.cost_usd));
  parts.push(`${seconds.toFixed(seconds < 10 ? 2 : 1)} s`);
  return parts.join(" · ");
}

function codeBlock(code) {
  const block = el("code", { class: "language-python", text: code });
  if (window.hljs) window.hljs.highlightElement(block);
  return el("pre", {}, block);
}

// Fill a <details> the first time it is opened.
function lazyDetails(cls, summary, fill) {
  const details = el("details", { class: cls }, el("summary", {}, ...summary));
  details.addEventListener("toggle", () => {
    if (details.open && !details.dataset.filled) {
      details.dataset.filled = "1";
      details.append(fill());
    }
  });
  return details;
}

// -- run view -------------------------------------------------------------------------------
class RunView {
  constructor(runId) {
    this.rootId = runId;
    this.runs = new Map();
    this.pending = [];
    this.scheduled = false;
    this.totals = { iterations: 0, cells: 0, subcalls: 0, children: 0, tokens: 0, cost: null };
    this.tree = $("#tree");
    this.tree.replaceChildren();
    this.source = null;
    this.cellStarts = new Map();  // "run:cell" -> start time, for the waterfall
    this.lastEvent = null;  // the newest event and when it arrived: what the run waits for
    this.lastSeen = Date.now();
    this.ticker = setInterval(() => this.tick(), 1000);
    waterfall.reset();
    resetFilter();
  }

  follow() {
    this.source = new EventSource(withToken(`/stream/${this.rootId}`));
    for (const type of EVENT_TYPES) {
      this.source.addEventListener(type, (message) => {
        // a connection failure is also an "error" event, one without data
        if (typeof message.data !== "string") return;
        const event = JSON.parse(message.data);
        // the server ends the stream after this; closing first stops EventSource reconnecting
        if (event.type === "run_finished" && event.run_id === this.rootId) this.close();
        this.push(event);
      });
    }
    this.source.onerror = () => {
      if (this.source.readyState === EventSource.CLOSED) showRunError("the event stream closed");
    };
  }

  close() {
    if (this.source) this.source.close();
    clearInterval(this.ticker);
    $("#waiting").hidden = true;
  }

  // While the run is live: what it waits for, and for how long (a local model's first
  // event can take a minute; without this the page looks frozen).
  tick() {
    const status = $("#run-status").textContent;
    const live = ["queued", "running", ""].includes(status);
    const box = $("#waiting");
    box.hidden = !live;
    if (!live) return;
    const seconds = Math.round((Date.now() - this.lastSeen) / 1000);
    box.textContent = this.lastEvent == null
      ? `Waiting for the first event… ${seconds} s`
      : `${waitingFor(this.lastEvent)}… ${seconds} s since the last event`;
  }

  push(event) {
    this.lastEvent = event;
    this.lastSeen = Date.now();
    this.pending.push(event);
    if (!this.scheduled) {
      this.scheduled = true;
      requestAnimationFrame(() => this.flush());
    }
  }

  flush() {
    this.scheduled = false;
    const batch = this.pending;
    this.pending = [];
    for (const event of batch) this.apply(event);
    this.renderCounters();
    waterfall.schedule();
    if (filterActive()) applyFilter();
  }

  apply(event) {
    const handler = this["on_" + event.type];
    if (handler) handler.call(this, event);
  }

  count(usage) {
    this.totals.tokens += tokensOf(usage);
    if (usage && usage.cost_usd != null) this.totals.cost = (this.totals.cost || 0) + usage.cost_usd;
  }

  renderCounters() {
    const t = this.totals;
    $("#counters").textContent = `${t.iterations} root iterations · ${t.cells} cells · ` +
      `${t.subcalls} sub-calls · ${t.children} child runs · ${t.tokens.toLocaleString()} tokens · ` +
      `cost ${fmtCost(t.cost)}`;
  }

  run(runId) {
    let run = this.runs.get(runId);
    if (!run) {  // events of a run whose start we never saw (e.g. an interrupted run)
      run = this.makeRun({ run_id: runId, depth: 0, parent_run_id: null });
      this.tree.append(run.node);
    }
    return run;
  }

  makeRun(event) {
    const isRoot = event.run_id === this.rootId;
    const title = el("div", { class: "run-title", text: isRoot ? "Root run" : `Child run ${event.run_id}` });
    const body = el("div", { class: "run-body" });
    const node = el("div", { class: "run" + (isRoot ? "" : " child"), "data-run": event.run_id }, title, body);
    const run = { node, title, body, iterations: new Map(), cells: new Map(), loose: null };
    this.runs.set(event.run_id, run);
    return run;
  }

  iteration(run, number) {
    let item = run.iterations.get(number);
    if (!item) {
      const meta = el("span", { class: "meta" });
      const node = el("details", { class: "iteration", open: "" },
        el("summary", {}, `Iteration ${number}`, meta));
      run.body.append(node);
      item = { node, meta };
      run.iterations.set(number, item);
    }
    return item;
  }

  on_run_started(event) {
    const run = this.makeRun(event);
    const context = event.context || {};
    run.title.append(el("span", { class: "meta",
      text: `${event.root_model} · ${(context.total_chars || 0).toLocaleString()} chars of ${context.type || "context"} · sandbox ${event.sandbox}` }));
    const parent = this.runs.get(event.parent_run_id);
    const cell = parent && parent.cells.get(event.parent_cell);
    (cell ? cell.children : parent ? parent.body : this.tree).append(run.node);
    if (event.run_id === this.rootId) $("#run-query").textContent = event.query;
    else this.totals.children += 1;
  }

  on_llm_call(event) {
    const run = this.run(event.run_id);
    const item = this.iteration(run, event.iteration);
    item.meta.textContent = `${event.model} · ${usageText(event.usage, event.seconds)}`;
    item.node.append(lazyDetails("reply", ["model reply"], () => el("pre", { text: withoutCode(event.response) })));
    searchable(item.node, event.response, false, event.model);
    noteModel(event.model);
    waterfall.add("root turn", event.ts - event.seconds, event.ts, tokensOf(event.usage), false,
      `root turn ${event.iteration} · ${event.model} · ${usageText(event.usage, event.seconds)}`);
    this.count(event.usage);
    if (event.run_id === this.rootId) this.totals.iterations += 1;
  }

  cell(run, event) {
    let cell = run.cells.get(event.cell);
    if (!cell) {
      const head = el("div", { class: "cell-head", text: `Cell ${event.cell} · running…` });
      const code = el("div", { class: "code" });
      const output = el("div");
      const subSummary = el("summary", { text: "0 sub-calls" });
      const subList = el("div");
      const subcalls = el("details", { class: "subcalls", open: "", hidden: "" }, subSummary, subList);
      const children = el("div", { class: "children" });
      const tools = el("div", { class: "tools" });
      const node = el("div", { class: "cell", "data-cell": event.cell }, head, code, tools, subcalls, output, children);
      cell = { node, head, code, output, tools, subcalls, subSummary, subList, children, calls: 0 };
      run.cells.set(event.cell, cell);
      this.iteration(run, event.iteration).node.append(node);
    }
    return cell;
  }

  on_cell_started(event) {
    const cell = this.cell(this.run(event.run_id), event);
    cell.code.replaceChildren(codeBlock(event.code));
    this.cellStarts.set(`${event.run_id}:${event.cell}`, event.ts);
  }

  on_code_executed(event) {
    const cell = this.cell(this.run(event.run_id), event);
    if (!cell.code.firstChild) cell.code.append(codeBlock(event.code));
    const notes = [event.error ? "error" : "ok", `${event.seconds.toFixed(2)} s`];
    if (event.timed_out) notes.push("timed out");
    if (event.worker_restarted) notes.push("REPL restarted");
    cell.head.textContent = `${event.error ? "✗" : "✓"} Cell ${event.cell} · ${notes.join(" · ")}`;
    cell.node.classList.toggle("error", event.error);
    cell.output.replaceChildren(el("pre", { class: "output", text: event.output || "(no output)" }));
    searchable(cell.node, `${event.code}\n${event.output}`, event.error, null);
    this.totals.cells += 1;
    const start = this.cellStarts.get(`${event.run_id}:${event.cell}`) ?? event.ts - event.seconds;
    waterfall.add("cell", start, event.ts, 0, event.error, `cell ${event.cell} · ${notes.join(" · ")}`);
  }

  on_sub_call(event) {
    const run = this.run(event.run_id);
    const cell = event.cell != null ? this.cell(run, event) : null;
    const status = event.error ? " · failed" : "";
    const queued = event.queued_seconds >= 0.01 ? ` (${event.queued_seconds.toFixed(2)} s queued)` : "";
    const label = `${event.error ? "✗" : "✓"} ${oneLine(event.prompt, 70)} · ` +
      `${event.model} · ${usageText(event.usage, event.seconds)}${queued}${status}`;
    const row = lazyDetails("subcall" + (event.error ? " failed" : ""), [label], () => el("div", { class: "io" },
      el("div", { class: "meta", text: `prompt (${event.prompt_chars.toLocaleString()} chars)` }),
      el("pre", { class: "prompt", text: event.prompt }),
      el("div", { class: "meta", text: "response" }),
      el("pre", { class: "response", text: event.error ? `error: ${event.error}` : event.response })));
    row.title = `${event.call_id}${event.batch_index != null ? ` (item ${event.batch_index} of its batch)` : ""}`;
    searchable(row, `${event.prompt}\n${event.response}\n${event.error || ""}`, !!event.error, event.model);
    noteModel(event.model);
    waterfall.add("sub-call", event.ts - event.seconds, event.ts, tokensOf(event.usage), !!event.error, label);
    if (cell) {
      cell.calls += 1;
      subCount(cell);
      cell.subcalls.hidden = false;
      cell.subList.append(row);
    } else {
      run.body.append(row);
    }
    this.totals.subcalls += 1;
    this.count(event.usage);
  }

  on_sub_batch(event) {
    if (event.cell == null) return;
    const cell = this.cell(this.run(event.run_id), event);
    cell.expected = (cell.expected || 0) + event.size;
    cell.subcalls.hidden = false;
    subCount(cell);
  }

  on_tool_call(event) {
    const run = this.run(event.run_id);
    const args = [...event.arguments.args.map((a) => JSON.stringify(a)),
      ...Object.entries(event.arguments.kwargs).map(([k, v]) => `${k}=${JSON.stringify(v)}`)];
    const label = `${event.name}(${args.join(", ")}) · ${event.seconds.toFixed(2)} s` +
      (event.error ? ` · ${event.error}` : "");
    const row = lazyDetails("toolcall" + (event.error ? " failed" : ""), [label],
      () => el("pre", { class: "output", text: event.result || "(no result)" }));
    const cell = event.cell != null ? this.cell(run, event) : null;
    (cell ? cell.tools : run.body).append(row);
    searchable(row, `${label}\n${event.result || ""}`, !!event.error, null);
    waterfall.add("tool", event.ts - event.seconds, event.ts, 0, !!event.error, label);
    if (event.span) timeline.mark(event.span[0], event.span[1], label);
  }

  on_child_run(event) {
    const child = this.runs.get(event.child_run_id);
    const total = (event.usage && event.usage.total) || null;
    // a recheck is rlmx's own second attempt at the answer, not the model's rlm_query
    const kind = event.recheck ? "recheck" : "child run";
    waterfall.add(kind, event.ts - event.seconds, event.ts, tokensOf(total), event.status !== "final",
      `${kind} ${event.child_run_id} · ${event.status} · ${usageText(total, event.seconds)}`);
    if (child) {
      // the model's text, clipped: the whole answer is in the recheck's own run below
      const said = event.answer == null ? "no answer" : `answered ${JSON.stringify(oneLine(event.answer, 80))}`;
      const answered = event.recheck ? ` · ${said}` : "";
      child.title.append(el("span", { class: "meta", text: ` → ${event.status}${answered} · ${usageText(total, event.seconds)}` }));
      if (event.recheck) child.title.prepend(el("span", { class: "badge-recheck", text: "recheck" }));
    }
  }

  on_final_answer(event) {
    const run = this.run(event.run_id);
    // the root's answer is shown once, above the tree; a child's belongs to its run
    const text = event.run_id === this.rootId ? "shown above" : event.answer;
    run.body.append(el("div", { class: "run-final", text: `Final answer (${event.via}): ${text}` }));
  }

  // A message rlmx itself sent the model: why the run went on (a push-back, a correction ...)
  on_notice(event) {
    const run = this.run(event.run_id);
    const place = run.iterations.get(event.iteration);
    const label = `rlmx told the model (${event.kind.replaceAll("_", " ")})`;
    (place ? place.node : run.body).append(el("details", { class: "notice" },
      el("summary", { text: label }), el("pre", { text: event.text })));
  }

  on_error(event) {
    this.run(event.run_id).body.append(el("p", { class: "error", text: event.message }));
  }

  on_run_finished(event) {
    const run = this.run(event.run_id);
    run.title.append(el("span", { class: "meta", text: ` · ${event.status} · ${event.seconds.toFixed(1)} s` }));
    if (event.run_id !== this.rootId) return;
    setStatus(event.status);
    clearInterval(this.ticker);
    $("#waiting").hidden = true;
    if (event.answer != null) showAnswer(event.answer, event.warnings || [], event.citations || []);
    if (event.error) showRunError(event.error);
    if (event.cost_usd != null) this.totals.cost = event.cost_usd;
    $("#cancel").hidden = true;
    if (currentRun && currentRun.id === event.run_id) currentRun.status = event.status;
    showFollowUp();
  }
}

// "3 sub-calls", or while a batch is in flight "12 of 64 sub-calls done"
function waitingFor(event) {
  if (event.type === "cell_started") return `Running cell ${event.cell}`;
  if (event.type === "sub_batch") return "Sub-calls in flight";
  if (event.type === "llm_call" && event.depth > 0) return "A child run is working";
  if (event.type === "sub_call") return "Sub-calls in flight";
  return "Waiting for the model";
}

function subCount(cell) {
  const expected = cell.expected || 0;
  cell.subSummary.textContent = expected > cell.calls
    ? `${cell.calls} of ${expected} sub-calls done`
    : `${cell.calls} sub-call${cell.calls === 1 ? "" : "s"}`;
}

// -- the waterfall: where the time went, one lane per kind of step --------------------------
const LANES = ["root turn", "cell", "sub-call", "tool", "child run", "recheck"];
const LANE_COLORS = { "root turn": "#2457c5", cell: "#1a7f37", "sub-call": "#bf8700", tool: "#8250df",
  "child run": "#57606a", recheck: "#9a6700" };
const LANE_HEIGHT = 14, LANE_GAP = 6, LABEL_WIDTH = 70;  // px: rows readable at a glance
const waterfall = {
  steps: [], t0: null, t1: null, tokens: {}, lanes: {}, timer: null, zoom: 1,
  reset() {
    this.steps = []; this.t0 = null; this.t1 = null; this.tokens = {}; this.lanes = {};
    this.zoom = 1;
    $("#waterfall-box").hidden = true;
  },
  // Zoom widens the drawing (the box scrolls sideways): long runs' short steps get room.
  zoomBy(factor) {
    this.zoom = Math.min(Math.max(this.zoom * factor, 1), 64);
    this.draw();
  },
  // Redrawn at most five times a second while events stream in.
  schedule() {
    if (this.timer == null) this.timer = setTimeout(() => { this.timer = null; this.draw(); }, 200);
  },
  add(kind, start, end, tokens, failed, label) {
    this.steps.push({ kind, start, end: Math.max(end, start), failed, label });
    this.t0 = this.t0 == null ? start : Math.min(this.t0, start);
    this.t1 = this.t1 == null ? end : Math.max(this.t1, end);
    this.tokens[kind] = (this.tokens[kind] || 0) + tokens;
  },
  // Steps of one kind that overlap in time go to sub-lanes (a batch of sub-calls in flight).
  layout() {
    const rows = [];
    for (const kind of LANES) {
      const ends = [];
      for (const step of this.steps.filter((s) => s.kind === kind).sort((a, b) => a.start - b.start)) {
        let lane = ends.findIndex((end) => end <= step.start);
        if (lane < 0) { lane = ends.length; ends.push(0); }
        ends[lane] = step.end;
        rows.push([step, kind, lane]);
      }
      this.lanes[kind] = Math.min(ends.length, 8);
    }
    return rows;
  },
  draw() {
    if (!this.steps.length) return;
    $("#waterfall-box").hidden = false;
    const canvas = $("#waterfall");
    const rows = this.layout();
    const kinds = LANES.filter((kind) => this.lanes[kind] > 0);
    const laneHeight = LANE_HEIGHT, gap = LANE_GAP;
    const height = kinds.reduce((sum, kind) => sum + this.lanes[kind] * laneHeight + gap, gap);
    const shown = $("#waterfall-scroll").clientWidth || 800;
    const width = Math.round(shown * this.zoom);
    canvas.width = width; canvas.height = height;
    canvas.style.width = `${width}px`; canvas.style.height = `${height}px`;
    const context = canvas.getContext("2d");
    const span = Math.max(this.t1 - this.t0, 1e-3);
    const plot = width - LABEL_WIDTH;
    let top = gap;
    const offsets = {};
    context.font = "11px sans-serif";
    context.textBaseline = "middle";
    for (const kind of kinds) {
      offsets[kind] = top;
      context.fillStyle = "#57606a";
      context.fillText(kind, 2, top + laneHeight / 2);
      top += this.lanes[kind] * laneHeight + gap;
    }
    this.hits = [];
    for (const [step, kind, lane] of rows) {
      const x = LABEL_WIDTH + ((step.start - this.t0) / span) * plot;
      const w = Math.max(((step.end - step.start) / span) * plot, 2);
      const y = offsets[kind] + Math.min(lane, 7) * laneHeight;
      context.fillStyle = step.failed ? "#c62828" : LANE_COLORS[kind];
      context.fillRect(x, y, w, laneHeight - 2);
      this.hits.push([x, y, w, step]);
    }
    $("#waterfall-legend").textContent = kinds.map((kind) => {
      const count = this.steps.filter((s) => s.kind === kind).length;
      const tokens = this.tokens[kind] ? `, ${this.tokens[kind].toLocaleString()} tokens` : "";
      return `${kind}: ${count}${tokens}`;
    }).join(" · ") + ` · ${span.toFixed(1)} s in all`;
  },
  hover(x, y) {
    const hit = (this.hits || []).find(([hx, hy, w]) => x >= hx - 1 && x <= hx + w + 1 && y >= hy && y <= hy + LANE_HEIGHT);
    $("#waterfall").title = hit ? hit[3].label : "";
  },
};

// -- filter, expand and collapse ----------------------------------------------------------------
function searchable(node, text, failed, model) {
  node.dataset.search = (text || "").toLowerCase();
  node.dataset.error = failed ? "1" : "0";
  if (model) node.dataset.model = model;
}

function noteModel(model) {
  const select = $("#filter-model");
  if (model && ![...select.options].some((o) => o.value === model)) {
    select.append(el("option", { value: model, text: model }));
  }
}

function filterActive() {
  return Boolean($("#filter-text").value.trim() || $("#filter-errors").checked || $("#filter-model").value);
}

// Steps that match stay; so do the cells and iterations that hold a match.
function applyFilter() {
  const text = $("#filter-text").value.trim().toLowerCase();
  const errors = $("#filter-errors").checked;
  const model = $("#filter-model").value;
  const active = filterActive();
  const matches = (node) => (!text || node.dataset.search.includes(text)) &&
    (!errors || node.dataset.error === "1") && (!model || node.dataset.model === model);
  const tree = $("#tree");
  for (const selector of [".subcall, .toolcall", ".cell", ".iteration"]) {
    for (const node of tree.querySelectorAll(selector)) {
      const inner = node.querySelector("[data-search]:not(.filtered-out)");
      const keep = !active || (node.dataset.search !== undefined && matches(node)) || inner !== null;
      node.classList.toggle("filtered-out", !keep);
    }
  }
}

function resetFilter() {
  $("#filter-text").value = "";
  $("#filter-errors").checked = false;
  $("#filter-model").replaceChildren(el("option", { value: "", text: "any model" }));
}

function setOpen(open) {
  // Expanding opens iterations and sub-call lists, not every sub-call (5,000 of them stay light).
  const selector = open ? "#tree details.iteration, #tree details.subcalls" : "#tree details";
  for (const details of document.querySelectorAll(selector)) details.open = open;
}

// The video player's timeline: one mark per span a tool looked at; a click seeks there.
const timeline = {
  spans: [],
  reset() {
    this.spans = [];
    $("#timeline").replaceChildren();
  },
  mark(t0, t1, label) {
    this.spans.push([t0, t1, label]);
    this.draw([t0, t1, label]);
  },
  draw([t0, t1, label]) {
    const duration = $("#video").duration;
    if (!duration || !isFinite(duration)) return;  // drawn again once the metadata loads
    const left = (100 * t0) / duration;
    const width = Math.max((100 * (t1 - t0)) / duration, 0.4);
    $("#timeline").append(el("div", { class: "mark", title: `${t0.toFixed(1)}-${t1.toFixed(1)} s: ${label}`,
      style: `left: ${left}%; width: ${width}%`, "data-t0": t0,
      onclick: () => { $("#video").currentTime = t0; } }));
  },
  redraw() {
    $("#timeline").replaceChildren();
    for (const span of this.spans) this.draw(span);
  },
};

// The answer once, long ones clipped behind a button; what may make it unreliable below it.
function showAnswer(answer, warnings, citations) {
  const text = $("#final-answer");
  text.textContent = answer;
  const long = answer.split("\n").length > LONG_ANSWER_LINES || answer.length > 1500;
  text.classList.toggle("clipped", long);
  $("#answer-more").hidden = !long;
  // each warning: {code, message} (a plain sentence in runs stored before codes existed)
  const list = $("#answer-warnings");
  list.replaceChildren(...warnings.map((w) => {
    const code = typeof w === "string" ? "note" : w.code;
    const message = typeof w === "string" ? w : w.message;
    return el("li", {}, el("span", { class: "warning-code", text: code }),
      el("span", { class: "warning-text", text: message }));
  }));
  list.hidden = warnings.length === 0;
  const badge = $("#answer-badge");
  badge.hidden = warnings.length === 0;
  badge.textContent = warnings.length === 1 ? "1 warning: check this answer"
    : `${warnings.length} warnings: check this answer`;
  showCitations(citations);
  $("#answer-box").hidden = false;
}

// -- citations: the quotes the answer rests on, each opening its source at that place -----
function citationWhere(c) {
  if (!c.found) return "not found in the context";
  const source = c.source || (c.variable === "context" ? "the context" : c.variable);
  return [source, c.page, c.heading && `“${c.heading}”`, `line ${c.line}`].filter(Boolean).join(" · ");
}

function showCitations(citations) {
  const list = $("#answer-citations");
  list.replaceChildren(...citations.map((c, i) => {
    const quote = c.quote.length > 160 ? c.quote.slice(0, 160) + "…" : c.quote;
    const item = el("li", { class: c.found ? "cited" : "cited missing" },
      el("q", { text: quote }), el("span", { class: "meta", text: citationWhere(c) }));
    if (c.found) {
      item.tabIndex = 0;
      item.title = "Open the source at this place";
      item.addEventListener("click", () => openSource(c, i + 1));
      item.addEventListener("keydown", (e) => { if (e.key === "Enter") openSource(c, i + 1); });
    }
    return item;
  }));
  list.hidden = citations.length === 0;
  $("#source-box").hidden = true;
}

// The excerpt of the source the citation carries (its page, or the text around the quote),
// with the quote highlighted and scrolled to.
function openSource(c, number) {
  const text = c.excerpt || "";
  const from = c.start - c.excerpt_start, to = c.end - c.excerpt_start;
  const before = (c.excerpt_start > 0 ? "…" : "") + text.slice(0, from);
  const after = text.slice(to);
  const mark = el("mark", { text: text.slice(from, to) });
  $("#source-text").replaceChildren(document.createTextNode(before), mark, document.createTextNode(after));
  $("#source-where").textContent = `[${number}] ${citationWhere(c)}`;
  $("#source-box").hidden = false;
  mark.scrollIntoView({ block: "center" });
}

function setStatus(status) {
  const badge = $("#run-status");
  badge.textContent = status;
  badge.className = "status " + status;
}

function showRunError(message) {
  const box = $("#run-error");
  box.textContent = message;
  box.hidden = false;
}

// -- follow-up questions: a session on the run's context (the run's own, if it has one) --------
let currentRun = null;

function showFollowUp() {
  const run = currentRun;
  $("#follow-up").hidden = !run || !run.context_file || ["queued", "running"].includes(run.status);
}

// A follow-up names the run it follows; the runs that follow this one are found in the list.
async function showLinks(run) {
  const box = $("#run-links");
  const follows = (run.settings || {}).follows;
  const link = (id) => el("a", { href: `#/run/${id}`, text: id });
  const parts = [];
  if (follows) parts.push("Follows ", link(follows));
  let followers = [];
  try {
    followers = (await api("/runs")).runs.filter((r) => (r.settings || {}).follows === run.id);
  } catch (error) { /* the list is an extra: the run shows without it */ }
  if (followers.length) {
    if (parts.length) parts.push(" · ");
    parts.push("Followed by ");
    followers.reverse().forEach((r, i) => parts.push(...(i ? [", ", link(r.id)] : [link(r.id)])));
  }
  if (currentRun !== run) return;  // another run was opened meanwhile
  box.replaceChildren(...parts);
  box.hidden = parts.length === 0;
}

async function askFollowUp(submit) {
  submit.preventDefault();
  const error = $("#follow-error");
  error.hidden = true;
  const post = (path, body) => api(path, { method: "POST", body: JSON.stringify(body),
    headers: { "Content-Type": "application/json" } });
  const query = $("#follow-query").value;
  let sessionId = (currentRun.settings || {}).session_id;
  try {
    let asked = sessionId ? await post(`/sessions/${sessionId}/ask`, { query }).catch(() => null) : null;
    if (!asked) {  // no session yet, or it was closed: open one on this run's context
      ({ session_id: sessionId } = await post("/sessions", { run_id: currentRun.id }));
      asked = await post(`/sessions/${sessionId}/ask`, { query });
    }
    $("#follow-query").value = "";
    location.hash = `#/run/${asked.run_id}`;
  } catch (failure) {
    error.textContent = failure.message;
    error.hidden = false;
  }
}

async function showRun(runId) {
  if (currentView) currentView.close();
  currentRun = null;
  $("#follow-up").hidden = true;
  $("#run-links").hidden = true;
  $("#run-id").textContent = runId;
  $("#answer-box").hidden = true;
  $("#source-box").hidden = true;
  $("#final-answer").textContent = "";
  $("#run-error").hidden = true;
  $("#video-box").hidden = true;
  timeline.reset();
  $("#run-query").textContent = "";
  $("#counters").textContent = "";
  $("#download").href = withToken(`/runs/${runId}/trajectory.jsonl`);
  currentView = new RunView(runId);
  let run;
  try {
    run = await api(`/runs/${runId}?events=false`);
  } catch (error) {
    currentView.close();
    setStatus("not found");
    showRunError(`${error.message}. It may have been deleted; the run list has the runs this server keeps.`);
    return;
  }
  currentRun = run;
  showFollowUp();
  showLinks(run);
  setStatus(run.status);
  $("#run-query").textContent = run.query;
  $("#cancel").hidden = !["queued", "running"].includes(run.status);
  const file = (run.context_file || "").toLowerCase();
  if (VIDEO_SUFFIXES.some((suffix) => file.endsWith(suffix))) {
    $("#video").src = withToken(`/video/${runId}`);
    $("#video-box").hidden = false;
  }
  currentView.follow();
}

// -- run list and new-run form ----------------------------------------------------------------
async function showRuns() {
  const body = $("#runs-table tbody");
  const { runs } = await api("/runs");
  body.replaceChildren(...runs.map((run) => el("tr", { "data-run": run.id },
    el("td", {}, el("a", { href: `#/run/${run.id}`, text: run.id })),
    el("td", {}, el("span", { class: "status " + run.status, text: run.status })),
    el("td", { class: "q", text: run.query, title: run.query }),
    el("td", { class: "q wide", text: run.answer == null ? "–" : oneLine(run.answer, 80), title: run.answer || "" }),
    el("td", { class: "wide", text: new Date(run.created * 1000).toLocaleString() }),
    el("td", { class: "wide", text: run.finished ? `${(run.finished - run.created).toFixed(1)} s` : "–" }),
    el("td", { class: "wide", text: run.usage ? tokensOf(run.usage.total).toLocaleString() : "–" }),
    el("td", { class: "wide", text: fmtCost(run.cost_usd) }),
    el("td", {}, el("button", { class: "secondary", text: "Delete", onclick: async () => {
      await api(`/runs/${run.id}`, { method: "DELETE" });
      showRuns();
    } })))));
}

function formFields() {
  const fields = { query: $("#query").value };
  for (const [key, id] of [["root", "#root"], ["sub", "#sub"], ["max_depth", "#max-depth"],
    ["max_iterations", "#max-iterations"], ["budget_usd", "#budget"]]) {
    const value = $(id).value.trim();
    if (value !== "") fields[key] = value;
  }
  return fields;
}

async function startRun(submit) {
  submit.preventDefault();
  const error = $("#form-error");
  error.hidden = true;
  const fields = formFields();
  const file = $("#context-file").files[0];
  let options;
  if (file) {
    const form = new FormData();
    for (const [key, value] of Object.entries(fields)) form.append(key, value);
    form.append("file", file);
    options = { method: "POST", body: form };
  } else {
    if ($("#sample").value) fields.sample = $("#sample").value;
    else fields.context = $("#context-text").value;
    options = { method: "POST", body: JSON.stringify(fields), headers: { "Content-Type": "application/json" } };
  }
  try {
    const { run_id: runId } = await api("/query", options);
    location.hash = `#/run/${runId}`;
  } catch (failure) {
    error.textContent = failure.message;
    error.hidden = false;
  }
}

async function loadSamples() {
  const samples = await api("/samples");
  const select = $("#sample");
  for (const sample of samples) select.append(el("option", { value: sample.name, text: sample.title }));
  select.addEventListener("change", () => {
    const sample = samples.find((s) => s.name === select.value);
    if (sample && !$("#query").value) $("#query").value = sample.question;
  });
}

async function loadHealth() {
  const health = await fetch("/health").then((r) => r.json());
  $("#server-info").textContent = `v${health.version} · root ${health.models.root} · sandbox ${health.sandbox}`;
  const input = $("#token");
  input.hidden = !health.auth;
  input.value = token;
  input.addEventListener("change", () => {
    token = input.value;
    localStorage.setItem("rlmx-token", token);
    route();
  });
}

// -- routing ----------------------------------------------------------------------------------
function route() {
  const hash = location.hash || "#/";
  for (const page of document.querySelectorAll(".page")) page.hidden = true;
  const match = hash.match(/^#\/run\/([A-Za-z0-9_-]+)/);
  if (match) {
    $("#page-run").hidden = false;
    showRun(match[1]);
  } else if (hash.startsWith("#/runs")) {
    $("#page-runs").hidden = false;
    showRuns().catch((error) => showRunError(error.message));
  } else {
    $("#page-new").hidden = false;
  }
}

$("#new-run").addEventListener("submit", startRun);
$("#follow-up").addEventListener("submit", askFollowUp);
$("#expand-all").addEventListener("click", () => setOpen(true));
$("#collapse-all").addEventListener("click", () => setOpen(false));
for (const id of ["#filter-text", "#filter-errors", "#filter-model"]) $(id).addEventListener("input", applyFilter);
$("#waterfall").addEventListener("mousemove", (e) => waterfall.hover(e.offsetX, e.offsetY));
$("#zoom-in").addEventListener("click", () => waterfall.zoomBy(2));
$("#zoom-out").addEventListener("click", () => waterfall.zoomBy(0.5));
$("#answer-more").addEventListener("click", () => {
  $("#final-answer").classList.remove("clipped");
  $("#answer-more").hidden = true;
});
$("#source-close").addEventListener("click", () => { $("#source-box").hidden = true; });
$("#video").addEventListener("loadedmetadata", () => timeline.redraw());
$("#cancel").addEventListener("click", () => api(`/runs/${currentView.rootId}/cancel`, { method: "POST" }));
window.addEventListener("hashchange", route);
loadHealth().then(() => loadSamples().catch(() => {})).finally(route);
