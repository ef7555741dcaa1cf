// `medmigrate dedup`: patient deduplication. `evaluate` measures the matcher on
// a file with known answers (FEBRL format) or on a generated legacy database
// and its ground truth; it prints counts and ratios only, never patient data.
#include <fmt/format.h>
#include <sys/resource.h>

#include <charconv>
#include <cstdlib>
#include <map>
#include <set>
#include <iostream>
#include <nlohmann/json.hpp>

#include "common/file.h"
#include "cli/context.h"
#include "cli/output.h"
#include "dedup/evaluation.h"
#include "dedup/febrl_reader.h"
#include "extract/legacy_reader.h"
#include "pg/connection.h"
#include "pipeline/dedup_phase.h"
#include "pipeline/dedup_review.h"
#include "spec/spec_parser.h"

namespace medmigrate::cli {

namespace {

struct EvaluateFlags {
  std::string febrl;
  std::string truth;  // with --legacy-url: a generated database's ground truth
  bool without_ssn = false;
  bool json = false;
};

double PeakMemoryMb() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_maxrss) / 1024.0;
}

nlohmann::json MetricsJson(const dedup::PairMetrics& m) {
  return {{"predicted_pairs", m.predicted},
          {"true_positives", m.true_positives},
          {"precision", m.precision},
          {"recall", m.recall},
          {"f1", m.f1}};
}

nlohmann::json OutcomesJson(const std::vector<dedup::PairOutcome>& outcomes) {
  nlohmann::json out = nlohmann::json::object();
  for (const dedup::PairOutcome& o : outcomes) {
    out[o.label] = {{"pairs", o.pairs},
                    {"merged_automatically", o.merged},
                    {"review", o.review},
                    {"held", o.held},
                    {"neither", o.neither},
                    {"merged_or_review",
                     o.pairs == 0 ? 1.0 : double(o.merged + o.review) / double(o.pairs)}};
  }
  return out;
}

uint64_t DifferentPeopleMerged(const dedup::Evaluation& e) {
  uint64_t n = 0;
  for (const dedup::PairOutcome& o : e.different_people) n += o.merged;
  return n;
}

nlohmann::json EvaluationJson(const dedup::Evaluation& e, const dedup::DedupOptions& o) {
  return {{"records", e.records},
          {"true_pairs", e.true_pairs},
          {"candidate_pairs", e.stats.candidate_pairs},
          {"blocking_recall", e.blocking_recall},
          {"merge_threshold", o.merge_threshold},
          {"review_threshold", o.review_threshold},
          {"at_merge_threshold", MetricsJson(e.at_merge_threshold)},
          {"at_p_0_5", MetricsJson(e.at_half)},
          {"automatic_merges", MetricsJson(e.automatic_merges)},
          {"review_band_pairs", e.review_band},
          {"review_pairs", e.review_pairs},
          {"true_pairs_in_review", e.true_pairs_in_review},
          {"recall_merged_or_review", e.recall_merged_or_review},
          {"different_people_merged_automatically", DifferentPeopleMerged(e)},
          {"different_people", OutcomesJson(e.different_people)},
          {"duplicates_by_variation", OutcomesJson(e.duplicates)},
          {"em_iterations", e.stats.em_iterations},
          {"seconds",
           {{"prepare", e.stats.prepare_seconds},
            {"fit", e.stats.fit_seconds},
            {"score", e.stats.score_seconds},
            {"cluster", e.stats.cluster_seconds}}},
          {"pairs_per_second", e.stats.pairs_per_second}};
}

