#include "cli/output.h"

#include <iostream>

#include <fmt/format.h>

namespace medmigrate::cli {

void PrintEntityTable(std::ostream& out, const std::vector<track::EntityCounts>& entities) {
  constexpr std::string_view kRow =
      "{:<24} {:>10} {:>10} {:>9} {:>7} {:>9} {:>9} {:>9} {:>9} {:>8} {:>8}";
  out << fmt::format(kRow, "entity", "read", "loaded", "rejected", "merged", "warnings",
                     "inserted", "updated", "unchanged", "deleted", "seconds")
      << "\n";
  for (const auto& e : entities) {
    bool balanced = e.read == e.loaded + e.rejected + e.merged;
    out << fmt::format(kRow, e.entity, e.read, e.loaded, e.rejected, e.merged, e.warnings,
                       e.inserted, e.updated, e.unchanged, e.deleted, fmt::format("{:.1f}", e.seconds))
        << (balanced ? "" : "  <- read != loaded + rejected + merged") << "\n";
  }
  track::EntityCounts total = track::EntityCounts::Total(entities);
  out << fmt::format(kRow, "total", total.read, total.loaded, total.rejected, total.merged,
                     total.warnings, total.inserted, total.updated, total.unchanged, total.deleted, "")
      << "\n";
}

void ProgressPrinter::Update(const pipeline::Progress& p) {
  if (!terminal_) {
    if (p.seconds - last_plain_ < 5) return;
    last_plain_ = p.seconds;
    int64_t read = 0, total = 0;
    std::string current;
    for (const auto& e : p.entities) {
      read += e.read;
      total += std::max<int64_t>(e.total, 0);
      if (e.state == "running") current += (current.empty() ? "" : ",") + e.entity;
    }
    std::cerr << fmt::format("run {}: {:.0f}s, {} of ~{} rows read ({:.0f} rows/s){}\n", p.run_id,
                             p.seconds, read, total, p.seconds > 0 ? read / p.seconds : 0.0,
                             current.empty() ? "" : ", now: " + current);
    return;
  }
  std::string out;
  if (lines_drawn_ > 0) out += fmt::format("\x1b[{}A", lines_drawn_);
  for (const auto& e : p.entities) {
    double frac = e.total > 0 ? std::min(1.0, static_cast<double>(e.read) / e.total) : 0;
    std::string total = e.total < 0 ? "?" : std::to_string(e.total);
    if (e.state == "succeeded") frac = 1;
    int filled = static_cast<int>(frac * 30);
    std::string bar = std::string(filled, '#') + std::string(30 - filled, '.');
    double rate = e.seconds > 0 ? e.read / e.seconds : 0;
    std::string eta = (e.state == "running" && rate > 0 && e.total > e.read)
                          ? fmt::format("ETA {:.0f}s", (e.total - e.read) / rate)
                          : e.state;
    out += fmt::format("\x1b[2K{:<24} [{}] {:>9}/{:<9} {:>8.0f} rows/s  {}\n", e.entity, bar,
                       e.read, total, rate, eta);
  }
  lines_drawn_ = static_cast<int>(p.entities.size());
  std::cerr << out << std::flush;
}

}  // namespace medmigrate::cli
