// The farout dashboard: reads the service's JSON routes with the API key kept
// in this browser's localStorage (sent in the Authorization header only),
// draws its charts as inline SVG, and posts analysts' verdicts.
"use strict";

const KEY = "farout.apiKey";
const ANALYST = "farout.analyst";
const SVG = "http://www.w3.org/2000/svg";
const $ = (id) => document.getElementById(id);

function setStatus(text, isError) {
  const status = $("status");
  status.textContent = text;
  status.className = isError ? "error" : "";
}

async function api(path, options) {
  const init = Object.assign({ headers: {} }, options || {});
  init.headers["Authorization"] = "Bearer " + localStorage.getItem(KEY);
  if (init.body) init.headers["Content-Type"] = "application/json";
  const response = await fetch(path, init);
  const body = await response.json().catch(() => null);
  if (!response.ok) {
    const message = body && body.error ? body.error.message : response.statusText;
    const error = new Error(path.split("?")[0] + ": " + message);
    error.status = response.status;
    throw error;
  }
  return body;
}

function el(tag, attributes, text) {
  const node = tag.startsWith("svg:")
    ? document.createElementNS(SVG, tag.slice(4))
    : document.createElement(tag);
  for (const [name, value] of Object.entries(attributes || {})) {
    if (value !== undefined && value !== null) node.setAttribute(name, String(value));
  }
  if (text !== undefined) node.textContent = text;
  return node;
}

function clear(node) {
  while (node.firstChild) node.removeChild(node.firstChild);
  return node;
}

const pct = (x) => (x === null || x === undefined ? "n/a" : (100 * x).toFixed(1) + "%");
const num = (x, digits) => (x === null || x === undefined ? "" : Number(x).toFixed(digits));
const shortTime = (iso) => iso.slice(5, 16).replace("T", " ");

function severityClass(name, tiers) {
  const i = tiers.indexOf(name);
  return i >= 0 ? "sev-" + Math.min(i, 3) : "sev-untiered";
}

// ---------------------------------------------------------------- charts
function drawAlertVolume(monitoring) {
  const svg = clear($("alert-volume"));
  const windows = monitoring.alert_rate.windows;
  const tiers = monitoring.threshold.tiers.map((t) => t.name);
  const names = [...tiers];
  for (const w of windows) {
    for (const name of Object.keys(w.by_severity)) if (!names.includes(name)) names.push(name);
  }
  const W = 800, H = 220, left = 40, bottom = 24, top = 8;
  const most = Math.max(1, ...windows.map((w) => w.flagged));
  const step = (W - left) / Math.max(1, windows.length);
  svg.appendChild(el("svg:line", { class: "axis", x1: left, y1: H - bottom, x2: W, y2: H - bottom }));
  svg.appendChild(el("svg:text", { x: 2, y: top + 10 }, String(most)));
  svg.appendChild(el("svg:text", { x: 2, y: H - bottom }, "0"));
  windows.forEach((w, i) => {
    let y = H - bottom;
    for (const name of names) {
      const count = w.by_severity[name] || 0;
      if (!count) continue;
      const h = ((H - bottom - top) * count) / most;
      y -= h;
      const rect = el("svg:rect", {
        class: "bar alerts " + severityClass(name, tiers),
        x: left + i * step + 1, y: y, width: Math.max(1, step - 2), height: h,
        "data-severity": name, "data-count": count, "data-start": w.start,
      });
      rect.appendChild(el("svg:title", {}, `${w.start}: ${count} ${name}`));
      svg.appendChild(rect);
    }
    if (i % Math.ceil(windows.length / 8) === 0) {
      svg.appendChild(el("svg:text", { x: left + i * step, y: H - 6 }, shortTime(w.start)));
    }
  });
  const legend = clear($("alert-legend"));
  for (const name of names) {
    legend.appendChild(el("span", { class: "key " + severityClass(name, tiers) }));
    legend.appendChild(document.createTextNode(name));
  }
  const rate = monitoring.alert_rate;
  $("alert-rate-text").textContent =
    `${rate.flagged} alerts in ${monitoring.rows} live rows (${pct(rate.live)}); ` +
    `training alert rate ${pct(rate.training)}.`;
}