void PrintEvaluation(const std::string& title, const dedup::Evaluation& e,
                     const dedup::DedupOptions& o) {
  auto line = [](std::string_view name, const dedup::PairMetrics& m) {
    std::cout << fmt::format(
        "  {:<28} precision {:.4f}  recall {:.4f}  F1 {:.4f}  ({} pairs, {} true)\n", name,
        m.precision, m.recall, m.f1, m.predicted, m.true_positives);
  };
  std::cout << fmt::format("{}: {} records, {} true pairs\n", title, e.records, e.true_pairs);
  std::cout << fmt::format(
      "  blocking recall              {:.4f}  ({} of {} true pairs; {} candidate pairs)\n",
      e.blocking_recall, e.true_pairs_blocked, e.true_pairs, e.stats.candidate_pairs);
  line(fmt::format("at merge threshold {}", o.merge_threshold), e.at_merge_threshold);
  line("at p >= 0.5", e.at_half);
  line("automatic merges (clusters)", e.automatic_merges);
  std::cout << fmt::format("  review band [{}, {})      {} pairs\n", o.review_threshold,
                           o.merge_threshold, e.review_band);
  std::cout << fmt::format(
      "  merged or sent to review     recall {:.4f}  ({} merged and {} in review of {} true "
      "pairs; {} review pairs in all, held ones included)\n",
      e.recall_merged_or_review, e.automatic_merges.true_positives, e.true_pairs_in_review,
      e.true_pairs, e.review_pairs);
  if (!e.different_people.empty()) {
    std::cout << fmt::format("  different people merged automatically: {} (must be 0)\n",
                             DifferentPeopleMerged(e));
  }
  auto outcome = [](const dedup::PairOutcome& p) {
    std::cout << fmt::format(
        "    {:<24} {:>6} pairs: {:>5} merged automatically, {:>5} to review ({} held), {:>5} "
        "neither\n",
        p.label, p.pairs, p.merged, p.review, p.held, p.neither);
  };
  for (const dedup::PairOutcome& p : e.different_people) outcome(p);
  if (!e.duplicates.empty()) std::cout << "  true duplicates by variation:\n";
  for (const dedup::PairOutcome& p : e.duplicates) outcome(p);
  std::cout << fmt::format(
      "  speed                        {:.0f} pairs/s compared and scored (one thread); prepare "
      "{:.3f}s, fit {:.3f}s ({} EM iterations), score {:.3f}s, cluster {:.3f}s\n",
      e.stats.pairs_per_second, e.stats.prepare_seconds, e.stats.fit_seconds, e.stats.em_iterations,
      e.stats.score_seconds, e.stats.cluster_seconds);
}

// Evaluates with and without the national id (or only without), printing or
// collecting JSON.
void Report(const std::vector<dedup::PersonRecord>& records, const std::vector<int64_t>& person,
            bool with_id_too, bool json, const std::string& source,
            const dedup::EvaluationLabels& labels = {}) {
  nlohmann::json out = {{"source", source}};
  for (bool use_id : {true, false}) {
    if (use_id && !with_id_too) continue;
    dedup::DedupOptions o;
    o.use_national_id = use_id;
    const dedup::Evaluation e = dedup::EvaluateDedup(records, person, o, labels);
    const std::string key = use_id ? "with_national_id" : "without_national_id";
    if (json) {
      out[key] = EvaluationJson(e, o);
    } else {
      PrintEvaluation(
          fmt::format("{} ({})", source, use_id ? "with soc_sec_id" : "without soc_sec_id"), e, o);
    }
  }
  out["peak_memory_mb"] = PeakMemoryMb();
  if (json) {
    std::cout << out.dump(2) << "\n";
  } else {
    std::cout << fmt::format("peak memory {:.1f} MB\n", PeakMemoryMb());
  }
}

Status RunEvaluateFebrl(const EvaluateFlags& flags) {
  MM_ASSIGN_OR_RETURN(std::string text, ReadFile(flags.febrl));
  MM_ASSIGN_OR_RETURN_PREPEND(dedup::FebrlData data, dedup::ParseFebrl(text), flags.febrl);
  Report(data.records, data.person, !flags.without_ssn, flags.json, flags.febrl);
  return Status::Ok();
}

