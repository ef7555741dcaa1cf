// Placeholder until the command lands (same session).
#include "cli/context.h"

namespace medmigrate::cli {

void AddDemoCommand(CLI::App& app, Context& ctx) {
  (void)app;
  (void)ctx;
}

}  // namespace medmigrate::cli
