// The HTML run report (see report.h): the runs' records as JSON in the page, Chart.js inlined,
// and the page's script drawing one chart per metric with every run in it.
#include "ptune/report/report.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "ptune/core/error.h"
#include "ptune/core/json.h"
#include "ptune/core/text.h"
#include "ptune/io/fs.h"

namespace ptune {

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr const char* kDebianChartJs = "/usr/share/javascript/chart.js/chart.min.js";

// recipe.yaml as {"a.b.c": "value"}: maps joined with '.', lists and scalars as YAML text.
void flatten(const YAML::Node& n, const std::string& prefix, json& out) {
  if (n.IsMap()) {
    for (const auto& kv : n) {
      const std::string key = kv.first.as<std::string>();
      flatten(kv.second, prefix.empty() ? key : prefix + "." + key, out);
    }
    return;
  }
  YAML::Emitter e;
  e << YAML::Flow << n;
  out[prefix] = std::string(e.c_str());
}

// metrics.jsonl's records. The last line of a run in progress may be half-written: skipped.
json read_records(const std::string& path) {
  std::ifstream in(path);
  if (!in) runtime_error("{}: cannot read (is this a ptune run directory?)", path);
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string text = ss.str();
  json records = json::array();
  size_t start = 0;
  for (int64_t line = 1; start < text.size(); ++line) {
    const size_t end = text.find('\n', start);
    const bool complete = end != std::string::npos;
    const std::string s = text.substr(start, complete ? end - start : std::string::npos);
    start = complete ? end + 1 : text.size();
    if (s.find_first_not_of(" \t\r") == std::string::npos) continue;
    json j = parse_json_or_discarded(s);
    if (j.is_object() && j.contains("step")) {
      records.push_back(std::move(j));
    } else if (complete) {
      runtime_error("{}:{}: not a metrics record (a JSON object with \"step\")", path, line);
    }
  }
  return records;
}

json read_run(const std::string& dir) {
  if (!fs::is_directory(dir)) usage_error("report: '{}' is not a run directory", dir);
  json run;
  run["dir"] = dir;
  std::string name = fs::path(dir).lexically_normal().filename().string();
  if (name.empty() || name == ".")
    name = fs::path(dir).lexically_normal().parent_path().filename().string();
  run["name"] = name;
  run["records"] = read_records(dir + "/metrics.jsonl");
  json recipe = json::object();
  const std::string recipe_path = dir + "/recipe.yaml";
  if (fs::exists(recipe_path)) {
    try {
      flatten(YAML::LoadFile(recipe_path), "", recipe);
    } catch (const YAML::Exception& e) {
      runtime_error("{}: {}", recipe_path, e.what());
    }
  }
  run["recipe"] = std::move(recipe);
  json info = json::object();
  const std::string info_path = dir + "/run.json";
  if (fs::exists(info_path)) {
    info = parse_json_or_discarded(read_file(info_path));
    if (!info.is_object()) runtime_error("{}: not a JSON object", info_path);
  }
  run["info"] = std::move(info);
  return run;
}

// Text for inside <script>: "</" never closes the element early.
std::string script_safe(std::string s) {
  for (size_t i = 0; (i = s.find("</", i)) != std::string::npos; i += 3) s.replace(i, 2, "<\\/");
  return s;
}

constexpr const char* kHead = R"HTML(<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>ptune report</title>
<style>
body { font: 14px system-ui, sans-serif; margin: 16px 24px; color: #222; }
h1 { font-size: 20px; margin: 0 0 4px; }
h2 { font-size: 16px; margin: 20px 0 8px; }
table { border-collapse: collapse; margin-bottom: 8px; }
th, td { border: 1px solid #ccc; padding: 3px 8px; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(460px, 1fr)); gap: 16px; }
.chart { position: relative; height: 300px; border: 1px solid #e4e4e4; padding: 6px; }
.muted { color: #777; }
</style>
<script>
)HTML";

// The page: tables and charts built from RUNS; `selfcheck` (URL #selfcheck) reports, for the
// browser test, the pixels of each chart's data colours and its legend.
constexpr const char* kBody = R"HTML(
</script>
</head>
<body>
<h1>ptune report</h1>
<div class="muted" id="subtitle"></div>
<h2>Runs</h2>
<table id="runs"></table>
<h2>Recipe differences</h2>
<table id="diffs"></table>
<h2>Curves <label class="muted">x axis <select id="xaxis"><option value="step">step</option>
<option value="tokens">tokens</option></select></label></h2>
<div class="grid" id="charts"></div>
<pre id="selfcheck" hidden></pre>
<script>
"use strict";
const errors = [];
window.addEventListener("error", (e) => errors.push(String(e.message)));
const consoleError = console.error;
console.error = (...a) => { errors.push(a.map(String).join(" ")); consoleError(...a); };

const PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2",
                 "#17becf", "#bcbd22", "#7f7f7f"];
const SPECS = [
  {id: "loss", title: "Training loss (smoothed; raw faint)", key: "loss", smooth: true},
  {id: "eval_loss", title: "Eval loss", key: "eval_loss"},
  {id: "eval_perplexity", title: "Eval perplexity", key: "eval_perplexity", log: true},
  {id: "eval_accuracy", title: "Eval next-token accuracy", key: "eval_accuracy"},
  {id: "lr", title: "Learning rate", key: "lr"},
  {id: "grad_norm", title: "Gradient norm", key: "grad_norm"},
  {id: "tokens_per_s", title: "Tokens/s", key: "tokens_per_s"},
  {id: "loss_scale", title: "fp16 loss scale", key: "loss_scale", log: true},
  {id: "skipped_steps", title: "fp16 skipped steps", key: "skipped_steps"},
  {id: "mtp_loss", title: "MTP head loss (training)", pattern: /^mtp_loss_(\d+)$/},
  {id: "mtp_acc", title: "MTP head accuracy (training)", pattern: /^mtp_acc_(\d+)$/},
  {id: "eval_mtp_loss", title: "MTP head loss (eval)", pattern: /^eval_mtp_loss_(\d+)$/},
  {id: "eval_mtp_acc", title: "MTP head accuracy (eval)", pattern: /^eval_mtp_acc_(\d+)$/},
];

function last(records, key) {
  for (let i = records.length - 1; i >= 0; --i) if (records[i][key] !== undefined) return records[i][key];
  return undefined;
}
function fmt(v, digits) {
  if (v === undefined || v === null) return "";
  if (typeof v !== "number") return String(v);
  if (Number.isInteger(v)) return v.toLocaleString("en-US");
  return v.toFixed(digits === undefined ? 4 : digits);
}
function duration(s) {
  if (s === undefined) return "";
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = Math.round(s % 60);
  return h ? `${h}h ${m}m` : m ? `${m}m ${sec}s` : `${sec}s`;
}
function row(table, cells, header, numeric) {
  const tr = document.createElement("tr");
  cells.forEach((c, i) => {
    const td = document.createElement(header ? "th" : "td");
    td.textContent = c;
    if (!header && numeric && numeric[i]) td.className = "num";
    tr.appendChild(td);
  });
  table.appendChild(tr);
}

function runTable() {
  const t = document.getElementById("runs");
  row(t, ["run", "method", "trainable / total parameters", "steps", "tokens", "wall time",
          "peak RSS", "train loss", "eval loss", "eval ppl", "eval acc", "state"], true);
  for (const r of RUNS) {
    const rec = r.records, info = r.info;
    const step = last(rec, "step"), total = info.steps;
    const rss = last(rec, "peak_rss_mb");
    row(t, [r.name, info.method || r.recipe["method.type"] || "",
            info.params_trainable !== undefined
                ? `${fmt(info.params_trainable)} / ${fmt(info.params_total)}` : "",
            total ? `${fmt(step)} / ${fmt(total)}` : fmt(step), fmt(last(rec, "tokens")),
            duration(last(rec, "elapsed_s")), rss === undefined ? "" : `${(rss / 1024).toFixed(2)} GB`,
            fmt(last(rec, "loss")), fmt(last(rec, "eval_loss")), fmt(last(rec, "eval_perplexity"), 2),
            fmt(last(rec, "eval_accuracy"), 3), info.finished ? "finished" : "in progress"],
        false, [0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0]);
  }
}

function diffTable() {
  const t = document.getElementById("diffs");
  const keys = new Set();
  for (const r of RUNS) for (const k of Object.keys(r.recipe)) keys.add(k);
  const differing = [...keys].sort().filter((k) => k !== "output.dir" &&
      new Set(RUNS.map((r) => r.recipe[k] === undefined ? "(unset)" : r.recipe[k])).size > 1);
  if (RUNS.length < 2 || differing.length === 0) {
    row(t, [RUNS.length < 2 ? "one run: nothing to compare" : "the recipes are the same"], false);
    return;
  }
  row(t, ["recipe key", ...RUNS.map((r) => r.name)], true);
  for (const k of differing) row(t, [k, ...RUNS.map((r) => r.recipe[k] === undefined ? "(unset)" : r.recipe[k])]);
}

function smoothed(points, weight) {  // TensorBoard's debiased exponential moving average
  let s = 0, n = 0;
  return points.map((p) => { s = weight * s + (1 - weight) * p.y; ++n; return {x: p.x, y: s / (1 - Math.pow(weight, n))}; });
}

function datasets(spec, xkey) {
  const out = [];
  RUNS.forEach((r, i) => {
    const color = PALETTE[i % PALETTE.length];
    const keys = spec.key ? [spec.key] : [...new Set(r.records.flatMap((rec) => Object.keys(rec)))]
        .filter((k) => spec.pattern.test(k)).sort((a, b) => Number(a.match(spec.pattern)[1]) - Number(b.match(spec.pattern)[1]));
    keys.forEach((key, h) => {
      const points = r.records.filter((rec) => typeof rec[key] === "number" && typeof rec[xkey] === "number")
          .map((rec) => ({x: rec[xkey], y: rec[key]}));
      if (points.length === 0) return;
      const label = spec.key ? r.name : `${r.name} head ${key.match(spec.pattern)[1]}`;
      const dash = spec.key ? [] : [[], [6, 3], [2, 2], [8, 3, 2, 3]][h % 4];
      const radius = points.length < 30 ? 3 : 0;
      if (spec.smooth && points.length > 2) {
        out.push({label: `${label} (raw)`, data: points, borderColor: color + "40", backgroundColor: color + "40",
                  borderWidth: 1, pointRadius: 0});
        out.push({label, data: smoothed(points, 0.8), borderColor: color, backgroundColor: color,
                  borderWidth: 2, pointRadius: 0});
      } else {
        out.push({label, data: points, borderColor: color, backgroundColor: color, borderWidth: 2,
                  pointRadius: radius, borderDash: dash});
      }
    });
  });
  return out;
}

let charts = [];
function drawCharts() {
  const xkey = document.getElementById("xaxis").value;
  charts.forEach((c) => c.destroy());
  charts = [];
  const grid = document.getElementById("charts");
  grid.innerHTML = "";
  for (const spec of SPECS) {
    const data = datasets(spec, xkey);
    if (data.length === 0) continue;
    const box = document.createElement("div");
    box.className = "chart";
    const canvas = document.createElement("canvas");
    canvas.id = "chart-" + spec.id;
    box.appendChild(canvas);
    grid.appendChild(box);
    // A log axis fitted to the data: Chart.js would otherwise start it at a power of ten.
    const ys = data.flatMap((d) => d.data.map((p) => p.y)).filter((y) => y > 0);
    const y = {type: spec.log ? "logarithmic" : "linear"};
    if (spec.log && ys.length) {
      y.min = Math.min(...ys) / 1.05;
      y.max = Math.max(...ys) * 1.05;
    }
    charts.push(new Chart(canvas, {
      type: "line",
      data: {datasets: data},
      options: {
        animation: false, responsive: true, maintainAspectRatio: false,
        interaction: {mode: "nearest", intersect: false},
        scales: {x: {type: "linear", title: {display: true, text: xkey}},
                 y},
        plugins: {title: {display: true, text: spec.title},
                  legend: {labels: {filter: (item) => !item.text.endsWith(" (raw)")}}},
      },
    }));
  }
}

function selfcheck() {
  const out = {charts: [], errors};
  for (const c of charts) {
    const a = c.chartArea, ratio = c.currentDevicePixelRatio || 1;
    const img = c.ctx.getImageData(a.left * ratio, a.top * ratio, (a.right - a.left) * ratio,
                                   (a.bottom - a.top) * ratio).data;
    const colors = c.data.datasets.map((d) => [1, 3, 5].map((i) => parseInt(d.borderColor.substr(i, 2), 16)));
    let n = 0;
    for (let i = 0; i < img.length; i += 4) {
      if (img[i + 3] < 128) continue;
      if (colors.some(([r, g, b]) => Math.abs(img[i] - r) + Math.abs(img[i + 1] - g) + Math.abs(img[i + 2] - b) < 60)) ++n;
    }
    out.charts.push({id: c.canvas.id, title: c.options.plugins.title.text, data_pixels: n,
                     legend: c.legend.legendItems.map((item) => item.text)});
  }
  return out;
}

try {
  document.getElementById("subtitle").textContent =
      `${RUNS.length} run(s): ${RUNS.map((r) => r.dir).join(", ")}; generated ${GENERATED}`;
  runTable();
  diffTable();
  drawCharts();
  document.getElementById("xaxis").addEventListener("change", drawCharts);
} catch (e) {
  errors.push(String(e));
}
if (location.hash === "#selfcheck") {
  const pre = document.getElementById("selfcheck");
  pre.textContent = JSON.stringify(selfcheck());
  pre.hidden = false;
}
</script>
</body>
</html>
)HTML";

}  // namespace

std::string chart_js_path() {
  const char* env = std::getenv("PTUNE_CHART_JS");
  return env && *env ? env : kDebianChartJs;
}

std::string render_report(const std::vector<std::string>& run_dirs) {
  if (run_dirs.empty()) usage_error("report: give at least one run directory");
  json runs = json::array();
  for (const auto& dir : run_dirs) runs.push_back(read_run(dir));
  const std::string js = chart_js_path();
  if (!fs::exists(js))
    runtime_error(
        "report: Chart.js not found at {} (install Debian's libjs-chart.js, or set "
        "PTUNE_CHART_JS to chart.min.js)",
        js);
  std::string chart = read_file(js);
  std::string lower = chart;
  std::transform(lower.begin(), lower.end(), lower.begin(), ::tolower);
  if (lower.find("</script") != std::string::npos)
    runtime_error("report: {} contains '</script' and cannot be inlined", js);
  std::string html = kHead;
  html += chart;
  html += "\n";
  html += "const RUNS = " + script_safe(runs.dump()) + ";\n";
  html += "const GENERATED = " + script_safe(json(utc_now()).dump()) + ";\n";
  html += kBody;
  return html;
}

void write_report(const std::vector<std::string>& run_dirs, const std::string& out) {
  std::error_code ec;
  const fs::path target = fs::weakly_canonical(out, ec);
  for (const auto& dir : run_dirs)
    for (const char* f : {"metrics.jsonl", "recipe.yaml", "run.json"}) {
      std::error_code e2;
      if (!ec && fs::exists(fs::path(dir) / f) && fs::equivalent(target, fs::path(dir) / f, e2))
        usage_error("report: the output {} is the run's input {}/{}; choose another -o", out, dir,
                    f);
    }
  if (fs::is_directory(out)) usage_error("report: the output {} is a directory", out);
  write_file_atomic(out, render_report(run_dirs));
}

}  // namespace ptune
