#include "generate/legacy_generator.h"

#include <algorithm>
#include <chrono>
#include <functional>
#include <mutex>
#include <thread>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include "generate/legacy_model.h"
#include "schema/embedded_sql.h"

namespace medmigrate::generate {

namespace {

using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

std::string TableArrayLiteral() {
  std::string s = "{";
  for (const TableInfo& t : kTables) {
    if (s.size() > 1) s += ',';
    s += t.name;
  }
  return s + "}";
}

// Runs `tasks` on up to `jobs` connections to `url`, each task on one
// connection. Stops handing out tasks after the first failure and returns it.
Status RunOnConnections(const std::string& url, int jobs, std::string_view setup_sql,
                        std::vector<std::function<Status(pg::Connection&)>> tasks) {
  std::mutex mu;
  size_t next = 0;
  Status first_error;
  auto worker = [&] {
    Result<pg::Connection> conn = pg::Connection::Open(url, "legacy database", "medmigrate generate");
    Status s = conn.ok() ? conn->Exec(setup_sql) : conn.status();
    while (true) {
      size_t mine;
      {
        std::lock_guard<std::mutex> lock(mu);
        if (!s.ok() && first_error.ok()) first_error = s;
        if (!first_error.ok() || next == tasks.size()) return;
        mine = next++;
      }
      s = tasks[mine](*conn);
    }
  };
  const int n = std::max(1, std::min<int>(jobs, static_cast<int>(tasks.size())));
  std::vector<std::thread> threads;
  for (int i = 0; i < n; ++i) threads.emplace_back(worker);
  for (std::thread& t : threads) t.join();
  return first_error;
}

struct Constraint {
  std::string table;
  std::string name;
  char type;  // 'p', 'u', 'f'
  std::string definition;
};

struct Index {
  std::string table;
  std::string name;
  std::string definition;  // CREATE INDEX ...
};

// The keys and indexes of the MDW tables, as the catalog states them.
Status ReadKeys(pg::Connection& conn, std::vector<Constraint>* constraints,
                std::vector<Index>* indexes) {
  MM_ASSIGN_OR_RETURN(
      pg::QueryResult c,
      conn.Query("SELECT c.conrelid::regclass::text, c.conname, c.contype, "
                 "pg_get_constraintdef(c.oid) FROM pg_constraint c "
                 "JOIN pg_class r ON r.oid = c.conrelid "
                 "WHERE r.relnamespace = (SELECT oid FROM pg_namespace WHERE nspname = current_schema()) "
                 "AND r.relname = ANY($1::text[]) AND c.contype IN ('p', 'u', 'f') "
                 "ORDER BY 1, 2",
                 {TableArrayLiteral()}));
  for (int i = 0; i < c.rows(); ++i) {
    constraints->push_back(Constraint{.table = std::string(c.Get(i, 0)),
                                      .name = std::string(c.Get(i, 1)),
                                      .type = c.Get(i, 2)[0],
                                      .definition = std::string(c.Get(i, 3))});
  }
  MM_ASSIGN_OR_RETURN(
      pg::QueryResult x,
      conn.Query("SELECT i.indrelid::regclass::text, i.indexrelid::regclass::text, "
                 "pg_get_indexdef(i.indexrelid) FROM pg_index i "
                 "JOIN pg_class r ON r.oid = i.indrelid "
                 "WHERE r.relnamespace = (SELECT oid FROM pg_namespace WHERE nspname = current_schema()) "
                 "AND r.relname = ANY($1::text[]) "
                 "AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid) "
                 "ORDER BY 1, 2",
                 {TableArrayLiteral()}));
  for (int i = 0; i < x.rows(); ++i) {
    indexes->push_back(Index{.table = std::string(x.Get(i, 0)),
                             .name = std::string(x.Get(i, 1)),
                             .definition = std::string(x.Get(i, 2))});
  }
  return Status::Ok();
}

// Loads one table through COPY on `conn`.
Status LoadTable(const LegacyModel& model, Table t, pg::Connection& conn, TableTruth& truth,
                 GenerateProgress* progress) {
  const TableInfo& info = InfoOf(t);
  MM_RETURN_IF_ERROR(
      conn.BeginCopyIn(fmt::format("COPY {} ({}) FROM STDIN", info.name, info.columns)));
  pg::CopyTextWriter writer(&conn, 1 << 20);
  std::atomic<int64_t>* counter =
      progress ? &progress->rows[static_cast<size_t>(t)] : nullptr;
  Status s = model.WriteTable(t, writer, truth, counter);
  if (s.ok()) s = writer.Flush();
  if (!s.ok()) {
    conn.AbortCopyIn("medmigrate generate failed");
    return s;
  }
  MM_ASSIGN_OR_RETURN(int64_t copied, conn.EndCopyIn());
  if (copied != truth.rows) {
    return Status::Internal(
        fmt::format("COPY took {} rows, the generator wrote {}", copied, truth.rows));
  }
  if (progress) progress->done[static_cast<size_t>(t)] = true;
  return Status::Ok();
}

// Parses a PostgreSQL int[] text value ("{1,2,3}").
std::vector<int64_t> ParseIntArray(std::string_view text) {
  std::vector<int64_t> out;
  int64_t v = 0;
  bool in_number = false;
  for (char c : text) {
    if (c >= '0' && c <= '9') {
      v = v * 10 + (c - '0');
      in_number = true;
    } else if (in_number) {
      out.push_back(v);
      v = 0;
      in_number = false;
    }
  }
  return out;
}

}  // namespace

Result<std::vector<std::string>> ExistingLegacyTables(pg::Connection& conn) {
  MM_ASSIGN_OR_RETURN(pg::QueryResult r,
                      conn.Query("SELECT c.relname FROM pg_class c WHERE c.relnamespace = "
                                 "(SELECT oid FROM pg_namespace WHERE nspname = current_schema()) AND c.relkind IN ('r', 'p') "
                                 "AND c.relname = ANY($1::text[]) ORDER BY 1",
                                 {TableArrayLiteral()}));
  std::vector<std::string> names;
  for (int i = 0; i < r.rows(); ++i) names.emplace_back(r.Get(i, 0));
  return names;
}

Result<GenerateSummary> GenerateLegacy(const GenerateOptions& options, GenerateProgress* progress) {
  const Clock::time_point start = Clock::now();
  auto set_phase = [&](GeneratePhase p) {
    if (progress) progress->phase = p;
  };
  set_phase(GeneratePhase::kSchema);
  MM_ASSIGN_OR_RETURN(pg::Connection conn,
                      pg::Connection::Open(options.url, "legacy database", "medmigrate generate"));
  GenerateSummary summary;
  MM_ASSIGN_OR_RETURN(std::optional<std::string> db, conn.QueryValue("SELECT current_database()"));
  summary.database = db.value_or("");
  summary.truth_path =
      options.truth_path.empty() ? summary.database + ".truth.json" : options.truth_path;

  // Refuse to overwrite a legacy database unless asked to.
  MM_ASSIGN_OR_RETURN(std::vector<std::string> existing, ExistingLegacyTables(conn));
  if (!existing.empty()) {
    if (!options.replace) {
      return Status::FailedPrecondition(fmt::format(
          "database '{}' already has {} MDW table(s) ({}); give --replace to drop them and "
          "generate again",
          summary.database, existing.size(), fmt::join(existing, ", ")));
    }
    std::vector<std::string> quoted;
    for (const std::string& t : existing) quoted.push_back(conn.QuoteIdent(t));
    MM_RETURN_NOT_OK_PREPEND(
        conn.Exec(fmt::format("DROP TABLE {} CASCADE", fmt::join(quoted, ", "))),
        "drop the existing MDW tables");
  }
  const std::string_view ddl = schema::FindEmbeddedSql("legacy/mdw_schema.sql");
  if (ddl.empty()) return Status::Internal("the legacy DDL is not embedded in this binary");
  MM_RETURN_NOT_OK_PREPEND(conn.Exec(ddl), "create the legacy schema");

  // Keys are dropped for the load (no per-row index or trigger work) and
  // re-created afterwards from their catalog definitions.
  std::vector<Constraint> constraints;
  std::vector<Index> indexes;
  MM_RETURN_NOT_OK_PREPEND(ReadKeys(conn, &constraints, &indexes), "read the legacy keys");
  std::string drop_sql;
  for (char type : {'f', 'u', 'p'}) {
    for (const Constraint& c : constraints) {
      if (c.type == type) {
        drop_sql += fmt::format("ALTER TABLE {} DROP CONSTRAINT {};\n", c.table,
                                conn.QuoteIdent(c.name));
      }
    }
  }
  for (const Index& i : indexes) drop_sql += fmt::format("DROP INDEX {};\n", i.name);
  MM_RETURN_NOT_OK_PREPEND(conn.Exec(drop_sql), "drop keys for the load");

  // The load: one COPY per table, the largest first, on `jobs` connections.
  const LegacyModel model(options.seed, options.scale);
  GroundTruth truth;
  truth.seed = options.seed;
  truth.scale = std::string(ScaleName(options.scale));
  if (progress) {
    for (const TableInfo& t : kTables) {
      progress->expected[static_cast<size_t>(t.table)] = model.ExpectedRows(t.table);
    }
  }
  set_phase(GeneratePhase::kLoad);
  const Clock::time_point load_start = Clock::now();
  std::vector<Table> order;
  for (const TableInfo& t : kTables) order.push_back(t.table);
  std::stable_sort(order.begin(), order.end(), [&](Table a, Table b) {
    return model.ExpectedRows(a) > model.ExpectedRows(b);
  });
  std::vector<std::function<Status(pg::Connection&)>> load_tasks;
  for (Table t : order) {
    load_tasks.push_back([&, t](pg::Connection& c) -> Status {
      MM_RETURN_NOT_OK_PREPEND(LoadTable(model, t, c, truth.of(t), progress),
                               fmt::format("load {}", NameOf(t)));
      return Status::Ok();
    });
  }
  MM_RETURN_IF_ERROR(RunOnConnections(options.url, options.jobs,
                                      "SET synchronous_commit = off", std::move(load_tasks)));
  summary.load_seconds = SecondsSince(load_start);

  // Keys back, exactly as they were: primary and unique keys and indexes per
  // table in parallel, then foreign keys one at a time (each locks two tables).
  set_phase(GeneratePhase::kConstraints);
  std::vector<std::function<Status(pg::Connection&)>> key_tasks;
  for (const TableInfo& info : kTables) {
    std::string sql;
    for (const Constraint& c : constraints) {
      if (c.type != 'f' && (c.table == info.name)) {
        sql += fmt::format("ALTER TABLE {} ADD CONSTRAINT {} {};\n", c.table,
                           conn.QuoteIdent(c.name), c.definition);
      }
    }
    for (const Index& i : indexes) {
      if (i.table == info.name) sql += i.definition + ";\n";
    }
    if (sql.empty()) continue;
    key_tasks.push_back([sql, name = info.name](pg::Connection& c) -> Status {
      MM_RETURN_NOT_OK_PREPEND(c.Exec(sql), fmt::format("re-create the keys of {}", name));
      return Status::Ok();
    });
  }
  MM_RETURN_IF_ERROR(RunOnConnections(options.url, options.jobs,
                                      "SET maintenance_work_mem = '256MB'", std::move(key_tasks)));
  std::string fk_sql;
  for (const Constraint& c : constraints) {
    if (c.type == 'f') {
      fk_sql += fmt::format("ALTER TABLE {} ADD CONSTRAINT {} {};\n", c.table,
                            conn.QuoteIdent(c.name), c.definition);
    }
  }
  MM_RETURN_NOT_OK_PREPEND(conn.Exec(fk_sql), "re-create the foreign keys");

  // Sequences past the whole id space, so new rows never take an id that an
  // orphan reference points at.
  std::string seq_sql;
  for (const TableInfo& info : kTables) {
    seq_sql += fmt::format("SELECT setval(pg_get_serial_sequence('{}', 'id'), {}, true);\n",
                           info.name, std::max<int64_t>(truth.of(info.table).id_max, 1));
  }
  MM_RETURN_NOT_OK_PREPEND(conn.Exec(seq_sql), "set the sequences");

  // Shared addresses are read back rather than predicted: relatives'
  // addresses, duplicates that kept theirs, and any coincidence all count.
  MM_ASSIGN_OR_RETURN(
      pg::QueryResult shared,
      conn.Query("SELECT array_agg(id ORDER BY id)::text FROM auth_user "
                 "WHERE email ~ '^[^@[:space:]]+@[^@[:space:]]+\\.[^@[:space:]]+$' "
                 "GROUP BY lower(email) HAVING count(*) > 1 ORDER BY min(id)"));
  for (int i = 0; i < shared.rows(); ++i) truth.shared_emails.push_back(ParseIntArray(shared.Get(i, 0)));

  set_phase(GeneratePhase::kAnalyze);
  std::vector<std::string> names;
  for (const TableInfo& info : kTables) names.emplace_back(info.name);
  MM_RETURN_NOT_OK_PREPEND(conn.Exec(fmt::format("ANALYZE {}", fmt::join(names, ", "))),
                           "analyze");

  MM_RETURN_NOT_OK_PREPEND(WriteJsonFile(summary.truth_path, truth.ToJson()),
                           "write the ground truth");
  for (const TableInfo& info : kTables) {
    summary.rows[static_cast<size_t>(info.table)] = truth.of(info.table).rows;
    summary.total_rows += truth.of(info.table).rows;
  }
  summary.total_seconds = SecondsSince(start);
  set_phase(GeneratePhase::kDone);
  spdlog::debug("generate: {} rows in {:.1f}s (load {:.1f}s)", summary.total_rows,
                summary.total_seconds, summary.load_seconds);
  return summary;
}

}  // namespace medmigrate::generate
