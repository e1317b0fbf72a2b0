// The self-contained HTML page of dqt_report: inline SVG plots (no scripts, no external files)
// and the run's facts, from a RunRecord.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "launch/report_data.h"

namespace dqt {

// `text` with &, <, > and " as HTML entities.
std::string HtmlEscape(std::string_view text);

struct PlotSeries {
  std::string name;
  std::string color;                          // CSS colour, e.g. "#1f77b4"
  std::vector<std::pair<double, double>> xy;  // (step, value), x ascending
};

// One line chart as an <svg class="plot" data-plot=id data-points=N> element: axes with
// ticks, a polyline per series (class "series", data-points its point count), a legend.
// A chart with no points says so in place of lines.
std::string LineChartSvg(const std::string& id, const std::string& title, const std::string& y_unit,
                         const std::vector<PlotSeries>& series);

// One horizontal bar per (label, value) as <svg class="plot" data-plot=id>.
std::string BarChartSvg(const std::string& id, const std::string& title, const std::string& unit,
                        const std::vector<std::pair<std::string, double>>& bars);

// The whole page. `generated` is the time of writing, shown in the header.
std::string RenderReport(const RunRecord& run, const std::string& generated);

}  // namespace dqt
