// The TreeBeard dev console. No library, no build step: it renders the data
// embedded in the page, then follows /_treebeard/events. Text goes in with
// textContent only, never as HTML.
"use strict";
(function () {
  const BASE = "/_treebeard";
  const $ = (id) => document.getElementById(id);
  let data = {};
  try { data = JSON.parse($("tb-data").textContent) || {}; } catch (e) { data = {}; }
  const capacity = (data.usage && data.usage.capacity) || 500;
  const requests = new Map(); // seq -> summary
  let order = []; // seqs, oldest first
  let selectedId = null;
  let selectedSeq = null;

  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "class") e.className = v;
      else e.setAttribute(k, v);
    }
    for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(c == null ? "" : String(c)));
    return e;
  }
  function svg(tag, attrs) {
    const e = document.createElementNS("http://www.w3.org/2000/svg", tag);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
    return e;
  }
  function us(v) {
    if (v == null) return "…";
    if (v < 1000) return v + " µs";
    if (v < 1e6) return (v / 1000).toFixed(1) + " ms";
    return (v / 1e6).toFixed(2) + " s";
  }
  function time(ms) {
    const d = new Date(ms);
    return d.toLocaleTimeString([], { hour12: false }) + "." + String(d.getMilliseconds()).padStart(3, "0");
  }
  function statusClass(s) {
    return !s ? "s-none" : s >= 500 ? "s5xx" : s >= 400 ? "s4xx" : "s2xx";
  }

  function addRequests(list) {
    for (const r of list || []) {
      if (!requests.has(r.seq)) { requests.set(r.seq, r); order.push(r.seq); }
    }
    order.sort((a, b) => a - b);
    while (order.length > capacity) requests.delete(order.shift());
    renderList();
  }

  function renderList() {
    const rows = order.slice().reverse().map((seq) => {
      const r = requests.get(seq);
      const tr = el("tr", {
        class: statusClass(r.status) + (r.seq === selectedSeq || (selectedSeq == null && r.request_id === selectedId) ? " selected" : ""),
        "data-request-id": r.request_id,
        "data-seq": String(r.seq),
      },
        el("td", {}, time(r.started_ms)), el("td", {}, r.method), el("td", { class: "route" }, r.route),
        el("td", {}, r.status == null ? "—" : r.status), el("td", { class: "num" }, us(r.latency_us)),
        el("td", { class: "id", title: r.request_id }, r.request_id), el("td", { class: "err" }, r.error || ""));
      tr.addEventListener("click", () => select(r.request_id, r.seq));
      return tr;
    });
    $("requests").tBodies[0].replaceChildren(...rows);
    const u = data.usage;
    if (u) $("usage").textContent = `${order.length} requests shown · buffer keeps ${u.capacity} requests / ${(u.max_bytes / 1048576).toFixed(0)} MiB`;
  }

  async function select(id, seq) {
    selectedId = id;
    selectedSeq = seq == null ? null : seq;
    const q = seq == null ? "" : "?seq=" + seq;
    history.replaceState(null, "", "?select=" + encodeURIComponent(id) + (seq == null ? "" : "&seq=" + seq));
    renderList();
    try {
      const res = await fetch(BASE + "/api/requests/" + encodeURIComponent(id) + q);
      renderDetail(res.ok ? await res.json() : null, id);
    } catch (e) {
      renderDetail(null, id);
    }
  }

  function tags(list) {
    return (list || []).map(([k, v]) => k + "=" + v).join("  ");
  }

  function renderDetail(r, id) {
    const box = $("detail-body");
    if (!r) {
      box.replaceChildren(el("p", { class: "hint" }, id ? `Request ${id} is no longer kept.` : "Select a request."));
      return;
    }
    const parts = [el("p", { class: "summary", id: "selected", "data-request-id": r.request_id },
      `${r.method} ${r.route} → ${r.status == null ? "no response" : r.status} in ${us(r.latency_us)} · ${r.request_id}` +
      (r.dropped ? ` · ${r.dropped} spans/lines over the per-request bound` : ""))];
    if (r.error) {
      parts.push(el("div", { class: "error", id: "error", "data-kind": r.error.kind },
        el("h3", {}, r.error.kind), el("p", { class: "message" }, r.error.message),
        r.error.stack ? el("pre", {}, r.error.stack) : ""));
    }
    // Spans in tree order, children by start time, each with its depth.
    const children = r.spans.map(() => []);
    const roots = [];
    r.spans.forEach((s, i) => ((s.parent == null || !children[s.parent]) ? roots : children[s.parent]).push(i));
    const rows = [];
    const walk = (i, depth) => {
      rows.push([i, depth]);
      children[i].sort((a, b) => r.spans[a].start_us - r.spans[b].start_us).forEach((c) => walk(c, depth + 1));
    };
    roots.forEach((i) => walk(i, 0));
    const total = Math.max(1, r.latency_us, ...r.spans.map((s) => s.start_us + (s.duration_us || 0)));
    const spanRows = rows.map(([i, depth]) => {
      const s = r.spans[i];
      const isError = (s.tags || []).some(([k]) => k === "error.type" || k === "error.message");
      const label = el("div", { class: "label" }, el("span", { class: "name" }, s.name),
        el("span", { class: "resource" }, s.resource), el("span", { class: "duration" }, us(s.duration_us)));
      label.style.paddingLeft = depth * 16 + "px";
      const bar = el("div", { class: "bar" });
      bar.style.left = (100 * s.start_us / total) + "%";
      bar.style.width = (100 * (s.duration_us || 0) / total) + "%";
      return el("div", { class: "span", "data-depth": String(depth), "data-name": s.name, "data-error": String(isError) },
        label, el("div", { class: "track" }, bar), el("div", { class: "tags" }, tags(s.tags)));
    });
    parts.push(el("h3", {}, "Spans"), el("div", { id: "waterfall" }, ...spanRows));
    const lines = r.logs.map((l) => el("tr", { class: "line" },
      el("td", { class: "num" }, "+" + us(l.offset_us)), el("td", { class: "level-" + l.level }, l.level),
      el("td", {}, l.message), el("td", {}, tags(l.fields))));
    parts.push(el("h3", {}, `Log lines (${r.logs.length})`),
      el("table", { class: "logs", id: "logs" }, el("tbody", {}, ...lines)));
    box.replaceChildren(...parts);
  }

  function chart(route) {
    const w = 160, h = 28, n = route.per_minute.length;
    const maxCount = Math.max(1, ...route.per_minute);
    const maxP95 = Math.max(1, ...route.p95_per_minute);
    const s = svg("svg", { width: w, height: h, viewBox: `0 0 ${w} ${h}`, role: "img" });
    const bw = w / n;
    route.per_minute.forEach((c, i) => {
      const bh = (h - 2) * c / maxCount;
      s.append(svg("rect", { x: i * bw + 1, y: h - bh, width: bw - 2, height: bh }));
    });
    // The p95 line joins the minutes that had requests only.
    const points = route.p95_per_minute.map((p, i) => route.per_minute[i] ? `${i * bw + bw / 2},${h - 1 - (h - 4) * p / maxP95}` : "")
      .filter(Boolean).join(" ");
    s.append(svg("polyline", { points }));
    const title = svg("title", {});
    title.textContent = `requests per minute: ${route.per_minute.join(", ")}; p95 µs: ${route.p95_per_minute.join(", ")}`;
    s.append(title);
    return s;
  }

  function renderRoutes(routes) {
    const rows = (routes || []).map((r) => {
      const cell = el("td", {});
      cell.append(chart(r));
      return el("tr", { "data-route": r.route }, el("td", {}, r.route), el("td", { class: "num" }, r.rate.toFixed(2)),
        el("td", { class: "num" }, r.count), el("td", { class: "num" }, us(r.p50_us)),
        el("td", { class: "num" }, us(r.p95_us)), el("td", { class: "num" }, us(r.p99_us)), cell);
    });
    $("routes").tBodies[0].replaceChildren(...rows);
  }

  function live() {
    const last = order.length ? order[order.length - 1] : 0;
    const events = new EventSource(BASE + "/events?after=" + last);
    events.onopen = () => { $("live").textContent = "live"; };
    events.onerror = () => { $("live").textContent = "reconnecting…"; };
    events.onmessage = (e) => {
      let update;
      try { update = JSON.parse(e.data); } catch (err) { return; }
      addRequests(update.requests);
      renderRoutes(update.routes);
    };
  }

  addRequests(data.requests);
  renderRoutes(data.routes);
  const params = new URLSearchParams(location.search);
  const wanted = params.get("select") || decodeURIComponent(location.hash.slice(1)) || null;
  const wantedSeq = params.get("seq") ? Number(params.get("seq")) : null;
  if (data.selected && data.selected.request_id === wanted) {
    selectedId = wanted;
    selectedSeq = data.selected.seq;
    renderList();
    renderDetail(data.selected);
  } else if (wanted) {
    select(wanted, wantedSeq);
  }
  live();
})();
