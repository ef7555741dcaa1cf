#include "generate/mutator.h"

namespace medmigrate::generate {

Result<MutateSummary> MutateLegacy(const MutateOptions& options) {
  (void)options;
  return Status::Internal("not yet");
}

}  // namespace medmigrate::generate