// The generator's database and ground truth: every patient of the [dedup]
// source, the same person where the truth puts them in one duplicate cluster;
// its distinct groups and duplicate variations reported on their own.
Status RunEvaluateGenerated(const Context& ctx, const EvaluateFlags& flags) {
  MM_ASSIGN_OR_RETURN(std::string text, ReadFile(flags.truth));
  nlohmann::json truth = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!truth.is_object() || !truth.contains("duplicate_clusters") ||
      !truth["duplicate_clusters"].is_array()) {
    return Status::InvalidArgument(fmt::format(
        "{}: not a ground truth of 'medmigrate generate' (no duplicate_clusters array)",
        flags.truth));
  }
  MM_ASSIGN_OR_RETURN(spec::MappingSpec spec, spec::DefaultSpec());
  MM_ASSIGN_OR_RETURN(DatabaseUrl legacy_url, ResolveUrl(ctx, DatabaseRole::kLegacy));
  MM_ASSIGN_OR_RETURN(auto snapshot, extract::SharedSnapshot::Export(legacy_url.url));
  MM_ASSIGN_OR_RETURN(extract::LegacyReader reader,
                      extract::LegacyReader::Open(legacy_url.url, snapshot.get()));
  MM_ASSIGN_OR_RETURN(std::vector<dedup::PersonRecord> records,
                      pipeline::ReadDedupRecords(reader, spec.dedup));
  MM_ASSIGN_OR_RETURN_PREPEND(dedup::GeneratedTruth known,
                              dedup::FromGeneratorTruth(truth, records), flags.truth);
  Report(records, known.person, /*with_id_too=*/false, flags.json,
         "generated " + spec.dedup.entity, known.labels);
  return Status::Ok();
}

struct ReviewFlags {
  std::string spec_path;
  std::string status = "pending";
  int limit = 50;
  int64_t pair = 0;
  bool merge = false;
  bool distinct = false;
  std::string by;
  std::string reason;
  std::string legacy_id;
  std::string spill_dir;
  bool json = false;
};

Result<spec::MappingSpec> DedupSpecOf(const ReviewFlags& f) {
  MM_ASSIGN_OR_RETURN(spec::MappingSpec spec,
                      f.spec_path.empty() ? spec::DefaultSpec() : spec::LoadSpecFile(f.spec_path));
  if (spec.dedup.entity.empty()) {
    return Status::FailedPrecondition(fmt::format(
        "the mapping spec '{}' has no [dedup] section: nothing is deduplicated", spec.name));
  }
  return spec;
}

Result<pg::Connection> OpenTarget(const Context& ctx) {
  MM_ASSIGN_OR_RETURN(DatabaseUrl target, ResolveUrl(ctx, DatabaseRole::kTarget));
  MM_ASSIGN_OR_RETURN(pg::Connection c,
                      pg::Connection::Open(target.url, "target database", "medmigrate dedup"));
  MM_ASSIGN_OR_RETURN(auto tracking,
                      c.QueryValue("SELECT to_regclass('medmigrate.dedup_pairs')::text"));
  if (!tracking) {
    return Status::FailedPrecondition(
        "the target has no dedup tracking tables: run 'medmigrate init' first");
  }
  return c;
}

std::string DecidedBy(const ReviewFlags& f) {
  if (!f.by.empty()) return f.by;
  const char* user = std::getenv("USER");
  return user && *user ? user : "cli";
}

nlohmann::json PairJson(const pipeline::ReviewPair& p) {
  return {{"pair", p.id},
          {"entity", p.entity},
          {"legacy_id_a", p.legacy_id_a},
          {"legacy_id_b", p.legacy_id_b},
          {"survivor", p.survivor},
          {"probability", p.probability},
          {"status", p.status},
          {"decided_by", p.decided_by ? nlohmann::json(*p.decided_by) : nullptr},
          {"decided_at", p.decided_at ? nlohmann::json(*p.decided_at) : nullptr},
          {"reason", p.reason ? nlohmann::json(*p.reason) : nullptr},
          {"explanation", p.explanation}};
}