function drawScores(monitoring) {
  const svg = clear($("score-distribution"));
  const scores = monitoring.scores;
  const histogram = scores.histogram;
  if (!histogram) return;
  const W = 800, H = 220, left = 10, bottom = 24, top = 8;
  const edges = histogram.edges;
  const share = (counts) => {
    const total = counts.reduce((a, b) => a + b, 0);
    return counts.map((c) => (total ? c / total : 0));
  };
  const training = share(histogram.training_counts);
  const live = share(histogram.live_counts);
  const most = Math.max(1e-9, ...training, ...live);
  const x = (v) => left + ((W - 2 * left) * (v - edges[0])) / (edges[edges.length - 1] - edges[0]);
  const width = (W - 2 * left) / training.length;
  svg.appendChild(el("svg:line", { class: "axis", x1: left, y1: H - bottom, x2: W - left, y2: H - bottom }));
  const bars = (values, counts, kind, offset) => {
    values.forEach((v, i) => {
      const h = ((H - bottom - top) * v) / most;
      const rect = el("svg:rect", {
        class: "bar " + kind, x: x(edges[i]) + offset, y: H - bottom - h,
        width: Math.max(1, width / 2 - 1), height: h, "data-count": counts[i],
      });
      rect.appendChild(el("svg:title", {}, `${kind} ${num(edges[i], 2)}-${num(edges[i + 1], 2)}: ${counts[i]}`));
      svg.appendChild(rect);
    });
  };
  bars(training, histogram.training_counts, "training", 0);
  bars(live, histogram.live_counts, "live", width / 2);
  const cuts = [{ name: "threshold", cut: monitoring.threshold.cut }, ...monitoring.threshold.tiers];
  cuts.forEach((c, i) => {
    const at = x(Math.min(c.cut, edges[edges.length - 1]));
    svg.appendChild(el("svg:line", {
      class: "cut " + (i ? "tier" : "threshold"), x1: at, x2: at, y1: top, y2: H - bottom,
      "data-name": c.name, "data-cut": c.cut,
    }));
    svg.appendChild(el("svg:text", { x: at + 3, y: top + 10 + 12 * i }, `${c.name} ${num(c.cut, 2)}`));
  });
  svg.appendChild(el("svg:text", { x: left, y: H - 6 }, num(edges[0], 2)));
  svg.appendChild(el("svg:text", { x: W - 60, y: H - 6 }, num(edges[edges.length - 1], 2) + "+"));
  $("score-text").textContent =
    `score drift: ${scores.status}` +
    (scores.ks_statistic !== null && scores.ks_statistic !== undefined
      ? ` (KS ${num(scores.ks_statistic, 2)}, PSI ${num(scores.psi, 2)}; live median ` +
        `${num(scores.live_median, 2)} against ${num(scores.reference_median, 2)})`
      : "");
}

function drawPrecision(summary) {
  const svg = clear($("precision-by-tier"));
  const tiers = Object.entries(summary.precision_by_tier || {});
  const W = 400, H = 200, left = 70, top = 6, row = Math.min(34, (H - top) / Math.max(1, tiers.length));
  tiers.forEach(([name, entry], i) => {
    const y = top + i * row;
    svg.appendChild(el("svg:text", { x: 2, y: y + row / 2 + 4 }, name));
    const p = entry.precision;
    const rect = el("svg:rect", {
      class: "bar precision", x: left, y: y + 3, height: row - 8,
      width: p === null ? 0 : (W - left - 70) * p,
      "data-tier": name, "data-precision": p === null ? "" : p, "data-reviewed": entry.reviewed,
    });
    svg.appendChild(rect);
    svg.appendChild(el("svg:text", { x: W - 66, y: y + row / 2 + 4 },
      `${pct(p)} of ${entry.reviewed}`));
  });
  const a = summary.agreement || {};
  $("agreement").textContent =
    `precision ${pct(summary.precision)} on ${summary.reviewed} reviewed of ${summary.flagged} alerts; ` +
    (a.kappa === null || a.kappa === undefined
      ? "agreement: not enough predictions judged twice."
      : `agreement (${a.method}'s kappa) ${num(a.kappa, 2)} over ${a.predictions} predictions.`);
}

