// `medmigrate generate`: fills a legacy MDW database with realistic dirty data
// (src/generate), or with --mutate applies one batch of changes to it.
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <iostream>
#include <mutex>
#include <thread>

#include <fmt/format.h>

#include "cli/context.h"
#include "generate/legacy_generator.h"
#include "generate/mutator.h"

namespace medmigrate::cli {

namespace {

struct GenerateFlags {
  std::string scale = "small";
  uint64_t seed = 1;
  bool replace = false;
  int jobs = 3;
  std::string truth;
  bool quiet = false;
  bool mutate = false;
  double mutate_fraction = 0.01;
};

std::string_view PhaseName(generate::GeneratePhase p) {
  switch (p) {
    case generate::GeneratePhase::kSchema: return "creating schema";
    case generate::GeneratePhase::kLoad: return "loading";
    case generate::GeneratePhase::kConstraints: return "re-creating keys";
    case generate::GeneratePhase::kAnalyze: return "analyzing";
    case generate::GeneratePhase::kDone: return "done";
  }
  return "";
}

// Draws the progress of a generate run on stderr until stopped: a bar per
// table redrawn in place on a terminal, a plain line every 5 seconds otherwise.
class ProgressDisplay {
 public:
  ProgressDisplay(const generate::GenerateProgress* progress, bool enabled)
      : progress_(progress), tty_(isatty(STDERR_FILENO) == 1) {
    if (enabled) thread_ = std::thread([this] { Run(); });
  }
  ~ProgressDisplay() { Stop(); }

  void Stop() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

 private:
  using Clock = std::chrono::steady_clock;

  void Run() {
    const auto start = Clock::now();
    auto last_plain = start;
    std::unique_lock<std::mutex> lock(mu_);
    while (true) {
      const bool stopping = cv_.wait_for(lock, std::chrono::milliseconds(tty_ ? 250 : 1000),
                                         [this] { return stop_; });
      const auto now = Clock::now();
      const double seconds = std::chrono::duration<double>(now - start).count();
      if (tty_) {
        Draw(seconds);
      } else if (stopping || now - last_plain >= std::chrono::seconds(5)) {
        PrintPlain(seconds);
        last_plain = now;
      }
      if (stopping) return;
    }
  }

  void Draw(double seconds) {
    std::string out;
    if (drawn_lines_ > 0) out += fmt::format("\x1b[{}A", drawn_lines_);
    out += fmt::format("\r\x1b[2Kgenerate: {} ({:.0f}s)\n", PhaseName(progress_->phase), seconds);
    for (const generate::TableInfo& t : generate::kTables) {
      const size_t i = static_cast<size_t>(t.table);
      const int64_t rows = progress_->rows[i].load(std::memory_order_relaxed);
      const int64_t expected = std::max<int64_t>(progress_->expected[i], 1);
      const bool done = progress_->done[i];
      const double frac = done ? 1.0 : std::min(0.99, static_cast<double>(rows) / expected);
      constexpr int kWidth = 30;
      const int filled = static_cast<int>(frac * kWidth);
      out += fmt::format("\r\x1b[2K  {:<24} [{}{}] {:>10} rows {:>9.0f} rows/s\n", t.name,
                         std::string(filled, '#'), std::string(kWidth - filled, '.'), rows,
                         seconds > 0 ? rows / seconds : 0.0);
    }
    drawn_lines_ = static_cast<int>(generate::kTableCount) + 1;
    std::fputs(out.c_str(), stderr);
    std::fflush(stderr);
  }

  void PrintPlain(double seconds) {
    int64_t total = 0;
    int64_t expected = 0;
    for (size_t i = 0; i < generate::kTableCount; ++i) {
      total += progress_->rows[i].load(std::memory_order_relaxed);
      expected += progress_->expected[i];
    }
    std::fputs(fmt::format("generate: {}: {} of about {} rows, {:.0f}s, {:.0f} rows/s\n",
                           PhaseName(progress_->phase), total, expected, seconds,
                           seconds > 0 ? total / seconds : 0.0)
                   .c_str(),
               stderr);
    std::fflush(stderr);
  }

