#include "report/run_report.h"

#include <fmt/chrono.h>
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>

#include "pg/connection.h"

namespace medmigrate::report {

namespace {

constexpr int kExamples = 5;
constexpr int kBuckets = 48;

Result<std::vector<ReasonGroup>> Reasons(pg::Connection& c, int64_t run, const char* table) {
  // Legacy ids sort as numbers where they are ("<parent>:<position>" too).
  MM_ASSIGN_OR_RETURN(
      pg::QueryResult q,
      c.Query(fmt::format("SELECT entity, coalesce(column_name, ''), reason, count(*), "
                          "array_to_json((array_agg(legacy_id ORDER BY length(legacy_id), "
                          "legacy_id))[1:{}])::text FROM medmigrate.{} WHERE run_id = $1 "
                          "GROUP BY 1, 2, 3 ORDER BY 4 DESC, 1, 2, 3",
                          kExamples, table),
              {std::to_string(run)}));
  std::vector<ReasonGroup> out;
  for (int i = 0; i < q.rows(); ++i) {
    ReasonGroup g;
    g.entity = q.Get(i, 0);
    g.column = q.Get(i, 1);
    g.reason = q.Get(i, 2);
    g.count = q.GetInt(i, 3);
    g.examples = nlohmann::json::parse(q.Get(i, 4)).get<std::vector<std::string>>();
    out.push_back(std::move(g));
  }
  return out;
}

Result<std::vector<ThroughputPoint>> Throughput(pg::Connection& c, int64_t run, double seconds) {
  MM_ASSIGN_OR_RETURN(
      pg::QueryResult q,
      c.Query("SELECT greatest(extract(epoch FROM e.started_at - r.started_at), 0), "
              "greatest(extract(epoch FROM k.committed_at - r.started_at), 0), k.rows "
              "FROM medmigrate.checkpoints k JOIN medmigrate.runs r ON r.id = k.run_id "
              "JOIN medmigrate.run_entities e ON e.run_id = k.run_id AND e.entity = k.entity "
              "WHERE k.run_id = $1 AND k.rows > 0 AND r.started_at IS NOT NULL "
              "AND e.started_at IS NOT NULL",
              {std::to_string(run)}));
  std::vector<ThroughputPoint> out;
  if (q.rows() == 0) return out;
  double end = seconds;
  for (int i = 0; i < q.rows(); ++i) end = std::max(end, std::stod(std::string(q.Get(i, 1))));
  if (end <= 0) end = 1e-3;
  double width = end / kBuckets;
  std::vector<double> rows(kBuckets, 0.0);
  for (int i = 0; i < q.rows(); ++i) {
    double a = std::stod(std::string(q.Get(i, 0)));
    double b = std::max(a, std::stod(std::string(q.Get(i, 1))));
    double n = static_cast<double>(q.GetInt(i, 2));
    if (b - a < 1e-9) {
      rows[std::min(kBuckets - 1, static_cast<int>(a / width))] += n;
      continue;
    }
    for (int k = 0; k < kBuckets; ++k) {
      double lo = std::max(a, k * width), hi = std::min(b, (k + 1) * width);
      if (hi > lo) rows[k] += n * (hi - lo) / (b - a);
    }
  }
  for (int k = 0; k < kBuckets; ++k) out.push_back({(k + 1) * width, rows[k] / width});
  return out;
}

std::string Now() {
  auto now = std::chrono::system_clock::now();
  return fmt::format("{:%Y-%m-%dT%H:%M:%S}Z",
                     fmt::gmtime(std::chrono::system_clock::to_time_t(now)));
}

double Rate(int64_t rows, double seconds) { return seconds > 0 ? rows / seconds : 0.0; }

std::string Html(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
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
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

// Markdown table cells: no pipes or newlines.
std::string Md(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '|') {
      out += "\\|";
    } else if (c == '\n' || c == '\r') {
      out += ' ';
    } else {
      out += c;
    }
  }
  return out;
}

std::string Num(int64_t v) {
  std::string s = std::to_string(v < 0 ? -v : v);
  for (int i = static_cast<int>(s.size()) - 3; i > 0; i -= 3) s.insert(static_cast<size_t>(i), ",");
  return (v < 0 ? "-" : "") + s;
}

std::string Examples(const std::vector<std::string>& ids, int64_t count) {
  std::string s;
  for (const auto& id : ids) s += (s.empty() ? "" : ", ") + id;
  if (count > static_cast<int64_t>(ids.size())) s += s.empty() ? "…" : ", …";
  return s;
}

std::string CheckState(const validate::CheckResult& c) {
  return c.failures == 0 ? "ok" : c.passed ? "warning" : "FAILED";
}

std::string ValidationLine(const RunReportData& r) {
  if (!r.validation)
    return "not validated (run 'medmigrate validate " + std::to_string(r.run.run.id) + "')";
  const auto& v = *r.validation;
  if (v.error) return fmt::format("validation {} could not finish: {}", v.validation_id, *v.error);
  return fmt::format(
      "validation {} {} ({} of {} checks failed, {:.1f}s, sample {} rows per entity)",
      v.validation_id, v.passed ? "passed" : "FAILED", v.FailedChecks(), v.checks.size(), v.seconds,
      v.sample_size);
}

// The throughput chart: an inline SVG, rows per second against seconds.
std::string Chart(const std::vector<ThroughputPoint>& pts) {
  const double w = 880, h = 260, left = 70, right = 20, top = 20, bottom = 40;
  if (pts.empty()) {
    return "<p class=\"muted\">No committed batches: no throughput to chart.</p>";
  }
  double tmax = pts.back().t, rmax = 0;
  for (const auto& p : pts) rmax = std::max(rmax, p.rows_per_second);
  if (rmax <= 0) rmax = 1;
  // A round top for the y axis.
  double mag = std::pow(10.0, std::floor(std::log10(rmax)));
  double ytop = 10 * mag;
  for (double step : {1.0, 1.25, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0}) {
    if (step * mag >= rmax) {
      ytop = step * mag;
      break;
    }
  }
  auto x = [&](double t) { return left + (w - left - right) * t / tmax; };
  auto y = [&](double v) { return top + (h - top - bottom) * (1 - v / ytop); };
  std::string line, area = fmt::format("{:.1f},{:.1f} ", x(0), y(0));
  double prev = 0;
  for (const auto& p : pts) {
    double t0 = prev;
    line += fmt::format("{:.1f},{:.1f} {:.1f},{:.1f} ", x(t0), y(p.rows_per_second), x(p.t),
                        y(p.rows_per_second));
    prev = p.t;
  }
  area += line + fmt::format("{:.1f},{:.1f}", x(tmax), y(0));
  std::string svg = fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {0} {1}\" width=\"100%\" "
      "role=\"img\" aria-label=\"Throughput over time\" id=\"throughput\">",
      w, h);
  for (int i = 0; i <= 4; ++i) {
    double v = ytop * i / 4;
    svg += fmt::format(
        "<line x1=\"{0}\" x2=\"{1}\" y1=\"{2:.1f}\" y2=\"{2:.1f}\" class=\"grid\"/>"
        "<text x=\"{3}\" y=\"{4:.1f}\" class=\"axis\" text-anchor=\"end\">{5}</text>",
        left, w - right, y(v), left - 8, y(v) + 4, Num(static_cast<int64_t>(v)));
  }
  for (int i = 0; i <= 5; ++i) {
    double t = tmax * i / 5;
    svg += fmt::format(
        "<text x=\"{:.1f}\" y=\"{}\" class=\"axis\" text-anchor=\"middle\">{:.1f}s</text>", x(t),
        h - bottom + 18, t);
  }
  svg += fmt::format("<polygon points=\"{}\" class=\"area\"/>", area);
  svg += fmt::format("<polyline points=\"{}\" class=\"line\"/>", line);
  svg += fmt::format(
      "<text x=\"{}\" y=\"{}\" class=\"axis\" text-anchor=\"middle\">seconds since the run "
      "started</text><text x=\"14\" y=\"{}\" class=\"axis\" transform=\"rotate(-90 14 {})\" "
      "text-anchor=\"middle\">rows/s</text></svg>",
      (left + w - right) / 2, h - 4, (top + h - bottom) / 2, (top + h - bottom) / 2);
  return svg;
}