function drawDrift(monitoring) {
  const body = clear($("drift").tBodies[0]);
  const rows = [{ name: "scores", ...monitoring.scores }, ...monitoring.features];
  for (const f of rows) {
    const tr = el("tr", { "data-feature": f.name, "data-status": f.status });
    tr.appendChild(el("td", {}, f.name));
    const status = el("td");
    status.appendChild(el("span", { class: "badge " + f.status }, f.status.replace(/_/g, " ")));
    tr.appendChild(status);
    tr.appendChild(el("td", {}, num(f.ks_statistic, 2)));
    tr.appendChild(el("td", {}, num(f.psi, 2)));
    const shift = f.mean_shift_sd !== null && f.mean_shift_sd !== undefined
      ? `${f.mean_shift_sd > 0 ? "+" : ""}${num(f.mean_shift_sd, 1)} sd`
      : f.total_variation !== null && f.total_variation !== undefined
        ? `TV ${num(f.total_variation, 2)}` : "";
    tr.appendChild(el("td", {}, shift));
    tr.appendChild(el("td", {}, String(f.rows)));
    body.appendChild(tr);
  }
  const retrain = $("retrain");
  retrain.textContent = monitoring.retrain.reason;
  retrain.className = monitoring.retrain.recommended ? "recommended" : "";
}

function drawModels(models) {
  const body = clear($("models").tBodies[0]);
  for (const model of models.models) {
    for (const v of model.versions) {
      const tr = el("tr", { "data-model": model.name, "data-version": v.version });
      tr.appendChild(el("td", {}, model.name));
      tr.appendChild(el("td", {}, String(v.version)));
      const aliases = el("td");
      for (const alias of v.aliases) aliases.appendChild(el("span", { class: "badge " + alias }, alias));
      tr.appendChild(aliases);
      tr.appendChild(el("td", {}, new Date(v.uploaded_at * 1000).toISOString().slice(0, 16).replace("T", " ")));
      tr.appendChild(el("td", {}, v.uploaded_by));
      const p = v.provenance;
      tr.appendChild(el("td", {}, p ? JSON.stringify(p.target || p).slice(0, 80) : ""));
      body.appendChild(tr);
    }
  }
}

function drawQueue(listing) {
  const queue = clear($("queue"));
  const rows = listing.predictions;
  $("queue-text").textContent = rows.length
    ? `${rows.length} unreviewed alert(s), oldest first${listing.next_cursor ? " (more after these)" : ""}.`
    : "No unreviewed alerts.";
  for (const p of rows) {
    const li = el("li", { "data-prediction": p.prediction_id });
    li.appendChild(el("strong", {}, `${p.severity || "flagged"} · score ${num(p.anomaly_score, 2)}`));
    li.appendChild(el("span", { class: "muted" }, ` ${p.scored_at.slice(0, 19).replace("T", " ")} · ${p.model_name}/${p.model_version} · ${p.prediction_id}`));
    li.appendChild(el("span", { class: "reason" }, p.reason || "(no reason)"));
    const buttons = el("div", { class: "verdicts" });
    for (const verdict of ["anomaly", "normal", "unsure"]) {
      const button = el("button", { type: "button", class: "verdict", "data-verdict": verdict }, verdict);
      button.addEventListener("click", () => judge(li, p.prediction_id, verdict));
      buttons.appendChild(button);
    }
    li.appendChild(buttons);
    queue.appendChild(li);
  }
}