// `dedup run`: the matcher over the legacy database now, so that reviewers can
// work before (or between) migrations; records the review queue only.
Status RunDedup(const Context& ctx, const ReviewFlags& f) {
  MM_ASSIGN_OR_RETURN(spec::MappingSpec spec, DedupSpecOf(f));
  MM_ASSIGN_OR_RETURN(DatabaseUrl legacy_url, ResolveUrl(ctx, DatabaseRole::kLegacy));
  MM_ASSIGN_OR_RETURN(pg::Connection target, OpenTarget(ctx));
  MM_ASSIGN_OR_RETURN(auto snapshot, extract::SharedSnapshot::Export(legacy_url.url));
  MM_ASSIGN_OR_RETURN(extract::LegacyReader reader,
                      extract::LegacyReader::Open(legacy_url.url, snapshot.get()));
  pipeline::DedupPhaseOptions o;
  o.record_merges = false;
  o.spill_dir = f.spill_dir;
  MM_ASSIGN_OR_RETURN(pipeline::DedupPhaseResult r,
                      pipeline::RunDedupPhase(reader, target, spec, o));
  if (f.json) {
    std::cout << nlohmann::json{{"entity", spec.dedup.entity},
                                {"records", r.records},
                                {"candidate_pairs", r.candidate_pairs},
                                {"would_merge", r.auto_merges},
                                {"review_pairs", r.review_pairs},
                                {"pairs_per_second", r.pairs_per_second},
                                {"seconds", r.seconds}}
                     .dump(2)
              << "\n";
    return Status::Ok();
  }
  std::cout << fmt::format(
      "{}: {} records, {} candidate pairs compared ({:.0f} pairs/s), {} would merge "
      "automatically at the next migration, {} pairs in the review queue ({:.1f}s)\n"
      "review them with 'medmigrate dedup list' and 'medmigrate dedup show PAIR'\n",
      spec.dedup.entity, r.records, r.candidate_pairs, r.pairs_per_second, r.auto_merges,
      r.review_pairs, r.seconds);
  return Status::Ok();
}

// The model in force, as JSON on stdout: to keep, to compare, or to give
// another target's runs (`migrate --dedup-model FILE`). Parameters only,
// never a record.
Status ShowDedupModel(const Context& ctx, const ReviewFlags& f) {
  MM_ASSIGN_OR_RETURN(spec::MappingSpec spec, DedupSpecOf(f));
  MM_ASSIGN_OR_RETURN(pg::Connection target, OpenTarget(ctx));
  MM_ASSIGN_OR_RETURN(std::optional<std::string> model,
                      pipeline::KeptDedupModel(target, spec.dedup.entity));
  if (!model) {
    return Status::NotFound(fmt::format(
        "no run has recorded a dedup model of {} in this target yet: run a full migration first",
        spec.dedup.entity));
  }
  std::cout << nlohmann::json::parse(*model).dump(2) << "\n";
  return Status::Ok();
}

Status ListDedup(const Context& ctx, const ReviewFlags& f) {
  MM_ASSIGN_OR_RETURN(spec::MappingSpec spec, DedupSpecOf(f));
  MM_ASSIGN_OR_RETURN(pg::Connection target, OpenTarget(ctx));
  MM_ASSIGN_OR_RETURN(std::vector<pipeline::ReviewPair> pairs,
                      pipeline::ListPairs(target, f.status, f.limit));
  // Names are shown here (and in `show`) only: the reviewer needs them.
  std::map<std::string, std::map<std::string, std::string>> records;
  if (!pairs.empty()) {
    MM_ASSIGN_OR_RETURN(DatabaseUrl legacy_url, ResolveUrl(ctx, DatabaseRole::kLegacy));
    MM_ASSIGN_OR_RETURN(pg::Connection legacy,
                        pg::Connection::Open(legacy_url.url, "legacy database", "medmigrate dedup"));
    std::vector<std::string> keys;
    for (const auto& p : pairs) {
      keys.push_back(p.legacy_id_a);
      keys.push_back(p.legacy_id_b);
    }
    MM_ASSIGN_OR_RETURN(records, pipeline::Records(legacy, spec.dedup, keys));
  }
  auto name = [&](const std::string& k) {
    auto it = records.find(k);
    if (it == records.end()) return std::string("(not in the legacy database)");
    auto get = [&](const char* field) {
      auto v = it->second.find(field);
      return v == it->second.end() ? std::string() : v->second;
    };
    return fmt::format("{} {} {}", get("given"), get("family"), get("birth_date"));
  };
  if (f.json) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& p : pairs) {
      nlohmann::json j = PairJson(p);
      j.erase("explanation");
      j["record_a"] = records.count(p.legacy_id_a) ? nlohmann::json(records[p.legacy_id_a]) : nullptr;
      j["record_b"] = records.count(p.legacy_id_b) ? nlohmann::json(records[p.legacy_id_b]) : nullptr;
      out.push_back(j);
    }
    std::cout << out.dump(2) << "\n";
    return Status::Ok();
  }
  if (pairs.empty()) {
    std::cout << fmt::format("no {} pairs\n", f.status == "all" ? "review" : f.status);
    return Status::Ok();
  }
  std::cout << fmt::format("{:>7}  {:>11}  {:<9}  {:>10}  {:<34}  {:>10}  {}\n", "pair",
                           "probability", "status", "legacy id", "record", "legacy id", "record");
  for (const auto& p : pairs) {
    std::cout << fmt::format("{:>7}  {:>11.6f}  {:<9}  {:>10}  {:<34}  {:>10}  {}\n", p.id,
                             p.probability, p.status, p.legacy_id_a, name(p.legacy_id_a),
                             p.legacy_id_b, name(p.legacy_id_b));
  }
  return Status::Ok();
}

