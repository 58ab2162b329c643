/* FlowSentinel live dashboard.
 *
 * Speaks the contract in docs/live.md: a WebSocket /ws/live (hello, then update
 * frames of verdicts, alerts and Stats) and the REST API under /api/v1.  No
 * libraries, no network access beyond this origin; charts are plain canvas.
 *
 * Rules this file keeps:
 * - untrusted strings (flow ids, labels, notes, feature names) only ever reach
 *   the page through textContent / element properties, never innerHTML;
 * - frames are applied to in-memory state as they arrive, the DOM and canvases
 *   are redrawn at most 10 times a second, and tables reuse a fixed pool of rows;
 * - on reconnect (exponential backoff) alerts missed while away are fetched with
 *   GET /api/v1/alerts?after_id=.
 */
(() => {
  "use strict";

  const MAX_VERDICT_ROWS = 200;     // live verdict table
  const MAX_DISAGREE_ROWS = 100;    // disagreement list
  const MAX_ALERT_ROWS = 200;       // alert feed rows shown
  const MAX_ALERTS_KEPT = 2000;     // alerts held in memory for filtering
  const STREAM_POINTS = 300;        // score-stream dots per detector
  const RENDER_MS = 100;            // at most 10 redraws a second
  const BACKOFF_MIN_MS = 500;
  const BACKOFF_MAX_MS = 15000;
  const TRENDS_MINUTES = 60;
  const TRENDS_REFRESH_MS = 60000;
  const BACKFILL_PAGE = 500;
  const BACKFILL_MAX_PAGES = 10;
  const BACKFILL_MIN_GAP_MS = 1000;  // between backfill passes

  const FAMILY_COLORS = {
    "Normal": "#8a9bb0", "DoS": "#ff5d6c", "DDoS": "#ff8a3d", "PortScan": "#f5d04c",
    "Brute Force": "#b08cff", "Web Attack": "#4cc2ff", "Botnet": "#3ecf8e",
    "Infiltration": "#ff6bd6", "Heartbleed": "#f2f2f2", "unlabelled": "#5a7a99",
  };
  const EXTRA_COLORS = ["#c9a86a", "#6ad1c9", "#d18a6a", "#9ad16a", "#6a8ad1", "#d16aa8"];
  const C = { ok: "#3ecf8e", bad: "#ff5d6c", warn: "#f5b14c", accent: "#4cc2ff", muted: "#7f8fa3", line: "#233040", text: "#d6dee8" };

  // ---------------------------------------------------------------- helpers
  const $ = (id) => document.getElementById(id);

  /** Create an element; text goes through textContent, never parsed as HTML. */
  function el(tag, cls, text) {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function setText(node, text) {
    const s = text === undefined || text === null ? "" : String(text);
    const first = node.firstChild;
    if (first && first === node.lastChild && first.nodeType === 3) {
      if (first.data !== s) first.data = s;       // reuse the text node: no garbage per update
    } else if (node.textContent !== s) {
      node.textContent = s;
    }
  }

  function setClass(node, cls) {
    if (node.className !== cls) node.className = cls;
  }

  const nf0 = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 });
  const nf1 = new Intl.NumberFormat("en-US", { maximumFractionDigits: 1 });
  function fmtInt(n) { return n === null || n === undefined || Number.isNaN(n) ? "–" : nf0.format(n); }
  function fmtRate(n) {
    if (n === null || n === undefined || !Number.isFinite(n)) return "–";
    if (n >= 10000) return nf1.format(n / 1000) + "k";
    return nf1.format(n);
  }
  function fmtMs(n) {
    if (n === null || n === undefined || !Number.isFinite(n)) return "–";
    return n < 10 ? n.toFixed(2) : n < 100 ? n.toFixed(1) : n.toFixed(0);
  }
  function fmtScore(s) { return typeof s === "number" && Number.isFinite(s) ? s.toFixed(3) : "–"; }
  function fmtPct(x) { return typeof x === "number" && Number.isFinite(x) ? (x * 100).toFixed(1) + "%" : "n/a"; }
  function pad2(n) { return n < 10 ? "0" + n : String(n); }
  function fmtTime(epoch) {
    if (typeof epoch !== "number" || !Number.isFinite(epoch)) return "–";
    const d = new Date(epoch * 1000);
    return pad2(d.getHours()) + ":" + pad2(d.getMinutes()) + ":" + pad2(d.getSeconds());
  }
  function fmtDateTime(epoch) {
    if (typeof epoch !== "number" || !Number.isFinite(epoch)) return "–";
    const d = new Date(epoch * 1000);
    return d.getFullYear() + "-" + pad2(d.getMonth() + 1) + "-" + pad2(d.getDate()) + " " + fmtTime(epoch);
  }
  function fmtDuration(s) {
    if (typeof s !== "number" || !Number.isFinite(s)) return "–";
    s = Math.floor(s);
    const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
    return h > 0 ? h + "h" + pad2(m) + "m" : m > 0 ? m + "m" + pad2(sec) + "s" : sec + "s";
  }
  const STATUS_SHORT = { new: "new", acknowledged: "ack", false_positive: "FP" };
  const PROTO = { 6: "tcp", 17: "udp", 1: "icmp" };
  function fmtFlow(v) {
    const proto = PROTO[v.protocol] || (v.protocol ?? "?");
    const src = (v.src_ip ?? "?") + (v.src_port !== null && v.src_port !== undefined ? ":" + v.src_port : "");
    const dst = (v.dst_ip ?? "?") + (v.dst_port !== null && v.dst_port !== undefined ? ":" + v.dst_port : "");
    return src + " → " + dst + " " + proto;
  }
  /** Compact flow for table cells: source address → destination address:port (the full id goes in the tooltip). */
  function fmtFlowShort(v) {
    return (v.src_ip ?? "?") + " → " + fmtDst(v);
  }
  function flowTitle(v) {
    return (v.flow_id ? v.flow_id + "\n" : "") + fmtFlow(v);
  }
  function fmtDst(v) {
    return (v.dst_ip ?? "?") + (v.dst_port !== null && v.dst_port !== undefined ? ":" + v.dst_port : "");
  }
  function isBenignLabel(label) { return typeof label === "string" && /^(benign|normal)$/i.test(label.trim()); }
  function familyOf(rec) { return rec.family ?? "unlabelled"; }
  function familyColor(f) {
    if (FAMILY_COLORS[f]) return FAMILY_COLORS[f];
    let h = 0;
    for (let i = 0; i < f.length; i++) h = (h * 31 + f.charCodeAt(i)) >>> 0;
    return EXTRA_COLORS[h % EXTRA_COLORS.length];
  }
  function metricClass(x) {
    if (typeof x !== "number" || !Number.isFinite(x)) return "v na";
    return x >= 0.9 ? "v good" : x >= 0.7 ? "v mid" : "v poor";
  }

  // ------------------------------------------------------------ token / API
  /** The API token, from the page URL's #token= fragment (never sent in a query to REST). */
  function readToken() {
    // not URLSearchParams: it would turn a "+" in the token into a space
    const m = /(?:^|&)token=([^&]*)/.exec(location.hash.replace(/^#/, ""));
    if (!m) return "";
    try { return decodeURIComponent(m[1]); } catch (_) { return m[1]; }
  }
  const TOKEN = readToken();

  async function api(path, options = {}) {
    const headers = Object.assign({ "Accept": "application/json" }, options.headers || {});
    if (TOKEN) headers["Authorization"] = "Bearer " + TOKEN;
    if (options.body !== undefined) headers["Content-Type"] = "application/json";
    const resp = await fetch(path, {
      method: options.method || "GET",
      headers,
      body: options.body !== undefined ? JSON.stringify(options.body) : undefined,
      cache: "no-store",
      credentials: "same-origin",
    });
    if (!resp.ok) {
      let detail = "";
      try {
        const body = await resp.json();
        detail = typeof body.detail === "string" ? body.detail : JSON.stringify(body.detail ?? body);
      } catch (_) { /* not JSON */ }
      if (resp.status === 401) showAuthBanner();
      const err = new Error(resp.status + " " + resp.statusText + (detail ? ": " + detail : ""));
      err.status = resp.status;
      throw err;
    }
    return resp.json();
  }

  function wsUrl() {
    const proto = location.protocol === "https:" ? "wss:" : "ws:";
    let url = proto + "//" + location.host + "/ws/live";
    if (TOKEN) url += "?token=" + encodeURIComponent(TOKEN);
    return url;
  }

  // ------------------------------------------------------------------ state
  const S = {
    detectors: [],
    thresholds: {},
    labelled: false,
    source: null,
    stats: null,
    serverSkew: 0,               // server epoch - local epoch, seconds
    lastSeq: -1,
    verdicts: [],                // newest first
    disagreements: [],           // newest first
    streams: {},                 // detector -> [{s, hit, wrong}] oldest first
    seen: 0, agreed: 0,          // verdicts seen on this page, and how many agreed
    aloneOrYes: {},              // detector -> disagreements where it said attack
    rightInDisagreement: {},     // detector -> disagreements where it matched the label
    alerts: new Map(),           // id -> alert
    maxAlertId: 0,
    gapFloor: null,              // the first alert id this page held: above it, every id must be held
    backfillFrom: null,          // pending backfill: fetch every alert after this id
    backfillRunning: false,
    lastBackfill: 0,             // Date.now() of the last backfill pass
    backfillTo: 0,               // pending backfill: up to this id at least (the server's newest on reconnect)
    families: new Set(),
    trend: new Map(),            // epoch minute -> Map(family -> count)
    offline: {},                 // detector -> bundle test metrics
    framesIn: 0,
    framesDroppedForMe: 0,
    selectedAlert: null,
    dirty: { stats: false, verdicts: false, alerts: false, trends: false, detectors: false },
  };
  const panels = {};             // detector -> {root, kpi..., hist, stream, updates}

  // ------------------------------------------------------------ row pools
  /** A tbody whose rows are created once and reused: render() rewrites text only where it changed. */
  class RowPool {
    constructor(tbody, ncols, max, onClick) {
      this.tbody = tbody; this.ncols = ncols; this.max = max; this.rows = [];
      this.onClick = onClick;
      if (onClick) {
        tbody.addEventListener("click", (ev) => {
          const tr = ev.target.closest("tr");
          if (tr && tr._item !== undefined) onClick(tr._item);
        });
        tbody.addEventListener("keydown", (ev) => {   // rows are focusable: Enter opens, like a click
          const tr = ev.target.closest("tr");
          if (ev.key === "Enter" && tr && tr._item !== undefined) onClick(tr._item);
        });
      }
    }
    setColumns(ncols) {
      if (ncols === this.ncols) return;
      this.ncols = ncols;
      this.rows = [];
      this.tbody.replaceChildren();
    }
    row(i) {
      while (this.rows.length <= i) {
        const tr = el("tr", this.onClick ? "clickable" : "");
        if (this.onClick) tr.tabIndex = 0;
        const tds = [];
        for (let c = 0; c < this.ncols; c++) { const td = el("td"); tds.push(td); tr.appendChild(td); }
        this.tbody.appendChild(tr);
        this.rows.push({ tr, tds, cls: null });
      }
      return this.rows[i];
    }
    /** fill(cell, item) is called for each item with cell(i, text, cls, title). */
    render(items, fill) {
      const n = Math.min(items.length, this.max);
      for (let i = 0; i < n; i++) {
        const r = this.row(i);
        const item = items[i];
        r.tr._item = item;
        if (r.tr.hidden) r.tr.hidden = false;
        const rowCls = fill((c, text, cls, title) => {
          const td = r.tds[c];
          setText(td, text);
          setClass(td, cls || "");
          const t = title || "";
          if (td.title !== t) td.title = t;
        }, item);
        const want = (this.onClick ? "clickable " : "") + (rowCls || "");
        if (r.cls !== want) { r.tr.className = want; r.cls = want; }
      }
      for (let i = n; i < this.rows.length; i++) {
        if (!this.rows[i].tr.hidden) { this.rows[i].tr.hidden = true; this.rows[i].tr._item = undefined; }
      }
    }
  }

  const verdictPool = new RowPool($("verdicts-body"), 4, MAX_VERDICT_ROWS, null);
  const disagreePool = new RowPool($("agree-body"), 3, MAX_DISAGREE_ROWS, null);
  const alertPool = new RowPool($("alerts-body"), 7, MAX_ALERT_ROWS, (a) => openDrawer(a.id));

  function setHead(rowId, cols) {
    const tr = $(rowId);
    tr.replaceChildren(...cols.map(([name, cls, width]) => {
      const th = el("th", cls || "", name);
      if (width) th.style.width = width;
      return th;
    }));
  }

  // -------------------------------------------------------------- canvases
  /** Size a canvas's backing store to its CSS box (device pixels); returns [ctx, w, h] in CSS px. */
  function prepCanvas(canvas) {
    const dpr = window.devicePixelRatio || 1;
    const w = Math.max(1, canvas.clientWidth), h = Math.max(1, canvas.clientHeight);
    const bw = Math.round(w * dpr), bh = Math.round(h * dpr);
    if (canvas.width !== bw || canvas.height !== bh) { canvas.width = bw; canvas.height = bh; }
    const ctx = canvas.getContext("2d");
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, w, h);
    return [ctx, w, h];
  }

  /** 20-bin confidence histogram (sqrt y scale so the rare high-score bins stay visible). */
  function drawHistogram(canvas, counts, threshold) {
    const [ctx, w, h] = prepCanvas(canvas);
    const padL = 4, padR = 4, padT = 12, padB = 14;
    const pw = w - padL - padR, ph = h - padT - padB;
    ctx.font = "10px DejaVu Sans Mono, monospace";
    ctx.fillStyle = C.muted;
    ctx.textBaseline = "alphabetic";
    ctx.fillText("0", padL, h - 3);
    ctx.textAlign = "center"; ctx.fillText("0.5", padL + pw / 2, h - 3);
    ctx.textAlign = "right"; ctx.fillText("1", w - padR, h - 3);
    ctx.textAlign = "left";
    if (!Array.isArray(counts) || counts.length === 0) {
      ctx.fillText("waiting for scores…", padL + 4, padT + ph / 2);
      return 0;
    }
    const n = counts.length;
    let max = 0, total = 0;
    for (const c of counts) { max = Math.max(max, c || 0); total += c || 0; }
    const scale = max > 0 ? Math.sqrt(max) : 1;
    const bw = pw / n;
    for (let i = 0; i < n; i++) {
      const c = counts[i] || 0;
      if (c <= 0) continue;
      const bh = Math.max(1, (Math.sqrt(c) / scale) * ph);
      const lo = i / n;
      ctx.fillStyle = typeof threshold === "number" && lo + 1 / n > threshold ? C.bad : C.accent;
      ctx.fillRect(padL + i * bw + 0.5, padT + ph - bh, Math.max(1, bw - 1), bh);
    }
    if (typeof threshold === "number") {
      const x = padL + threshold * pw;
      ctx.strokeStyle = "#ffffff"; ctx.setLineDash([3, 2]); ctx.lineWidth = 1;
      ctx.beginPath(); ctx.moveTo(x, padT - 2); ctx.lineTo(x, padT + ph); ctx.stroke(); ctx.setLineDash([]);
    }
    ctx.fillStyle = C.muted; ctx.textAlign = "right";
    ctx.fillText("n=" + fmtInt(total) + " · √ scale", w - padR, 9);
    ctx.textAlign = "left";
    return total;
  }

  /** Recent scores, one dot per flow, newest on the right; threshold dashed. */
  function drawStream(canvas, points, threshold, labelled) {
    const [ctx, w, h] = prepCanvas(canvas);
    const padL = 4, padR = 4, padT = 12, padB = 14;
    const pw = w - padL - padR, ph = h - padT - padB;
    ctx.font = "10px DejaVu Sans Mono, monospace";
    ctx.fillStyle = C.muted;
    ctx.fillStyle = C.bad; ctx.fillText("■ alert", padL, 9);
    if (labelled) { ctx.fillStyle = C.warn; ctx.fillText("■ wrong vs label", padL + 52, 9); }
    ctx.fillStyle = C.muted;
    ctx.fillText("older", padL, h - 3);
    ctx.textAlign = "right"; ctx.fillText("now", w - padR, h - 3); ctx.textAlign = "left";
    if (typeof threshold === "number") {
      const y = padT + (1 - threshold) * ph;
      ctx.strokeStyle = "rgba(255,255,255,.6)"; ctx.setLineDash([3, 2]);
      ctx.beginPath(); ctx.moveTo(padL, y); ctx.lineTo(w - padR, y); ctx.stroke(); ctx.setLineDash([]);
    }
    const n = points.length;
    if (n === 0) return;
    const step = pw / Math.max(STREAM_POINTS - 1, 1);
    const x0 = padL + pw - (n - 1) * step;
    for (let i = 0; i < n; i++) {
      const p = points[i];
      const x = x0 + i * step, y = padT + (1 - Math.min(1, Math.max(0, p.s))) * ph;
      ctx.fillStyle = p.wrong ? C.warn : p.hit ? C.bad : "rgba(76,194,255,.75)";
      ctx.fillRect(x - 1.5, y - 1.5, 3, 3);
    }
  }

  /** Stacked bars: alerts per family per minute over the last hour. */
  function drawTrends() {
    const canvas = $("trends-canvas");
    const [ctx, w, h] = prepCanvas(canvas);
    const padR = 6, padT = 6, padB = 16;
    const nowMin = Math.floor((Date.now() / 1000 + S.serverSkew) / 60);
    const first = nowMin - TRENDS_MINUTES + 1;
    const fams = [...S.families].filter((f) => hasTrend(f, first, nowMin)).sort(familyOrder);
    let max = 0;
    const totals = [];
    for (let m = first; m <= nowMin; m++) {
      const row = S.trend.get(m);
      let t = 0;
      if (row) for (const v of row.values()) t += v;
      totals.push(t); max = Math.max(max, t);
    }
    ctx.font = "10px DejaVu Sans Mono, monospace";
    ctx.strokeStyle = C.line; ctx.fillStyle = C.muted; ctx.lineWidth = 1;
    const top = niceMax(max);
    const padL = Math.ceil(ctx.measureText(fmtInt(top)).width) + 6;
    const pw = w - padL - padR, ph = h - padT - padB;
    for (let k = 0; k <= 2; k++) {
      const y = padT + ph - (k / 2) * ph;
      ctx.beginPath(); ctx.moveTo(padL, y + 0.5); ctx.lineTo(w - padR, y + 0.5); ctx.stroke();
      ctx.textAlign = "right"; ctx.fillText(fmtInt((top * k) / 2), padL - 3, y + 3);
    }
    ctx.textAlign = "left"; ctx.fillText("-60m", padL, h - 3);
    ctx.textAlign = "center"; ctx.fillText("-30m", padL + pw / 2, h - 3);
    ctx.textAlign = "right"; ctx.fillText("now", w - padR, h - 3); ctx.textAlign = "left";
    const bw = pw / TRENDS_MINUTES;
    for (let i = 0; i < TRENDS_MINUTES; i++) {
      const row = S.trend.get(first + i);
      if (!row) continue;
      let y = padT + ph;
      for (const f of fams) {
        const c = row.get(f) || 0;
        if (!c) continue;
        const bh = (c / top) * ph;
        ctx.fillStyle = familyColor(f);
        ctx.fillRect(padL + i * bw + 0.5, y - bh, Math.max(1, bw - 1), bh);
        y -= bh;
      }
    }
    if (max === 0) { ctx.fillStyle = C.muted; ctx.fillText("no alerts in the last hour", padL + 8, padT + ph / 2); }
    // legend: family and its count over the hour
    const legend = $("trends-legend");
    const sums = fams.map((f) => {
      let s = 0;
      for (let m = first; m <= nowMin; m++) { const r = S.trend.get(m); if (r) s += r.get(f) || 0; }
      return [f, s];
    });
    const key = JSON.stringify(sums);
    if (legend._key !== key) {
      legend._key = key;
      legend.replaceChildren(...sums.map(([f, s]) => {
        const span = el("span");
        const sw = el("span", "sw"); sw.style.background = familyColor(f);
        span.append(sw, document.createTextNode(f + " " + fmtInt(s)));
        return span;
      }));
    }
    canvas.dataset.total = String(totals.reduce((a, b) => a + b, 0));
  }
  function hasTrend(f, first, last) {
    for (let m = first; m <= last; m++) { const r = S.trend.get(m); if (r && r.get(f)) return true; }
    return false;
  }
  function familyOrder(a, b) {
    const order = Object.keys(FAMILY_COLORS);
    const ia = order.indexOf(a), ib = order.indexOf(b);
    return (ia < 0 ? 99 : ia) - (ib < 0 ? 99 : ib) || a.localeCompare(b);
  }
  function niceMax(x) {
    if (x <= 2) return 2;
    const p = Math.pow(10, Math.floor(Math.log10(x)));
    for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= x) return m * p;
    return 10 * p;
  }

  // ------------------------------------------------------ detector panels
  function kpi(parent, key, label) {
    const box = el("div", "kpi");
    box.append(el("span", "k", label));
    const v = el("span", "v", "–");
    v.dataset.kpi = key;
    box.append(v);
    parent.append(box);
    return v;
  }

  function buildPanels() {
    const root = $("detectors");
    root.replaceChildren();
    for (const k of Object.keys(panels)) delete panels[k];
    for (const name of S.detectors) {
      const sec = el("section", "panel det");
      sec.dataset.detector = name;
      sec.dataset.updates = "0";
      const head = el("div", "det-head");
      head.append(el("span", "det-name", name));
      const thr = el("span", "det-thr", "");
      const upd = el("span", "det-upd", "");
      head.append(thr, upd);
      const kpis = el("div", "kpis");
      const p = {
        root: sec, thr, upd, updates: 0,
        rate: kpi(kpis, "rate", "flows/s"),
        p50: kpi(kpis, "p50", "p50 ms"),
        p99: kpi(kpis, "p99", "p99 ms"),
        alerts: kpi(kpis, "alerts", "alerts"),
        precision: kpi(kpis, "precision", "precision"),
        recall: kpi(kpis, "recall", "recall"),
        f1: kpi(kpis, "f1", "F1"),
        agree: kpi(kpis, "alone", S.detectors.length === 2 ? "alone" : "in disagr."),
      };
      const charts = el("div", "det-charts");
      const c1 = el("div", "det-chart"); c1.append(el("span", "cap", "confidence histogram"));
      p.hist = el("canvas", "hist"); c1.append(p.hist);
      const c2 = el("div", "det-chart"); c2.append(el("span", "cap", "live scores"));
      p.stream = el("canvas", "stream"); c2.append(p.stream);
      charts.append(c1, c2);
      p.confusion = el("div", "confusion", "");
      sec.append(head, kpis, charts, p.confusion);
      root.append(sec);
      panels[name] = p;
      if (!S.streams[name]) S.streams[name] = [];
    }
    // table heads depend on the detector list
    const detCols = S.detectors.map((d) => [d, "num", "48px"]);
    setHead("verdicts-head", [["time", "", "56px"], ["flow", ""], ["label", "", "22%"], ...detCols]);
    verdictPool.setColumns(3 + S.detectors.length);
    setHead("agree-head", [["time", "", "56px"], [S.labelled ? "label" : "flow", ""], ...detCols]);
    disagreePool.setColumns(2 + S.detectors.length);
    setHead("alerts-head", [["id", "num", "44px"], ["time", "", "56px"], ["flow", ""], ["label", "", "20%"], ["by", "", "52px"], ["max", "num", "42px"], ["status", "", "44px"]]);
    const fd = $("f-detector");
    const cur = fd.value;
    fd.replaceChildren(new Option("all", ""), ...S.detectors.map((d) => new Option(d, d)));
    fd.value = S.detectors.includes(cur) ? cur : "";
    S.dirty.stats = S.dirty.verdicts = S.dirty.alerts = true;
  }

  function renderPanels() {
    const st = S.stats;
    for (const name of S.detectors) {
      const p = panels[name];
      if (!p) continue;
      const d = st && st.detectors ? st.detectors[name] : null;
      const thr = S.thresholds[name];
      setText(p.thr, typeof thr === "number" ? "threshold " + thr.toFixed(3) : "");
      if (d) {
        p.updates += 1;
        p.root.dataset.updates = String(p.updates);
        setText(p.rate, fmtRate(d.flows_per_s));
        p.rate.parentNode.title = typeof d.capacity_flows_per_s === "number"
          ? "could score about " + fmtRate(d.capacity_flows_per_s) + " flows/s at its current batch sizes" : "";
        setText(p.p50, fmtMs(d.latency_ms_p50));
        setText(p.p99, fmtMs(d.latency_ms_p99));
        setText(p.alerts, fmtInt(d.alerts));
        for (const m of ["precision", "recall", "f1"]) {
          const x = d[m];
          setText(p[m], typeof x === "number" && Number.isFinite(x) ? x.toFixed(3) : S.labelled ? "–" : "n/a");
          setClass(p[m], metricClass(x));
        }
        const cf = d.confusion;
        if (cf) {
          p.confusion.replaceChildren(
            document.createTextNode("vs label  tp "), el("b", "", fmtInt(cf.tp)),
            document.createTextNode("  fp "), el("b", "", fmtInt(cf.fp)),
            document.createTextNode("  tn "), el("b", "", fmtInt(cf.tn)),
            document.createTextNode("  fn "), el("b", "", fmtInt(cf.fn)));
        } else {
          setText(p.confusion, S.labelled ? "" : "source has no labels: precision/recall need ground truth");
        }
        const total = drawHistogram(p.hist, d.histogram, thr);
        p.root.dataset.histTotal = String(total);
        p.root.title = "last update " + fmtTime(Date.now() / 1000);
      } else {
        drawHistogram(p.hist, null, thr);
      }
      setText(p.agree, fmtInt(S.aloneOrYes[name] || 0));
      const off = S.offline[name];
      if (off && typeof off.f1 === "number") {
        setText(p.upd, "bundle test F1 " + fmt3(off.f1) + " · AUC " + fmt3(off.roc_auc));
        p.upd.title = "measured on the bundle's held-out test split: precision " + fmt3(off.precision)
          + ", recall " + fmt3(off.recall) + ", FPR " + fmt3(off.fpr);
      }
    }
  }

  function fmt3(x) { return typeof x === "number" && Number.isFinite(x) ? x.toFixed(3) : "–"; }

  /** The bundle's offline test metrics per detector, shown beside the live ones. */
  async function loadDetectors() {
    try {
      const body = await api("/api/v1/detectors");
      for (const d of body.detectors || []) {
        if (d && typeof d.name === "string") S.offline[d.name] = d.metrics || {};
      }
      S.dirty.stats = true;
    } catch (err) {
      console.warn("detectors", err);
    }
  }

  function renderStreams() {
    for (const name of S.detectors) {
      const p = panels[name];
      if (p) drawStream(p.stream, S.streams[name] || [], S.thresholds[name], S.labelled);
    }
  }

  // ----------------------------------------------------------- status bar
  function renderStats() {
    const st = S.stats;
    if (!st) return;
    const src = st.source || S.source || {};
    const spec = String(src.spec || src.kind || "–");
    setText($("st-source"), spec.replace(/^([a-z]+:)(?:[^@,]*\/)?/i, "$1"));   // file sources: the file's name only
    $("st-source").title = spec;
    const state = src.state || "–";
    setText($("st-source-state"), state);
    setClass($("st-source-state"), "state " + state);
    setText($("st-rate"), fmtRate(st.flows_per_s));
    setText($("st-scored"), fmtInt(st.flows_scored) + " / " + fmtInt(st.flows_in));
    setText($("st-queue"), fmtInt(st.queue_depth) + " / " + fmtInt(st.queue_capacity));
    $("st-queue-chip").title = "queue depth / capacity · " + fmtInt(st.batches) + " batches, mean size "
      + (typeof st.batch_size_mean === "number" ? st.batch_size_mean.toFixed(1) : "–");
    const cap = src.capture;   // packet sources: what the capture itself lost
    setText($("st-drops"), (cap ? "kernel " + fmtInt(cap.kernel_drops) + " · " : "") + "shed " + fmtInt(st.flows_shed)
      + " · page " + fmtInt(S.framesDroppedForMe) + " · ws " + fmtInt(st.ws_dropped));
    if (cap) $("st-source").title = spec + " · " + fmtInt(cap.packets) + " packets metered, " + fmtInt(cap.open_flows)
      + " flows open, " + fmtInt(cap.malformed) + " malformed frames";
    setText($("st-alerts"), fmtInt(st.alerts));
    setText($("st-disagree"), fmtInt(st.disagreements));
    setText($("st-uptime"), fmtDuration(st.uptime_s));
    if (src.state === "error") showBanner("source error: " + (src.error || "unknown"));
    else if ($("banner").dataset.kind === "source") hideBanner();
    // family filter options: every family the server has counted plus those seen
    if (st.alerts_by_family) for (const f of Object.keys(st.alerts_by_family)) addFamily(f);
  }

  function addFamily(f) {
    if (S.families.has(f)) return;
    S.families.add(f);
    const sel = $("f-family");
    const cur = sel.value;
    const fams = [...S.families].sort(familyOrder);
    sel.replaceChildren(new Option("all", ""), ...fams.map((x) => new Option(x, x)));
    sel.value = cur;
  }

  function showBanner(text, kind = "source") {
    const b = $("banner");
    setText(b, text);
    b.dataset.kind = kind;
    b.hidden = false;
  }
  function showAuthBanner() {
    showBanner(TOKEN
      ? "the server refused this page's API token: open the dashboard with the right #token=YOUR_TOKEN"
      : "this server needs its API token: open the dashboard as …/#token=YOUR_TOKEN", "auth");
  }
  function hideBanner() { $("banner").hidden = true; $("banner").dataset.kind = ""; }

  // ------------------------------------------------------------- verdicts
  function ingestVerdicts(list) {
    if (!Array.isArray(list) || list.length === 0) return;
    const sorted = list.slice().sort((a, b) => (a.seq ?? 0) - (b.seq ?? 0));
    for (const v of sorted) {
      if (typeof v.seq === "number") {
        if (v.seq <= S.lastSeq) continue;
        S.lastSeq = v.seq;
      }
      S.seen += 1;
      const truth = v.label === null || v.label === undefined ? null : !isBenignLabel(v.label);
      for (const d of S.detectors) {
        const s = v.scores ? v.scores[d] : undefined;
        if (typeof s !== "number") continue;
        const hit = !!(v.verdicts && v.verdicts[d]);
        const arr = S.streams[d] || (S.streams[d] = []);
        arr.push({ s, hit, wrong: truth !== null && hit !== truth });
        if (arr.length > STREAM_POINTS) arr.splice(0, arr.length - STREAM_POINTS);
      }
      if (v.agreement === false) {
        S.disagreements.unshift(v);
        for (const d of S.detectors) {
          if (v.verdicts && v.verdicts[d]) S.aloneOrYes[d] = (S.aloneOrYes[d] || 0) + 1;
          if (truth !== null && v.verdicts && !!v.verdicts[d] === truth) {
            S.rightInDisagreement[d] = (S.rightInDisagreement[d] || 0) + 1;
          }
        }
      } else {
        S.agreed += 1;
      }
      S.verdicts.unshift(v);
    }
    if (S.verdicts.length > MAX_VERDICT_ROWS) S.verdicts.length = MAX_VERDICT_ROWS;
    if (S.disagreements.length > MAX_DISAGREE_ROWS) S.disagreements.length = MAX_DISAGREE_ROWS;
    S.dirty.verdicts = true;
  }

  function scoreCell(cell, col, v, d) {
    const s = v.scores ? v.scores[d] : undefined;
    const hit = !!(v.verdicts && v.verdicts[d]);
    const lat = v.latency_ms ? v.latency_ms[d] : undefined;
    cell(col, fmtScore(s), "num sc" + (hit ? " hit" : ""), typeof lat === "number" ? d + " " + fmtMs(lat) + " ms" : "");
  }

  function labelCell(cell, col, rec, title) {
    const label = rec.label;
    const cls = label === null || label === undefined ? "" : isBenignLabel(label) ? "lbl-benign" : "lbl-attack";
    const fam = rec.family ? "family " + rec.family : "";
    cell(col, label ?? "–", cls, title ? title + (fam ? "\n" + fam : "") : fam);
  }

  function renderVerdicts() {
    const dets = S.detectors;
    verdictPool.render(S.verdicts, (cell, v) => {
      cell(0, fmtTime(v.scored_ts ?? v.ingest_ts));
      cell(1, fmtFlowShort(v), "", flowTitle(v));
      labelCell(cell, 2, v);
      dets.forEach((d, i) => scoreCell(cell, 3 + i, v, d));
      return v.alert ? "alert" : "";
    });
    setText($("verdicts-sub"), "last " + Math.min(S.verdicts.length, MAX_VERDICT_ROWS) + " of " + fmtInt(S.seen) + " seen");
    disagreePool.render(S.disagreements, (cell, v) => {
      cell(0, fmtTime(v.scored_ts ?? v.ingest_ts));
      if (v.label === null || v.label === undefined) cell(1, fmtFlowShort(v), "", flowTitle(v));
      else labelCell(cell, 1, v, flowTitle(v));
      dets.forEach((d, i) => scoreCell(cell, 2 + i, v, d));
      return "";
    });
    const disagreed = S.seen - S.agreed;
    setText($("agree-sub"), fmtInt(disagreed) + " here · " + fmtInt(S.stats ? S.stats.disagreements : null) + " total");
    const summary = $("agree-summary");
    const parts = [["agree", S.seen ? ((S.agreed / S.seen) * 100).toFixed(2) + "%" : "–"]];
    for (const d of dets) parts.push([d + (dets.length === 2 ? " alone" : " yes"), fmtInt(S.aloneOrYes[d] || 0)]);
    if (S.labelled) for (const d of dets) parts.push([d + " right", fmtInt(S.rightInDisagreement[d] || 0)]);
    const key = JSON.stringify(parts);
    if (summary._key !== key) {
      summary._key = key;
      summary.replaceChildren(...parts.map(([k, v]) => { const s = el("span", "", k + " "); s.append(el("b", "", v)); return s; }));
    }
  }

  // --------------------------------------------------------------- alerts
  function trendAdd(alert) {
    const t = alert.scored_ts ?? alert.ingest_ts;
    if (typeof t !== "number") return;
    const m = Math.floor(t / 60);
    let row = S.trend.get(m);
    if (!row) { row = new Map(); S.trend.set(m, row); }
    const f = familyOf(alert);
    row.set(f, (row.get(f) || 0) + 1);
    S.dirty.trends = true;
  }

  /** Merge alerts (from WS or REST) into the cache; `live` ones also count into the trend. */
  function ingestAlerts(list, live) {
    if (!Array.isArray(list) || list.length === 0) return;
    if (S.gapFloor === null) {
      let lo = Infinity;
      for (const a of list) if (typeof a.id === "number" && a.id < lo) lo = a.id;
      if (lo !== Infinity) S.gapFloor = lo;
    }
    for (const a of list) {
      if (typeof a.id !== "number") continue;
      const known = S.alerts.has(a.id);
      const prev = S.alerts.get(a.id);
      // keep the newest copy: a PATCHed alert carries updated_at
      if (prev && (prev.updated_at || 0) > (a.updated_at || 0)) continue;
      // a lean copy (WS, or REST with features=false) keeps what an earlier full copy had
      let merged = a;
      if (prev && ((prev.features && !a.features) || (prev.top_features && !a.top_features))) {
        merged = Object.assign({}, a, { features: a.features || prev.features, top_features: a.top_features || prev.top_features });
      }
      S.alerts.set(a.id, merged);
      if (a.id > S.maxAlertId) S.maxAlertId = a.id;
      addFamily(familyOf(a));
      if (live && !known) trendAdd(a);
    }
    if (S.alerts.size > MAX_ALERTS_KEPT) {
      const ids = [...S.alerts.keys()].sort((x, y) => x - y);
      for (let i = 0; i < ids.length - MAX_ALERTS_KEPT; i++) S.alerts.delete(ids[i]);
    }
    S.dirty.alerts = true;
  }

  /**
   * The highest alert id up to which the page holds every alert (from the first it held on).
   * Store ids are consecutive, so a hole above that means alerts this page missed.
   */
  function lastContiguousId(sortedDesc) {
    const ids = sortedDesc || [...S.alerts.keys()].sort((x, y) => y - x);
    if (!ids.length) return S.maxAlertId;
    const floor = Math.max(S.gapFloor ?? 0, ids[ids.length - 1]);
    let prev = null;
    for (let i = ids.length - 1; i >= 0; i--) {
      const id = ids[i];
      if (id < floor) continue;
      if (prev !== null && id > prev + 1) return prev;
      prev = id;
    }
    return prev ?? S.maxAlertId;
  }

  function alertMatches(a, fam, det, status) {
    if (fam && familyOf(a) !== fam) return false;
    if (det && !(a.verdicts && a.verdicts[det])) return false;
    if (status && a.status !== status) return false;
    return true;
  }

  function renderAlerts() {
    const fam = $("f-family").value, det = $("f-detector").value, status = $("f-status").value;
    const ids = [...S.alerts.keys()].sort((x, y) => y - x);
    const shown = [];
    let matching = 0;
    for (const id of ids) {
      const a = S.alerts.get(id);
      if (!alertMatches(a, fam, det, status)) continue;
      matching += 1;
      if (shown.length < MAX_ALERT_ROWS) shown.push(a);
    }
    alertPool.render(shown, (cell, a) => {
      cell(0, String(a.id), "num");
      cell(1, fmtTime(a.scored_ts ?? a.ingest_ts));
      cell(2, fmtFlowShort(a), "", flowTitle(a));
      labelCell(cell, 3, a);
      const by = S.detectors.filter((d) => a.verdicts && a.verdicts[d]);
      cell(4, by.join("+"), "yes");
      let max = null;
      for (const d of Object.keys(a.scores || {})) if (typeof a.scores[d] === "number") max = Math.max(max ?? 0, a.scores[d]);
      cell(5, fmtScore(max), "num");
      const st = a.status || "new";
      cell(6, STATUS_SHORT[st] || st, "st-" + st, st.replace("_", " ") + (a.note ? "\nnote: " + a.note : ""));
      return S.selectedAlert === a.id ? "sel" : "";
    });
    setText($("alerts-sub"), "showing " + fmtInt(shown.length) + " of " + fmtInt(matching) + " held · newest first");
    // what the page holds, for tests and for anyone checking that nothing was missed
    const table = $("alerts-table");
    table.dataset.held = String(S.alerts.size);
    table.dataset.minId = String(ids.length ? ids[ids.length - 1] : 0);
    table.dataset.maxId = String(S.maxAlertId);
    table.dataset.contiguousFrom = String(S.gapFloor ?? 0);
    table.dataset.contiguousTo = String(lastContiguousId(ids));
  }

  async function loadAlerts(params) {
    const q = new URLSearchParams({ limit: "200", features: "false" });   // the drawer fetches one alert whole
    for (const [k, v] of Object.entries(params || {})) if (v) q.set(k, v);
    try {
      const body = await api("/api/v1/alerts?" + q.toString());
      ingestAlerts(body.items, false);
    } catch (err) {
      console.warn("alerts", err);
    }
  }

  /**
   * Fetch every alert after `afterId`, oldest first, page by page (after a reconnect or a drop).
   * One backfill runs at a time; asking again while it runs widens the next one.
   */
  function backfill(afterId, toId) {
    S.backfillFrom = S.backfillFrom === null ? afterId : Math.min(S.backfillFrom, afterId);
    S.backfillTo = Math.max(S.backfillTo, toId || 0);
    if (!S.backfillRunning) runBackfill();
  }

  async function runBackfill() {
    S.backfillRunning = true;
    document.body.dataset.backfilling = "1";
    try {
      while (S.backfillFrom !== null) {
        // at most one pass a second: in an alert flood every frame reports drops, and the page
        // would otherwise pull alerts as fast as the server can serve them
        const wait = S.lastBackfill + BACKFILL_MIN_GAP_MS - Date.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        S.lastBackfill = Date.now();
        // the hole: from where it starts up to the newest alert known when the pass starts (newer
        // ones come over the WebSocket, or make the next pass); no lower than what the page keeps,
        // since older alerts would be evicted as soon as they arrived
        const upTo = Math.max(S.maxAlertId, S.backfillTo);
        let after = Math.max(S.backfillFrom, upTo - MAX_ALERTS_KEPT), cursor = null;
        S.backfillFrom = null;
        S.backfillTo = 0;
        for (let page = 0; page < BACKFILL_MAX_PAGES && after < upTo; page++) {
          const q = new URLSearchParams({ after_id: String(after), limit: String(BACKFILL_PAGE), features: "false" });
          if (cursor) q.set("cursor", cursor);
          let body;
          try {
            body = await api("/api/v1/alerts?" + q.toString());
          } catch (err) {
            console.warn("backfill", err);   // the next reconnect finds the hole again
            return;
          }
          const items = body.items || [];
          ingestAlerts(items, true);
          const top = Math.max(after, ...items.map((a) => a.id || 0));
          if (top >= upTo || items.length === 0) break;
          if (body.next_cursor) { cursor = body.next_cursor; continue; }
          if (items.length < BACKFILL_PAGE) break;
          after = top;
          cursor = null;
        }
      }
    } finally {
      S.backfillRunning = false;
      S.backfillFrom = null;
      S.backfillTo = 0;
      document.body.dataset.backfilling = "0";
    }
  }

  // --------------------------------------------------------------- trends
  async function loadTrends() {
    try {
      const body = await api("/api/v1/trends?minutes=" + TRENDS_MINUTES);
      const fams = body.families || {};
      const mins = Array.isArray(body.minutes) ? body.minutes : [];
      let n = mins.length;
      for (const f of Object.keys(fams)) n = Math.max(n, (fams[f] || []).length);
      const toMinute = (x) => (x > 1e8 ? Math.floor(x / 60) : Math.floor(x)); // epoch seconds or epoch minutes
      const start = typeof body.start === "number" ? toMinute(body.start) : null;
      const fresh = new Map();
      for (let i = 0; i < n; i++) {
        const m = typeof mins[i] === "number" ? toMinute(mins[i]) : start !== null ? start + i : null;
        if (m === null) continue;
        for (const f of Object.keys(fams)) {
          const c = (fams[f] || [])[i] || 0;
          if (!c) continue;
          let row = fresh.get(m);
          if (!row) { row = new Map(); fresh.set(m, row); }
          row.set(f, c);
          addFamily(f);
        }
      }
      S.trend = fresh;
      S.dirty.trends = true;
    } catch (err) {
      console.warn("trends", err);
    }
  }

  // --------------------------------------------------------------- drawer
  async function openDrawer(id) {
    S.selectedAlert = id;
    S.dirty.alerts = true;
    $("drawer").hidden = false;
    $("drawer").dataset.alertId = String(id);
    setText($("d-msg"), "");
    const cached = S.alerts.get(id);
    if (cached) fillDrawer(cached);
    try {
      const full = await api("/api/v1/alerts/" + encodeURIComponent(id));
      if (S.selectedAlert === id) { ingestAlerts([full], false); fillDrawer(S.alerts.get(id) || full); }
    } catch (err) {
      if (S.selectedAlert === id) { setText($("d-msg"), "could not load alert: " + err.message); setClass($("d-msg"), "msg err"); }
    }
  }

  function closeDrawer() {
    S.selectedAlert = null;
    $("drawer").hidden = true;
    S.dirty.alerts = true;
  }

  function fillDrawer(a) {
    setText($("d-title"), "Alert #" + a.id + " · " + (a.label ?? familyOf(a)));
    const meta = $("d-meta");
    const rows = [
      ["status", (a.status || "new").replace("_", " ")],
      ["flow", a.flow_id ?? "–"],
      ["source", (a.src_ip ?? "?") + ":" + (a.src_port ?? "?")],
      ["destination", (a.dst_ip ?? "?") + ":" + (a.dst_port ?? "?") + " " + (PROTO[a.protocol] || a.protocol || "")],
      ["label", a.label ?? "– (unlabelled source)"],
      ["family", a.family ?? "–"],
      ["agreement", a.agreement ? "all detectors agree" : "detectors disagree"],
      ["flow start", fmtDateTime(a.timestamp)],
      ["scored", fmtDateTime(a.scored_ts)],
      ["updated", fmtDateTime(a.updated_at)],
      ["note", a.note ?? "–"],
    ];
    meta.replaceChildren(...rows.flatMap(([k, v]) => [el("dt", "", k), el("dd", k === "status" ? "st-" + (a.status || "new") : "", v)]));

    const scores = $("d-scores");
    const parts = [];
    const dets = S.detectors.length ? S.detectors : Object.keys(a.scores || {});
    for (const d of dets) {
      const s = a.scores ? a.scores[d] : undefined;
      const hit = !!(a.verdicts && a.verdicts[d]);
      const thr = S.thresholds[d];
      const bar = el("div", "scorebar");
      const fill = el("div", "fillbar" + (hit ? " hit" : ""));
      fill.style.width = (typeof s === "number" ? Math.max(0, Math.min(1, s)) * 100 : 0) + "%";
      bar.append(fill);
      if (typeof thr === "number") { const t = el("div", "thr"); t.style.left = "calc(" + thr * 100 + "% - 1px)"; t.title = "threshold " + thr.toFixed(3); bar.append(t); }
      const lat = a.latency_ms ? a.latency_ms[d] : undefined;
      const name = el("span", hit ? "yes" : "no", d);
      name.title = hit ? "says attack" : "says benign";
      const val = el("span", "sc" + (hit ? " hit" : ""), fmtScore(s));
      val.title = typeof lat === "number" ? fmtMs(lat) + " ms" : "";
      val.dataset.detector = d;
      parts.push(name, bar, val);
    }
    scores.replaceChildren(...parts);

    const top = $("d-top").tBodies[0];
    const tf = Array.isArray(a.top_features) ? a.top_features : [];
    top.replaceChildren(...(tf.length ? tf.map((f) => {
      const tr = el("tr");
      tr.append(el("td", "", f.name), el("td", "num", fmtNum(f.value)), el("td", "num", fmtNum(f.z)), el("td", "num", fmtNum(f.weight)));
      return tr;
    }) : [(() => { const tr = el("tr"); const td = el("td", "", "–"); td.colSpan = 4; tr.append(td); return tr; })()]));

    const note = $("d-note");
    if (document.activeElement !== note) note.value = a.note ?? "";
    fillFeatures(a);
  }

  function fmtNum(x) {
    if (typeof x !== "number") return x === null || x === undefined ? "–" : String(x);
    if (!Number.isFinite(x)) return String(x);
    if (Number.isInteger(x)) return fmtInt(x);
    const ax = Math.abs(x);
    return ax >= 1000 ? nf1.format(x) : ax >= 1 ? x.toFixed(3) : x.toPrecision(3);
  }

  function fillFeatures(a) {
    const body = $("d-features").tBodies[0];
    const filter = $("d-feat-filter").value.trim().toLowerCase();
    const feats = a.features && typeof a.features === "object" ? Object.entries(a.features) : [];
    const rows = feats.filter(([k]) => !filter || k.toLowerCase().includes(filter)).map(([k, v]) => {
      const tr = el("tr");
      tr.append(el("td", "", k), el("td", "num", fmtNum(v)));
      return tr;
    });
    if (!feats.length) { const tr = el("tr"); tr.append(el("td", "", a.features === undefined ? "loading…" : "–")); rows.push(tr); }
    body.replaceChildren(...rows);
  }

  async function patchSelected(change) {
    const id = S.selectedAlert;
    if (id === null) return;
    const msg = $("d-msg");
    setText(msg, "saving…"); setClass(msg, "msg");
    try {
      const updated = await api("/api/v1/alerts/" + encodeURIComponent(id), { method: "PATCH", body: change });
      const merged = Object.assign({}, S.alerts.get(id) || {}, updated && typeof updated === "object" && updated.id === id ? updated : change);
      if (!merged.updated_at) merged.updated_at = Date.now() / 1000;
      S.alerts.set(id, merged);
      S.dirty.alerts = true;
      if (S.selectedAlert === id) { fillDrawer(merged); setText(msg, "saved"); }
    } catch (err) {
      setText(msg, "not saved: " + err.message); setClass(msg, "msg err");
    }
  }

  // ------------------------------------------------------------ websocket
  let ws = null, attempt = 0, reconnectTimer = null, countdownTimer = null;

  function setConn(state, text) {
    const c = $("conn");
    c.dataset.state = state;
    setText($("conn-text"), text);
  }

  function connect() {
    clearTimeout(reconnectTimer); clearInterval(countdownTimer);
    setConn("connecting", attempt ? "reconnecting… (try " + (attempt + 1) + ")" : "connecting…");
    let sock;
    try { sock = new WebSocket(wsUrl()); } catch (err) { scheduleReconnect(null); return; }
    ws = sock;
    sock.onopen = () => { setConn("open", "live"); };
    sock.onmessage = (ev) => {
      let msg;
      try { msg = JSON.parse(ev.data); } catch (_) { return; }
      S.framesIn += 1;
      document.body.dataset.frames = String(S.framesIn);
      if (msg.type === "hello") onHello(msg);
      else if (msg.type === "update") onUpdate(msg);
    };
    sock.onclose = (ev) => { if (ws === sock) { ws = null; scheduleReconnect(ev); } };
    sock.onerror = () => { /* onclose follows */ };
  }

  function scheduleReconnect(ev) {
    const code = ev ? ev.code : 0;
    if (code === 1008 || code === 4401 || code === 4403) showAuthBanner();
    const delay = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * Math.pow(2, attempt)) * (0.8 + 0.4 * Math.random());
    attempt += 1;
    const until = Date.now() + delay;
    const tick = () => setConn("closed", "disconnected · retry in " + Math.max(0, Math.ceil((until - Date.now()) / 1000)) + "s");
    tick();
    countdownTimer = setInterval(tick, 500);
    reconnectTimer = setTimeout(connect, delay);
  }

  function onHello(msg) {
    attempt = 0;
    if ($("banner").dataset.kind === "auth") hideBanner();
    const dets = Array.isArray(msg.detectors) ? msg.detectors.map(String) : [];
    const changed = dets.join("\u0000") !== S.detectors.join("\u0000") || !!msg.labelled !== S.labelled;
    S.detectors = dets;
    S.thresholds = msg.thresholds || {};
    S.labelled = !!msg.labelled;
    S.source = msg.source || null;
    S.lastSeq = -1;   // a restarted server numbers from the start again
    if (changed || !Object.keys(panels).length) buildPanels();
    loadDetectors();
    document.body.dataset.labelled = String(S.labelled);
    // null: the store holds no alert yet
    const last = typeof msg.last_alert_id === "number" ? msg.last_alert_id : 0;
    if (last < S.maxAlertId) {
      // the server's store is not the one we were watching (wiped or replaced): start over
      S.alerts.clear();
      S.maxAlertId = 0;
      S.gapFloor = null;
    }
    if (S.framesIn > 1 && S.hellos > 0) loadTrends();   // live increments missed while away
    S.hellos = (S.hellos || 0) + 1;
    if (S.maxAlertId === 0) {
      loadAlerts();                          // first connect: the newest page
    } else {
      const upTo = lastContiguousId();
      if (last > upTo) backfill(upTo, last); // reconnect: everything missed while away (or before)
    }
    S.dirty.stats = S.dirty.verdicts = S.dirty.alerts = true;
  }

  function onUpdate(msg) {
    if (typeof msg.t === "number") S.serverSkew = msg.t - Date.now() / 1000;
    const before = S.maxAlertId;
    if (msg.stats) { S.stats = msg.stats; S.dirty.stats = true; }
    ingestVerdicts(msg.verdicts);
    ingestAlerts(msg.alerts, true);
    if (msg.dropped > 0) {
      S.framesDroppedForMe += msg.dropped;    // records (verdicts and alerts) this page lost since the last frame
      const lostAlerts = typeof msg.dropped_alerts === "number" ? msg.dropped_alerts : msg.dropped;
      if (lostAlerts > 0 && before > 0) backfill(Math.min(before, lastContiguousId()));   // fetch what we lost
    }
  }

  // --------------------------------------------------------------- render
  let lastTrendsDraw = -Infinity;
  function render() {
    const d = S.dirty;
    if (d.stats) { d.stats = false; renderStats(); renderPanels(); }
    if (d.verdicts) { d.verdicts = false; renderVerdicts(); renderStreams(); }
    if (d.alerts) { d.alerts = false; renderAlerts(); }
    // per-minute data: once a second is plenty
    if (d.trends && performance.now() - lastTrendsDraw > 1000) { d.trends = false; lastTrendsDraw = performance.now(); drawTrends(); }
  }

  // ---------------------------------------------------------------- wiring
  function init() {
    for (const id of ["f-family", "f-detector", "f-status"]) {
      $(id).addEventListener("change", () => {
        S.dirty.alerts = true;
        loadAlerts({ family: $("f-family").value, detector: $("f-detector").value, status: $("f-status").value });
      });
    }
    $("d-close").addEventListener("click", closeDrawer);
    document.addEventListener("keydown", (ev) => { if (ev.key === "Escape" && !$("drawer").hidden) closeDrawer(); });
    $("d-ack").addEventListener("click", () => patchSelected({ status: "acknowledged" }));
    $("d-fp").addEventListener("click", () => patchSelected({ status: "false_positive" }));
    $("d-reset").addEventListener("click", () => patchSelected({ status: "new" }));
    $("d-save-note").addEventListener("click", () => patchSelected({ note: $("d-note").value }));
    $("d-feat-filter").addEventListener("input", () => { const a = S.alerts.get(S.selectedAlert); if (a) fillFeatures(a); });
    window.addEventListener("resize", () => { S.dirty.stats = S.dirty.verdicts = S.dirty.trends = true; });

    // before the first frame: whatever REST already knows
    api("/api/v1/stats").then((st) => { if (!S.stats) { S.stats = st; S.dirty.stats = true; } }).catch(() => {});
    loadTrends();
    setInterval(loadTrends, TRENDS_REFRESH_MS);
    setInterval(() => { S.dirty.trends = true; }, 5000);   // slide the hour window
    setInterval(render, RENDER_MS);
    connect();
  }

  init();
})();