async function judge(li, predictionId, verdict) {
  const buttons = li.querySelectorAll("button.verdict");
  buttons.forEach((b) => (b.disabled = true));
  try {
    await api("/v1/feedback", {
      method: "POST",
      body: JSON.stringify({ prediction_id: predictionId, verdict: verdict, analyst: localStorage.getItem(ANALYST) }),
    });
    li.classList.add("judged");
    li.setAttribute("data-verdict", verdict);
    li.querySelector(".verdicts").appendChild(el("span", { class: "recorded" }, ` recorded: ${verdict}`));
    drawPrecision(await api("/v1/feedback/summary?model=" + encodeURIComponent($("model").value)));
    setStatus(`Verdict "${verdict}" recorded for ${predictionId}.`);
  } catch (error) {
    buttons.forEach((b) => (b.disabled = false));
    setStatus(error.message, true);
  }
}

// -------------------------------------------------------------- the page
async function refresh() {
  if (!localStorage.getItem(KEY) || !localStorage.getItem(ANALYST)) return showSetup();
  $("setup").hidden = true;
  $("who").textContent = "analyst: " + localStorage.getItem(ANALYST);
  setStatus("Loading...");
  const until = Date.now() / 1000;
  const since = until - Number($("range").value);
  const window_ = $("window").value;
  try {
    const models = await api("/v1/models");
    const name = pickModel(models.models);
    if (name === null) {
      $("panels").hidden = true;
      return setStatus("No model is registered yet: upload one (POST /v1/models).");
    }
    const only = "&model=" + encodeURIComponent(name);
    const [monitoring, summary, queue] = await Promise.all([
      api(`/v1/monitoring?window=${encodeURIComponent(window_)}&since=${since}&until=${until}` +
          `&model=${encodeURIComponent(name + "@champion")}`),
      api("/v1/feedback/summary?" + only.slice(1)),
      api(`/v1/predictions?flagged=true&shadow=false&reviewed=false&limit=50&since=${since}${only}`),
    ]);
    $("panels").hidden = false;
    $("model-name").textContent =
      `${monitoring.model.name}/${monitoring.model.version}` +
      (monitoring.model.alias ? ` (${monitoring.model.alias})` : "");
    drawAlertVolume(monitoring);
    drawScores(monitoring);
    drawDrift(monitoring);
    drawPrecision(summary);
    drawModels(models);
    drawQueue(queue);
    document.body.setAttribute("data-loaded", new Date().toISOString());
    setStatus(`Updated ${new Date().toLocaleTimeString()}.`);
  } catch (error) {
    if (error.status === 401 || error.status === 403) {
      setStatus("The API key was refused; enter another.", true);
      return showSetup();
    }
    setStatus(error.message, true);
  }
}

function pickModel(models) {
  // the menu lists the models; the choice stays what it was when it still exists
  const select = $("model");
  const chosen = select.value;
  const names = models.filter((m) => m.aliases.champion).map((m) => m.name);
  clear(select);
  for (const name of names) select.appendChild(el("option", { value: name }, name));
  if (!names.length) return null;
  select.value = names.includes(chosen) ? chosen : names[0];
  return select.value;
}

function showSetup() {
  $("panels").hidden = true;
  $("setup").hidden = false;
  $("analyst").value = localStorage.getItem(ANALYST) || "";
}

document.addEventListener("DOMContentLoaded", () => {
  $("setup-form").addEventListener("submit", (event) => {
    event.preventDefault();
    localStorage.setItem(KEY, $("api-key").value.trim());
    localStorage.setItem(ANALYST, $("analyst").value.trim());
    $("api-key").value = "";
    refresh();
  });
  $("sign-out").addEventListener("click", () => {
    localStorage.removeItem(KEY);
    showSetup();
  });
  $("refresh").addEventListener("click", refresh);
  $("window").addEventListener("change", refresh);
  $("range").addEventListener("change", refresh);
  $("model").addEventListener("change", refresh);
  refresh();
});