Status ShowDedup(const Context& ctx, const ReviewFlags& f) {
  MM_ASSIGN_OR_RETURN(spec::MappingSpec spec, DedupSpecOf(f));
  MM_ASSIGN_OR_RETURN(pg::Connection target, OpenTarget(ctx));
  MM_ASSIGN_OR_RETURN(pipeline::ReviewPair p, pipeline::GetPair(target, f.pair));
  MM_ASSIGN_OR_RETURN(DatabaseUrl legacy_url, ResolveUrl(ctx, DatabaseRole::kLegacy));
  MM_ASSIGN_OR_RETURN(pg::Connection legacy,
                      pg::Connection::Open(legacy_url.url, "legacy database", "medmigrate dedup"));
  MM_ASSIGN_OR_RETURN(auto records,
                      pipeline::Records(legacy, spec.dedup, {p.legacy_id_a, p.legacy_id_b}));
  if (f.json) {
    nlohmann::json j = PairJson(p);
    j["record_a"] = records.count(p.legacy_id_a) ? nlohmann::json(records[p.legacy_id_a]) : nullptr;
    j["record_b"] = records.count(p.legacy_id_b) ? nlohmann::json(records[p.legacy_id_b]) : nullptr;
    std::cout << j.dump(2) << "\n";
    return Status::Ok();
  }
  std::cout << fmt::format("pair {} ({}): match probability {:.6f}, {}{}\n", p.id, p.entity,
                           p.probability, p.status,
                           p.decided_by ? fmt::format(" by {} at {}{}", *p.decided_by,
                                                      p.decided_at.value_or("?"),
                                                      p.reason ? " (" + *p.reason + ")" : "")
                                        : "");
  std::cout << fmt::format("  {:<14} {:<32} {:<32}\n", "", "record " + p.legacy_id_a,
                           "record " + p.legacy_id_b);
  std::set<std::string> fields;
  for (const auto& [k, r] : records) {
    for (const auto& [name, v] : r) fields.insert(name);
  }
  for (const std::string& field : fields) {
    auto get = [&](const std::string& k) {
      auto it = records.find(k);
      if (it == records.end()) return std::string("-");
      auto v = it->second.find(field);
      return v == it->second.end() ? std::string() : v->second;
    };
    std::cout << fmt::format("  {:<14} {:<32} {:<32}\n", field, get(p.legacy_id_a),
                             get(p.legacy_id_b));
  }
  std::cout << fmt::format("  if merged, {} is kept\n", p.survivor);
  if (p.explanation.is_object() && p.explanation.contains("fields")) {
    std::cout << fmt::format("why (log2 odds): prior {:+.2f}", p.explanation.value("prior_bits", 0.0));
    for (const auto& fj : p.explanation["fields"]) {
      std::cout << fmt::format(", {} {} {:+.2f}", fj.value("field", ""), fj.value("level", ""),
                               fj.value("bits", 0.0));
    }
    std::cout << fmt::format(" = {:+.2f}\n", p.explanation.value("total_bits", 0.0));
    if (p.explanation.contains("hold")) {
      std::cout << fmt::format("never merged automatically: {}\n",
                               p.explanation.value("hold", ""));
    }
  }
  return Status::Ok();
}

