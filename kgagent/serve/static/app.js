// The page's behaviour: asks the service (the HTTP contract of `kgagent serve`), shows the
// answer with its citations, the cited facts, the reasoning path (graph.js), the SPARQL, a
// conversation's transcript and an entity's neighbourhood. Plain JS, no framework, nothing
// fetched from elsewhere. Everything the API returns is data from the user's graph: it only
// reaches the page through textContent / setAttribute (el() below), never as markup.
"use strict";

(() => {
  const KEY_STORE = "kgagent.apiKey";
  const ENTITY_LIMIT = 50;
  const $ = (id) => document.getElementById(id);

  const state = {
    busy: false,
    conversation: null, // the server-side conversation's id, made on the first turn
    record: null, // the answer on show
    facts: new Map(), // citation number -> FactRecord of that answer
  };

  // -- building elements (text only) -------------------------------------------------------

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "class") node.className = v;
      else node.setAttribute(k, String(v));
    }
    for (const c of children) if (c != null) node.append(c); // strings become text nodes
    return node;
  }

  const str = (value) => (value == null ? "" : String(value));

  // -- the API -----------------------------------------------------------------------------

  class ApiError extends Error {
    constructor(status, message, field, retryAfter) {
      super(message);
      this.status = status;
      this.field = field || null;
      this.retryAfter = retryAfter || null;
    }
  }

  // One request; resolves to the JSON body (null for 204), rejects with an ApiError built from
  // the contract's {"error": {status, message, field}}, or one saying what else went wrong.
  async function api(method, path, body) {
    const headers = { Accept: "application/json" };
    const key = sessionStorage.getItem(KEY_STORE);
    if (key) headers.Authorization = `Bearer ${key}`;
    const init = { method, headers };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(path, init);
    } catch (err) {
      throw new ApiError(0, `Could not reach the service (${err.message}).`);
    }
    if (response.status === 204) return null;
    const text = await response.text();
    let data = null;
    try {
      data = text ? JSON.parse(text) : null;
    } catch {
      data = null;
    }
    if (!response.ok) {
      const e = data && data.error;
      const retry = response.headers.get("Retry-After");
      if (e && typeof e.message === "string") {
        throw new ApiError(e.status || response.status, e.message, e.field, retry);
      }
      throw new ApiError(response.status, `${response.status} ${response.statusText}`.trim(), null, retry);
    }
    if (data === null) throw new ApiError(response.status, "The service's answer was not JSON.");
    return data;
  }

  // -- the error box -----------------------------------------------------------------------

  function showError(err) {
    const box = $("error");
    const head = err.status ? `Error ${err.status}` : "Error";
    // The service's messages usually start with the field they name: say it once.
    const named = err.field && !err.message.startsWith(`${err.field}:`) ? ` (${err.field})` : "";
    const parts = [el("strong", {}, head + named), ` ${err.message}`];
    if (err.retryAfter) parts.push(` Try again in ${err.retryAfter} s.`);
    if (err.note) parts.push(el("div", { class: "note" }, err.note));
    box.replaceChildren(...parts);
    box.hidden = false;
  }

  function clearError() {
    $("error").hidden = true;
    $("error").replaceChildren();
  }

  // -- the header: the graph behind the service -------------------------------------------

  async function loadInfo() {
    const info = $("info");
    try {
      const i = await api("GET", "/v1/info");
      const n = (x) => Number(x || 0).toLocaleString("en-US");
      const parts = [
        el("strong", {}, str(i.name)),
        ` · ${n(i.entities)} entities · ${n(i.facts)} facts · ${n(i.relations)} relations`,
      ];
      if (i.kind === "team") parts.push(` · a team of ${(i.members || []).map(str).join(", ")}`);
      parts.push(i.llm ? " · LLM on" : " · no LLM");
      if (i.version) parts.push(` · kgagent ${str(i.version)}`);
      info.replaceChildren(...parts);
    } catch (err) {
      info.textContent =
        err.status === 401 ? "Enter the API key to use this service." : `Graph info unavailable: ${err.message}`;
    }
  }

  // -- the answer --------------------------------------------------------------------------

  // The answer's text with each [n] a link to its cited fact (only numbers the record cites).
  function withCitations(text, live) {
    const out = document.createDocumentFragment();
    const cite = /\[(\d+)\]/g;
    let last = 0;
    let m;
    while ((m = cite.exec(text)) !== null) {
      out.append(text.slice(last, m.index));
      const n = Number(m[1]);
      if (live && state.facts.has(n)) {
        const a = el("a", { class: "cite", href: `#fact-${n}`, "data-fact": n }, `[${n}]`);
        a.addEventListener("click", (ev) => {
          ev.preventDefault();
          selectFact(n);
        });
        a.addEventListener("mouseenter", () => lightFact(n, true));
        a.addEventListener("mouseleave", () => lightFact(n, false));
        out.append(a);
      } else {
        out.append(m[0]);
      }
      last = cite.lastIndex;
    }
    out.append(text.slice(last));
    return out;
  }

  // Everything that shows one fact: its list item, its citations, its edges in the path.
  function factParts(n) {
    return document.querySelectorAll(`[data-fact="${Number(n)}"]`);
  }

  function lightFact(n, on) {
    for (const node of factParts(n)) node.classList.toggle("lit", on);
  }

  function selectFact(n) {
    for (const node of document.querySelectorAll(".selected")) node.classList.remove("selected");
    for (const node of factParts(n)) node.classList.add("selected");
    const item = $(`fact-${n}`);
    if (item) item.scrollIntoView({ block: "nearest", behavior: "smooth" });
  }

  function readAs(context) {
    const asked = (context.asked || []).map(str);
    const from = Number.isInteger(context.turn) ? `, from turn ${context.turn + 1}` : "";
    return el(
      "p",
      { class: "read-as" },
      el("span", { class: "muted" }, `Read as (${str(context.kind)}${from}): `),
      asked.join(" · ")
    );
  }

  function renderAnswer(record) {
    const meta = el("div", { class: "meta" });
    if (record.abstained) meta.append(el("span", { class: "badge abstained" }, "abstained"));
    meta.append(el("span", { class: "badge" }, str(record.kind || "entities")));
    const confidence = Number(record.confidence);
    if (Number.isFinite(confidence)) {
      meta.append(el("span", { class: "badge" }, `confidence ${(confidence * 100).toFixed(1)}%`));
    }
    if (Number.isFinite(Number(record.latency_ms))) {
      meta.append(el("span", { class: "muted" }, `${Math.round(record.latency_ms)} ms`));
    }
    const body = [meta];
    if (record.abstained) {
      body.push(
        el("p", { class: "abstained-note" }, "No answer: nothing in the graph supports one, so the agent abstained.")
      );
    }
    body.push(el("p", { id: "answer-text", class: "answer-text" }, withCitations(str(record.text), true)));
    if (record.context) body.push(readAs(record.context));
    $("answer").replaceChildren(...body);
    $("answer").classList.toggle("is-abstained", Boolean(record.abstained));
    $("answer-panel").hidden = false;
  }

  function renderFacts(records) {
    const items = records.map((f) => {
      const object = f.object_is_literal ? `“${str(f.object_label || f.object)}”` : str(f.object_label);
      const li = el(
        "li",
        { id: `fact-${Number(f.n)}`, "data-fact": Number(f.n) },
        el("span", { class: "num" }, `[${Number(f.n)}]`),
        el("span", { class: "text" }, str(f.text)),
        el(
          "span",
          { class: "triple muted" },
          el("span", { title: str(f.subject) }, str(f.subject_label)),
          " → ",
          el("span", { title: str(f.predicate) }, str(f.predicate_label)),
          " → ",
          el("span", { title: f.object_is_literal ? "" : str(f.object) }, object)
        )
      );
      li.addEventListener("mouseenter", () => lightFact(f.n, true));
      li.addEventListener("mouseleave", () => lightFact(f.n, false));
      li.addEventListener("click", () => selectFact(f.n));
      return li;
    });
    $("facts").replaceChildren(...items);
    if (!items.length) $("facts").append(el("li", { class: "muted empty" }, "No facts cited."));
    $("facts-panel").hidden = false;
  }

  function renderSparql(sparql) {
    const has = typeof sparql === "string" && sparql.trim() !== "";
    $("sparql-text").textContent = has ? sparql : "";
    $("sparql").hidden = !has;
  }

  // A failed ask hides the last answer: it would read as the answer to the new question.
  function hideRecord() {
    state.record = null;
    state.facts = new Map();
    for (const id of ["answer-panel", "facts-panel", "graph-panel", "sparql"]) $(id).hidden = true;
  }

  function showRecord(record) {
    state.record = record;
    const facts = Array.isArray(record.fact_records) ? record.fact_records : [];
    state.facts = new Map(facts.map((f) => [Number(f.n), f]));
    renderAnswer(record);
    renderFacts(facts);
    drawAnswerGraph();
    renderSparql(record.sparql);
  }

  // -- the graph ---------------------------------------------------------------------------

  function drawAnswerGraph() {
    const record = state.record;
    const graph = (record && record.graph) || { nodes: [], edges: [] };
    const layout = KGGraph.answerLayout(graph);
    for (const e of layout.edges) {
      const f = state.facts.get(Number(e.fact));
      e.label = str(e.label);
      if (f) e.title = `[${f.n}] ${str(f.text)}`;
    }
    for (const n of layout.nodes) n.label = str(n.label);
    $("graph-title").textContent = "Reasoning path";
    $("graph-back").hidden = true;
    $("graph-caption").textContent = layout.nodes.length
      ? "The question's topic on the left, the answers on the right. Click an entity to see its neighbourhood."
      : "No facts to draw.";
    KGGraph.draw($("graph"), layout, {
      label: "the answer's reasoning path",
      onNode: (n) => showEntity(n.id, n.label),
      onEdgeHover: lightFact,
    });
    $("graph-panel").hidden = false;
  }

  async function showEntity(iri, label) {
    clearError();
    try {
      const q = new URLSearchParams({ iri, limit: String(ENTITY_LIMIT) });
      const entity = await api("GET", `/v1/entity?${q}`);
      const layout = KGGraph.neighbourhoodLayout(entity);
      for (const n of layout.nodes) n.label = str(n.label);
      for (const e of layout.edges) e.label = str(e.label);
      const name = str(entity.label || label);
      const count = (entity.facts || []).length;
      const more = Number(entity.more) > 0 ? `; ${Number(entity.more)} more not shown` : "";
      $("graph-title").textContent = `Neighbourhood of ${name}`;
      $("graph-caption").textContent =
        `${count} fact${count === 1 ? "" : "s"}${more}: what points to it on the left, ` +
        "what it points to on the right. Click an entity to walk on.";
      $("graph-back").hidden = !state.record;
      KGGraph.draw($("graph"), layout, {
        label: `the neighbourhood of ${name}`,
        onNode: (n) => showEntity(n.id, n.label),
      });
      $("graph-panel").hidden = false;
    } catch (err) {
      showError(err);
    }
  }

  // -- conversations -----------------------------------------------------------------------

  function conversationOn() {
    return $("conversation-toggle").checked;
  }

  function addTurn(record) {
    const turn = Number.isInteger(record.turn) ? record.turn + 1 : $("transcript").children.length + 1;
    const li = el(
      "li",
      { class: "turn", "data-turn": turn },
      el("div", { class: "q" }, el("span", { class: "who" }, `${turn}. You`), str(record.question))
    );
    if (record.context) li.append(readAs(record.context));
    const a = el("div", { class: "a" }, el("span", { class: "who" }, "Agent"), str(record.text));
    if (record.abstained) a.classList.add("is-abstained");
    li.append(a);
    $("transcript").append(li);
  }

  // Forgets the conversation here and on the server (best effort: it expires there anyway).
  function endConversation() {
    const id = state.conversation;
    state.conversation = null;
    if (id) api("DELETE", `/v1/conversations/${encodeURIComponent(id)}`).catch(() => {});
    $("transcript").replaceChildren();
  }

  function showConversationMode() {
    const on = conversationOn();
    $("transcript-panel").hidden = !on;
    $("new-conversation").hidden = !on;
    if (!on) endConversation();
  }

  // -- asking ------------------------------------------------------------------------------

  function setBusy(busy) {
    state.busy = busy;
    $("ask").disabled = busy;
    $("busy").hidden = !busy;
  }

  async function ask(question) {
    if (!conversationOn()) return api("POST", "/v1/ask", { question });
    if (!state.conversation) {
      const made = await api("POST", "/v1/conversations", {});
      state.conversation = str(made.id);
    }
    const path = `/v1/conversations/${encodeURIComponent(state.conversation)}/turns`;
    try {
      const record = await api("POST", path, { question });
      addTurn(record);
      return record;
    } catch (err) {
      if (err.status === 404) {
        state.conversation = null;
        err.note = "The conversation is gone (it expired); the next question starts a new one.";
      }
      throw err;
    }
  }

  async function onAsk(ev) {
    ev.preventDefault();
    if (state.busy) return;
    clearError();
    const question = $("question").value;
    if (!question.trim()) {
      // Nothing to send: the agent would only abstain (the service may allow it).
      hideRecord();
      showError(new ApiError(0, "Type a question first.", "question"));
      $("question").focus();
      return;
    }
    setBusy(true);
    try {
      showRecord(await ask(question));
      $("question").select();
    } catch (err) {
      hideRecord();
      showError(err);
    } finally {
      setBusy(false);
    }
  }

  async function copySparql() {
    const text = $("sparql-text").textContent;
    const button = $("sparql-copy");
    try {
      await navigator.clipboard.writeText(text);
    } catch {
      // No clipboard API (an insecure origin): copy the selection the old way.
      const range = document.createRange();
      range.selectNodeContents($("sparql-text"));
      const selection = window.getSelection();
      selection.removeAllRanges();
      selection.addRange(range);
      document.execCommand("copy");
    }
    button.textContent = "Copied";
    setTimeout(() => (button.textContent = "Copy"), 1500);
  }

  // -- start -------------------------------------------------------------------------------

  function start() {
    const key = $("api-key");
    key.value = sessionStorage.getItem(KEY_STORE) || "";
    key.addEventListener("input", () => {
      if (key.value) sessionStorage.setItem(KEY_STORE, key.value);
      else sessionStorage.removeItem(KEY_STORE);
    });
    key.addEventListener("change", loadInfo);
    $("ask-form").addEventListener("submit", onAsk);
    $("conversation-toggle").addEventListener("change", showConversationMode);
    $("new-conversation").addEventListener("click", () => {
      endConversation();
      clearError();
      $("question").focus();
    });
    $("graph-back").addEventListener("click", drawAnswerGraph);
    $("sparql-copy").addEventListener("click", copySparql);
    showConversationMode();
    loadInfo();
    $("question").focus();
  }

  document.addEventListener("DOMContentLoaded", start);
})();
