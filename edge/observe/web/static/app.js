// vigil live page: one Server-Sent Events stream (/api/live) of what is new; uPlot draws.
"use strict";
const token = new URLSearchParams(location.search).get("token");
const q = token ? "?token=" + encodeURIComponent(token) : "";
const W = (sec) => Math.max(300, sec.clientWidth - 28);
const cards = {};
const CTG_SPAN_S = 600;  // the FHR trace: the last 10 min, a CTG reading's period
const CTG_BPM = [50, 210];  // a CTG paper's FHR scale
const CTG_NORMAL = [110, 160];  // FIGO 2015 normal baseline: shaded
const CTG_READING_W = 190;  // px beside the FHR trace

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

// shade [start, end) of every closed event, and the open one (to its latest end) darker, on the score plot
function shade(card) {
  return (u) => {
    const ctx = u.ctx, top = u.bbox.top, h = u.bbox.height;
    const fill = (s, e) => {
      const x0 = u.valToPos(s, "x", true), x1 = u.valToPos(e, "x", true);
      if (x1 > u.bbox.left && x0 < u.bbox.left + u.bbox.width) ctx.fillRect(x0, top, Math.max(2, x1 - x0), h);
    };
    ctx.save();
    ctx.fillStyle = "rgba(220, 40, 40, 0.18)";
    for (const [s, e] of card.events) fill(s, e);
    if (card.open) {  // to the latest score: its record's end is only as recent as its last update
      ctx.fillStyle = "rgba(220, 40, 40, 0.35)";
      fill(card.open[0], Math.max(card.open[1], card.sc[0].at(-1) ?? card.open[1]));
    }
    ctx.restore();
  };
}

// the FIGO normal baseline band (110-160 bpm) behind the FHR trace
function normalBand(u) {
  const ctx = u.ctx, y0 = u.valToPos(CTG_NORMAL[1], "y", true), y1 = u.valToPos(CTG_NORMAL[0], "y", true);
  ctx.save();
  ctx.fillStyle = "rgba(60, 160, 90, 0.13)";
  ctx.fillRect(u.bbox.left, y0, u.bbox.width, y1 - y0);
  ctx.restore();
}

// the CTG reading (edge/fetal/ctg.py) beside the FHR trace: baseline, variability, excursions, category
function showReading(box, r) {
  box.replaceChildren(el("div", "ctg-title", "CTG reading (FIGO 2015)"));
  box.dataset.category = r ? (r.category || "none") : "none";
  if (!r) { box.append(el("div", "ctg-none", "no reading yet")); return; }
  const base = r.baseline_bpm === null ? "–" : r.baseline_bpm + " bpm" + (r.provisional ? " (provisional)" : "");
  const rows = [["baseline", base], ["variability", r.variability_bpm === null ? "–" : r.variability_bpm + " bpm"],
                ["decelerations", String(r.decelerations.length) + (r.decelerations.some((d) => d.prolonged) ?
                  " (prolonged)" : "")], ["accelerations", String(r.accelerations.length)],
                ["valid FHR", Math.round(r.covered_s) + " of " + Math.round(r.span_s) + " s"]];
  for (const [k, v] of rows) {
    const row = el("div", "ctg-row");
    row.append(el("span", "ctg-key", k), el("span", "ctg-val", v));
    row.dataset.key = k;
    box.append(row);
  }
  box.append(el("div", "ctg-category " + (r.category || "none"), r.category ? r.category : "no category"));
  const why = r.category ? r.findings.join("; ") : r.reason;
  if (why) box.append(el("div", "ctg-why", why));
}

// the open event's line at the top of the events list: created, updated and removed as it opens and closes
function showOpen(card, o) {
  card.open = o ? [o.start_s, o.end_s] : null;
  if (!o) { if (card.openLi) card.openLi.remove(); card.openLi = null; return; }
  if (!card.openLi) { card.openLi = el("li", "event open"); card.list.prepend(card.openLi); }
  card.openLi.dataset.kind = o.kind;
  card.openLi.dataset.eventId = o.event_id;
  card.openLi.textContent = "open since " + o.start_s.toFixed(1) + " s, peak so far " + o.peak_score.toPrecision(4) +
    " · " + o.detector + " (" + o.kind + ") · since " + clock(o.start);
}

// a wall-clock time (ISO string or Unix seconds) as HH:MM:SS in this browser's time zone
function clock(t) {
  return new Date(typeof t === "number" ? t * 1000 : t).toTimeString().slice(0, 8);
}

// a tick value with as many decimals as its step has (uPlot's found increment: 2.5 -> 1, 0.05 -> 2)
function num(v, incr) {
  return v.toFixed(Math.min(6, (String(incr).split(".")[1] || "").length));
}

