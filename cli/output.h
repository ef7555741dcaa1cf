// How commands print runs for people (tables) and scripts (--json).
#pragma once

#include <iosfwd>
#include <vector>

#include "pipeline/migration.h"
#include "pipeline/run_queries.h"

namespace medmigrate::cli {

// Per-entity counts, one row each, with a totals row.
void PrintEntityTable(std::ostream& out, const std::vector<track::EntityCounts>& entities);

// Draws progress: redrawn bars on a terminal, a plain line every few seconds otherwise.
class ProgressPrinter {
 public:
  explicit ProgressPrinter(bool terminal) : terminal_(terminal) {}
  void Update(const pipeline::Progress& p);

 private:
  bool terminal_;
  int lines_drawn_ = 0;
  double last_plain_ = -100;
};

}  // namespace medmigrate::cli
