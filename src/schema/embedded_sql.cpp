#include "schema/embedded_sql.h"

namespace medmigrate::schema {

std::string_view FindEmbeddedSql(std::string_view path) {
  for (const EmbeddedSqlFile& f : EmbeddedSqlFiles()) {
    if (f.path == path) return f.content;
  }
  return {};
}

}  // namespace medmigrate::schema