constexpr const char* kCss = R"(
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1d2430;margin:0;background:#f5f7fa}
main{max-width:1100px;margin:0 auto;padding:24px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 10px;border-bottom:1px solid #d9dee7;padding-bottom:4px}
.muted{color:#667085}.cards{display:flex;flex-wrap:wrap;gap:12px;margin:16px 0}
.card{background:#fff;border:1px solid #d9dee7;border-radius:8px;padding:10px 14px;min-width:130px}
.card b{display:block;font-size:18px}.card span{color:#667085;font-size:12px;text-transform:uppercase;letter-spacing:.04em}
table{border-collapse:collapse;width:100%;overflow-x:auto;background:#fff;border:1px solid #d9dee7;border-radius:8px;font-size:13px}
th,td{padding:5px 7px;border-bottom:1px solid #eef1f5;text-align:left;vertical-align:top}
th{background:#eef1f5;font-weight:600}td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
tr.total td{font-weight:600;background:#f8fafc}
.ok{color:#137333;font-weight:600}.bad{color:#b3261e;font-weight:700}.warn{color:#a15c00;font-weight:600}
.badge{display:inline-block;padding:2px 10px;border-radius:12px;font-weight:600;font-size:13px}
.badge.ok{background:#e6f4ea}.badge.bad{background:#fce8e6}.badge.warn{background:#fef7e0}
svg .grid{stroke:#e3e8ef;stroke-width:1}svg .axis{fill:#667085;font-size:11px}
svg .line{fill:none;stroke:#2f6fde;stroke-width:2}svg .area{fill:#2f6fde;fill-opacity:.12}
.chart{background:#fff;border:1px solid #d9dee7;border-radius:8px;padding:8px}
code{font-size:12px}
)";

}  // namespace

Result<RunReportData> LoadRunReport(const std::string& target_url, int64_t run_id) {
  RunReportData r;
  MM_ASSIGN_OR_RETURN(r.run, pipeline::GetRunReport(target_url, run_id));
  MM_ASSIGN_OR_RETURN(pg::Connection c, pg::Connection::Open(target_url, "target database"));
  MM_ASSIGN_OR_RETURN(r.rejects, Reasons(c, run_id, "rejects"));
  MM_ASSIGN_OR_RETURN(r.warnings, Reasons(c, run_id, "warnings"));
  MM_ASSIGN_OR_RETURN(r.validation, validate::LatestValidation(c, run_id));
  MM_ASSIGN_OR_RETURN(r.throughput, Throughput(c, run_id, r.run.run.seconds));
  r.generated_at = Now();
  return r;
}

nlohmann::json RenderJson(const RunReportData& r) {
  const auto& run = r.run.run;
  track::EntityCounts t = track::EntityCounts::Total(r.run.entities);
  nlohmann::json j;
  j["schema"] = "medmigrate-report/1";
  j["generated_at"] = r.generated_at;
  j["run"] = pipeline::ToJson(run);
  j["run"]["rows_read"] = t.read;
  j["run"]["rows_per_second"] = Rate(t.read, run.seconds);
  j["run"]["balanced"] = r.run.Balanced();
  j["entities"] = nlohmann::json::array();
  for (const auto& e : r.run.entities) {
    nlohmann::json ej = e.ToJson();
    ej["rows_per_second"] = Rate(e.read, e.seconds);
    j["entities"].push_back(ej);
  }
  j["totals"] = {{"read", t.read},           {"loaded", t.loaded},     {"rejected", t.rejected},
                 {"merged", t.merged},       {"inserted", t.inserted}, {"updated", t.updated},
                 {"unchanged", t.unchanged}, {"deleted", t.deleted},   {"warnings", t.warnings}};
  for (const char* kind : {"rejects", "warnings"}) {
    const auto& groups = std::string(kind) == "rejects" ? r.rejects : r.warnings;
    j[kind] = nlohmann::json::array();
    for (const ReasonGroup& g : groups) {
      j[kind].push_back(
          {{"entity", g.entity},
           {"column", g.column.empty() ? nlohmann::json(nullptr) : nlohmann::json(g.column)},
           {"reason", g.reason},
           {"count", g.count},
           {"examples", g.examples}});
    }
  }
  j["validation"] = r.validation ? validate::ToJson(*r.validation) : nlohmann::json(nullptr);
  j["throughput"] = nlohmann::json::array();
  for (const auto& p : r.throughput) {
    j["throughput"].push_back({{"t", p.t}, {"rows_per_second", p.rows_per_second}});
  }
  return j;
}

std::string RenderMarkdown(const RunReportData& r) {
  const auto& run = r.run.run;
  track::EntityCounts t = track::EntityCounts::Total(r.run.entities);
  std::string s;
  s += fmt::format("# medmigrate run {}\n\n", run.id);
  s += fmt::format("- type: {}{}\n- state: {}{}\n- spec: {}\n", run.type,
                   run.dry_run ? " (dry run)" : "", run.state,
                   run.error ? " — " + Md(*run.error) : "", run.spec_name);
  s += fmt::format("- started: {}\n- finished: {}\n", run.started_at.value_or("-"),
                   run.finished_at.value_or("-"));
  s += fmt::format("- duration: {:.1f}s, {} rows read, {} rows/s\n", run.seconds, Num(t.read),
                   Num(static_cast<int64_t>(Rate(t.read, run.seconds))));
  s += fmt::format("- every row accounted for (read = loaded + rejected + merged): {}\n",
                   r.run.Balanced() ? "yes" : "NO");
  s += fmt::format("- {}\n\n", ValidationLine(r));

  s += "## Entities\n\n";
  s += "| entity | state | read | loaded | rejected | merged | inserted | updated | unchanged | "
       "deleted | warnings | seconds | rows/s |\n";
  s += "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n";
  for (const auto& e : r.run.entities) {
    s += fmt::format("| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {:.1f} | {} |\n",
                     Md(e.entity), e.state, e.read, e.loaded, e.rejected, e.merged, e.inserted,
                     e.updated, e.unchanged, e.deleted, e.warnings, e.seconds,
                     static_cast<int64_t>(Rate(e.read, e.seconds)));
  }
  s += fmt::format("| **total** | | {} | {} | {} | {} | {} | {} | {} | {} | {} | {:.1f} | {} |\n\n",
                   t.read, t.loaded, t.rejected, t.merged, t.inserted, t.updated, t.unchanged,
                   t.deleted, t.warnings, run.seconds,
                   static_cast<int64_t>(Rate(t.read, run.seconds)));

  for (const char* kind : {"Rejects", "Warnings"}) {
    const auto& groups = std::string(kind) == "Rejects" ? r.rejects : r.warnings;
    s += fmt::format("## {} by reason\n\n", kind);
    if (groups.empty()) {
      s += "None.\n\n";
      continue;
    }
    s += "| entity | column | reason | count | example legacy ids |\n|---|---|---|--:|---|\n";
    for (const ReasonGroup& g : groups) {
      s += fmt::format("| {} | {} | {} | {} | {} |\n", Md(g.entity),
                       g.column.empty() ? "(row)" : Md(g.column), Md(g.reason), g.count,
                       Md(Examples(g.examples, g.count)));
    }
    s += "\n";
  }

  s += "## Validation\n\n" + ValidationLine(r) + "\n\n";
  if (r.validation && !r.validation->checks.empty()) {
    s += "| kind | check | entity | checked | failures | result | example legacy ids |\n"
         "|---|---|---|--:|--:|---|---|\n";
    for (const auto& c : r.validation->checks) {
      s += fmt::format("| {} | {} | {} | {} | {} | {} | {} |\n", c.kind, Md(c.check),
                       c.entity.empty() ? "-" : Md(c.entity), c.checked, c.failures, CheckState(c),
                       Md(Examples(c.examples, c.failures)));
    }
    s += "\n";
  }
  s += fmt::format(
      "_Generated {} by medmigrate. Legacy ids, counts and reasons only: no patient "
      "data._\n",
      r.generated_at);
  return s;
}

std::string RenderHtml(const RunReportData& r) {
  const auto& run = r.run.run;
  track::EntityCounts t = track::EntityCounts::Total(r.run.entities);
  std::string h;
  h += "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">";
  h += fmt::format("<title>medmigrate run {}</title>", run.id);
  h += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">";
  h += std::string("<style>") + kCss + "</style></head><body><main>\n";
  std::string state_class = run.state == "succeeded" ? "ok" : "bad";
  h += fmt::format("<h1>medmigrate run {} <span class=\"badge {}\">{}</span></h1>", run.id,
                   state_class, Html(run.state));
  h += fmt::format("<div class=\"muted\">{} run{} of spec {} · started {} · finished {}</div>",
                   Html(run.type), run.dry_run ? " (dry run)" : "", Html(run.spec_name),
                   Html(run.started_at.value_or("-")), Html(run.finished_at.value_or("-")));
  if (run.error) h += fmt::format("<p class=\"bad\">{}</p>", Html(*run.error));

  std::string vclass = !r.validation ? "warn" : r.validation->passed ? "ok" : "bad";
  std::string vtext = !r.validation          ? "not validated"
                      : r.validation->error  ? "could not finish"
                      : r.validation->passed ? "passed"
                                             : "FAILED";
  h += "<div class=\"cards\">";
  auto card = [&](const std::string& label, const std::string& value, const std::string& cls = "") {
    h += fmt::format("<div class=\"card\"><span>{}</span><b class=\"{}\">{}</b></div>", Html(label),
                     cls, Html(value));
  };
  card("duration", fmt::format("{:.1f} s", run.seconds));
  card("rows read", Num(t.read));
  card("rows/s", Num(static_cast<int64_t>(Rate(t.read, run.seconds))));
  card("loaded", Num(t.loaded));
  card("rejected", Num(t.rejected));
  card("merged", Num(t.merged));
  card("warnings", Num(t.warnings));
  card("accounted for", r.run.Balanced() ? "every row" : "NO", r.run.Balanced() ? "ok" : "bad");
  card("validation", vtext, vclass);
  h += "</div>\n";

  h += "<h2>Throughput over time</h2><div class=\"chart\">" + Chart(r.throughput) + "</div>";
  h += "<p class=\"muted\">Rows per second, from each chunk's rows spread over the time from its "
       "entity's start to the chunk's last commit.</p>\n";

  h += "<h2>Entities</h2><table id=\"entities\"><thead><tr><th>entity</th><th>state</th>"
       "<th class=\"n\">read</th><th class=\"n\">loaded</th><th class=\"n\">rejected</th>"
       "<th class=\"n\">merged</th><th class=\"n\">inserted</th><th class=\"n\">updated</th>"
       "<th class=\"n\">unchanged</th><th class=\"n\">deleted</th><th class=\"n\">warnings</th>"
       "<th class=\"n\">seconds</th><th class=\"n\">rows/s</th></tr></thead><tbody>";
  for (const auto& e : r.run.entities) {
    h += fmt::format(
        "<tr data-entity=\"{0}\"><td>{0}</td><td>{1}</td><td class=\"n\">{2}</td><td "
        "class=\"n\">{3}</td><td class=\"n\">{4}</td><td class=\"n\">{5}</td><td "
        "class=\"n\">{6}</td><td class=\"n\">{7}</td><td class=\"n\">{8}</td><td "
        "class=\"n\">{9}</td><td class=\"n\">{10}</td><td class=\"n\">{11:.1f}</td><td "
        "class=\"n\">{12}</td></tr>",
        Html(e.entity), Html(e.state), Num(e.read), Num(e.loaded), Num(e.rejected), Num(e.merged),
        Num(e.inserted), Num(e.updated), Num(e.unchanged), Num(e.deleted), Num(e.warnings),
        e.seconds, Num(static_cast<int64_t>(Rate(e.read, e.seconds))));
  }
  h += fmt::format(
      "<tr class=\"total\"><td>total</td><td></td><td class=\"n\">{}</td><td class=\"n\">{}</td>"
      "<td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td "
      "class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td>"
      "<td class=\"n\">{:.1f}</td><td class=\"n\">{}</td></tr></tbody></table>\n",
      Num(t.read), Num(t.loaded), Num(t.rejected), Num(t.merged), Num(t.inserted), Num(t.updated),
      Num(t.unchanged), Num(t.deleted), Num(t.warnings), run.seconds,
      Num(static_cast<int64_t>(Rate(t.read, run.seconds))));

  for (const char* kind : {"Rejects", "Warnings"}) {
    const auto& groups = std::string(kind) == "Rejects" ? r.rejects : r.warnings;
    h += fmt::format("<h2>{} by reason</h2>", kind);
    if (groups.empty()) {
      h += "<p class=\"muted\">None.</p>";
      continue;
    }
    h += fmt::format(
        "<table id=\"{}\"><thead><tr><th>entity</th><th>column</th><th>reason</th>"
        "<th class=\"n\">count</th><th>example legacy ids</th></tr></thead><tbody>",
        std::string(kind) == "Rejects" ? "rejects" : "warnings");
    for (const ReasonGroup& g : groups) {
      h += fmt::format(
          "<tr><td>{}</td><td>{}</td><td><code>{}</code></td><td "
          "class=\"n\">{}</td><td>{}</td></tr>",
          Html(g.entity), g.column.empty() ? "<span class=\"muted\">(row)</span>" : Html(g.column),
          Html(g.reason), Num(g.count), Html(Examples(g.examples, g.count)));
    }
    h += "</tbody></table>\n";
  }

  h += "<h2>Validation</h2>";
  h += fmt::format("<p><span class=\"badge {}\">{}</span> {}</p>", vclass, Html(vtext),
                   Html(ValidationLine(r)));
  if (r.validation && !r.validation->checks.empty()) {
    h += "<table id=\"validation\"><thead><tr><th>kind</th><th>check</th><th>entity</th>"
         "<th class=\"n\">checked</th><th class=\"n\">failures</th><th>result</th>"
         "<th>example legacy ids</th></tr></thead><tbody>";
    for (const auto& c : r.validation->checks) {
      std::string st = CheckState(c);
      std::string cls = st == "ok" ? "ok" : st == "warning" ? "warn" : "bad";
      h += fmt::format(
          "<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"n\">{}</td><td "
          "class=\"n\">{}</td><td class=\"{}\">{}</td><td>{}</td></tr>",
          Html(c.kind), Html(c.check), c.entity.empty() ? "-" : Html(c.entity), Num(c.checked),
          Num(c.failures), cls, Html(st), Html(Examples(c.examples, c.failures)));
    }
    h += "</tbody></table>\n";
  }
  h += fmt::format(
      "<p class=\"muted\">Generated {} by medmigrate. Legacy ids, counts and reasons "
      "only: no patient data.</p>",
      Html(r.generated_at));
  h += "</main></body></html>\n";
  return h;
}

Result<std::string> Render(const RunReportData& r, const std::string& format) {
  if (format == "md") return RenderMarkdown(r);
  if (format == "json") return RenderJson(r).dump(2) + "\n";
  if (format == "html") return RenderHtml(r);
  return Status::InvalidArgument(
      fmt::format("--format '{}' is not a report format: use md, json or html", format));
}

}  // namespace medmigrate::report
