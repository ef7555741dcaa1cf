// Placeholder until the command lands (same session).
#include "cli/context.h"

namespace medmigrate::cli {

void AddGenerateCommand(CLI::App& app, Context& ctx) {
  (void)app;
  (void)ctx;
}

}  // namespace medmigrate::cli