Status ResolveDedup(const Context& ctx, const ReviewFlags& f) {
  if (f.merge == f.distinct) {
    return Status::InvalidArgument("say what the pair is: --merge (one person) or --distinct "
                                   "(two people)");
  }
  MM_ASSIGN_OR_RETURN(pg::Connection target, OpenTarget(ctx));
  MM_RETURN_IF_ERROR(
      pipeline::ResolvePair(target, f.pair, f.merge, pipeline::Decision{DecidedBy(f), f.reason}));
  std::cout << fmt::format("pair {} resolved {}: the next migration run applies it\n", f.pair,
                           f.merge ? "merged" : "distinct");
  return Status::Ok();
}

Status UnmergeDedup(const Context& ctx, const ReviewFlags& f) {
  MM_ASSIGN_OR_RETURN(spec::MappingSpec spec, DedupSpecOf(f));
  int64_t key = 0;
  auto [end, ec] = std::from_chars(f.legacy_id.data(), f.legacy_id.data() + f.legacy_id.size(), key);
  if (ec != std::errc() || end != f.legacy_id.data() + f.legacy_id.size()) {
    return Status::InvalidArgument(
        fmt::format("LEGACY_ID '{}' is not a legacy key (an integer)", f.legacy_id));
  }
  MM_ASSIGN_OR_RETURN(pg::Connection target, OpenTarget(ctx));
  MM_ASSIGN_OR_RETURN(std::string survivor,
                      pipeline::Unmerge(target, spec.dedup.entity, std::to_string(key),
                                        pipeline::Decision{DecidedBy(f), f.reason}));
  std::cout << fmt::format(
      "{} {} is no longer merged into {}: the next migration run loads it again and points its "
      "references back at it\n",
      spec.dedup.entity, key, survivor);
  return Status::Ok();
}

}  // namespace