// an axis with a label and a formatter; the plot's element records both (data-label-x, data-ticks-x, and -y:
// what uPlot draws on the canvas, readable by a test or a screen reader)
function axis(div, which, label, fmt, extra) {
  div.dataset["label" + which] = label;
  return Object.assign({label, labelSize: 18, values: (u, splits, _i, _space, incr) => {
    const texts = splits.map((v) => fmt(v, incr));
    div.dataset["ticks" + which] = texts.map((t) => t.replace("\n", " ")).join("|");
    return texts;
  }}, extra || {});
}

// where an event's peak window differs from normal: its mel bands (Hz) or named features, with their share;
// and, for a fused detector, the member that heard it most (its z)
function where(explain, heardBy) {
  const by = heardBy ? " · heard by " + heardBy.member + " (z " + heardBy.z[heardBy.member].toFixed(1) + ")" : "";
  if (!explain || !explain.length) return by;
  const hz = (v) => v >= 1000 ? (v / 1000).toFixed(1) + " kHz" : Math.round(v) + " Hz";
  return " · listen at " + explain.map((p) => (p.feature || hz(p.from_hz) + "–" + hz(p.to_hz)) + " (" +
    Math.round(100 * p.share) + " %)").join(", ") + by;
}

// the bundle a stream scores with: name, detector, variant, model file hash and build date
function bundleText(b) {
  return "model " + b.name + " · " + b.detector + " " + b.variant + " · sha256 " + b.sha256.slice(0, 12) +
    (b.created ? " · built " + b.created.slice(0, 10) : "");
}

// the bundle's reliability estimate (machine sound), its advice in a line under the model
function reliabilityText(r) {
  return r ? "reliability " + r.estimate.toFixed(2) + ": " + r.advice : "";
}

function makeCard(s) {
  const sec = el("section", "stream");
  sec.id = "stream-" + s.name;
  sec.dataset.stream = s.name;
  document.getElementById("streams").append(sec);  // first, so that its width is known
  const h = el("h2");
  h.append(el("span", "name", s.name), el("span", "badge", s.state), el("span", "alarm", "ANOMALY"));
  const fhrNow = s.heart_rate ? el("span", "fhr-now", "FHR – bpm") : null;
  if (fhrNow) h.append(fhrNow);
  const health = el("div", "health");
  const bundle = el("div", "bundle", bundleText(s.bundle));
  const trust = el("div", "reliability", reliabilityText(s.reliability));
  sec.append(h, bundle, trust, health, el("p", "label", "signal, last " + s.history_s + " s (min/max)"));
  const card = {sec, badge: h.children[1], health, bundle, sig: [[], [], []], sc: [[], [], []], fhr: [[], []],
                events: [], open: null, openLi: null, list: el("ol", "events"), threshold: s.threshold, epoch: s.epoch_s, fhrNow};
  // x: seconds of stream time, and under each the wall clock once the stream's time 0 is known
  const xTick = (v, incr) => num(v, incr) + " s" + (card.epoch === null ? "" : "\n" + clock(card.epoch + v));
  const opts = (div, height, series, yLabel, extra) => Object.assign({width: W(sec), height, legend: {show: false},
    scales: {x: {time: false}}, series: [{}].concat(series),
    axes: [axis(div, "X", "stream time (s) · wall clock", xTick, {size: 54, space: 90}),
           axis(div, "Y", yLabel, num, {size: 60, space: 18})]}, extra || {});
  const sigDiv = el("div", "plot signal");
  sec.append(sigDiv, el("p", "label", "score (line) against its threshold (dashed); events shaded"));
  const scDiv = el("div", "plot score");
  sec.append(scDiv);
  card.sigPlot = new uPlot(opts(sigDiv, 180, [{stroke: "#4a7", width: 1}, {stroke: "#4a7", width: 1}],
    "signal (" + s.signal_unit + ")", {bands: [{series: [2, 1], fill: "rgba(70,170,110,0.25)"}]}), card.sig, sigDiv);
  card.scPlot = new uPlot(opts(scDiv, 170, [{stroke: "#236", width: 1.5}, {stroke: "#d33", dash: [6, 4], width: 1}],
    "score", {hooks: {drawClear: [shade(card)]}}), card.sc, scDiv);
  if (s.heart_rate) {
    sec.append(el("p", "label", "fetal heart rate (beats per minute), last " + CTG_SPAN_S / 60 +
      " min at CTG scale, FIGO normal band " + CTG_NORMAL.join("–") + " shaded"));
    card.fhrNone = el("p", "nofhr", "no beats yet");
    const row = el("div", "ctg");
    const fDiv = el("div", "plot fhr");
    card.reading = el("div", "ctg-reading");
    row.append(fDiv, card.reading);
    sec.append(card.fhrNone, row);
    showReading(card.reading, s.ctg);
    const fOpts = Object.assign(opts(fDiv, 200, [{stroke: "#a3a", width: 1.5}], "FHR (bpm)",
      {scales: {x: {time: false}, y: {range: CTG_BPM}}, hooks: {drawClear: [normalBand]}}),
      {width: Math.max(300, W(sec) - CTG_READING_W)});
    fOpts.axes[0].space = 70;  // narrower than the other plots (the reading beside it): keep two time ticks or more
    card.fhrPlot = new uPlot(fOpts, card.fhr, fDiv);
  }
  sec.append(el("p", "label", "events"), card.list);
  return card;
}

