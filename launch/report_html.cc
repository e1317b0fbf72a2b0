// SVG plots and the report page (see report_html.h).
#include "launch/report_html.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"

namespace dqt {
namespace {

constexpr double kWidth = 560, kHeight = 250;
constexpr double kLeft = 64, kRight = 16, kTop = 30, kBottom = 40;
// Each colour marks one quantity on the page (tests/ops/report_check.py finds them in a
// screenshot): the first half of Matplotlib's default cycle for the scalar plots, the rest of it
// and darker tones for layer types, one pale blue for bars.
constexpr const char* kPalette[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd"};
constexpr const char* kLayerPalette[] = {"#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
                                         "#393b79", "#637939", "#8c6d31", "#843c39", "#7b4173"};
constexpr char kBarColor[] = "#9ecae1";

}  // namespace

std::string HtmlEscape(std::string_view text) {
  std::string out;
  for (const char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

namespace {

// Up to ~5 round tick values covering [lo, hi].
std::vector<double> Ticks(double lo, double hi) {
  const double span = hi - lo;
  const double raw = span / 5;
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  double step = mag;
  for (const double m : {1.0, 2.0, 5.0, 10.0}) {
    step = m * mag;
    if (step >= raw) break;
  }
  std::vector<double> ticks;
  for (double t = std::ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) {
    ticks.push_back(std::abs(t) < step * 1e-9 ? 0.0 : t);
  }
  return ticks;
}

std::string TickLabel(double v) { return absl::StrFormat("%.4g", v); }

}  // namespace

std::string LineChartSvg(const std::string& id, const std::string& title, const std::string& y_unit,
                         const std::vector<PlotSeries>& series) {
  double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
  size_t points = 0;
  for (const PlotSeries& s : series) {
    for (const auto& [x, y] : s.xy) {
      if (!std::isfinite(x) || !std::isfinite(y)) continue;
      x0 = std::min(x0, x), x1 = std::max(x1, x), y0 = std::min(y0, y), y1 = std::max(y1, y);
      ++points;
    }
  }
  // The legend (several series only) wraps in rows under the chart.
  std::string legend;
  double legend_x = kLeft, legend_y = kHeight + 4;
  for (const PlotSeries& s : series) {
    if (series.size() < 2) break;
    const double width = 24 + 7 * s.name.size();
    if (legend_x + width > kWidth && legend_x > kLeft) legend_x = kLeft, legend_y += 18;
    absl::StrAppendFormat(&legend,
                          "<rect x=\"%.0f\" y=\"%.0f\" width=\"10\" height=\"10\" fill=\"%s\"/>"
                          "<text x=\"%.0f\" y=\"%.0f\" class=\"legend\">%s</text>\n",
                          legend_x, legend_y, s.color, legend_x + 14, legend_y + 9,
                          HtmlEscape(s.name));
    legend_x += width;
  }
  const double height = legend.empty() ? kHeight : legend_y + 18;
  std::string svg = absl::StrFormat(
      "<svg class=\"plot\" data-plot=\"%s\" data-points=\"%d\" "
      "xmlns=\"http://www.w3.org/2000/svg\" "
      "width=\"%g\" height=\"%g\" viewBox=\"0 0 %g %g\">\n<text x=\"%g\" y=\"18\" "
      "class=\"title\">%s</text>\n",
      HtmlEscape(id), points, kWidth, height, kWidth, height, kLeft, HtmlEscape(title));
  if (points == 0) {
    return absl::StrCat(
        svg, absl::StrFormat("<text x=\"%g\" y=\"%g\" class=\"empty\">no data yet</text>\n</svg>\n",
                             kLeft, kHeight / 2));
  }
  if (x1 == x0) x0 -= 0.5, x1 += 0.5;
  if (y1 == y0) {
    const double pad = y0 == 0 ? 1 : std::abs(y0) * 0.05;
    y0 -= pad, y1 += pad;
  }
  const double pw = kWidth - kLeft - kRight, ph = kHeight - kTop - kBottom;
  auto px = [&](double x) { return kLeft + (x - x0) / (x1 - x0) * pw; };
  auto py = [&](double y) { return kTop + (y1 - y) / (y1 - y0) * ph; };
  absl::StrAppendFormat(&svg,
                        "<rect x=\"%g\" y=\"%g\" width=\"%g\" height=\"%g\" class=\"frame\"/>\n",
                        kLeft, kTop, pw, ph);
  for (const double t : Ticks(y0, y1)) {
    absl::StrAppendFormat(&svg,
                          "<line x1=\"%g\" x2=\"%g\" y1=\"%.1f\" y2=\"%.1f\" class=\"grid\"/><text "
                          "x=\"%g\" y=\"%.1f\" class=\"ytick\">%s</text>\n",
                          kLeft, kLeft + pw, py(t), py(t), kLeft - 4, py(t) + 4, TickLabel(t));
  }
  for (const double t : Ticks(x0, x1)) {
    absl::StrAppendFormat(&svg, "<text x=\"%.1f\" y=\"%g\" class=\"xtick\">%s</text>\n", px(t),
                          kTop + ph + 16, TickLabel(t));
  }
  absl::StrAppendFormat(&svg,
                        "<text x=\"%g\" y=\"%g\" class=\"xlabel\">step</text><text x=\"12\" "
                        "y=\"%g\" class=\"ylabel\" transform=\"rotate(-90 12 %g)\">%s</text>\n",
                        kLeft + pw / 2, kHeight - 6, kTop + ph / 2, kTop + ph / 2,
                        HtmlEscape(y_unit));
  for (const PlotSeries& s : series) {
    std::vector<std::string> coords;
    for (const auto& [x, y] : s.xy) {
      if (std::isfinite(x) && std::isfinite(y)) {
        coords.push_back(absl::StrFormat("%.1f,%.1f", px(x), py(y)));
      }
    }
    if (coords.empty()) continue;
    // A single point draws as a dot: a one-point polyline has no visible length.
    if (coords.size() == 1) {
      const size_t comma = coords[0].find(',');
      absl::StrAppendFormat(&svg,
                            "<circle class=\"series\" data-series=\"%s\" data-points=\"1\" "
                            "cx=\"%s\" cy=\"%s\" r=\"3\" fill=\"%s\"/>\n",
                            HtmlEscape(s.name), coords[0].substr(0, comma),
                            coords[0].substr(comma + 1), s.color);
    } else {
      absl::StrAppendFormat(&svg,
                            "<polyline class=\"series\" data-series=\"%s\" data-points=\"%d\" "
                            "fill=\"none\" stroke=\"%s\" stroke-width=\"2\" points=\"%s\"/>\n",
                            HtmlEscape(s.name), coords.size(), s.color, absl::StrJoin(coords, " "));
    }
  }
  return absl::StrCat(svg, legend, "</svg>\n");
}

std::string BarChartSvg(const std::string& id, const std::string& title, const std::string& unit,
                        const std::vector<std::pair<std::string, double>>& bars) {
  double top = 0;
  for (const auto& bar : bars) top = std::max(top, bar.second);
  const double row = 26, label_w = 150, height = kTop + row * std::max<size_t>(bars.size(), 1) + 10;
  std::string svg = absl::StrFormat(
      "<svg class=\"plot\" data-plot=\"%s\" data-points=\"%d\" "
      "xmlns=\"http://www.w3.org/2000/svg\" "
      "width=\"%g\" height=\"%g\" viewBox=\"0 0 %g %g\">\n<text x=\"%g\" y=\"18\" "
      "class=\"title\">%s</text>\n",
      HtmlEscape(id), bars.size(), kWidth, height, kWidth, height, kLeft, HtmlEscape(title));
  if (bars.empty()) {
    return absl::StrCat(
        svg, absl::StrFormat("<text x=\"%g\" y=\"%g\" class=\"empty\">no data yet</text>\n</svg>\n",
                             kLeft, kTop + 14));
  }
  const double bar_w = kWidth - label_w - 110;
  for (size_t i = 0; i < bars.size(); ++i) {
    const double y = kTop + row * i;
    const double w = top > 0 ? bars[i].second / top * bar_w : 0;
    absl::StrAppendFormat(
        &svg,
        "<text x=\"%g\" y=\"%g\" class=\"barlabel\">%s</text><rect class=\"bar\" "
        "x=\"%g\" y=\"%g\" width=\"%.1f\" height=\"18\" fill=\"%s\"/><text x=\"%.1f\" "
        "y=\"%g\" class=\"legend\">%s %s</text>\n",
        label_w - 6, y + 13, HtmlEscape(bars[i].first), label_w, y, std::max(w, 1.0), kBarColor,
        label_w + std::max(w, 1.0) + 6, y + 13, TickLabel(bars[i].second), HtmlEscape(unit));
  }
  return absl::StrCat(svg, "</svg>\n");
}

namespace {

// The plots of the page: one figure per quantity of the log.
std::string ReportPlots(const RunRecord& run) {
  auto steps_of = [&](auto field) {
    std::vector<std::pair<double, double>> xy;
    for (const auto& [step, rec] : run.steps) xy.emplace_back(step, field(rec));
    return xy;
  };
  std::vector<std::pair<double, double>> held_out(run.eval_loss.begin(), run.eval_loss.end());
  std::string out = "<h2>Training</h2>\n<div class=\"plots\">\n";
  absl::StrAppend(
      &out,
      LineChartSvg("loss", "Loss", "nats/token",
                   {{"train", kPalette[0], steps_of([](const StepRecord& r) { return r.loss; })},
                    {"held-out", kPalette[1], held_out}}),
      LineChartSvg("lr", "Learning rate", "lr",
                   {{"lr", kPalette[2], steps_of([](const StepRecord& r) { return r.lr; })}}),
      LineChartSvg(
          "grad_norm", "Gradient norm (before clipping)", "L2 norm",
          {{"grad norm", kPalette[3], steps_of([](const StepRecord& r) { return r.grad_norm; })}}),
      LineChartSvg("tokens_per_s", "Throughput", "tokens/s",
                   {{"tokens/s", kPalette[4],
                     steps_of([](const StepRecord& r) { return r.tokens_per_s; })}}));
  // Code health of quantized tensors, one series per layer type.
  std::vector<std::string> types;
  for (const auto& [step, rec] : run.steps) {
    for (const auto& [type, h] : rec.health) {
      if (std::find(types.begin(), types.end(), type) == types.end()) types.push_back(type);
    }
  }
  const char* names[] = {"Codes flipped per step", "Zero codes", "Codes at a clip level"};
  // (fractions of each layer type's codes)
  const char* ids[] = {"flip", "zero", "clip"};
  if (types.empty() && !run.steps.empty()) {
    absl::StrAppend(&out,
                    "<p class=\"note\">No code-health plots: the log has no \"health\" "
                    "(no tensor of this run is trained on a quantization grid).</p>\n");
  }
  for (int k = 0; k < 3 && !(types.empty() && !run.steps.empty()); ++k) {
    std::vector<PlotSeries> series;
    for (size_t t = 0; t < types.size(); ++t) {
      PlotSeries s{types[t], kLayerPalette[t % std::size(kLayerPalette)], {}};
      for (const auto& [step, rec] : run.steps) {
        if (const auto it = rec.health.find(types[t]); it != rec.health.end()) {
          s.xy.emplace_back(step, it->second[k]);
        }
      }
      series.push_back(std::move(s));
    }
    absl::StrAppend(&out, LineChartSvg(ids[k], names[k], "fraction of the codes", series));
  }
  std::vector<std::pair<std::string, double>> memory;
  for (const auto& [kind, bytes] : run.memory_bytes) memory.emplace_back(kind, bytes / (1 << 20));
  absl::StrAppend(
      &out, BarChartSvg("memory", "Memory on rank 0 by kind (allocator ledger)", "MiB", memory),
      "</div>\n");
  return out;
}

std::string Row(std::string_view key, std::string_view value) {
  return absl::StrCat("<tr><th>", HtmlEscape(key), "</th><td>", HtmlEscape(value), "</td></tr>\n");
}

std::string Text(const JsonValue* v) {
  if (v == nullptr) return "";
  if (v->type == JsonValue::Type::kString || v->type == JsonValue::Type::kNumber) return v->text;
  return "";
}

// Status, progress and the newest launch's facts; every launch in a second table.
std::string ReportFacts(const RunRecord& run) {
  const int last_step = run.steps.empty() ? 0 : run.steps.rbegin()->first + 1;
  std::string status;
  if (run.final_eval_loss) {
    status = absl::StrFormat("finished: held-out loss %.4f nats/token, %s", *run.final_eval_loss,
                             run.final_bits_per_byte
                                 ? absl::StrFormat("%.4f bits/byte", *run.final_bits_per_byte)
                                 : std::string("bits/byte unavailable"));
  } else if (run.stopped_at) {
    status = absl::StrFormat(
        "stopped by a signal after step %d (checkpoint written); waiting for "
        "a resume",
        *run.stopped_at);
  } else {
    status = "running, or ended without its final evaluation";
  }
  std::string out =
      absl::StrCat("<p class=\"status\" id=\"status\">", HtmlEscape(status), "</p>\n");
  absl::StrAppend(
      &out, "<table id=\"facts\">\n",
      Row("progress", absl::StrFormat("%d of %d steps logged", last_step, run.planned_steps)));
  if (!run.steps.empty()) {
    const StepRecord& r = run.steps.rbegin()->second;
    absl::StrAppend(&out, Row("latest step",
                              absl::StrFormat("loss %.4f, lr %.3g, %.0f tokens/s, %.0f s elapsed",
                                              r.loss, r.lr, r.tokens_per_s, r.elapsed_s)));
  }
  absl::StrAppend(
      &out,
      Row("checkpoints", run.checkpoints.empty() ? "none" : absl::StrJoin(run.checkpoints, ", ")),
      Row("launches", absl::StrFormat("%d (%d resumes)", run.launches.size(), run.resumes)));
  if (run.skipped_lines > 0) {
    absl::StrAppend(&out, Row("log lines skipped",
                              absl::StrCat(run.skipped_lines, " (unfinished or not JSON)")));
  }
  if (!run.launches.empty()) {
    const JsonValue& l = run.launches.back();
    std::vector<std::string> args, ranks, libs;
    if (const JsonValue* a = l.Find("command_line"))
      for (const JsonValue& v : a->items) args.push_back(v.text);
    if (const JsonValue* a = l.Find("ranks")) {
      for (const JsonValue& r : a->items) {
        ranks.push_back(absl::StrCat("rank ", Text(r.Find("rank")), ": ", Text(r.Find("host")),
                                     ", ", Text(r.Find("device"))));
      }
    }
    if (const JsonValue* a = l.Find("libraries")) {
      for (const auto& [name, v] : a->members) libs.push_back(absl::StrCat(name, " ", v.text));
    }
    absl::StrAppend(
        &out, Row("git revision", Text(l.Find("git_revision"))),
        Row("started", Text(l.Find("time"))), Row("command line", absl::StrJoin(args, " ")),
        Row("working directory", Text(l.Find("cwd"))),
        Row("layout",
            absl::StrCat(Text(l.Find("launcher")), ", ", Text(l.Find("world_size")), " ranks, dp ",
                         Text(l.Find("dp")), " x tp ", Text(l.Find("tp")))),
        Row("ranks", absl::StrJoin(ranks, "; ")), Row("libraries", absl::StrJoin(libs, "; ")));
    if (const std::string job = Text(l.Find("slurm_job_id")); !job.empty()) {
      absl::StrAppend(&out, Row("Slurm job", absl::StrCat(job, ", restart ",
                                                          Text(l.Find("slurm_restart_count")))));
    }
  }
  absl::StrAppend(&out, "</table>\n");
  return out;
}

// Every launch of the run and the resolved config, below the plots.
std::string ReportAppendix(const RunRecord& run) {
  std::string out;
  if (run.launches.size() > 1) {
    absl::StrAppend(&out,
                    "<h2>Launches</h2>\n<table id=\"launches\"><tr><th>started</th><th>resumed "
                    "from</th><th>git revision</th></tr>\n");
    for (const JsonValue& l : run.launches) {
      absl::StrAppend(&out, "<tr><td>", HtmlEscape(Text(l.Find("time"))), "</td><td>",
                      HtmlEscape(Text(l.Find("resume"))), "</td><td>",
                      HtmlEscape(Text(l.Find("git_revision"))), "</td></tr>\n");
    }
    absl::StrAppend(&out, "</table>\n");
  }
  if (!run.config_text.empty()) {
    absl::StrAppend(&out, "<h2>Resolved config</h2>\n<pre id=\"config\">",
                    HtmlEscape(run.config_text), "</pre>\n");
  }
  return out;
}

}  // namespace

std::string RenderReport(const RunRecord& run, const std::string& generated) {
  return absl::StrCat(
      "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>dqt run ",
      HtmlEscape(run.dir), "</title>\n<style>\n",
      "body{font-family:sans-serif;margin:24px;color:#222;max-width:1180px}"
      "h1{font-size:22px}h2{font-size:18px;margin-top:28px}"
      ".plots{display:flex;flex-wrap:wrap;gap:8px}"
      "svg.plot{background:#fff;border:1px solid #ddd}"
      "svg .title{font-size:14px;font-weight:bold}svg .frame{fill:none;stroke:#999}"
      "svg .grid{stroke:#eee}svg .ytick{font-size:11px;text-anchor:end}"
      "svg .xtick{font-size:11px;text-anchor:middle}svg .xlabel{font-size:12px;text-anchor:middle}"
      "svg .ylabel{font-size:12px;text-anchor:middle}svg .legend,svg .barlabel{font-size:12px}"
      "svg .barlabel{text-anchor:end}svg .empty{font-size:13px;fill:#888}"
      "table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ddd;padding:3px 8px;"
      "text-align:left;vertical-align:top}pre{background:#f6f6f6;padding:8px;font-size:12px;"
      "overflow-x:auto}.status{font-size:15px}\n</style></head>\n<body>\n<h1>dqt run ",
      HtmlEscape(run.dir), "</h1>\n<p>Report written ", HtmlEscape(generated),
      " by dqt_report from the run directory and its training log ", HtmlEscape(run.log_path),
      "; run it again to update.</p>\n", ReportFacts(run), ReportPlots(run), ReportAppendix(run),
      "</body></html>\n");
}

}  // namespace dqt
