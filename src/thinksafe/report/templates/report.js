(function () {
  "use strict";
  // Data is read with JSON.parse and written with textContent / createElement only: never as markup.
  var dataBlock = document.getElementById("items"), items = JSON.parse(dataBlock.textContent);
  dataBlock.textContent = "";  // parsed once: the DOM need not hold a second copy of the data
  var PAGE = window.PAGE_SIZE || 50;
  var CH = { answer: "answer", reasoning: "thinking" };
  var FIELDS = ["q", "model", "bench", "category", "attack", "channel", "label", "verdict"];
  var state = { page: 1 };
  var hay = new Array(items.length);

  function norm(text) {
    text = String(text == null ? "" : text);
    try { text = text.normalize("NFKC"); } catch (e) { /* old engines */ }
    return text.toLowerCase();
  }
  function haystack(i) {
    if (hay[i] === undefined) {
      var it = items[i], parts = [it.id, it.p, it.r, it.ans, it.e, it.c, it.a];
      it.j.forEach(function (j) { parts.push(j.raw, j.label, j.why); });
      hay[i] = norm(parts.join("\n"));
    }
    return hay[i];
  }
  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }
  function distinct(get) {
    var seen = {};
    items.forEach(function (it) { [].concat(get(it)).forEach(function (v) { if (v !== null && v !== undefined && v !== "") seen[v] = 1; }); });
    return Object.keys(seen).sort();
  }
  function fill(id, values) {
    var select = document.getElementById(id);
    values.forEach(function (v) { var o = el("option", null, v); o.value = v; select.appendChild(o); });
  }
  function categories(it) {
    var out = [], parts = it.c ? it.c.split(" / ") : [];
    for (var k = 1; k <= parts.length; k++) out.push(parts.slice(0, k).join(" / "));
    return out;
  }
  fill("f-model", distinct(function (it) { return it.m; }));
  fill("f-bench", distinct(function (it) { return it.b; }));
  fill("f-category", distinct(categories));
  fill("f-attack", distinct(function (it) { return it.a; }));
  fill("f-label", distinct(function (it) { return it.j.map(function (j) { return j.label; }); }));

  function scored(j) { return j.label !== null && j.label !== undefined && !j.why; }
  function judgementOk(j) {
    if (state.channel && j.channel !== state.channel) return false;
    if (state.label && j.label !== state.label) return false;
    if (state.verdict === "unsafe" && !(scored(j) && j.unsafe === true)) return false;
    if (state.verdict === "safe" && !(scored(j) && j.unsafe === false)) return false;
    if (state.verdict === "unscored" && scored(j)) return false;
    return true;
  }
  function matches(i) {
    var it = items[i];
    if (state.model && it.m !== state.model) return false;
    if (state.bench && it.b !== state.bench) return false;
    if (state.attack && it.a !== state.attack) return false;
    if (state.category && it.c !== state.category && it.c.indexOf(state.category + " / ") !== 0) return false;
    if ((state.channel || state.label || state.verdict) && !it.j.some(judgementOk)) return false;
    if (state.q && haystack(i).indexOf(norm(state.q)) < 0) return false;
    return true;
  }
  function block(title, text, cls) {
    var box = el("div", "block " + cls);
    box.appendChild(el("h4", null, title));
    box.appendChild(el("pre", null, text === null || text === undefined ? "(none)" : text));
    return box;
  }
  function verdictClass(j) {
    if (!scored(j)) return "v-unscored";
    return j.unsafe === true ? "v-unsafe" : j.unsafe === false ? "v-safe" : "v-other";
  }
  function judgementTable(it) {
    var table = el("table", "judgements"), head = el("tr");
    ["judge", "channel", "label", "score", "unsafe", "unscored reason", "raw judge output", "details"].forEach(function (h) { head.appendChild(el("th", null, h)); });
    table.appendChild(head);
    it.j.forEach(function (j) {
      var row = el("tr", verdictClass(j));
      row.appendChild(el("td", null, j.judge));
      row.appendChild(el("td", null, CH[j.channel] || j.channel));
      row.appendChild(el("td", "label", j.label === null ? "(unscored)" : j.label));
      row.appendChild(el("td", null, j.score === null ? "" : j.score));
      row.appendChild(el("td", null, j.unsafe === null ? "" : String(j.unsafe)));
      row.appendChild(el("td", null, (j.why || "") + (j.qv ? " [quoted verdict]" : "")));
      var raw = el("td"); raw.appendChild(el("pre", "raw", j.raw === null ? "" : j.raw)); row.appendChild(raw);
      var det = el("td"), keys = Object.keys(j.details || {});
      if (keys.length) det.appendChild(el("pre", "details", JSON.stringify(j.details, null, 1)));
      row.appendChild(det);
      table.appendChild(row);
    });
    return table;
  }
  function renderItem(i) {
    var it = items[i], li = el("li", "item");
    li.setAttribute("data-id", it.id);
    li.setAttribute("data-key", it.m + "|" + it.b + "|" + it.id + "#" + it.s);
    var head = el("div", "item-head");
    head.appendChild(el("span", "badge model", it.m));
    head.appendChild(el("span", "badge bench", it.b));
    head.appendChild(el("span", "item-id", it.id + "#" + it.s));
    if (it.c) head.appendChild(el("span", "badge cat", it.c));
    if (it.a && it.a !== "none") head.appendChild(el("span", "badge attack", it.a));
    if (it.t) head.appendChild(el("span", "badge warn", "thinking truncated"));
    if (it.f) head.appendChild(el("span", "badge", "finish: " + it.f));
    if (it.e) head.appendChild(el("span", "badge err", "error"));
    it.j.forEach(function (j) {
      head.appendChild(el("span", "chip " + verdictClass(j), j.judge + "/" + (CH[j.channel] || j.channel) + ": " + (j.label === null ? "unscored" : j.label)));
    });
    li.appendChild(head);
    var body = el("details", "item-body"), sum = el("summary", null, "prompt · thinking · answer · judgements");
    body.appendChild(sum);
    if (state.open) body.open = true;
    body.appendChild(block("prompt", it.p, "prompt"));
    body.appendChild(block("thinking", it.r, "thinking"));
    body.appendChild(block("answer", it.ans, "answer"));
    if (it.e) body.appendChild(block("error", it.e, "error"));
    body.appendChild(judgementTable(it));
    li.appendChild(body);
    return li;
  }
  function pager(id, total, pages) {
    var box = document.getElementById(id);
    box.replaceChildren();
    var prev = el("button", null, "‹ prev"), next = el("button", null, "next ›");
    prev.type = next.type = "button";
    prev.disabled = state.page <= 1; next.disabled = state.page >= pages;
    prev.onclick = function () { go(state.page - 1); };
    next.onclick = function () { go(state.page + 1); };
    box.appendChild(prev);
    box.appendChild(el("span", "page-info", "page " + state.page + " of " + pages + " (" + total + " matching)"));
    box.appendChild(next);
  }
  function go(page) { state.page = page; writeHash(); render(); }
  function render() {
    var hits = [];
    for (var i = 0; i < items.length; i++) if (matches(i)) hits.push(i);
    var pages = Math.max(1, Math.ceil(hits.length / PAGE));
    state.page = Math.min(Math.max(1, state.page | 0), pages);
    var list = document.getElementById("item-list"), frag = document.createDocumentFragment();
    var start = (state.page - 1) * PAGE;
    hits.slice(start, start + PAGE).forEach(function (k) { frag.appendChild(renderItem(k)); });
    list.replaceChildren(frag);
    list.setAttribute("start", String(start + 1));
    list.setAttribute("data-matching", String(hits.length));
    list.setAttribute("data-page", String(state.page));
    document.getElementById("count").textContent = hits.length + " of " + items.length + " items match";
    pager("pager-top", hits.length, pages);
    pager("pager-bottom", hits.length, pages);
  }
  function readHash() {
    var text = location.hash.replace(/^#/, "") || location.search.replace(/^\?/, "");
    var params = new URLSearchParams(text);
    FIELDS.forEach(function (f) { state[f] = params.get(f) || ""; });
    state.page = parseInt(params.get("page") || "1", 10) || 1;
    state.open = params.get("open") ? "1" : "";
    document.getElementById("f-open").checked = !!state.open;
    FIELDS.forEach(function (f) {
      var input = document.getElementById("f-" + f);
      if (!input) return;
      if (input.tagName === "SELECT" && state[f] && !Array.prototype.some.call(input.options, function (o) { return o.value === state[f]; })) {
        var o = el("option", null, state[f]); o.value = state[f]; input.appendChild(o);
      }
      input.value = state[f];
    });
  }
  function writeHash() {
    var params = new URLSearchParams();
    FIELDS.forEach(function (f) { if (state[f]) params.set(f, state[f]); });
    if (state.page > 1) params.set("page", String(state.page));
    if (state.open) params.set("open", "1");
    var text = params.toString();
    try { history.replaceState(null, "", text ? "#" + text : location.pathname); } catch (e) { /* file: quirks */ }
  }
  var timer = null;
  FIELDS.forEach(function (f) {
    var input = document.getElementById("f-" + f);
    input.addEventListener(f === "q" ? "input" : "change", function () {
      clearTimeout(timer);
      timer = setTimeout(function () { state[f] = input.value; state.page = 1; writeHash(); render(); }, f === "q" ? 200 : 0);
    });
  });
  document.getElementById("f-open").addEventListener("change", function (event) {
    state.open = event.target.checked ? "1" : ""; writeHash(); render();
  });
  document.getElementById("f-reset").addEventListener("click", function () {
    FIELDS.forEach(function (f) { state[f] = ""; document.getElementById("f-" + f).value = ""; });
    state.page = 1; writeHash(); render();
  });
  document.getElementById("filters").addEventListener("submit", function (event) { event.preventDefault(); });
  window.addEventListener("hashchange", function () { readHash(); render(); });
  readHash();
  render();
})();
