// The .sql files of sql/, compiled into the binary (cmake/embed_sql.cmake), so
// `medmigrate init` and `generate` need nothing beside the executable.
#pragma once

#include <string_view>
#include <vector>

namespace medmigrate::schema {

struct EmbeddedSqlFile {
  std::string_view path;     // relative to sql/, e.g. "main/0001_core.sql"
  std::string_view content;  // the file's bytes, exactly
};

// Sorted by path. Lives for the whole program.
const std::vector<EmbeddedSqlFile>& EmbeddedSqlFiles();

// The file at `path`, or an empty view when there is none.
std::string_view FindEmbeddedSql(std::string_view path);

}  // namespace medmigrate::schema
