// The generated legacy database as a pure function of (seed, scale): which
// ids exist, who each patient is, what each order points at, and the COPY
// text of every row. Any row can be recomputed from its id (see random.h), so
// the tables are written independently, in parallel, in O(1) memory each
// (the ground-truth id lists aside). docs/design/generator.md lists the rates.
//
// Threads: a LegacyModel is immutable after construction; WriteTable may run
// concurrently for different tables, each with its own writer and TableTruth.
#pragma once

#include <atomic>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "generate/ground_truth.h"
#include "generate/legacy_tables.h"
#include "generate/random.h"
#include "generate/scale.h"
#include "pg/connection.h"

namespace medmigrate::generate {

// A person as first registered, before a row's own dirt (case, spaces, empty
// values) is applied. Duplicates start from their root's Identity.
struct Identity {
  std::string first_name;
  std::string last_name;
  char gender = 'F';
  bool non_latin = false;
  enum class Birth { kNormal, kNull, kSentinel, kFuture } birth = Birth::kNormal;
  int year = 0, month = 0, day = 0;
  // Tags the address this person gives: a user id (their own, or the one a
  // duplicate kept), or a household's tag past the user ids. Addresses of
  // different tags differ.
  int64_t email_owner = 0;
  // The names the address is made of when they are not the person's own:
  // a household's contact (the parent), a married name's maiden name.
  std::string email_first_name;
  std::string email_last_name;
};

// People deduplication must keep apart (docs/design/generator.md): patients a
// parent registered together under the parent's address, and namesakes.
enum class HouseholdKind : uint8_t { kNone, kTwins, kSiblings, kFamily, kNamesakes };
// "twins", "siblings", "family", "namesakes" ("" for kNone): the truth's kinds.
std::string_view HouseholdKindName(HouseholdKind kind);

struct Household {
  HouseholdKind kind = HouseholdKind::kNone;
  std::vector<int64_t> members;  // patient ids, ascending; two or more unless kNone
};

class LegacyModel {
 public:
  LegacyModel(uint64_t seed, Scale scale);

  uint64_t seed() const { return seed_; }
  const TableSizes& sizes() const { return sizes_; }
  // Rows expected in `t` (an estimate for products and states), for progress bars.
  int64_t ExpectedRows(Table t) const;

  // auth_user id blocks: staff and other accounts, then doctors', then patients'.
  int64_t DoctorUser(int64_t doctor_id) const { return staff_users_ + doctor_id; }
  int64_t PatientUser(int64_t patient_id) const {
    return staff_users_ + sizes_.doctors + patient_id;
  }

  bool UserExists(int64_t user_id) const;
  bool OfficeExists(int64_t id) const;
  bool DoctorExists(int64_t id) const;
  bool PatientExists(int64_t id) const;
  bool OrderExists(int64_t id) const;

  // The patient a duplicate was derived from (itself for an original), and
  // whether `id` is a duplicate.
  int64_t RootPatient(int64_t id) const;
  bool IsDuplicate(int64_t id) const;
  // The identity of patient `id`, with its duplicate variations applied
  // (names appended to `variations` when given).
  Identity PatientIdentity(int64_t id, std::vector<std::string>* variations = nullptr) const;
  // The household or namesake group patient `id` belongs to (kind kNone when
  // none). Members are existing patients that are not duplicates; a
  // duplicate of a member belongs to the member's person, not to the group.
  Household HouseholdOf(int64_t id) const;
  // The address a person gives, before row-level dirt.
  std::string CleanEmail(const Identity& person) const;

  // Writes every row of `t` into `out` (already in COPY state) and records the
  // dirty facts in `truth`. Adds to `*progress` as rows are written.
  Status WriteTable(Table t, pg::CopyTextWriter& out, TableTruth& truth,
                    std::atomic<int64_t>* progress) const;

 private:
  Identity BaseIdentity(int64_t user_id) const;
  // Patient `id` as first registered: its household identity or its own.
  Identity OriginalIdentity(int64_t id) const;
  struct HouseholdPlan {
    HouseholdKind kind = HouseholdKind::kNone;
    int slots = 0;  // the block's first `slots` patient ids
  };
  HouseholdPlan PlanOf(int64_t block) const;
  Household MembersOf(int64_t block, const HouseholdPlan& plan) const;
  // Slot `slot`'s identity in household block `block` (every slot's, whether
  // its patient exists or not, so members do not depend on each other).
  Identity HouseholdIdentity(int64_t block, const HouseholdPlan& plan, int slot) const;
  bool DuplicateCandidate(int64_t id) const;
  int64_t DuplicateTarget(int64_t id) const;
  std::optional<int64_t> DoctorOffice(int64_t doctor_id) const;
  struct OrderRefs {
    int64_t patient_id;
    std::optional<int64_t> doctor_id;
    std::optional<int64_t> office_id;
  };
  OrderRefs OrderReferences(int64_t order_id) const;
  int64_t OrderCreatedAt(int64_t order_id) const;

  Status WriteUsers(pg::CopyTextWriter& out, TableTruth& truth, std::atomic<int64_t>* p) const;
  Status WriteOffices(pg::CopyTextWriter& out, TableTruth& truth, std::atomic<int64_t>* p) const;
  Status WriteDoctors(pg::CopyTextWriter& out, TableTruth& truth, std::atomic<int64_t>* p) const;
  Status WritePatients(pg::CopyTextWriter& out, TableTruth& truth, std::atomic<int64_t>* p) const;
  Status WriteOrders(pg::CopyTextWriter& out, TableTruth& truth, std::atomic<int64_t>* p) const;
  Status WriteProducts(pg::CopyTextWriter& out, TableTruth& truth, std::atomic<int64_t>* p) const;
  Status WriteJaws(pg::CopyTextWriter& out, TableTruth& truth, std::atomic<int64_t>* p) const;
  Status WriteProjects(pg::CopyTextWriter& out, TableTruth& truth, std::atomic<int64_t>* p) const;
  Status WritePlans(pg::CopyTextWriter& out, TableTruth& truth, std::atomic<int64_t>* p) const;
  Status WriteTemplates(pg::CopyTextWriter& out, TableTruth& truth, std::atomic<int64_t>* p) const;
  Status WriteStates(pg::CopyTextWriter& out, TableTruth& truth, std::atomic<int64_t>* p) const;

  uint64_t seed_;
  TableSizes sizes_;
  int64_t staff_users_;  // auth_user ids 1..staff_users_ belong to no doctor or patient
};

// Helpers shared with the mutator (mutator.cpp), deterministic for an Rng.
// Appends a free-text value (often empty) to `out`; returns its TextFlag bits.
uint8_t AppendFreeText(Rng& rng, std::string& out);
// Changes one ASCII letter of `name` (swap, drop, double or replace); false
// when the name has too few ASCII letters to do so.
bool ApplyTypo(Rng& rng, std::string& name);

}  // namespace medmigrate::generate