void AddDedupCommand(CLI::App& app, Context& ctx) {
  static EvaluateFlags eval;
  static ReviewFlags review;
  CLI::App* dedup = app.add_subcommand(
      "dedup",
      "Patient deduplication: probabilistic record linkage (Fellegi-Sunter, EM-fitted) of "
      "duplicate patient registrations");
  dedup->require_subcommand(1);

  CLI::App* evaluate = dedup->add_subcommand(
      "evaluate",
      "Measure the matcher on data with known answers: pairwise precision, recall and F1 at the "
      "merge threshold and at p >= 0.5, blocking recall, review band and speed (counts and "
      "ratios only)");
  evaluate->add_option("--febrl", eval.febrl,
                       "A file in the FEBRL format (rec_id rec-<N>-org / rec-<N>-dup-<K> gives "
                       "the answer); evaluated with and without soc_sec_id");
  evaluate->add_option("--truth", eval.truth,
                       "Instead of --febrl: the ground-truth JSON of 'medmigrate generate'; the "
                       "patients are read from the legacy database (--legacy-url) through the "
                       "spec's [dedup] source");
  AddDatabaseOptions(evaluate, ctx, /*legacy=*/true, /*target=*/false);
  evaluate->add_flag("--without-ssn", eval.without_ssn, "Only the evaluation without soc_sec_id");
  evaluate->add_flag("--json", eval.json, "Print as JSON");
  evaluate->callback([&ctx] {
    RunCommand(ctx, [&]() -> Status {
      if (eval.febrl.empty() == eval.truth.empty()) {
        return Status::InvalidArgument(
            "say what to evaluate: --febrl FILE, or --truth FILE with the generated legacy "
            "database");
      }
      return eval.febrl.empty() ? RunEvaluateGenerated(ctx, eval) : RunEvaluateFebrl(eval);
    });
  });

  auto spec_option = [](CLI::App* c) {
    c->add_option("--spec", review.spec_path, "Mapping spec file (default: the built-in MDW one)");
  };
  auto decision_options = [](CLI::App* c) {
    c->add_option("--by", review.by, "Who decides (default: $USER)");
    c->add_option("--reason", review.reason, "Why, in a few words (kept with the decision)");
  };

  CLI::App* run = dedup->add_subcommand(
      "run",
      "Match the legacy patients now and fill the review queue (pairs between the thresholds); "
      "prints how many would merge automatically at the next migration. Merges nothing");
  AddDatabaseOptions(run, ctx, /*legacy=*/true, /*target=*/true);
  spec_option(run);
  run->add_flag("--json", review.json, "Print the figures as JSON");
  run->add_option("--spill-dir", review.spill_dir,
                  "Directory for the matcher's spilled records and sorted keys (unnamed files; "
                  "default: $TMPDIR, else /tmp)");
  run->callback([&ctx] { RunCommand(ctx, [&]() { return RunDedup(ctx, review); }); });

  CLI::App* model = dedup->add_subcommand(
      "model", "Print the match model in force (m and u per field and level, prior, term-frequency "
               "shape) as JSON: the one incremental runs score with, and what 'migrate "
               "--dedup-model FILE' takes");
  AddDatabaseOptions(model, ctx, /*legacy=*/false, /*target=*/true);
  spec_option(model);
  model->callback([&ctx] { RunCommand(ctx, [&]() { return ShowDedupModel(ctx, review); }); });

  CLI::App* list = dedup->add_subcommand(
      "list", "The review queue, most probable first, with both records' names and birth dates "
              "(patient data: for reviewers only)");
  AddDatabaseOptions(list, ctx, /*legacy=*/true, /*target=*/true);
  spec_option(list);
  list->add_option("--status", review.status, "pending, merged, distinct or all")
      ->capture_default_str();
  list->add_option("--limit", review.limit, "At most this many pairs")
      ->check(CLI::Range(1, 1000000))
      ->capture_default_str();
  list->add_flag("--json", review.json, "Print as JSON");
  list->callback([&ctx] { RunCommand(ctx, [&]() { return ListDedup(ctx, review); }); });

  CLI::App* show = dedup->add_subcommand(
      "show", "One pair: both records side by side (patient data) and each field's weight");
  AddDatabaseOptions(show, ctx, /*legacy=*/true, /*target=*/true);
  spec_option(show);
  show->add_option("PAIR", review.pair, "Pair id (see 'medmigrate dedup list')")->required()->check(IdValidator());
  show->add_flag("--json", review.json, "Print as JSON");
  show->callback([&ctx] { RunCommand(ctx, [&]() { return ShowDedup(ctx, review); }); });

  CLI::App* resolve = dedup->add_subcommand(
      "resolve", "Decide a pair: --merge (one person: the next run merges them) or --distinct "
                 "(two people: never merged automatically, and a merge between them is undone)");
  AddDatabaseOptions(resolve, ctx, /*legacy=*/false, /*target=*/true);
  resolve->add_option("PAIR", review.pair, "Pair id (see 'medmigrate dedup list')")->required()->check(IdValidator());
  resolve->add_flag("--merge", review.merge, "The two records are one person");
  resolve->add_flag("--distinct", review.distinct, "The two records are two people");
  decision_options(resolve);
  resolve->callback([&ctx] { RunCommand(ctx, [&]() { return ResolveDedup(ctx, review); }); });

  CLI::App* unmerge = dedup->add_subcommand(
      "unmerge", "Take back the merge of record LEGACY_ID (automatic or a reviewer's): the next "
                 "run loads it again, points its orders, jaws and plans back at it, and never "
                 "merges the two automatically again");
  AddDatabaseOptions(unmerge, ctx, /*legacy=*/false, /*target=*/true);
  spec_option(unmerge);
  unmerge->add_option("LEGACY_ID", review.legacy_id, "The merged record's legacy id")->required();
  decision_options(unmerge);
  unmerge->callback([&ctx] { RunCommand(ctx, [&]() { return UnmergeDedup(ctx, review); }); });
}

}  // namespace medmigrate::cli
