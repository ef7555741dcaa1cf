// `medmigrate dedup`: patient deduplication. `evaluate` measures the matcher on
// a file with known answers (FEBRL format) or on a generated legacy database
// and its ground truth; it prints counts and ratios only, never patient data.
#include <fmt/format.h>
#include <sys/resource.h>

#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli/context.h"
#include "dedup/evaluation.h"
#include "dedup/febrl_reader.h"

namespace medmigrate::cli {

namespace {

struct EvaluateFlags {
  std::string febrl;
  bool without_ssn = false;
  bool json = false;
};

Result<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::NotFound(fmt::format("cannot open '{}': check the path", path));
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

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
      "  speed                        {:.0f} pairs/s compared and scored (one thread); prepare "
      "{:.3f}s, fit {:.3f}s ({} EM iterations), score {:.3f}s, cluster {:.3f}s\n",
      e.stats.pairs_per_second, e.stats.prepare_seconds, e.stats.fit_seconds, e.stats.em_iterations,
      e.stats.score_seconds, e.stats.cluster_seconds);
}

// Evaluates with and without the national id (or only without), printing or
// collecting JSON.
void Report(const std::vector<dedup::PersonRecord>& records, const std::vector<int64_t>& person,
            bool with_id_too, bool json, const std::string& source) {
  nlohmann::json out = {{"source", source}};
  for (bool use_id : {true, false}) {
    if (use_id && !with_id_too) continue;
    dedup::DedupOptions o;
    o.use_national_id = use_id;
    const dedup::Evaluation e = dedup::EvaluateDedup(records, person, o);
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

}  // namespace

void AddDedupCommand(CLI::App& app, Context& ctx) {
  static EvaluateFlags eval;
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
  evaluate
      ->add_option("--febrl", eval.febrl,
                   "A file in the FEBRL format (rec_id rec-<N>-org / rec-<N>-dup-<K> gives "
                   "the answer); evaluated with and without soc_sec_id")
      ->required();
  evaluate->add_flag("--without-ssn", eval.without_ssn, "Only the evaluation without soc_sec_id");
  evaluate->add_flag("--json", eval.json, "Print as JSON");
  evaluate->callback([&ctx] { RunCommand(ctx, [&]() { return RunEvaluateFebrl(eval); }); });
}

}  // namespace medmigrate::cli
