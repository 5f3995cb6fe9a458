"use strict";
// The dashboard page: reads /ui/api/*, listens to /ui/api/events (server-sent events) and
// sends changes as JSON POSTs with the page's CSRF token. Text goes in with textContent only.
(function () {
  const CSRF = document.querySelector('meta[name="csrf-token"]').content;
  const $ = (id) => document.getElementById(id);
  const state = { range: "24h", metric: "requests", rows: new Map(), providers: [] };

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "class") node.className = value;
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? "" : String(value));
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  async function api(path, body) {
    const options = { credentials: "same-origin", headers: {} };
    if (body !== undefined) {
      options.method = "POST";
      options.headers["Content-Type"] = "application/json";
      options.headers["X-CSRF-Token"] = CSRF;
      options.body = JSON.stringify(body);
    }
    const response = await fetch(path, options);
    if (response.status === 401) {
      window.location.replace("/ui/login");
      throw new Error("sign in first");
    }
    const data = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error((data.error && data.error.message) || `HTTP ${response.status}`);
    return data;
  }

  const pad = (n) => String(n).padStart(2, "0");
  function clock(seconds) {
    const d = new Date(seconds * 1000);
    return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  }
  function ago(seconds) {
    const s = Math.round(seconds);
    if (s < 60) return `${s}s`;
    if (s < 3600) return `${Math.floor(s / 60)}m`;
    if (s < 86400) return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
    return `${Math.floor(s / 86400)}d ${Math.floor((s % 86400) / 3600)}h`;
  }
  function until(epoch) {
    if (!epoch) return "–";
    const left = epoch - Date.now() / 1000;
    const when = new Date(epoch * 1000).toLocaleString();
    return left > 0 ? `in ${ago(left)} (${when})` : `expired ${ago(-left)} ago`;
  }
  const ms = (v) => (v === null || v === undefined ? "–" : v >= 1000 ? `${(v / 1000).toFixed(2)} s` : `${Math.round(v)} ms`);

  // -- providers ------------------------------------------------------------------------------

  const STATE_LABELS = {
    ready: "ready", refreshing: "refreshing", starting: "starting", unauthenticated: "signed out",
    error: "error", disabled: "disabled",
  };

  function stateOf(p) {
    if (p.sign_in_progress && ["starting", "waiting"].includes(p.sign_in_progress.state)) return ["signing-in", "signing in"];
    if (p.circuit && p.circuit.state !== "closed") return ["circuit-open", "circuit open"];
    const reason = (p.reason || "").toLowerCase();
    if (p.state === "unauthenticated" && reason.includes("revoked")) return ["revoked", "revoked"];
    const lapsed = p.token_expires_at && p.token_expires_at < Date.now() / 1000;
    if (p.state === "unauthenticated" && (lapsed || reason.includes("expired"))) return ["expired", "expired"];
    if (reason.includes("rate limit")) return ["rate-limited", "rate limited"];
    return [p.state, STATE_LABELS[p.state] || p.state];
  }

  async function act(button, path, body) {
    button.disabled = true;
    try {
      await api(path, body || {});
    } catch (exc) {
      showProblem(button, exc.message);
    } finally {
      button.disabled = false;
      loadProviders();
    }
  }

  function showProblem(button, message) {
    const card = button.closest(".provider");
    const slot = card && card.querySelector(".action-error");
    if (slot) slot.textContent = message;
  }

  function signInBox(p) {
    const s = p.sign_in_progress;
    if (!s) return null;
    const cls = s.state === "done" ? "sign-in done" : s.state === "failed" ? "sign-in failed" : "sign-in";
    const box = el("div", { class: cls, "data-state": s.state });
    if (s.state === "waiting" && s.user_code) {
      box.append(
        el("div", {}, "Open ", el("a", { href: s.verification_uri, target: "_blank", rel: "noopener noreferrer", class: "verify-link" }, s.verification_uri), " and enter"),
        el("div", { class: "code", id: `signin-code-${p.name}` }, s.user_code),
      );
    }
    box.append(el("div", { class: "signin-message" }, s.message || s.state));
    return box;
  }

  function providerCard(p) {
    const [cls, label] = stateOf(p);
    const facts = el("dl", { class: "facts" });
    const fact = (name, value) => facts.append(el("dt", {}, name), el("dd", {}, value || "–"));
    fact("Account", p.account || (p.signed_in === false ? "not signed in" : null));
    fact("Endpoint", p.endpoint);
    fact("API version", p.api_version);
    fact("Plan", p.plan);
    fact("Token expires", p.token_expires_at ? until(p.token_expires_at) : null);
    fact("State since", p.since ? clock(p.since) : null);
    if (p.circuits) {
      const open = Object.entries(p.circuits).map(([target, c]) => `${target} (${c.state}, probe in ${Math.ceil(c.retry_in)} s)`);
      fact("Circuit open", open.join(", "));
    }
    const problem = p.reason && p.state !== "ready" && p.state !== "disabled"
      ? el("div", { class: p.state === "error" ? "problem bad" : "problem" },
        el("div", { class: "reason" }, p.reason),
        p.fix ? el("div", {}, "Fix: ", el("code", {}, p.fix)) : null)
      : null;
    const actions = el("div", { class: "actions" });
    const base = `/ui/api/providers/${encodeURIComponent(p.name)}`;
    if (p.enabled) {
      actions.append(el("button", { type: "button", class: "toggle", onclick: (e) => act(e.currentTarget, `${base}/disable`) }, "Disable"));
    } else {
      actions.append(el("button", { type: "button", class: "toggle primary", onclick: (e) => act(e.currentTarget, `${base}/enable`) }, "Enable"));
    }
    if (p.sign_in.includes("device")) {
      actions.append(el("button", { type: "button", class: "sign-in-device", onclick: (e) => act(e.currentTarget, `${base}/sign-in`) }, p.signed_in ? "Sign in again" : "Sign in"));
    }
    if (p.sign_in.includes("import")) {
      actions.append(
        el("button", { type: "button", class: "import-ide", onclick: (e) => act(e.currentTarget, `${base}/import`, { source: "ide" }) }, "Import from Kiro IDE"),
        el("button", { type: "button", class: "import-cli", onclick: (e) => act(e.currentTarget, `${base}/import`, { source: "cli" }) }, "Import from kiro-cli"),
      );
    }
    if (p.signed_in) {
      actions.append(el("button", { type: "button", class: "sign-out danger", onclick: (e) => act(e.currentTarget, `${base}/sign-out`) }, "Sign out"));
    }
    return el("article", { class: "provider", "data-name": p.name, "data-state": p.state },
      el("div", { class: "provider-head" },
        el("span", { class: "provider-name" }, p.name),
        el("span", { class: `badge state ${cls}` }, label)),
      facts, problem, signInBox(p), actions,
      el("div", { class: "action-error error small", role: "alert" }));
  }

  // The list reloads every 5 s and on every event. A node replaced under the pointer loses a
  // click whose press and release landed on different nodes, so what did not change stays
  // the same node: unchanged cards, and inside a changed card its unchanged parts (buttons).
  function showCards(cards) {
    const box = $("providers");
    const shown = new Map([...box.querySelectorAll(":scope > .provider")].map((c) => [c.dataset.name, c]));
    const next = cards.map((card) => {
      const was = shown.get(card.dataset.name);
      if (!was) return card;
      if (was.outerHTML !== card.outerHTML) {
        was.dataset.state = card.dataset.state;
        const free = [...was.children];
        patchChildren(was, [...card.children].map((c) => {
          const same = free.findIndex((w) => w.outerHTML === c.outerHTML);
          return same < 0 ? c : free.splice(same, 1)[0];
        }));
      }
      return was;
    });
    patchChildren(box, next);
  }

  // Make `parent`'s children `kids`, leaving the ones already in place untouched.
  function patchChildren(parent, kids) {
    kids.forEach((kid, i) => {
      const at = parent.children[i];
      if (at !== kid) parent.insertBefore(kid, at || null);
    });
    while (parent.children.length > kids.length) parent.lastElementChild.remove();
  }

  async function loadProviders() {
    try {
      const data = await api("/ui/api/overview");
      state.providers = data.providers;
      $("uptime").textContent = ago(data.uptime);
      $("active").textContent = data.active_requests;
      showCards(data.providers.map(providerCard));
    } catch (exc) {
      $("providers").replaceChildren(el("p", { class: "error" }, `cannot load providers: ${exc.message}`));
    }
  }

  // -- quota ----------------------------------------------------------------------------------

  async function loadQuotas() {
    let data;
    try {
      data = await api("/ui/api/quota");
    } catch (exc) {
      $("quotas").replaceChildren(el("p", { class: "error" }, exc.message));
      return;
    }
    const items = [];
    for (const [name, q] of Object.entries(data)) {
      if (!q) continue;
      if (q.error) {
        items.push(el("div", { class: "quota", "data-name": name }, el("div", {}, el("div", { class: "quota-title" }, name), el("div", { class: "error small" }, q.error))));
        continue;
      }
      const unit = q.unit || "requests";
      let gauge, line;
      if (q.unlimited) {
        gauge = Charts.gauge(0, "∞", "unlimited");
        line = `unlimited ${unit}`;
      } else if (typeof q.limit === "number" && typeof q.remaining === "number") {
        const used = Math.max(0, q.limit - q.remaining);
        gauge = Charts.gauge(q.limit ? used / q.limit : 0, `${Math.round(q.limit ? (100 * used) / q.limit : 0)}%`, "used");
        line = `${Charts.compact(used)} of ${Charts.compact(q.limit)} ${unit} used, ${Charts.compact(q.remaining)} left`;
      } else {
        gauge = Charts.gauge(0, "?", "unknown");
        line = `no ${unit} figures reported`;
      }
      items.push(el("div", { class: "quota", "data-name": name }, gauge,
        el("div", {},
          el("div", { class: "quota-title" }, name),
          el("div", { class: "small" }, line),
          el("div", { class: "muted small" }, q.resets_at ? `resets ${q.resets_at}` : "no reset date reported"))));
    }
    $("quotas").replaceChildren(...(items.length ? items : [el("p", { class: "muted" }, "No ready provider reports a quota.")]));
  }

  // -- usage charts ---------------------------------------------------------------------------

  // Copilot AI credits and Kiro credits are different units: each has its own chart.
  function valueOf(row, metric) {
    if (metric === "tokens") return row.input_tokens + row.output_tokens;
    if (metric === "copilot_credits") return row.model.startsWith("copilot/") ? row.credits : 0;
    if (metric === "kiro_credits") return row.model.startsWith("kiro/") ? row.credits : 0;
    return row[metric] || 0;
  }

  function bucketLabel(t, bucket) {
    const d = new Date(t * 1000);
    if (bucket < 86400) return `${pad(d.getHours())}:00`;
    return `${d.getMonth() + 1}/${d.getDate()}`;
  }

  async function loadUsage() {
    let data;
    try {
      data = await api(`/ui/api/usage?range=${state.range}`);
    } catch (exc) {
      $("usage-chart").replaceChildren(el("p", { class: "error" }, exc.message));
      return;
    }
    const models = [...new Set(data.rows.map((r) => r.model))].sort();
    const classes = new Map(models.map((m, i) => [m, `c${i % 8}`]));
    const starts = Array.from({ length: data.buckets }, (_, i) => data.since + i * data.bucket);
    const index = new Map(starts.map((t, i) => [Math.round(t), i]));
    const series = models.map((m) => ({ name: m, cls: classes.get(m), values: starts.map(() => 0) }));
    const totals = new Map(models.map((m) => [m, 0]));
    for (const row of data.rows) {
      const i = index.get(Math.round(row.t));
      const v = valueOf(row, state.metric);
      totals.set(row.model, totals.get(row.model) + v);
      if (i !== undefined) series[models.indexOf(row.model)].values[i] += v;
    }
    Charts.stacked($("usage-chart"), { labels: starts.map((t) => bucketLabel(t, data.bucket)), series });
    const metricName = document.querySelector(`#metric button[data-value="${state.metric}"]`).textContent;
    Charts.bars($("model-chart"), models.map((m) => ({ name: m, cls: classes.get(m), value: totals.get(m) })), `${metricName} by model`);
    $("usage-legend").replaceChildren(...models.map((m) => el("span", {}, el("i", { class: `swatch ${classes.get(m)}` }), m)));
  }

  function segmented(id, key) {
    $(id).addEventListener("click", (event) => {
      const button = event.target.closest("button");
      if (!button) return;
      for (const b of $(id).querySelectorAll("button")) b.classList.toggle("on", b === button);
      state[key] = button.dataset.value;
      loadUsage();
    });
  }

  // -- live requests --------------------------------------------------------------------------

  function pill(text, cls) { return el("span", { class: `pill ${cls}` }, text); }

  function liveRow(r) {
    const running = r.status === undefined;
    const status = running ? pill("running", "run") : pill(String(r.status), r.outcome === "ok" ? "ok" : "bad");
    const tokens = r.input_tokens === null || r.input_tokens === undefined ? "–" : `${r.input_tokens} / ${r.output_tokens}`;
    return el("tr", { "data-id": r.id, "data-status": running ? "running" : String(r.status), onclick: () => showRequest(r.id) },
      el("td", {}, clock(r.started_at)),
      el("td", {}, r.format || "–"),
      el("td", {}, r.model || "–"),
      el("td", {}, r.provider || "–"),
      el("td", {}, r.stream === undefined ? "–" : r.stream ? "yes" : "no"),
      el("td", {}, status),
      el("td", { class: "num" }, tokens),
      el("td", { class: "num" }, running ? "–" : ms(r.latency_ms)),
      el("td", { class: "num" }, running ? "–" : ms(r.ttfb_ms)));
  }

  function upsertRow(data) {
    const merged = { ...(state.rows.get(data.id) || {}), ...data };
    state.rows.set(data.id, merged);
    const body = $("live-table").tBodies[0];
    const row = liveRow(merged);
    const old = body.querySelector(`tr[data-id="${CSS.escape(data.id)}"]`);
    if (old) old.replaceWith(row);
    else body.prepend(row);
    while (body.rows.length > 200) {
      state.rows.delete(body.rows[body.rows.length - 1].dataset.id);
      body.deleteRow(body.rows.length - 1);
    }
    $("live-empty").hidden = true;
  }

  function ledgerValue(key, value) {
    if (value === null || value === undefined) return "–";
    if (key === "ts") return new Date(value * 1000).toLocaleString();
    if (key === "stream" || key.endsWith("_estimated")) return value ? "yes" : "no";
    if (typeof value === "number" && !Number.isInteger(value)) return value.toFixed(1);
    return String(value);
  }

  async function showRequest(id) {
    for (const tr of $("live-table").tBodies[0].rows) tr.classList.toggle("selected", tr.dataset.id === id);
    const box = $("request-detail");
    box.hidden = false;
    try {
      const row = await api(`/ui/api/requests/${encodeURIComponent(id)}`);
      const facts = el("dl", { class: "facts" });
      for (const [key, value] of Object.entries(row)) {
        facts.append(el("dt", {}, key), el("dd", {}, ledgerValue(key, value)));
      }
      box.replaceChildren(el("h2", {}, `Ledger row of ${id}`), facts);
    } catch (exc) {
      box.replaceChildren(el("p", { class: "muted" }, exc.message));
    }
  }

  let usageTimer = null;
  function connectEvents() {
    const source = new EventSource("/ui/api/events");
    const feed = $("feed-state");
    source.onopen = () => { feed.dataset.state = "live"; $("feed-label").textContent = "live"; };
    source.onerror = () => { feed.dataset.state = "down"; $("feed-label").textContent = "reconnecting"; };
    source.addEventListener("start", (e) => upsertRow(JSON.parse(e.data)));
    source.addEventListener("end", (e) => {
      upsertRow(JSON.parse(e.data));
      clearTimeout(usageTimer);
      usageTimer = setTimeout(() => { loadUsage(); loadProviders(); }, 800);
    });
    source.addEventListener("signin", () => loadProviders());
  }

  // -- logs -----------------------------------------------------------------------------------

  async function loadLogs() {
    const level = $("log-level").value;
    try {
      const data = await api(`/ui/api/logs?lines=200${level ? `&level=${level}` : ""}`);
      const box = $("logs");
      const atEnd = box.scrollTop + box.clientHeight >= box.scrollHeight - 8;
      box.replaceChildren(...data.lines.map((line) => {
        const match = / (DEBUG|INFO|WARNING|ERROR|CRITICAL) /.exec(line.slice(0, 40));
        return el("span", { class: match ? match[1] : "" }, line + "\n");
      }));
      if ($("log-follow").checked || atEnd) box.scrollTop = box.scrollHeight;
    } catch (exc) {
      $("logs").textContent = exc.message;
    }
  }

  // -- settings -------------------------------------------------------------------------------

  async function loadSettings() {
    const data = await api("/ui/api/settings");
    const form = $("settings");
    form.replaceChildren(...data.settings.map((s) => {
      const id = `setting-${s.key.replace(/[^a-z0-9]/gi, "-")}`;
      const input = s.choices
        ? el("select", { id, name: s.key }, ...s.choices.map((c) => el("option", { value: c, selected: c === s.value }, c)))
        : el("input", { id, name: s.key, type: "text", value: s.value });
      const save = el("button", { type: "button", class: "save", "data-key": s.key, onclick: () => saveSetting(s.key, input) }, "Save");
      return el("div", { class: "setting", "data-key": s.key }, el("label", { for: id }, s.key), input, save, s.help ? el("div", { class: "help" }, s.help) : null);
    }));
  }

  async function saveSetting(key, input) {
    const result = $("settings-result");
    result.className = "small";
    result.textContent = `saving ${key}…`;
    try {
      const data = await api("/ui/api/settings", { key, value: input.value });
      const restart = data.needs_restart && data.needs_restart.length ? `; restart needed for ${data.needs_restart.join(", ")}` : "";
      result.className = "small ok";
      result.textContent = `${key} = ${input.value} applied${restart}`;
      loadLogs();
    } catch (exc) {
      result.className = "small bad";
      result.textContent = exc.message;
    }
  }

  // -- start ----------------------------------------------------------------------------------

  $("logout").addEventListener("click", async () => {
    await api("/ui/logout", {});
    window.location.replace("/ui/login");
  });
  $("log-level").addEventListener("change", loadLogs);
  segmented("range", "range");
  segmented("metric", "metric");
  loadProviders();
  loadQuotas();
  loadUsage();
  loadLogs();
  loadSettings();
  connectEvents();
  setInterval(loadProviders, 5000);
  setInterval(loadQuotas, 60000);
  setInterval(() => { if ($("log-follow").checked) loadLogs(); }, 2000);
})();