function push(cols, rows, keepFrom) {
  for (const r of rows) r.forEach((v, i) => cols[i].push(v));
  let cut = 0;
  while (cut < cols[0].length && cols[0][cut] < keepFrom) cut++;
  if (cut) cols.forEach((c) => c.splice(0, cut));
}

function update(msg) {
  const g = msg.gateway;
  document.getElementById("gateway").textContent = g.gateway;
  document.getElementById("gateway-health").textContent = "broker " + g.broker +
    (g.outbox === null ? "" : ", outbox " + g.outbox) + (g.page_clients ? ", pages open " + g.page_clients : "");
  for (const s of msg.streams) {
    const card = cards[s.name] || (cards[s.name] = makeCard(s));
    card.sec.classList.toggle("anomaly", s.anomaly);
    card.sec.dataset.state = s.state;
    // a learning period: scored and shown, no event until it has been heard (edge.learn)
    card.badge.textContent = s.learning ? s.state + " · learning " + Math.round(s.learning.learned_s) + " of " +
      Math.round(s.learning.total_s) + " s" : s.state;
    card.badge.className = "badge " + s.state;
    card.health.textContent = s.windows + " windows · " + s.events + " events · missing " +
      s.missing_percent.toFixed(1) + " % · reconnects " + s.reconnects +
      (g.outbox === null ? "" : " · outbox " + g.outbox) + " · broker " + g.broker +
      (s.last_score === null ? "" : " · score " + s.last_score.toPrecision(4) + " / " + s.threshold.toPrecision(4));
    if (s.reason) { const r = el("span", "reason", " · " + s.reason); card.health.append(r); }
    card.epoch = s.epoch_s;
    card.bundle.textContent = bundleText(s.bundle) + (s.epoch_s === null ? "" : " · stream time 0 at " +
      clock(s.epoch_s));
    const tSig = s.signal.length ? s.signal[s.signal.length - 1][0] : (card.sig[0].at(-1) || 0);
    push(card.sig, s.signal, tSig - s.history_s);
    const scoreRows = s.scores.map((r) => [r[0], r[1], s.threshold]);
    const tSc = scoreRows.length ? scoreRows[scoreRows.length - 1][0] : (card.sc[0].at(-1) || 0);
    push(card.sc, scoreRows, tSc - msg.score_history_s);
    for (const e of s.recent_events) {
      card.events.push([e.start_s, e.end_s]);
      const li = el("li", "event", e.start_s.toFixed(1) + "–" + e.end_s.toFixed(1) + " s, peak " +
        e.peak.toPrecision(4) + " · " + e.detector + " (" + e.kind + ") · " + clock(e.start) + "–" + clock(e.end) +
        where(e.explain, e.heard_by));
      li.dataset.kind = e.kind;
      li.dataset.eventId = e.event_id;
      card.list.insertBefore(li, card.openLi ? card.openLi.nextSibling : card.list.firstChild);
    }
    showOpen(card, s.open_event);
    card.sigPlot.setData(card.sig);
    card.scPlot.setData(card.sc);
    if (card.fhrPlot) {
      push(card.fhr, s.fhr, (s.fhr.length ? s.fhr[s.fhr.length - 1][0] : 0) - CTG_SPAN_S);
      if (s.ctg) showReading(card.reading, s.ctg);
      card.fhrNone.style.display = card.fhr[0].length ? "none" : "";
      const bpm = card.fhr[1].at(-1);
      card.fhrNow.textContent = "FHR " + (bpm === undefined ? "–" : Math.round(bpm)) + " bpm";
      card.fhrPlot.setData(card.fhr);
    }
  }
}

const source = new EventSource("api/live" + q);
source.onmessage = (m) => update(JSON.parse(m.data));
source.onerror = () => { document.getElementById("gateway-health").textContent = "connection lost, retrying…"; };