  const generate::GenerateProgress* progress_;
  const bool tty_;
  int drawn_lines_ = 0;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

Status RunGenerate(Context& ctx, const GenerateFlags& flags) {
  MM_ASSIGN_OR_RETURN(generate::Scale scale, generate::ParseScale(flags.scale));
  MM_ASSIGN_OR_RETURN(DatabaseUrl url, ResolveUrl(ctx, DatabaseRole::kLegacy));
  generate::GenerateOptions options;
  options.url = url.url;
  options.scale = scale;
  options.seed = flags.seed;
  options.replace = flags.replace;
  options.jobs = flags.jobs;
  options.truth_path = flags.truth;
  generate::GenerateProgress progress;
  ProgressDisplay display(&progress, !flags.quiet);
  Result<generate::GenerateSummary> result = generate::GenerateLegacy(options, &progress);
  display.Stop();
  if (!result.ok()) return result.status().Prepend("generate");
  const generate::GenerateSummary& s = *result;
  std::cout << fmt::format("generated legacy database '{}' (scale {}, seed {})\n", s.database,
                           flags.scale, flags.seed);
  for (const generate::TableInfo& t : generate::kTables) {
    std::cout << fmt::format("  {:<24} {:>10} rows\n", t.name, s.rows[static_cast<size_t>(t.table)]);
  }
  std::cout << fmt::format(
      "  {} rows in {:.1f}s ({:.0f} rows/s; COPY {:.1f}s at {:.0f} rows/s)\n", s.total_rows,
      s.total_seconds, s.total_rows / std::max(s.total_seconds, 1e-9), s.load_seconds,
      s.total_rows / std::max(s.load_seconds, 1e-9));
  std::cout << fmt::format("  ground truth: {}\n", s.truth_path);
  return Status::Ok();
}

Status RunMutate(Context& ctx, const GenerateFlags& flags) {
  MM_ASSIGN_OR_RETURN(DatabaseUrl url, ResolveUrl(ctx, DatabaseRole::kLegacy));
  generate::MutateOptions options;
  options.url = url.url;
  options.seed = flags.seed;
  options.fraction = flags.mutate_fraction;
  options.truth_path = flags.truth;
  MM_ASSIGN_OR_RETURN(generate::MutateSummary s, generate::MutateLegacy(options));
  std::cout << fmt::format("mutated legacy database '{}' (seed {}, fraction {})\n", s.database,
                           flags.seed, flags.mutate_fraction);
  for (const generate::TableInfo& t : generate::kTables) {
    const size_t i = static_cast<size_t>(t.table);
    if (s.inserted[i] + s.updated[i] + s.deleted[i] == 0) continue;
    std::cout << fmt::format("  {:<24} {:>8} inserted {:>8} updated {:>8} deleted\n", t.name,
                             s.inserted[i], s.updated[i], s.deleted[i]);
  }
  std::cout << fmt::format("  in {:.1f}s; mutation truth: {}\n", s.seconds, s.truth_path);
  return Status::Ok();
}

}  // namespace

void AddGenerateCommand(CLI::App& app, Context& ctx) {
  // Parsed into by CLI11, read by the callback: lives as long as the program.
  static GenerateFlags flags;
  CLI::App* cmd = app.add_subcommand(
      "generate",
      "Create the legacy MDW schema in the legacy database and fill it with realistic, dirty, "
      "deterministic data (every fact of shared/legacy/README.md: duplicate patients, orphan "
      "references, free-text statuses, invalid JSON, ...), loaded with COPY on several "
      "connections; writes what it injected to a ground-truth JSON file. With --mutate, applies "
      "one batch of inserts, updates and hard deletes to an already generated database instead");
  cmd->add_option("--scale", flags.scale,
                  "tiny (1k patients), small (10k), medium (50k), prod (250k patients, 12M "
                  "rows) or large (1M patients)")
      ->capture_default_str();
  cmd->add_option("--seed", flags.seed,
                  "Seed (unsigned integer): the same seed and scale give the same rows and truth")
      ->check(UnsignedValidator())
      ->capture_default_str();
  cmd->add_flag("--replace", flags.replace,
                "Drop the MDW tables when the database has them (otherwise generate refuses)");
  cmd->add_option("--jobs", flags.jobs, "Tables loaded at once, one connection each")
      ->check(CLI::Range(1, 16))
      ->capture_default_str();
  cmd->add_option("--truth", flags.truth,
                  "Ground-truth JSON file to write (default <database>.truth.json, or "
                  "<database>.mutation.json with --mutate, in the working folder)");
  cmd->add_flag("--quiet", flags.quiet, "No progress on stderr");
  cmd->add_flag("--mutate", flags.mutate,
                "Apply one batch of inserts, updates (auth_user names and e-mails included) and "
                "hard deletes to the existing generated database, deterministic for --seed");
  cmd->add_option("--mutate-fraction", flags.mutate_fraction,
                  "With --mutate: share of each table's rows inserted, updated and deleted")
      ->check(CLI::Range(0.0001, 0.5))
      ->capture_default_str();
  AddDatabaseOptions(cmd, ctx, /*legacy=*/true, /*target=*/false);
  cmd->callback([&ctx] {
    RunCommand(ctx, [&]() -> Status {
      return flags.mutate ? RunMutate(ctx, flags) : RunGenerate(ctx, flags);
    });
  });
}

}  // namespace medmigrate::cli
