/* traintime web page: plain JavaScript, no dependencies, no build step.
 *
 * The form is turned into one request body (the API's Scenario), sent to /api/estimate and
 * /api/command as the inputs change (debounced, stale requests aborted); the Estimate JSON
 * (docs/schema.md) is rendered into the cards below, the charts drawn as inline SVG.
 */
"use strict";

(function () {
  // ---------------------------------------------------------------- the form's fields
  // id: the input's id; path: where its value goes in the request body; kind: how to read it.
  const FIELDS = [
    { id: "model", path: ["model"], kind: "text" },
    { id: "gpu", path: ["gpu"], kind: "text" },
    { id: "gpus", path: ["gpus"], kind: "int" },
    { id: "system", path: ["system"], kind: "text" },
    { id: "gpus-per-node", path: ["gpus_per_node"], kind: "int" },
    { id: "tokens", path: ["training", "tokens"], kind: "text" },
    { id: "tokens-per-param", path: ["training", "tokens_per_param"], kind: "float" },
    { id: "precision", path: ["training", "precision"], kind: "text", choices: "precision" },
    { id: "optimizer", path: ["training", "optimizer"], kind: "text", choices: "optimizer" },
    { id: "finetune", path: ["training", "finetune"], kind: "text", choices: "finetune" },
    { id: "lora-rank", path: ["training", "lora_rank"], kind: "int" },
    { id: "lora-targets", path: ["training", "lora_targets"], kind: "text" },
    { id: "base-dtype", path: ["training", "base_dtype"], kind: "text", choices: "base_dtype" },
    { id: "epochs", path: ["training", "epochs"], kind: "float" },
    { id: "mean-seq-len", path: ["training", "mean_seq_len"], kind: "int" },
    { id: "micro-batch", path: ["training", "micro_batch"], kind: "int" },
    { id: "act-ckpt", path: ["training", "act_ckpt"], kind: "text", choices: "act_ckpt" },
    { id: "offload", path: ["training", "offload"], kind: "text", choices: "offload" },
    { id: "offload-update", path: ["training", "offload_update"], kind: "text", choices: "offload_update" },
    { id: "zero-stage", path: ["training", "zero_stage"], kind: "int" },
    { id: "attention-impl", path: ["training", "attention_impl"], kind: "text", choices: "attention_impl" },
    { id: "tp", path: ["training", "tp"], kind: "int" },
    { id: "pp", path: ["training", "pp"], kind: "int" },
    { id: "cp", path: ["training", "cp"], kind: "int" },
    { id: "global-batch-tokens", path: ["training", "global_batch_tokens"], kind: "int" },
    { id: "seq-len", path: ["training", "seq_len"], kind: "int" },
    { id: "compiled", path: ["training", "compiled"], kind: "bool" },
    { id: "allow-math-changes", path: ["allow_math_changes"], kind: "check" },
    { id: "rent-price", path: ["economics", "rent_usd_per_gpu_hour"], kind: "float" },
    { id: "electricity-price", path: ["economics", "electricity_usd_per_kwh"], kind: "float" },
    { id: "gpu-price", path: ["economics", "price_usd"], kind: "float" },
    { id: "co2", path: ["economics", "co2_kg_per_kwh"], kind: "float" },
  ];
  const DEBOUNCE_MS = 400;
  const SVGNS = "http://www.w3.org/2000/svg";

  const state = {
    defaults: null, // the founding question, from /api/options
    choices: {},
    models: [],
    gpus: new Map(), // name -> catalog row seen in a search
    systems: [],
    config: null, // parsed config.json object, or null
    configError: null,
    timer: null,
    controller: null,
    seq: 0,
    last: null, // last Estimate JSON shown
    compareController: null,
    compareRows: null,
  };

  const $ = (id) => document.getElementById(id);

  // ---------------------------------------------------------------- formatting
  const nf = (digits) =>
    new Intl.NumberFormat("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits });
  const fmt0 = nf(0);
  const fmt1 = nf(1);
  const fmt2 = nf(2);

  function isNum(x) {
    return typeof x === "number" && isFinite(x);
  }

  /** Hours as '31.3 h', '92.4 days', '12.5 min' or '462 years' (as the command line prints). */
  function fmtDuration(hours) {
    if (!isNum(hours)) return "–";
    const sec = hours * 3600;
    const DAY = 86400;
    const YEAR = 365.25 * DAY;
    if (sec >= 2 * YEAR) return fmt0.format(sec / YEAR) + " years";
    if (sec >= 2 * DAY) return (sec / DAY).toFixed(1) + " days";
    if (sec >= 2 * 3600) return (sec / 3600).toFixed(1) + " h";
    if (sec >= 120) return (sec / 60).toFixed(1) + " min";
    return Number(sec.toPrecision(3)) + " s";
  }

  /** 3.76e10 as '37.6B'. */
  function fmtCount(x) {
    if (!isNum(x)) return "–";
    const units = [
      [1e12, "T"],
      [1e9, "B"],
      [1e6, "M"],
      [1e3, "K"],
    ];
    for (const [div, suffix] of units) {
      if (Math.abs(x) >= div * 0.9995) return Number((x / div).toPrecision(3)) + suffix;
    }
    return String(Number(x.toPrecision(3)));
  }

  function fmtUSD(x) {
    if (!isNum(x)) return "–";
    if (Math.abs(x) < 10) return "$" + fmt2.format(x);
    return "$" + fmt0.format(x);
  }

  function fmtGiB(x) {
    return isNum(x) ? fmt1.format(x) + " GiB" : "–";
  }

  function fmtPct(x, digits) {
    return isNum(x) ? (x * 100).toFixed(digits === undefined ? 0 : digits) + "%" : "–";
  }

  function fmtSeconds(x) {
    if (!isNum(x)) return "–";
    if (x >= 100) return fmt0.format(x) + " s";
    if (x >= 1) return x.toFixed(2) + " s";
    if (x >= 1e-3) return (x * 1e3).toFixed(1) + " ms";
    return (x * 1e6).toFixed(0) + " µs";
  }

  function fmtFlops(x) {
    return isNum(x) ? x.toExponential(3).replace("e+", "e") : "–";
  }

  /** A number for an axis tick: 0.02, 0.5, 3, 40, 1k, 20k, 3M. */
  function fmtTick(x) {
    if (x >= 1e6) return Number((x / 1e6).toPrecision(3)) + "M";
    if (x >= 1e3) return Number((x / 1e3).toPrecision(3)) + "k";
    return String(Number(x.toPrecision(3)));
  }

  function words(s) {
    return String(s).replace(/_/g, " ");
  }

  // ---------------------------------------------------------------- DOM helpers
  /** h("td", {class: "x"}, "text", child, ...) */
  function h(tag, attrs, ...children) {
    const node = document.createElement(tag);
    setAttrs(node, attrs);
    append(node, children);
    return node;
  }

  function s(tag, attrs, ...children) {
    const node = document.createElementNS(SVGNS, tag);
    setAttrs(node, attrs);
    append(node, children);
    return node;
  }

  function setAttrs(node, attrs) {
    if (!attrs) return;
    for (const [k, v] of Object.entries(attrs)) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "text") node.textContent = v;
      else node.setAttribute(k, v === true ? "" : String(v));
    }
  }

  function append(node, children) {
    for (const c of children.flat()) {
      if (c === null || c === undefined || c === false) continue;
      node.appendChild(typeof c === "string" || typeof c === "number" ? document.createTextNode(String(c)) : c);
    }
  }

  function clear(node) {
    while (node.firstChild) node.removeChild(node.firstChild);
    return node;
  }

  function fill(node, ...children) {
    clear(node);
    append(node, children);
    return node;
  }

  function fact(dl, term, ...value) {
    dl.appendChild(h("dt", null, term));
    dl.appendChild(h("dd", null, ...value));
  }

  // ---------------------------------------------------------------- status
  function setStatus(stateName, detail) {
    const el = $("status");
    el.textContent = stateName;
    el.dataset.state = stateName;
    $("status-detail").textContent = detail || "";
    $("results").setAttribute("aria-busy", stateName === "computing" ? "true" : "false");
    document.body.classList.toggle("is-computing", stateName === "computing");
  }

  // ---------------------------------------------------------------- API
  class ApiError extends Error {
    constructor(status, detail) {
      super(typeof detail === "string" ? detail : "request refused");
      this.status = status;
      this.detail = detail;
    }
  }

  async function api(path, body, signal) {
    const init = { signal, headers: {} };
    if (body !== undefined) {
      init.method = "POST";
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const res = await fetch(path, init);
    const type = res.headers.get("content-type") || "";
    if (!res.ok) {
      let detail = res.status + " " + res.statusText;
      if (type.includes("json")) {
        try {
          const data = await res.json();
          detail = data.detail !== undefined ? data.detail : data;
        } catch (e) {
          /* keep the status line */
        }
      } else {
        const text = await res.text();
        if (text) detail = text.slice(0, 500);
      }
      throw new ApiError(res.status, detail);
    }
    return type.includes("json") ? res.json() : res.text();
  }

  // ---------------------------------------------------------------- reading and filling the form
  function getPath(obj, path) {
    let o = obj;
    for (const k of path) {
      if (o === null || o === undefined) return undefined;
      o = o[k];
    }
    return o;
  }

  function setPath(obj, path, value) {
    let o = obj;
    for (const k of path.slice(0, -1)) {
      if (o[k] === null || typeof o[k] !== "object") o[k] = {};
      o = o[k];
    }
    o[path[path.length - 1]] = value;
  }

  function readField(f) {
    const el = $(f.id);
    if (f.kind === "check") return el.checked;
    const raw = String(el.value || "").trim();
    if (raw === "") return null;
    if (f.kind === "int") {
      const n = Number(raw);
      return Number.isInteger(n) ? n : raw; // a non-integer goes through, and the API names it
    }
    if (f.kind === "float") {
      const n = Number(raw);
      return isFinite(n) ? n : raw;
    }
    if (f.kind === "bool") return raw === "true";
    return raw;
  }

  function writeField(f, value) {
    const el = $(f.id);
    if (f.kind === "check") {
      el.checked = !!value;
      return;
    }
    if (value === null || value === undefined) {
      el.value = "";
      return;
    }
    if (el.tagName === "SELECT" && value !== "" &&
        !Array.from(el.options).some((o) => o.value === String(value))) {
      el.appendChild(h("option", { value: String(value) }, String(value)));
    }
    el.value = String(value);
  }

  /** The request body: the defaults, overwritten by every field on the page. */
  function buildBody() {
    const body = JSON.parse(JSON.stringify(state.defaults || {}));
    if (!body.training || typeof body.training !== "object") body.training = {};
    if (!body.economics || typeof body.economics !== "object") body.economics = {};
    for (const f of FIELDS) setPath(body, f.path, readField(f));
    body.model_config = state.config || null;
    if (state.config) body.model = null;
    if (body.allow_math_changes === null) body.allow_math_changes = false;
    return body;
  }

  function fillForm(body) {
    for (const f of FIELDS) writeField(f, getPath(body, f.path));
    setConfig(body.model_config && typeof body.model_config === "object" ? body.model_config : null);
    $("model-config").value = state.config ? JSON.stringify(state.config, null, 2) : "";
    updateModelInfo();
    updateSystemInfo();
  }

  function fillSelect(id, values) {
    const el = $(id);
    const have = new Set(Array.from(el.options).map((o) => o.value));
    for (const v of values) {
      if (!have.has(String(v))) el.appendChild(h("option", { value: String(v) }, String(v)));
    }
  }

  // ---------------------------------------------------------------- field errors
  const FIELD_BY_KEY = new Map(FIELDS.map((f) => [f.path[f.path.length - 1], f.id]));
  FIELD_BY_KEY.set("model_config", "model-config");

  function clearErrors() {
    for (const el of document.querySelectorAll("#form .field-error")) {
      el.hidden = true;
      el.textContent = "";
    }
    for (const el of document.querySelectorAll("#form [aria-invalid]")) el.removeAttribute("aria-invalid");
    $("form-error").hidden = true;
    $("form-error").textContent = "";
  }

  function showFieldError(id, msg) {
    const err = $("err-" + id);
    const input = $(id);
    if (!err) return false;
    err.textContent = err.textContent ? err.textContent + " " + msg : msg;
    err.hidden = false;
    if (input) input.setAttribute("aria-invalid", "true");
    const details = err.closest("details");
    if (details) details.open = true;
    return true;
  }

  function showTopError(msg) {
    const el = $("form-error");
    el.textContent = el.textContent ? el.textContent + " " + msg : msg;
    el.hidden = false;
  }

  /** Put each message of a 422 beside the field its loc names (or at the top of the form). */
  function showApiError(err) {
    const detail = err.detail;
    const messages = [];
    if (Array.isArray(detail)) {
      for (const d of detail) {
        const loc = Array.isArray(d.loc) ? d.loc : [];
        const msg = d.msg || JSON.stringify(d);
        messages.push(msg);
        let placed = false;
        for (let i = loc.length - 1; i >= 0 && !placed; i--) {
          const id = FIELD_BY_KEY.get(String(loc[i]));
          if (id) placed = showFieldError(id, msg);
        }
        if (!placed) showTopError(msg);
      }
    } else {
      const msg =
        err.status === 413
          ? "The request is too large (over 1 MB): " + String(detail)
          : typeof detail === "string"
            ? detail
            : JSON.stringify(detail);
      messages.push(msg);
      // a body over the limit is almost always a pasted or uploaded config.json
      if (!(err.status === 413 && state.config && showFieldError("model-config", msg))) showTopError(msg);
    }
    return messages.join(" ");
  }

  // ---------------------------------------------------------------- config.json
  function setConfig(obj) {
    state.config = obj;
    state.configError = null;
    updateConfigInfo();
  }

  function parseConfigText() {
    const text = $("model-config").value.trim();
    state.config = null;
    state.configError = null;
    if (text !== "") {
      try {
        const obj = JSON.parse(text);
        if (obj === null || typeof obj !== "object" || Array.isArray(obj)) {
          state.configError = "config.json must be a JSON object ({...}).";
        } else {
          state.config = obj;
        }
      } catch (e) {
        state.configError = "Not valid JSON: " + e.message;
      }
    }
    updateConfigInfo();
  }

  function updateConfigInfo() {
    const info = $("model-config-info");
    const err = $("err-model-config");
    err.hidden = !state.configError;
    err.textContent = state.configError || "";
    $("model-config").toggleAttribute("aria-invalid", !!state.configError);
    if (state.config) {
      const c = state.config;
      const bits = [c.model_type, c._name_or_path, c.num_hidden_layers && c.num_hidden_layers + " layers",
        c.hidden_size && "hidden " + c.hidden_size].filter(Boolean);
      info.textContent = "Using this config instead of the model field" + (bits.length ? ": " + bits.join(", ") : "") + ".";
      $("config-box").open = true;
    } else {
      info.textContent = "";
    }
    $("model").disabled = !!state.config;
    updateModelInfo();
  }

  // ---------------------------------------------------------------- model, GPU and system pickers
  function updateModelInfo() {
    const info = $("model-info");
    if (state.config) {
      info.textContent = "The pasted config.json is used instead.";
      return;
    }
    const name = $("model").value.trim().toLowerCase();
    const m = state.models.find((x) => x.name.toLowerCase() === name);
    if (m) {
      const active = m.active_params !== m.params ? " (" + fmtCount(m.active_params) + " active)" : "";
      info.textContent = m.family + ": " + fmtCount(m.params) + " parameters" + active + ", " + m.layers +
        " layers, d_model " + m.d_model;
    } else if (name.includes("/")) {
      info.textContent = "A Hugging Face repo id, read from the local cache (no network).";
    } else if (/^nanochat(-2026)?-d\d+$/.test(name)) {
      info.textContent = "nanochat at that depth.";
    } else {
      info.textContent = state.models.length ? state.models.length + " presets; aliases work too." : "";
    }
  }

  let gpuTimer = null;
  let gpuController = null;

  function searchGpus() {
    clearTimeout(gpuTimer);
    gpuTimer = setTimeout(async () => {
      if (gpuController) gpuController.abort();
      gpuController = new AbortController();
      const q = $("gpu").value.trim();
      try {
        const rows = await api("/api/gpus?q=" + encodeURIComponent(q) + "&limit=30", undefined, gpuController.signal);
        const list = clear($("gpu-list"));
        for (const g of rows) {
          state.gpus.set(g.name.toLowerCase(), g);
          list.appendChild(h("option", { value: g.name }, g.vendor + " · " + fmt0.format(g.memory_gib) + " GiB · " + g.device_class));
        }
        updateGpuInfo(rows);
      } catch (e) {
        if (e.name !== "AbortError") $("gpu-info").textContent = "";
      }
    }, 150);
  }

  function updateGpuInfo(rows) {
    const q = $("gpu").value.trim().toLowerCase();
    const g = state.gpus.get(q);
    const info = $("gpu-info");
    if (g) info.textContent = g.vendor + " · " + fmt1.format(g.memory_gib) + " GiB · " + g.device_class;
    else if (rows && rows.length) info.textContent = rows.length + (rows.length >= 30 ? "+" : "") + " matches, e.g. " + rows.slice(0, 3).map((r) => r.name).join(", ");
    else if (q) info.textContent = "No catalog match; the estimate will say what it knows.";
    else info.textContent = "";
  }

  function updateSystemInfo() {
    const name = $("system").value;
    const sys = state.systems.find((x) => x.name === name);
    $("system-info").textContent = sys ? sys.description + " (" + sys.gpus_per_node + " per node)" : "";
  }

  // ---------------------------------------------------------------- computing
  function schedule(delay) {
    clearTimeout(state.timer);
    state.timer = setTimeout(compute, delay === undefined ? DEBOUNCE_MS : delay);
  }

  async function compute() {
    clearTimeout(state.timer);
    if (state.controller) state.controller.abort();
    const controller = new AbortController();
    state.controller = controller;
    const seq = ++state.seq;
    clearErrors();
    if (state.configError) {
      showFieldError("model-config", state.configError);
      setStatus("error", "config.json is not valid JSON");
      markStale(true);
      return;
    }
    const body = buildBody();
    setStatus("computing", "");
    const estimateP = api("/api/estimate", body, controller.signal);
    const commandP = api("/api/command", body, controller.signal).catch((e) => e);
    try {
      const est = await estimateP;
      if (seq !== state.seq) return;
      state.last = est;
      render(est);
      markStale(false);
      setStatus("ready", "");
      const cmd = await commandP;
      if (seq !== state.seq) return;
      renderCommand(cmd);
    } catch (e) {
      if (e.name === "AbortError" || seq !== state.seq) return;
      markStale(true);
      if (e instanceof ApiError) {
        const msg = showApiError(e);
        setStatus("error", msg);
      } else {
        showTopError("Could not reach the traintime server: " + e.message);
        setStatus("error", "server unreachable");
      }
    }
  }

  function markStale(stale) {
    $("results").classList.toggle("stale", stale && !!state.last);
    $("stale-note").hidden = !(stale && state.last);
  }

  function renderCommand(cmd) {
    if (cmd instanceof Error) {
      $("command").textContent = "(no command line: " + (cmd.message || "error") + ")";
      $("command-note").textContent = "";
      return;
    }
    $("command").textContent = cmd.command;
    $("command-note").textContent = cmd.note ? "Note: " + cmd.note + "." : "";
  }

  // ---------------------------------------------------------------- rendering the estimate
  function render(est) {
    renderHeadline(est);
    renderBanner(est);
    renderPlan(est);
    renderCharts(est);
    renderDetails(est);
    renderEnergyCost(est);
    renderNotes(est);
  }

  function renderHeadline(est) {
    const hw = est.hardware;
    const t = est.time;
    const mem = est.memory;
    const thr = est.throughput;
    fill($("result-title"), est.model.name + " on " + hw.count + " × " + hw.gpu.name);
    fill(
      $("result-subtitle"),
      fmtCount(est.model.params.total) + " parameters, " + fmtCount(est.training.tokens) + " tokens in " +
        fmt0.format(est.training.steps) + " steps of " + fmt0.format(est.training.global_batch_tokens) + " tokens; " +
        est.training.recipe.optimizer.name + ", " + est.training.recipe.precision
    );

    // time
    $("time-label").textContent = t.runs ? "Training time" : "Time if memory were unlimited";
    const days = isNum(t.total_days) ? t.total_days : t.total_hours / 24;
    const human = fmtDuration(t.total_hours);
    const daysEl = h("span", { id: "result-days" }, days.toFixed(1));
    const timeEl = $("result-time");
    clear(timeEl);
    if (/ days$/.test(human)) {
      timeEl.append(daysEl, " days");
    } else {
      timeEl.append(human, " ", h("span", { class: "unit-sub" }, "(", daysEl, " days)"));
    }
    timeEl.classList.toggle("no-run", !t.runs);
    fill(
      $("result-band"),
      "likely ",
      h("strong", null, fmtDuration(t.low_hours)),
      " to ",
      h("strong", null, fmtDuration(t.high_hours))
    );

    const det = clear($("result-time-details"));
    det.appendChild(h("p", null, h("strong", null, "The band: "), t.band_basis || "", t.band_source ? h("span", { class: "muted", title: t.band_source }, " (source: " + t.band_source + ")") : null));
    if (isNum(t.expected_hours)) {
      det.appendChild(
        h("p", null, h("strong", null, "With restarts: "), "expected wall-clock " + fmtDuration(t.expected_hours) +
          " at " + fmtPct(t.goodput, t.goodput > 0.999 ? 3 : 1) + " goodput (the share of wall-clock spent training). ",
          h("span", { class: "muted" }, t.goodput_source || ""))
      );
    }
    if (isNum(hw.compute_floor_hours)) {
      det.appendChild(h("p", null, h("strong", null, "Compute floor: "), "≥ " + fmtDuration(hw.compute_floor_hours) +
        " even at 100% of the " + fmt1.format(hw.peak_tflops) + " TFLOPS " + hw.precision + " peak on every GPU (no real run gets there)."));
    }
    if (isNum(t.balanced_routing_hours)) {
      det.appendChild(h("p", null, h("strong", null, "Balanced routing: "), fmtDuration(t.balanced_routing_hours) + " with expert load forced even, as MoE benchmarks run."));
    }
    if (t.reference) {
      const r = t.reference;
      det.appendChild(h("p", null, h("strong", null, "By hand: "), r.description + ": " + fmtDuration(r.measured_hours) +
        " measured; scaled by FLOPs and GPU peak: " + fmtDuration(r.scaled_total_hours) + " (" + fmt2.format(r.ratio) + "× our estimate). " + (r.explanation || "")));
    }

    // fit
    const fitEl = $("result-fit");
    fitEl.textContent = mem.fits ? "fits" : "does not fit";
    fitEl.className = "kpi-value " + (mem.fits ? "ok" : "bad");
    const memEl = clear($("result-memory"));
    memEl.appendChild(h("span", null, "needs ", h("strong", null, fmt1.format(mem.needed_gib)), " of " + fmt1.format(mem.capacity_gib) + " GiB"));
    memEl.appendChild(gauge(mem.needed_gib, mem.capacity_gib, mem.fits));
    if (mem.host_gib > 0) memEl.appendChild(h("span", { class: "muted small" }, "+ " + fmtGiB(mem.host_gib) + " in host RAM"));

    // throughput
    fill($("result-throughput"), fmt0.format(thr.tokens_per_sec), h("span", { class: "unit" }, " tokens/s"));
    fill($("result-mfu"), "MFU " + fmtPct(thr.mfu) + " · " + fmt0.format(thr.tokens_per_sec_per_gpu) + " per GPU · " + fmtSeconds(thr.step_time_s) + "/step");

    // cost
    const c = est.cost;
    if (isNum(c.rent_on_demand)) {
      fill($("result-cost-headline"), fmtUSD(c.rent_on_demand), h("span", { class: "unit" }, " rent"));
      fill($("result-cost-sub"), (isNum(c.own_total) ? "own " + fmtUSD(c.own_total) + " · " : "") + "spot " + fmtUSD(c.rent_spot) + " · " + fmt0.format(est.energy.kwh) + " kWh");
    } else if (isNum(c.own_total)) {
      fill($("result-cost-headline"), fmtUSD(c.own_total), h("span", { class: "unit" }, " own"));
      fill($("result-cost-sub"), "no rent price · " + fmt0.format(est.energy.kwh) + " kWh, " + fmtUSD(est.energy.electricity_cost) + " of electricity");
    } else {
      fill($("result-cost-headline"), fmtUSD(est.energy.electricity_cost), h("span", { class: "unit" }, " power"));
      fill($("result-cost-sub"), fmt0.format(est.energy.kwh) + " kWh; no rent or purchase price");
    }
  }

  function gauge(value, capacity, ok) {
    const frac = capacity > 0 ? value / capacity : 0;
    const bar = h("div", { class: "gauge " + (ok ? "ok" : "bad"), role: "meter", "aria-valuemin": 0, "aria-valuemax": capacity, "aria-valuenow": value.toFixed(1), "aria-label": "memory needed against capacity" });
    bar.appendChild(h("div", { class: "gauge-fill", style: "width:" + Math.min(100, frac * 100).toFixed(1) + "%" }));
    if (frac > 1) bar.appendChild(h("div", { class: "gauge-over" }, (frac).toFixed(1) + "× capacity"));
    return bar;
  }

  function setupWords(p) {
    const bits = ["micro-batch " + p.micro_batch, "checkpointing " + p.act_ckpt, "offload " + p.offload + (p.offload !== "none" ? " (update on " + p.offload_update.toUpperCase() + ")" : "")];
    if (p.zero_stage) bits.push("ZeRO " + p.zero_stage);
    if (p.tp > 1 || p.pp > 1 || p.cp > 1) bits.push("TP " + p.tp + " PP " + p.pp + (p.cp > 1 ? " CP " + p.cp : ""));
    if (p.ep > 1) bits.push("EP " + p.ep);
    return bits.join(", ");
  }

  function renderBanner(est) {
    const b = $("fit-banner");
    const mem = est.memory;
    const plan = est.plan;
    if (mem.fits && est.time.runs) {
      b.hidden = true;
      clear(b);
      return;
    }
    fill(
      b,
      h("strong", { class: "banner-title" }, "DOES NOT FIT"),
      h("p", null, "This setup needs " + fmtGiB(mem.needed_gib) + " per GPU; a " + est.hardware.gpu.name + " has " + fmtGiB(mem.capacity_gib) +
        ". The times below are what it would take if memory were unlimited.")
    );
    if (plan.advice && plan.advice.length) b.appendChild(h("ul", null, plan.advice.map((a) => h("li", null, a))));
    if (plan.nearest_fit) {
      const n = plan.nearest_fit;
      b.appendChild(h("p", { class: "nearest" }, h("strong", null, "Nearest setup that fits: "), setupWords(n) + " — " + fmtDuration(n.total_hours) +
        ", needs " + fmtGiB(n.needed_gib) + (n.changed && n.changed.length ? "; changes " + n.changed.join(", ") : "") + "."));
    }
    b.hidden = false;
  }

  function renderPlan(est) {
    const plan = est.plan;
    const box = clear($("result-plan"));
    const chosen = plan.chosen;
    box.appendChild(h("p", { class: "plan-line" }, h("strong", null, "Plan: "), setupWords(chosen) +
      "; " + fmt2.format(chosen.slowdown) + "× the fastest run if memory were unlimited (" + fmt0.format(plan.searched) + " setups searched)."));
    if (plan.chose && plan.chose.length) box.appendChild(h("p", null, "The planner chose (you left these unset): " + plan.chose.join(", ") + "."));
    if (plan.nearest_fit && !plan.fits) {
      const n = plan.nearest_fit;
      box.appendChild(h("p", { class: "nearest" }, h("strong", null, "Nearest fit: "), setupWords(n) + ", " + fmtDuration(n.total_hours) +
        (n.changed && n.changed.length ? " (changes " + n.changed.join(", ") + ")" : "")));
    }
    if (chosen.math_changes && chosen.math_changes.length) box.appendChild(h("p", { class: "warn" }, "Changes to the training math: " + chosen.math_changes.join("; ")));

    // settings, grouped by where they come from
    const groups = new Map();
    for (const x of est.training.settings || []) {
      if (!groups.has(x.source)) groups.set(x.source, []);
      groups.get(x.source).push(x);
    }
    const order = ["given", "planner", "recipe", "default", "derived"];
    const sources = Array.from(groups.keys()).sort((a, b) => (order.indexOf(a) + 99) % 99 - (order.indexOf(b) + 99) % 99);
    const SOURCE_WORDS = { given: "you gave", planner: "the planner chose", recipe: "the model's recipe", default: "defaults", derived: "derived" };
    const sum = clear($("settings-summary"));
    for (const src of sources) {
      sum.appendChild(h("div", { class: "settings-group" },
        h("span", { class: "badge src-" + src }, SOURCE_WORDS[src] || src),
        h("span", { class: "settings-list" }, groups.get(src).map((x) => words(x.name) + " " + (typeof x.value === "object" ? JSON.stringify(x.value) : String(x.value))).join(" · "))));
    }
    const st = clear($("settings-table"));
    st.appendChild(h("thead", null, h("tr", null, h("th", { scope: "col" }, "setting"), h("th", { scope: "col" }, "value"), h("th", { scope: "col" }, "source"), h("th", { scope: "col" }, "why"))));
    const tb = h("tbody");
    for (const x of est.training.settings || []) {
      tb.appendChild(h("tr", null,
        h("td", null, words(x.name)),
        h("td", { class: "mono" }, typeof x.value === "object" ? JSON.stringify(x.value) : String(x.value)),
        h("td", null, h("span", { class: "badge src-" + x.source }, x.source)),
        h("td", { class: "muted" }, x.reason || "")));
    }
    st.appendChild(tb);

    // alternatives
    const at = clear($("alternatives-table"));
    const showEP = (plan.alternatives || []).some((a) => a.ep > 1);
    at.appendChild(h("thead", null, h("tr", null,
      ["", "micro-batch", "checkpointing", "offload", "ZeRO", showEP ? "TP·PP·CP·EP" : "TP·PP·CP", "needs GiB", "fits", "time", "slowdown", "host GiB"].map((c) => h("th", { scope: "col" }, c)))));
    const ab = h("tbody");
    const key = (p) => JSON.stringify([p.micro_batch, p.act_ckpt, p.offload, p.offload_update, p.zero_stage, p.tp, p.pp, p.cp, p.ep, p.global_batch_tokens]);
    const chosenKey = key(chosen);
    for (const a of plan.alternatives || []) {
      const isChosen = key(a) === chosenKey;
      const extra = [];
      if (a.math_changes && a.math_changes.length) extra.push(a.math_changes.join("; "));
      ab.appendChild(h("tr", { class: (isChosen ? "chosen " : "") + (a.fits ? "" : "nofit") },
        h("td", null, isChosen ? h("span", { class: "badge chosen-badge" }, "chosen") : ""),
        h("td", { class: "num" }, String(a.micro_batch)),
        h("td", null, a.act_ckpt),
        h("td", null, a.offload + (a.offload !== "none" ? " (" + a.offload_update + ")" : "")),
        h("td", { class: "num" }, String(a.zero_stage)),
        h("td", { class: "num" }, [a.tp, a.pp, a.cp].concat(showEP ? [a.ep] : []).join("·")),
        h("td", { class: "num" }, fmt1.format(a.needed_gib) + " / " + fmt0.format(plan.capacity_gib)),
        h("td", null, a.fits ? h("span", { class: "yes" }, "yes") : h("span", { class: "no" }, "no")),
        h("td", { class: "num" }, fmtDuration(a.total_hours)),
        h("td", { class: "num", title: extra.join(" ") || null }, fmt2.format(a.slowdown) + "×"),
        h("td", { class: "num" }, a.host_gib ? fmt1.format(a.host_gib) : "–")));
    }
    at.appendChild(ab);
  }

  // ---------------------------------------------------------------- charts
  const STEP_COLORS = { matmul: "#4f46e5", attention: "#0891b2", memory: "#d97706", optimizer: "#059669", communication: "#dc2626", offload: "#7c3aed", overhead: "#64748b" };
  const MEM_COLORS = { weights: "#4f46e5", gradients: "#0891b2", optimizer: "#059669", buffers: "#64748b", activations: "#d97706", logits: "#dc2626", optimizer_temporaries: "#7c3aed" };
  const FALLBACK = ["#2563eb", "#db2777", "#65a30d", "#ea580c", "#0d9488", "#9333ea"];

  function colorFor(map, key, i) {
    return map[key] || FALLBACK[i % FALLBACK.length];
  }

  function chartWidth(container) {
    const w = container.clientWidth || (container.parentElement && container.parentElement.clientWidth) || 600;
    return Math.max(260, Math.floor(w));
  }

  /** Round ticks from 0 to at least max: steps of 1, 2 or 5 x 10^k. */
  function niceTicks(max, target) {
    if (!(max > 0)) return [0, 1];
    const raw = max / (target || 4);
    const mag = Math.pow(10, Math.floor(Math.log10(raw)));
    const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((st) => st >= raw) || 10 * mag;
    const out = [];
    for (let v = 0; v < max + step * 0.999; v += step) out.push(Number(v.toPrecision(6)));
    return out;
  }

  /** Horizontal bars: items [{label, value, color}], each labelled with its value and share;
   * opts.stack adds one stacked bar of all items (plus opts.stack.extra) against opts.stack.ref. */
  function barChart(container, items, opts) {
    clear(container);
    const shown = items.filter((x) => isNum(x.value) && x.value > 0);
    const total = items.reduce((a, x) => a + (isNum(x.value) ? x.value : 0), 0);
    if (!shown.length) {
      container.appendChild(h("p", { class: "muted" }, "nothing to show"));
      return;
    }
    const W = chartWidth(container);
    const rowH = 28;
    const stack = opts.stack || null;
    const stackH = stack ? 58 : 0;
    const top = 6 + stackH;
    const labelW = Math.min(104, Math.round(W * 0.28));
    const valueW = Math.min(130, Math.round(W * 0.32));
    const barW = Math.max(40, W - labelW - valueW - 10);
    const axisH = 42;
    const H = top + shown.length * rowH + axisH;
    const dataMax = Math.max(...shown.map((x) => x.value));
    const ticks = niceTicks(dataMax, W < 420 ? 3 : 4);
    const max = ticks[ticks.length - 1];
    const svg = s("svg", { width: W, height: H, viewBox: "0 0 " + W + " " + H, role: "img", "aria-label": opts.title, class: "svg-chart" });
    svg.appendChild(s("title", null, opts.title));

    if (stack) {
      // one bar: the components stacked, then the extra (allocator slack, context), against the reference
      const sw = W - 12;
      const smax = Math.max(total + (stack.extra || 0), stack.ref || 0) * 1.02;
      const sx = (v) => 6 + (v / smax) * sw;
      let acc = 0;
      const y = 18;
      svg.appendChild(s("text", { x: 6, y: 12, class: "lbl" }, stack.label));
      if (stack.ref > 0) svg.appendChild(s("rect", { x: 6, y, width: (sx(stack.ref) - 6).toFixed(1), height: 16, class: "track" }));
      for (const x of shown) {
        const r = s("rect", { x: sx(acc).toFixed(1), y, width: Math.max(0.5, sx(acc + x.value) - sx(acc)).toFixed(1), height: 16, fill: x.color });
        r.appendChild(s("title", null, x.label + ": " + opts.fmt(x.value)));
        svg.appendChild(r);
        acc += x.value;
      }
      if (stack.extra > 0) {
        const r = s("rect", { x: sx(acc).toFixed(1), y, width: Math.max(0.5, sx(acc + stack.extra) - sx(acc)).toFixed(1), height: 16, class: "extra" });
        r.appendChild(s("title", null, stack.extraLabel + ": " + opts.fmt(stack.extra)));
        svg.appendChild(r);
        acc += stack.extra;
      }
      if (stack.ref > 0) {
        const rx = sx(stack.ref);
        svg.appendChild(s("line", { x1: rx, x2: rx, y1: y - 4, y2: y + 20, class: stack.ok ? "ref ok" : "ref" }));
        svg.appendChild(s("text", { x: Math.min(rx, W - 4), y: y + 34, "text-anchor": rx > W * 0.6 ? "end" : "middle", class: stack.ok ? "ref-label ok" : "ref-label" }, stack.refLabel));
      }
    }

    shown.forEach((x, i) => {
      const y = top + i * rowH;
      const w = Math.max(1.5, (x.value / max) * barW);
      svg.appendChild(s("text", { x: labelW - 8, y: y + rowH / 2 + 4, "text-anchor": "end", class: "lbl" }, x.label));
      const rect = s("rect", { x: labelW, y: y + 5, width: w.toFixed(1), height: rowH - 10, rx: 3, fill: x.color });
      rect.appendChild(s("title", null, x.label + ": " + opts.fmt(x.value)));
      svg.appendChild(rect);
      const share = total > 0 ? " (" + Math.round((x.value / total) * 100) + "%)" : "";
      svg.appendChild(s("text", { x: labelW + w + 6, y: y + rowH / 2 + 4, class: "val" }, opts.fmt(x.value) + share));
    });
    // axis: 0 .. max in round steps, with the unit
    const ay = top + shown.length * rowH + 4;
    svg.appendChild(s("line", { x1: labelW, x2: labelW + barW, y1: ay, y2: ay, class: "axis" }));
    for (const v of ticks) {
      const x = labelW + (v / max) * barW;
      svg.appendChild(s("line", { x1: x, x2: x, y1: ay, y2: ay + 4, class: "axis" }));
      svg.appendChild(s("line", { x1: x, x2: x, y1: top, y2: ay, class: "grid" }));
      svg.appendChild(s("text", { x, y: ay + 16, "text-anchor": "middle", class: "tick" }, fmtTick(v)));
    }
    svg.appendChild(s("text", { x: labelW + barW / 2, y: ay + 34, "text-anchor": "middle", class: "axis-label" }, opts.unit));
    // grid lines go under the bars
    for (const g of Array.from(svg.querySelectorAll("line.grid"))) svg.insertBefore(g, svg.children[1]);
    container.appendChild(svg);
    if (opts.caption) container.appendChild(h("p", { class: "hint" }, opts.caption));
  }

  function renderCharts(est) {
    const br = est.throughput.breakdown_s || {};
    const stepItems = Object.keys(br).map((k, i) => ({ label: words(k), value: br[k], color: colorFor(STEP_COLORS, k, i) }));
    const zero = Object.keys(br).filter((k) => !(br[k] > 0)).map(words);
    barChart($("chart-step"), stepItems, {
      title: "Step time by category, seconds per optimizer step",
      unit: "seconds per optimizer step",
      fmt: fmtSeconds,
      caption: "Total " + fmtSeconds(est.throughput.step_time_s) + " per step of " + est.throughput.micro_steps + " micro-steps × micro-batch " +
        est.throughput.micro_batch + "." + (zero.length ? " Zero: " + zero.join(", ") + "." : ""),
    });
    const mb = est.memory.breakdown || {};
    const memItems = Object.keys(mb).map((k, i) => ({ label: words(k), value: mb[k], color: colorFor(MEM_COLORS, k, i) }));
    const mem = est.memory;
    const extra = Math.max(0, mem.needed_gib - mem.peak_gib);
    barChart($("chart-memory"), memItems, {
      title: "Memory at the peak per GPU, GiB",
      unit: "GiB per GPU (" + mem.phase + ")",
      fmt: (v) => fmt2.format(v) + " GiB",
      stack: {
        label: "needed " + fmt1.format(mem.needed_gib) + " GiB of " + fmt1.format(mem.capacity_gib) + " GiB" + (mem.fits ? "" : ": does not fit"),
        extra,
        extraLabel: "allocator slack and CUDA context",
        ref: mem.capacity_gib,
        ok: mem.fits,
        refLabel: "capacity " + fmt1.format(mem.capacity_gib) + " GiB",
      },
      caption: "Bars: the " + fmtGiB(mem.peak_gib) + " allocated at the peak; grey: allocator slack and CUDA context. Fit rule: " + (mem.assumptions || "") + "." +
        (mem.host_gib > 0 ? " Host RAM: " + mem.host_note + "." : ""),
    });
  }

  // ---------------------------------------------------------------- details, energy, cost, notes
  function renderDetails(est) {
    const dl = clear($("result-details"));
    const m = est.model;
    const tr = est.training;
    const thr = est.throughput;
    const g = est.hardware.gpu;
    const p = m.params;
    fact(dl, "Parameters", fmt0.format(p.total) + " (" + fmtCount(p.total) + ")" + (p.active !== p.total ? "; " + fmtCount(p.active) + " active per token" : ""));
    if (m.spec) {
      const sp = m.spec;
      fact(dl, "Architecture", sp.n_layer + " layers, d_model " + sp.d_model + ", " + sp.n_head + " heads" + (sp.n_kv_head ? " (" + sp.n_kv_head + " kv)" : "") +
        ", " + sp.ffn_act + " MLP " + sp.ffn_hidden + ", vocab " + fmt0.format(sp.vocab) + (sp.n_experts ? ", " + sp.n_experts + " experts top-" + sp.top_k : ""));
    }
    fact(dl, "FLOPs/token", fmtFlops(m.flops_per_token.model) + " model, " + fmtFlops(m.flops_per_token.executed) + " executed");
    fact(dl, "Training", fmtCount(tr.tokens) + " tokens, " + fmt0.format(tr.steps) + " steps of " + fmt0.format(tr.global_batch_tokens) + " tokens (seq " + tr.seq_len +
      "); micro-batch " + tr.micro_batch + " × " + tr.grad_accum_steps + " accumulation steps");
    const r = tr.recipe;
    if (r.finetune && r.finetune !== "full") {
      fact(dl, "Fine-tune", (r.finetune === "qlora" ? "QLoRA" : "LoRA") + " rank " + r.lora_rank + ": " + fmt0.format(tr.trainable_params) +
        " trainable parameters (" + fmtPct(tr.trainable_params / p.total, 2) + "); frozen base " + r.base_dtype +
        (tr.epochs !== 1 ? "; " + tr.epochs + " epochs" : "") + (tr.padding_factor !== 1 ? "; padding ×" + tr.padding_factor.toFixed(2) : ""));
    }
    fact(dl, "Total FLOPs", fmtFlops(tr.model_flops_total) + " model, " + fmtFlops(tr.executed_flops_total) + " executed");
    fact(dl, "Throughput", fmt0.format(thr.tokens_per_sec_per_gpu) + " tokens/s per GPU (" + fmt0.format(thr.tokens_per_sec) + " total); " + fmtSeconds(thr.step_time_s) + " per step");
    fact(dl, "Utilisation", "MFU " + fmtPct(thr.mfu) + " (model FLOPs), HFU " + fmtPct(thr.hfu) + " (executed) of " + fmt1.format(thr.mfu_peak_tflops) + " TFLOPS per GPU");
    const lay = tr.layout;
    fact(dl, "Layout", "DP " + lay.dp + ", TP " + lay.tp + ", PP " + lay.pp + ", CP " + lay.cp + (lay.ep > 1 ? ", EP " + lay.ep : "") + ", ZeRO " + lay.zero_stage +
      ", offload " + lay.offload + (thr.links ? "; links: " + thr.links : ""));
    fact(dl, "GPU", g.name + ": " + fmt1.format(g.memory_gib) + " GiB, " + fmt0.format(g.bandwidth_gbs) + " GB/s, " +
      (isNum(est.hardware.peak_tflops) ? fmt1.format(est.hardware.peak_tflops) + " TFLOPS " + est.hardware.precision + " dense, " : "") +
      (isNum(g.tdp_w) ? fmt0.format(g.tdp_w) + " W" : "TDP unknown") + (g.architecture ? " (" + g.architecture + ")" : ""));
    if (est.hardware.calibration) fact(dl, "Calibration", "this machine's calibration of the device is applied");
  }

  function renderEnergyCost(est) {
    const e = est.energy;
    const a = e.assumptions || {};
    const dl = clear($("result-energy"));
    fact(dl, "Energy", fmt0.format(e.kwh) + " kWh (GPUs " + fmt0.format(e.gpu_kwh) + ", host " + fmt0.format(e.host_kwh) + "; PUE " + a.pue + ")");
    fact(dl, "GPU power", "average " + fmt0.format(e.average_gpu_w) + " W of " + (isNum(a.tdp_w) ? fmt0.format(a.tdp_w) + " W TDP" : "an unknown TDP"));
    fact(dl, "Electricity", fmtUSD(e.electricity_cost) + " at $" + a.electricity_usd_per_kwh + "/kWh");
    fact(dl, "CO2", fmt0.format(e.co2_kg) + " kg at " + a.co2_kg_per_kwh + " kg/kWh");

    const c = est.cost;
    const cl = clear($("result-cost"));
    if (isNum(c.rent_on_demand)) {
      fact(cl, "Rent on demand", h("strong", null, fmtUSD(c.rent_on_demand)), " at " + fmtUSD(c.rent_usd_per_gpu_hour) + " per GPU-hour for the expected wall-clock");
      fact(cl, "Rent spot", fmtUSD(c.rent_spot));
    } else {
      fact(cl, "Rent", h("span", { class: "muted" }, "no rental price: enter one under Prices"));
    }
    if (isNum(c.purchase)) {
      fact(cl, "Purchase", fmtUSD(c.purchase) + " for " + est.hardware.count + " GPU" + (est.hardware.count > 1 ? "s" : ""));
      fact(cl, "Own", h("strong", null, fmtUSD(c.own_total)), " (" + fmtUSD(c.own_amortized) + " of the hardware written off + electricity)");
    } else {
      fact(cl, "Own", h("span", { class: "muted" }, "no purchase price: enter one under Prices"));
    }
    if (isNum(c.break_even_hours)) fact(cl, "Break-even", "buying is cheaper after " + fmt0.format(c.break_even_hours) + " GPU-hours of use");
    const notes = clear($("result-cost-notes"));
    for (const n of [].concat(c.missing || [], c.notes || [], e.notes || [])) notes.appendChild(h("li", null, n));
  }

  function renderNotes(est) {
    const ul = clear($("result-notes"));
    const groups = [
      ["training", est.training.notes],
      ["hardware", est.hardware.notes],
      ["throughput", est.throughput.notes],
    ];
    for (const [k, list] of groups) for (const n of list || []) ul.appendChild(h("li", null, h("span", { class: "badge" }, k), " ", n));
    if (!ul.firstChild) ul.appendChild(h("li", { class: "muted" }, "none"));
  }

  // ---------------------------------------------------------------- comparison
  function splitList(text) {
    return text.split(/[,;\s]+/).map((x) => x.trim()).filter(Boolean);
  }

  async function runCompare() {
    const err = $("err-compare");
    err.hidden = true;
    err.textContent = "";
    const gpus = splitList($("compare-gpus").value);
    const countsRaw = splitList($("compare-counts").value);
    const counts = countsRaw.map(Number);
    if (!gpus.length) return compareError("Name at least one GPU, e.g. 4090, h100.");
    if (!counts.length || counts.some((n) => !Number.isInteger(n) || n < 1)) return compareError("Counts must be whole numbers of at least 1, e.g. 1, 8.");
    if (state.configError) return compareError("Fix config.json first.");
    if (state.compareController) state.compareController.abort();
    const controller = new AbortController();
    state.compareController = controller;
    $("compare-button").disabled = true;
    $("compare-status").textContent = "computing " + gpus.length * counts.length + " setups…";
    $("compare-section").classList.add("is-computing");
    try {
      // the GPU list and the counts replace the scenario's GPU and count
      const scenario = buildBody();
      scenario.gpu = null;
      scenario.gpus = null;
      const rows = await api("/api/compare", { scenario, gpus, counts }, controller.signal);
      if (state.compareController !== controller) return;
      state.compareRows = rows;
      renderCompare(rows);
      $("compare-status").textContent = rows.length + " setups; " + rows.filter((r) => r.fits).length + " fit.";
    } catch (e) {
      if (e.name === "AbortError") return;
      $("compare-status").textContent = "";
      if (e instanceof ApiError) {
        const d = e.detail;
        compareError(Array.isArray(d) ? d.map((x) => x.msg).join(" ") : String(d));
      } else compareError("Could not reach the traintime server: " + e.message);
    } finally {
      if (state.compareController === controller) {
        $("compare-button").disabled = false;
        $("compare-section").classList.remove("is-computing");
      }
    }
  }

  function compareError(msg) {
    const err = $("err-compare");
    err.textContent = msg;
    err.hidden = false;
  }

  function renderCompare(rows) {
    const t = clear($("compare-table"));
    t.appendChild(h("thead", null, h("tr", null,
      ["GPU", "count", "fits", "time", "cost", "needs/has GiB", "kWh", "rent", "own", "plan"].map((c) => h("th", { scope: "col" }, c)))));
    const tb = h("tbody");
    for (const r of rows) {
      tb.appendChild(h("tr", { class: r.fits ? "" : "nofit" },
        h("td", { title: r.tensor_rate_sourced === false ? "no sourced tensor rate: timed at a vector rate" : null }, r.gpu + (r.tensor_rate_sourced === false ? " *" : "")),
        h("td", { class: "num" }, String(r.count)),
        h("td", null, r.fits ? h("span", { class: "yes" }, "yes") : h("span", { class: "no" }, "no")),
        h("td", { class: "num" }, isNum(r.days) ? fmtDuration(r.days * 24) : "–"),
        h("td", { class: "num" }, isNum(r.cost_usd) ? fmtUSD(r.cost_usd) + " " + r.cost_kind : "–"),
        h("td", { class: "num" }, (isNum(r.needed_gib) ? fmt1.format(r.needed_gib) : "–") + "/" + fmt0.format(r.capacity_gib)),
        h("td", { class: "num" }, isNum(r.kwh) ? fmt0.format(r.kwh) : "–"),
        h("td", { class: "num" }, isNum(r.rent_on_demand_usd) ? fmtUSD(r.rent_on_demand_usd) : "–"),
        h("td", { class: "num" }, isNum(r.own_usd) ? fmtUSD(r.own_usd) : "–"),
        h("td", { class: "small" }, r.plan || "–", r.math_changes && r.math_changes.length ? h("span", { class: "warn" }, " (" + r.math_changes.join("; ") + ")") : null)));
    }
    t.appendChild(tb);
    scatter($("compare-chart"), rows);
  }

  function logTicks(lo, hi) {
    const a = Math.floor(Math.log10(lo));
    const b = Math.ceil(Math.log10(hi));
    const mant = b - a <= 2 ? [1, 2, 5] : b - a <= 4 ? [1, 3] : [1];
    const out = [];
    for (let e = a; e <= b; e++) for (const m of mant) {
      const v = m * Math.pow(10, e);
      if (v >= lo * 0.999 && v <= hi * 1.001) out.push(v);
    }
    return out;
  }

  /** Time (days) against cost (USD), log axes; renting as circles, owning as diamonds. */
  function scatter(container, rows) {
    clear(container);
    const pts = [];
    rows.forEach((r, i) => {
      if (!isNum(r.days) || r.days <= 0) return;
      const label = r.count + "× " + r.gpu.replace(/^(NVIDIA |GeForce |AMD |Radeon )/, "");
      if (isNum(r.rent_on_demand_usd) && r.rent_on_demand_usd > 0) pts.push({ x: r.days, y: r.rent_on_demand_usd, kind: "rent", label, row: i });
      if (isNum(r.own_usd) && r.own_usd > 0) pts.push({ x: r.days, y: r.own_usd, kind: "own", label, row: i });
    });
    const skipped = rows.filter((r) => !isNum(r.days)).length;
    if (!pts.length) {
      container.appendChild(h("p", { class: "muted" }, "No setup with both a time and a cost to plot."));
      return;
    }
    const W = chartWidth(container);
    const H = Math.round(Math.max(260, Math.min(440, W * 0.62)));
    const m = { l: 58, r: 14, t: 30, b: 46 };
    const pw = W - m.l - m.r;
    const ph = H - m.t - m.b;
    const ext = (vals) => {
      let lo = Math.min(...vals);
      let hi = Math.max(...vals);
      if (hi / lo < 10) {
        const mid = Math.sqrt(lo * hi);
        lo = mid / Math.sqrt(10);
        hi = mid * Math.sqrt(10);
      }
      return [lo / 1.25, hi * 1.25];
    };
    const [x0, x1] = ext(pts.map((p) => p.x));
    const [y0, y1] = ext(pts.map((p) => p.y));
    const X = (v) => m.l + ((Math.log10(v) - Math.log10(x0)) / (Math.log10(x1) - Math.log10(x0))) * pw;
    const Y = (v) => m.t + ph - ((Math.log10(v) - Math.log10(y0)) / (Math.log10(y1) - Math.log10(y0))) * ph;
    const svg = s("svg", { width: W, height: H, viewBox: "0 0 " + W + " " + H, role: "img", "aria-label": "Training time in days against cost in US dollars, log scales; renting as circles, owning as diamonds", class: "svg-chart" });
    svg.appendChild(s("title", null, "Time against cost"));
    for (const v of logTicks(x0, x1)) {
      const x = X(v);
      svg.appendChild(s("line", { x1: x, x2: x, y1: m.t, y2: m.t + ph, class: "grid" }));
      svg.appendChild(s("text", { x, y: m.t + ph + 15, "text-anchor": "middle", class: "tick" }, fmtTick(v)));
    }
    for (const v of logTicks(y0, y1)) {
      const y = Y(v);
      svg.appendChild(s("line", { x1: m.l, x2: m.l + pw, y1: y, y2: y, class: "grid" }));
      svg.appendChild(s("text", { x: m.l - 6, y: y + 4, "text-anchor": "end", class: "tick" }, "$" + fmtTick(v)));
    }
    svg.appendChild(s("rect", { x: m.l, y: m.t, width: pw, height: ph, class: "frame" }));
    svg.appendChild(s("text", { x: m.l + pw / 2, y: H - 8, "text-anchor": "middle", class: "axis-label" }, "training time (days, log scale)"));
    svg.appendChild(s("text", { x: 14, y: m.t + ph / 2, "text-anchor": "middle", class: "axis-label", transform: "rotate(-90 14 " + (m.t + ph / 2) + ")" }, "cost (US$, log scale)"));

    // rent and own of one setup joined by a line
    const byRow = new Map();
    for (const p of pts) {
      if (!byRow.has(p.row)) byRow.set(p.row, []);
      byRow.get(p.row).push(p);
    }
    for (const list of byRow.values()) {
      if (list.length === 2) svg.appendChild(s("line", { x1: X(list[0].x), y1: Y(list[0].y), x2: X(list[1].x), y2: Y(list[1].y), class: "pair" }));
    }
    for (const p of pts) {
      const x = X(p.x);
      const y = Y(p.y);
      const tip = p.label + ": " + fmtDuration(p.x * 24) + ", " + fmtUSD(p.y) + (p.kind === "rent" ? " renting" : " owning");
      const mark = p.kind === "rent"
        ? s("circle", { cx: x.toFixed(1), cy: y.toFixed(1), r: 5.5, class: "pt-rent" })
        : s("path", { d: "M" + x.toFixed(1) + " " + (y - 6.5).toFixed(1) + " l6.5 6.5 l-6.5 6.5 l-6.5 -6.5 z", class: "pt-own" });
      mark.appendChild(s("title", null, tip));
      svg.appendChild(mark);
    }
    // names beside the points where they fit: inside the plot, clear of the marks and of each other
    const boxes = pts.map((p) => ({ x0: X(p.x) - 7, x1: X(p.x) + 7, y0: Y(p.y) - 7, y1: Y(p.y) + 7 }));
    const overlaps = (b) => boxes.some((o) => b.x0 < o.x1 && b.x1 > o.x0 && b.y0 < o.y1 && b.y1 > o.y0);
    const labelled = new Set();
    let hidden = 0;
    for (const p of pts) {
      if (labelled.has(p.row)) continue;
      const x = X(p.x);
      const y = Y(p.y);
      const tw = p.label.length * 6 + 2;
      const spots = [[9, -3, "start"], [-9, -3, "end"], [9, 13, "start"], [-9, 13, "end"], [-tw / 2, -10, "start"], [-tw / 2, 19, "start"]];
      let placed = false;
      for (const [dx, dy, anchor] of spots) {
        const left = anchor === "start" ? x + dx : x + dx - tw;
        const b = { x0: left, x1: left + tw, y0: y + dy - 10, y1: y + dy + 2 };
        if (b.x0 < m.l + 2 || b.x1 > m.l + pw - 2 || b.y0 < m.t + 1 || b.y1 > m.t + ph - 1 || overlaps(b)) continue;
        boxes.push(b);
        svg.appendChild(s("text", { x: (anchor === "start" ? x + dx : x + dx).toFixed(1), y: (y + dy).toFixed(1), "text-anchor": anchor, class: "pt-label" }, p.label));
        placed = true;
        break;
      }
      labelled.add(p.row);
      if (!placed) hidden++;
    }
    // legend, above the plot
    const lg = s("g", { transform: "translate(" + (m.l + 6) + "," + (m.t - 12) + ")", class: "legend" });
    lg.appendChild(s("circle", { cx: 2, cy: 0, r: 5, class: "pt-rent" }));
    lg.appendChild(s("text", { x: 12, y: 4, class: "tick" }, "renting"));
    lg.appendChild(s("path", { d: "M70 -6 l6 6 l-6 6 l-6 -6 z", class: "pt-own" }));
    lg.appendChild(s("text", { x: 81, y: 4, class: "tick" }, "owning"));
    svg.appendChild(lg);
    container.appendChild(svg);
    const foot = [];
    if (hidden) foot.push(hidden + " name" + (hidden > 1 ? "s" : "") + " left off where points crowd (hover a point, or see the table)");
    if (skipped) foot.push(skipped + " setup" + (skipped > 1 ? "s" : "") + " where nothing fits " + (skipped > 1 ? "are" : "is") + " not plotted");
    foot.unshift("Renting: on demand for the wall-clock; owning: the hardware written off over its lifetime plus electricity; a dashed line joins both costs of one setup");
    container.appendChild(h("p", { class: "hint" }, foot.join("; ") + "."));
  }

  // ---------------------------------------------------------------- clipboard and download
  async function copyCommand() {
    const text = $("command").textContent;
    try {
      await navigator.clipboard.writeText(text);
      $("copy-command").textContent = "Copied";
    } catch (e) {
      const range = document.createRange();
      range.selectNodeContents($("command"));
      const sel = window.getSelection();
      sel.removeAllRanges();
      sel.addRange(range);
      $("copy-command").textContent = "Selected";
    }
    setTimeout(() => ($("copy-command").textContent = "Copy"), 1500);
  }

  async function downloadToml() {
    const status = $("download-status");
    status.textContent = "";
    if (state.configError) {
      status.textContent = "Fix config.json first.";
      return;
    }
    try {
      const body = buildBody();
      const text = await api("/api/scenario", body);
      const blob = new Blob([typeof text === "string" ? text : JSON.stringify(text)], { type: "application/toml" });
      const url = URL.createObjectURL(blob);
      const name = ((body.model || "config") + "-" + (body.gpus || 1) + "x" + (body.gpu || "gpu")).replace(/[^A-Za-z0-9._-]+/g, "_").toLowerCase() + ".toml";
      const a = h("a", { href: url, download: name, hidden: true });
      document.body.appendChild(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10000);
      status.textContent = "Saved " + name + ": run it with traintime estimate --scenario " + name;
    } catch (e) {
      status.textContent = e instanceof ApiError
        ? (Array.isArray(e.detail) ? e.detail.map((d) => d.msg).join(" ") : String(e.detail))
        : "Could not reach the traintime server.";
    }
  }

  // ---------------------------------------------------------------- wiring
  function onFormInput(ev) {
    const id = ev.target && ev.target.id;
    if (id === "model-config-file") return;
    if (id === "model-config") parseConfigText();
    if (id === "model") updateModelInfo();
    if (id === "gpu") searchGpus();
    if (id === "system") updateSystemInfo();
    // tokens and tokens per parameter are alternatives: typing one clears the other
    if (id === "tokens" && $("tokens").value.trim() !== "") $("tokens-per-param").value = "";
    if (id === "tokens-per-param" && $("tokens-per-param").value.trim() !== "") $("tokens").value = "";
    schedule();
  }

  async function onConfigFile(ev) {
    const file = ev.target.files && ev.target.files[0];
    if (!file) return;
    if (file.size > 1000000) {
      state.config = null;
      state.configError = "This file is " + fmt0.format(file.size) + " bytes; a config.json is a few KB (the limit is 1 MB).";
      updateConfigInfo();
      schedule(0);
      return;
    }
    $("model-config").value = await file.text();
    parseConfigText();
    schedule(0);
  }

  let resizeTimer = null;
  function onResize() {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(() => {
      if (state.last) renderCharts(state.last);
      if (state.compareRows) scatter($("compare-chart"), state.compareRows);
    }, 150);
  }

  async function init() {
    const form = $("form");
    form.addEventListener("input", onFormInput);
    form.addEventListener("change", (ev) => {
      // selects and checkboxes fire change; text inputs already fired input
      if (ev.target.tagName === "SELECT" || ev.target.type === "checkbox") onFormInput(ev);
    });
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      compute();
    });
    $("model-config-file").addEventListener("change", onConfigFile);
    $("model-config-clear").addEventListener("click", () => {
      $("model-config").value = "";
      $("model-config-file").value = "";
      parseConfigText();
      schedule(0);
    });
    $("reset-button").addEventListener("click", () => {
      fillForm(state.defaults || {});
      searchGpus();
      schedule(0);
    });
    $("copy-command").addEventListener("click", copyCommand);
    $("command-link").addEventListener("click", (ev) => {
      ev.preventDefault();
      $("command").focus();
      $("command").scrollIntoView({ block: "center", behavior: "smooth" });
    });
    $("download-toml").addEventListener("click", downloadToml);
    $("compare-button").addEventListener("click", runCompare);
    for (const id of ["compare-gpus", "compare-counts"]) {
      $(id).addEventListener("keydown", (ev) => {
        if (ev.key === "Enter") {
          ev.preventDefault();
          runCompare();
        }
      });
    }
    window.addEventListener("resize", onResize);

    setStatus("loading", "");
    let options;
    try {
      options = await api("/api/options");
    } catch (e) {
      showTopError("Could not load /api/options from the traintime server: " + e.message);
      setStatus("error", "server unreachable");
      return;
    }
    state.defaults = options.defaults || {};
    state.choices = options.choices || {};
    for (const f of FIELDS) if (f.choices && state.choices[f.choices]) fillSelect(f.id, state.choices[f.choices]);
    fillForm(state.defaults);
    compute(); // the founding question, at once

    // the pickers' lists, while the first estimate runs
    api("/api/models").then((models) => {
      state.models = models;
      const list = clear($("model-list"));
      for (const m of models) {
        list.appendChild(h("option", { value: m.name }, m.family + " · " + fmtCount(m.params) + (m.active_params !== m.params ? " (" + fmtCount(m.active_params) + " active)" : "")));
      }
      updateModelInfo();
    }).catch(() => {});
    api("/api/systems").then((systems) => {
      state.systems = systems;
      const sel = $("system");
      const current = sel.value;
      for (const x of systems) {
        if (!Array.from(sel.options).some((o) => o.value === x.name)) sel.appendChild(h("option", { value: x.name }, x.name + " (" + x.gpus_per_node + " × " + x.gpu + ")"));
      }
      sel.value = current;
      updateSystemInfo();
    }).catch(() => {});
    searchGpus();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
