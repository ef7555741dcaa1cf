#include "generate/legacy_model.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <map>
#include <span>

#include <fmt/format.h>

#include "generate/calendar.h"
#include "generate/vocabulary.h"

namespace medmigrate::generate {

namespace {

// Rates of the dirty facts (docs/design/generator.md has the table).
constexpr double kStaffUserGap = 0.03;
constexpr double kDoctorGap = 0.03;
constexpr double kPatientGap = 0.02;
constexpr double kOfficeGap = 0.04;
constexpr double kOrderGap = 0.015;
constexpr double kRowGap = 0.01;       // jaws, projects, treatment plans
constexpr double kProductGap = 0.005;
constexpr double kUserOfDeletedAlsoDeleted = 0.5;
constexpr double kDuplicateRate = 0.04;
constexpr double kJoinClusterRate = 0.08;  // a duplicate of a duplicate: clusters of 3+
constexpr double kNonLatin = 0.02;
constexpr double kUpdatedBeforeCreated = 0.015;
constexpr double kUpdated2099 = 0.002;
constexpr double kStatesOfDeletedOrderKept = 0.5;
// Households: patient ids come in blocks of kHouseholdBlock, and a block holds
// one household in its first slots at kHouseholdRate (about 5.5 % of the
// patients, 120 twin pairs at small scale).
constexpr int64_t kHouseholdBlock = 8;
constexpr double kHouseholdRate = 0.18;
constexpr double kTriplets = 0.15;             // of twin households
constexpr double kTwinsOfDifferentSex = 0.6;   // of twin pairs
constexpr double kSecondParent = 0.6;          // of families
// A duplicate registered again under a married name: mostly women.
constexpr double kMarriedNameWoman = 0.12;
constexpr double kMarriedNameMan = 0.02;
constexpr double kMarriedNameKeepsEmail = 0.5;

// Ids "deleted long ago" whatever the seed, so every orphan kind can occur
// even in the smallest tables.
constexpr int64_t kForcedStaffGap = 4;
constexpr int64_t kForcedOfficeGap = 3;
constexpr int64_t kForcedDoctorGap = 5;
constexpr int64_t kForcedPatientGap = 11;
constexpr int64_t kForcedOrderGap = 7;
constexpr int64_t kForcedTemplateGap = 4;

// Timestamps of generated rows lie in [kTimeStart, kTimeEnd] (no wall clock),
// apart from the deliberate 2099 ones.
const int64_t kTimeStart = DaysFromCivil(2015, 1, 1) * kSecondsPerDay;
const int64_t kTimeEnd = DaysFromCivil(2026, 6, 30) * kSecondsPerDay;
const int64_t kTime2099 = DaysFromCivil(2099, 1, 1) * kSecondsPerDay;
constexpr int64_t kDay = kSecondsPerDay;

// The prefix of a table's fact names in the truth file.
constexpr std::array<std::string_view, kTableCount> kFactPrefix = {
    "users", "offices", "doctors", "patients", "orders", "products",
    "jaws",  "projects", "plans",  "templates", "states"};

std::string_view Prefix(Table t) { return kFactPrefix[static_cast<size_t>(t)]; }

std::string Fact(Table t, std::string_view what) { return fmt::format("{}_{}", Prefix(t), what); }

// Time of row `id` of `n`: rows were created in id order over the fixed range.
int64_t SpreadTime(Rng& rng, int64_t id, int64_t n) {
  const int64_t span = kTimeEnd - kTimeStart;
  const int64_t slot = span / std::max<int64_t>(n, 1);
  int64_t t = kTimeStart + (id - 1) * slot + rng.Range(0, slot + 3 * kDay);
  return std::min(t, kTimeEnd);
}

// updated_at for a row created at `created`: mostly later, sometimes earlier
// (a clock or import bug), a few in 2099 (a placeholder someone typed).
int64_t UpdatedAfter(Rng& rng, int64_t created, Table t, int64_t id, TableTruth& truth) {
  const double u = rng.Unit();
  if (u < kUpdatedBeforeCreated) {
    truth.AddFact(Fact(t, "updated_before_created"), id);
    return created - rng.Range(3600, 30 * kDay);
  }
  if (u < kUpdatedBeforeCreated + kUpdated2099) {
    truth.AddFact(Fact(t, "updated_2099"), id);
    return kTime2099 + rng.Range(0, 364 * kDay);
  }
  return std::min(created + rng.Range(0, 400 * kDay), std::max(created, kTimeEnd));
}

void PutTimestamp(pg::CopyTextWriter& out, int64_t seconds) {
  char buf[32];
  out.Raw(std::string_view(buf, FormatTimestamp(seconds, buf)));
}

void PutDate(pg::CopyTextWriter& out, const CivilDate& d) {
  char buf[16];
  out.Raw(std::string_view(buf, FormatDate(d, buf)));
}

void PutCents(pg::CopyTextWriter& out, int64_t cents) {
  char buf[32];
  out.Raw(std::string_view(buf, FormatCents(cents, buf)));
}

void PutOptionalInt(pg::CopyTextWriter& out, const std::optional<int64_t>& v) {
  if (v) {
    out.Int(*v);
  } else {
    out.Null();
  }
}

// Counts written rows into the shared progress counter in steps, not per row.
class ProgressCounter {
 public:
  explicit ProgressCounter(std::atomic<int64_t>* target) : target_(target) {}
  ~ProgressCounter() { Flush(); }
  void Row() {
    if (++pending_ == 4096) Flush();
  }
  void Flush() {
    if (target_ != nullptr && pending_ > 0) target_->fetch_add(pending_, std::memory_order_relaxed);
    pending_ = 0;
  }

 private:
  std::atomic<int64_t>* target_;
  int64_t pending_ = 0;
};

// An id in [1, n] for which `exists` holds, starting from a random one. The
// caller guarantees one exists.
template <typename Exists>
int64_t PickExisting(Rng& rng, int64_t n, Exists exists) {
  int64_t x = rng.Range(1, n);
  for (int64_t i = 0; i < n && !exists(x); ++i) x = x % n + 1;
  return x;
}

// An id in [1, n] for which `exists` does not hold (a deleted row); the
// forced gaps guarantee one.
template <typename Exists>
int64_t PickDeleted(Rng& rng, int64_t n, Exists exists) {
  int64_t x = rng.Range(1, n);
  for (int64_t i = 0; i < n && exists(x); ++i) x = x % n + 1;
  return x;
}

bool IsAsciiAlpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

bool HasNonAscii(std::string_view s) {
  return std::any_of(s.begin(), s.end(), [](char c) { return static_cast<unsigned char>(c) >= 0x80; });
}

// Lower-case ASCII letters and digits of `s` (what an e-mail local part keeps).
std::string AsciiLocal(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (IsAsciiAlpha(c)) out.push_back(static_cast<char>(c | 0x20));
  }
  return out;
}

enum class NameCase { kAsIs, kUpper, kLower, kMixed };
constexpr std::array<Weighted<NameCase>, 4> kNameCases = {{
    {NameCase::kAsIs, 90}, {NameCase::kUpper, 5}, {NameCase::kLower, 4}, {NameCase::kMixed, 1}}};

void ApplyCase(NameCase c, std::string& s) {
  int i = 0;
  for (char& ch : s) {
    if (!IsAsciiAlpha(ch)) continue;
    switch (c) {
      case NameCase::kAsIs: break;
      case NameCase::kUpper: ch = static_cast<char>(ch & ~0x20); break;
      case NameCase::kLower: ch = static_cast<char>(ch | 0x20); break;
      case NameCase::kMixed: ch = static_cast<char>((i % 2) ? (ch & ~0x20) : (ch | 0x20)); break;
    }
    ++i;
  }
}

constexpr std::array<Weighted<HouseholdKind>, 4> kHouseholdKinds = {{
    {HouseholdKind::kTwins, 50},
    {HouseholdKind::kSiblings, 20},
    {HouseholdKind::kFamily, 15},
    {HouseholdKind::kNamesakes, 15},
}};

enum class Variation { kTypoFirst, kTypoLast, kNickname, kSwappedDayMonth, kOtherEmail };
constexpr std::array<Weighted<Variation>, 5> kVariations = {{
    {Variation::kTypoLast, 30},
    {Variation::kTypoFirst, 20},
    {Variation::kNickname, 20},
    {Variation::kSwappedDayMonth, 15},
    {Variation::kOtherEmail, 15},
}};
constexpr std::array<std::string_view, 5> kVariationNames = {
    "typo_first_name", "typo_last_name", "nickname", "swapped_day_month", "other_email"};

std::string_view VariationName(Variation v) { return kVariationNames[static_cast<size_t>(v)]; }

// A tasks array for dispatch_template: [{"name", "role", "sequence", "duration_hours"}].
void AppendTasks(Rng& rng, std::string& out) {
  const int64_t n = rng.Range(2, 8);
  out += '[';
  for (int64_t i = 0; i < n; ++i) {
    const TaskKind& k = rng.Pick(std::span<const TaskKind>(kTaskKinds));
    const int64_t half_hours = rng.Range(1, 96);
    if (i > 0) out += ", ";
    fmt::format_to(std::back_inserter(out),
                   R"({{"name": "{}", "role": "{}", "sequence": {}, "duration_hours": {}{}}})",
                   k.name, k.role, i + 1, half_hours / 2, half_hours % 2 ? ".5" : "");
  }
  out += ']';
}

// A date in `year`, uniformly.
void SetBirth(Rng& rng, int64_t year, Identity& p) {
  const CivilDate d = CivilFromDays(DaysFromCivil(static_cast<int>(year), 1, 1) + rng.Range(0, 364));
  p.birth = Identity::Birth::kNormal;
  p.year = d.year;
  p.month = d.month;
  p.day = d.day;
}

}  // namespace

std::string_view HouseholdKindName(HouseholdKind kind) {
  switch (kind) {
    case HouseholdKind::kNone: return "";
    case HouseholdKind::kTwins: return "twins";
    case HouseholdKind::kSiblings: return "siblings";
    case HouseholdKind::kFamily: return "family";
    case HouseholdKind::kNamesakes: return "namesakes";
  }
  return "";
}

uint8_t AppendFreeText(Rng& rng, std::string& out) {
  out.clear();
  if (rng.Chance(0.55)) return 0;
  const std::span<const Weighted<TextSnippet>> snippets(kTextSnippets);
  const TextSnippet& first = PickWeighted(rng, snippets);
  out += first.text;
  uint8_t flags = first.flags;
  if (rng.Chance(0.15)) {
    const TextSnippet& second = PickWeighted(rng, snippets);
    out += ' ';
    out += second.text;
    flags |= second.flags;
  }
  return flags;
}

bool ApplyTypo(Rng& rng, std::string& name) {
  std::vector<size_t> letters;
  for (size_t i = 0; i < name.size(); ++i) {
    if (IsAsciiAlpha(name[i])) letters.push_back(i);
  }
  if (letters.size() < 3) return false;
  const std::string before = name;
  const size_t i = letters[static_cast<size_t>(rng.Range(1, static_cast<int64_t>(letters.size()) - 1))];
  switch (rng.Range(0, 3)) {
    case 0:  // swap with the previous letter
      if (i > 0 && IsAsciiAlpha(name[i - 1])) std::swap(name[i - 1], name[i]);
      break;
    case 1:  // drop
      name.erase(i, 1);
      break;
    case 2:  // double
      name.insert(i, 1, name[i]);
      break;
    default: {  // replace with a neighbour in the alphabet, same case
      char base = (name[i] & 0x20) ? 'a' : 'A';
      name[i] = static_cast<char>(base + ((name[i] - base) + 1) % 26);
    }
  }
  if (name == before) name.erase(i, 1);  // a swap of two equal letters
  return true;
}

LegacyModel::LegacyModel(uint64_t seed, Scale scale)
    : seed_(seed), sizes_(SizesFor(scale)),
      staff_users_(sizes_.users - sizes_.doctors - sizes_.patients) {}

int64_t LegacyModel::ExpectedRows(Table t) const {
  switch (t) {
    case Table::kAuthUser: return sizes_.users;
    case Table::kOffice: return sizes_.offices;
    case Table::kDoctor: return sizes_.doctors;
    case Table::kPatient: return sizes_.patients;
    case Table::kOrder: return sizes_.orders;
    case Table::kProduct: return sizes_.orders * 5 / 2;
    case Table::kJaw: return sizes_.jaws;
    case Table::kProject: return sizes_.projects;
    case Table::kTreatmentPlan: return sizes_.plans;
    case Table::kTemplate: return sizes_.templates;
    case Table::kState: return sizes_.orders * 5;
  }
  return 0;
}

bool LegacyModel::OfficeExists(int64_t id) const {
  return id >= 1 && id <= sizes_.offices && id != kForcedOfficeGap &&
         !Rng(seed_, Stream::kOfficeGap, id).Chance(kOfficeGap);
}

bool LegacyModel::DoctorExists(int64_t id) const {
  return id >= 1 && id <= sizes_.doctors && id != kForcedDoctorGap &&
         !Rng(seed_, Stream::kDoctorGap, id).Chance(kDoctorGap);
}

bool LegacyModel::PatientExists(int64_t id) const {
  return id >= 1 && id <= sizes_.patients && id != kForcedPatientGap &&
         !Rng(seed_, Stream::kPatientGap, id).Chance(kPatientGap);
}

bool LegacyModel::OrderExists(int64_t id) const {
  return id >= 1 && id <= sizes_.orders && id != kForcedOrderGap &&
         !Rng(seed_, Stream::kOrderGap, id).Chance(kOrderGap);
}

bool LegacyModel::UserExists(int64_t uid) const {
  if (uid < 1 || uid > sizes_.users) return false;
  if (uid <= staff_users_) {
    return uid != kForcedStaffGap && !Rng(seed_, Stream::kUserGap, uid).Chance(kStaffUserGap);
  }
  // Deleting a user deletes its doctor or patient (Django CASCADE), not the
  // other way round: a deleted doctor or patient left its account half the time.
  const bool owner_exists = uid <= staff_users_ + sizes_.doctors
                                ? DoctorExists(uid - staff_users_)
                                : PatientExists(uid - staff_users_ - sizes_.doctors);
  return owner_exists || !Rng(seed_, Stream::kUserGap, uid).Chance(kUserOfDeletedAlsoDeleted);
}

bool LegacyModel::DuplicateCandidate(int64_t id) const {
  return id > 1 && Rng(seed_, Stream::kDuplicate, id).Chance(kDuplicateRate);
}

int64_t LegacyModel::DuplicateTarget(int64_t id) const {
  Rng rng(seed_, Stream::kDuplicate, id);
  rng.Next();  // the candidate draw
  if (rng.Chance(kJoinClusterRate)) {
    for (int64_t q = id - 1; q >= 1 && q >= id - 500; --q) {
      if (DuplicateCandidate(q) && PatientExists(q)) return q;
    }
  }
  return rng.Range(1, id - 1);
}

bool LegacyModel::IsDuplicate(int64_t id) const {
  return DuplicateCandidate(id) && PatientExists(id) && PatientExists(DuplicateTarget(id));
}

int64_t LegacyModel::RootPatient(int64_t id) const {
  while (IsDuplicate(id)) id = DuplicateTarget(id);
  return id;
}

Identity LegacyModel::BaseIdentity(int64_t user_id) const {
  Rng rng(seed_, Stream::kIdentity, user_id);
  Identity p;
  if (rng.Chance(kNonLatin)) {
    const NonLatinName& n = rng.Pick(std::span<const NonLatinName>(kNonLatinNames));
    p.first_name = n.first;
    p.last_name = n.last;
    p.gender = n.gender;
    p.non_latin = true;
  } else {
    const FirstName& f = rng.Pick(std::span<const FirstName>(kFirstNames));
    p.first_name = f.name;
    p.gender = f.gender;
    p.last_name = rng.Pick(std::span<const std::string_view>(kLastNames));
  }
  const double u = rng.Unit();
  const int64_t year = rng.Range(1940, 2016);
  const CivilDate d = CivilFromDays(DaysFromCivil(static_cast<int>(year), 1, 1) + rng.Range(0, 364));
  p.year = d.year;
  p.month = d.month;
  p.day = d.day;
  if (u < 0.03) {
    p.birth = Identity::Birth::kNull;
  } else if (u < 0.045) {
    p.birth = Identity::Birth::kSentinel;
    p.year = 1900;
    p.month = 1;
    p.day = 1;
  } else if (u < 0.05 && p.year < 2000) {
    // A typing error: 2085 for 1985. Same day and month, so 29 February stays valid.
    p.birth = Identity::Birth::kFuture;
    p.year += 100;
  }
  p.email_owner = user_id;
  return p;
}

LegacyModel::HouseholdPlan LegacyModel::PlanOf(int64_t block) const {
  Rng rng(seed_, Stream::kHousehold, block);
  HouseholdPlan plan;
  if (!rng.Chance(kHouseholdRate)) return plan;
  plan.kind = PickWeighted(rng, std::span<const Weighted<HouseholdKind>>(kHouseholdKinds));
  switch (plan.kind) {
    case HouseholdKind::kTwins: plan.slots = rng.Chance(kTriplets) ? 3 : 2; break;
    case HouseholdKind::kSiblings: plan.slots = static_cast<int>(rng.Range(2, 3)); break;
    case HouseholdKind::kFamily: plan.slots = static_cast<int>(rng.Range(3, 5)); break;
    case HouseholdKind::kNamesakes: plan.slots = 2; break;
    case HouseholdKind::kNone: break;
  }
  return plan;
}

Household LegacyModel::MembersOf(int64_t block, const HouseholdPlan& plan) const {
  Household h;
  for (int s = 0; s < plan.slots; ++s) {
    const int64_t id = block * kHouseholdBlock + 1 + s;
    // A duplicate's identity is its root's: it cannot be someone else too.
    if (PatientExists(id) && !IsDuplicate(id)) h.members.push_back(id);
  }
  if (h.members.size() >= 2) {
    h.kind = plan.kind;
  } else {
    h.members.clear();
  }
  return h;
}

Household LegacyModel::HouseholdOf(int64_t id) const {
  if (id < 1) return {};
  const int64_t block = (id - 1) / kHouseholdBlock;
  const HouseholdPlan plan = PlanOf(block);
  if ((id - 1) % kHouseholdBlock >= plan.slots) return {};
  Household h = MembersOf(block, plan);
  if (std::find(h.members.begin(), h.members.end(), id) == h.members.end()) return {};
  return h;
}

Identity LegacyModel::HouseholdIdentity(int64_t block, const HouseholdPlan& plan, int slot) const {
  Rng rng(seed_, Stream::kHousehold, -(block + 1));
  const std::string_view last = rng.Pick(std::span<const std::string_view>(kLastNames));
  std::array<std::string_view, 8> used{};
  size_t n_used = 0;
  // kFirstNames holds the men's names first, then as many women's.
  constexpr int64_t kHalf = static_cast<int64_t>(kFirstNames.size() / 2);
  auto pick_first = [&](char gender) -> std::string_view {
    while (true) {
      const int64_t i = gender == 'M' ? rng.Range(0, kHalf - 1) : rng.Range(kHalf, 2 * kHalf - 1);
      const std::string_view name = kFirstNames[static_cast<size_t>(i)].name;
      if (std::find(used.begin(), used.begin() + n_used, name) != used.begin() + n_used) continue;
      used[n_used++] = name;
      return name;
    }
  };
  auto other = [](char g) { return g == 'M' ? 'F' : 'M'; };
  auto any_gender = [&] { return rng.Chance(0.5) ? 'M' : 'F'; };
  std::array<Identity, 5> people;
  for (Identity& p : people) p.last_name = last;
  // The address a parent registers the household under; namesakes have their own.
  const char contact_gender = any_gender();
  const std::string contact_first(pick_first(contact_gender));
  switch (plan.kind) {
    case HouseholdKind::kTwins: {
      Identity born;
      SetBirth(rng, rng.Range(2000, 2016), born);
      const char g0 = any_gender();
      const bool mixed = rng.Chance(kTwinsOfDifferentSex);
      for (int s = 0; s < plan.slots; ++s) {
        const char g = s == 0 ? g0 : plan.slots == 2 ? (mixed ? other(g0) : g0) : any_gender();
        people[s].gender = g;
        people[s].first_name = pick_first(g);
        people[s].year = born.year;
        people[s].month = born.month;
        people[s].day = born.day;
      }
      break;
    }
    case HouseholdKind::kSiblings: {
      int64_t year = rng.Range(1998, 2008);
      for (int s = 0; s < plan.slots; ++s) {
        if (s > 0) year += rng.Range(1, 4);
        people[s].gender = any_gender();
        people[s].first_name = pick_first(people[s].gender);
        SetBirth(rng, year, people[s]);
      }
      break;
    }
    case HouseholdKind::kFamily: {
      // The contact is the first parent; a second parent half the time or so.
      const int64_t parent_year = rng.Range(1955, 1980);
      people[0].gender = contact_gender;
      people[0].first_name = contact_first;
      SetBirth(rng, parent_year, people[0]);
      int first_child = 1;
      if (rng.Chance(kSecondParent)) {
        people[1].gender = other(contact_gender);
        people[1].first_name = pick_first(people[1].gender);
        SetBirth(rng, parent_year + rng.Range(-5, 5), people[1]);
        first_child = 2;
      }
      int64_t year = parent_year + rng.Range(22, 30);
      for (int s = first_child; s < plan.slots; ++s) {
        if (s > first_child) year += 2 + rng.Range(0, 1);
        people[s].gender = any_gender();
        people[s].first_name = pick_first(people[s].gender);
        SetBirth(rng, year, people[s]);
      }
      break;
    }
    case HouseholdKind::kNamesakes: {
      const char g = any_gender();
      const std::string first(pick_first(g));
      const int64_t year = rng.Range(1940, 1975);
      for (int s = 0; s < plan.slots; ++s) {
        people[s].gender = g;
        people[s].first_name = first;
        SetBirth(rng, s == 0 ? year : year + rng.Range(20, 45), people[s]);
      }
      break;
    }
    case HouseholdKind::kNone: break;
  }
  Identity p = std::move(people[static_cast<size_t>(slot)]);
  const int64_t id = block * kHouseholdBlock + 1 + slot;
  if (plan.kind == HouseholdKind::kNamesakes) {
    p.email_owner = PatientUser(id);
  } else {
    // A tag past every user id: no one else's address.
    p.email_owner = sizes_.users + 1 + block;
    p.email_first_name = contact_first;
    p.email_last_name = std::string(last);
  }
  return p;
}

Identity LegacyModel::OriginalIdentity(int64_t id) const {
  const int64_t block = (id - 1) / kHouseholdBlock;
  const int slot = static_cast<int>((id - 1) % kHouseholdBlock);
  const HouseholdPlan plan = PlanOf(block);
  if (slot < plan.slots) {
    const Household h = MembersOf(block, plan);
    if (std::find(h.members.begin(), h.members.end(), id) != h.members.end()) {
      return HouseholdIdentity(block, plan, slot);
    }
  }
  return BaseIdentity(PatientUser(id));
}

Identity LegacyModel::PatientIdentity(int64_t id, std::vector<std::string>* variations) const {
  if (!IsDuplicate(id)) return OriginalIdentity(id);
  Identity p = OriginalIdentity(RootPatient(id));
  // Registered again after a marriage: another family name, the same given
  // name and birth date; the old address or a new one.
  Rng married(seed_, Stream::kMarriedName, id);
  if (!p.non_latin && married.Chance(p.gender == 'F' ? kMarriedNameWoman : kMarriedNameMan)) {
    const bool keeps_email = married.Chance(kMarriedNameKeepsEmail);
    if (keeps_email && p.email_first_name.empty() && p.email_last_name.empty()) {
      p.email_first_name = p.first_name;
      p.email_last_name = p.last_name;
    }
    std::string_view last = p.last_name;
    while (last == p.last_name) last = married.Pick(std::span<const std::string_view>(kLastNames));
    p.last_name = last;
    if (variations) variations->emplace_back("married_name");
    if (!keeps_email) {
      p.email_owner = PatientUser(id);
      p.email_first_name.clear();
      p.email_last_name.clear();
      if (variations) variations->emplace_back(VariationName(Variation::kOtherEmail));
    }
    return p;
  }
  Rng rng(seed_, Stream::kDuplicate, -id);
  auto apply = [&](Variation v) -> bool {
    switch (v) {
      case Variation::kTypoFirst: return ApplyTypo(rng, p.first_name);
      case Variation::kTypoLast: return ApplyTypo(rng, p.last_name);
      case Variation::kNickname:
        for (const Nickname& n : kNicknames) {
          if (n.formal == p.first_name) {
            p.first_name = n.nickname;
            return true;
          }
        }
        return false;
      case Variation::kSwappedDayMonth:
        if (p.birth != Identity::Birth::kNormal || p.day > 12 || p.day == p.month) return false;
        std::swap(p.day, p.month);
        return true;
      case Variation::kOtherEmail:
        if (p.email_owner == PatientUser(id)) return false;
        p.email_owner = PatientUser(id);
        p.email_first_name.clear();
        p.email_last_name.clear();
        return true;
    }
    return false;
  };
  const std::span<const Weighted<Variation>> table(kVariations);
  Variation first = PickWeighted(rng, table);
  if (!apply(first)) {
    first = apply(Variation::kTypoLast) ? Variation::kTypoLast : Variation::kOtherEmail;
    if (first == Variation::kOtherEmail) apply(first);
  }
  if (variations) variations->emplace_back(VariationName(first));
  if (rng.Chance(0.3)) {
    const Variation second = PickWeighted(rng, table);
    if (second != first && apply(second) && variations) {
      variations->emplace_back(VariationName(second));
    }
  }
  return p;
}

std::string LegacyModel::CleanEmail(const Identity& person) const {
  Rng rng(seed_, Stream::kEmailShare, person.email_owner);
  const bool contact = !person.email_first_name.empty() || !person.email_last_name.empty();
  const std::string first = AsciiLocal(contact ? person.email_first_name : person.first_name);
  const std::string last = AsciiLocal(contact ? person.email_last_name : person.last_name);
  std::string local;
  if (first.empty() || last.empty()) {
    local = first.empty() && last.empty() ? "user" : first + last;
  } else {
    switch (rng.Range(0, 3)) {
      case 0: local = first + "." + last; break;
      case 1: local = first + last; break;
      case 2: local = first.substr(0, 1) + last; break;
      default: local = last + "." + first; break;
    }
  }
  // "_<owner id>" makes every owner's address distinct: addresses are shared
  // only where the generator shares them on purpose.
  return fmt::format("{}_{}@{}", local, person.email_owner,
                     rng.Pick(std::span<const std::string_view>(kEmailDomains)));
}

std::optional<int64_t> LegacyModel::DoctorOffice(int64_t doctor_id) const {
  // One doctor in every block of 25 points at a deleted office (stratified, so
  // the small scales have some too).
  const int64_t block = (doctor_id - 1) / 25;
  const int64_t orphan_slot = Rng(seed_, Stream::kDoctorOffice, -(block + 1)).Range(0, 24);
  Rng rng(seed_, Stream::kDoctorOffice, doctor_id);
  auto office_exists = [this](int64_t o) { return OfficeExists(o); };
  if ((doctor_id - 1) % 25 == orphan_slot) return PickDeleted(rng, sizes_.offices, office_exists);
  if (rng.Chance(0.02)) return std::nullopt;
  return PickExisting(rng, sizes_.offices, office_exists);
}

LegacyModel::OrderRefs LegacyModel::OrderReferences(int64_t order_id) const {
  Rng rng(seed_, Stream::kOrderRefs, order_id);
  auto patient_exists = [this](int64_t p) { return PatientExists(p); };
  auto doctor_exists = [this](int64_t d) { return DoctorExists(d); };
  auto office_exists = [this](int64_t o) { return OfficeExists(o); };
  OrderRefs r;
  r.patient_id = rng.Chance(0.006) ? PickDeleted(rng, sizes_.patients, patient_exists)
                                   : PickExisting(rng, sizes_.patients, patient_exists);
  const double d = rng.Unit();
  if (d < 0.03) {
    r.doctor_id = std::nullopt;
  } else if (d < 0.035) {
    r.doctor_id = PickDeleted(rng, sizes_.doctors, doctor_exists);
  } else {
    r.doctor_id = PickExisting(rng, sizes_.doctors, doctor_exists);
  }
  const double o = rng.Unit();
  if (o < 0.04) {
    r.office_id = std::nullopt;
  } else if (o < 0.045) {
    r.office_id = PickDeleted(rng, sizes_.offices, office_exists);
  } else {
    std::optional<int64_t> doctors_office;
    if (r.doctor_id && DoctorExists(*r.doctor_id)) doctors_office = DoctorOffice(*r.doctor_id);
    r.office_id = doctors_office ? *doctors_office : PickExisting(rng, sizes_.offices, office_exists);
  }
  return r;
}

int64_t LegacyModel::OrderCreatedAt(int64_t order_id) const {
  Rng rng(seed_, Stream::kOrderCreated, order_id);
  return SpreadTime(rng, order_id, sizes_.orders);
}

Status LegacyModel::WriteTable(Table t, pg::CopyTextWriter& out, TableTruth& truth,
                               std::atomic<int64_t>* progress) const {
  switch (t) {
    case Table::kAuthUser: return WriteUsers(out, truth, progress);
    case Table::kOffice: return WriteOffices(out, truth, progress);
    case Table::kDoctor: return WriteDoctors(out, truth, progress);
    case Table::kPatient: return WritePatients(out, truth, progress);
    case Table::kOrder: return WriteOrders(out, truth, progress);
    case Table::kProduct: return WriteProducts(out, truth, progress);
    case Table::kJaw: return WriteJaws(out, truth, progress);
    case Table::kProject: return WriteProjects(out, truth, progress);
    case Table::kTreatmentPlan: return WritePlans(out, truth, progress);
    case Table::kTemplate: return WriteTemplates(out, truth, progress);
    case Table::kState: return WriteStates(out, truth, progress);
  }
  return Status::Internal("unknown table");
}

Status LegacyModel::WriteUsers(pg::CopyTextWriter& out, TableTruth& truth,
                               std::atomic<int64_t>* progress) const {
  ProgressCounter counter(progress);
  const int64_t doctor_end = staff_users_ + sizes_.doctors;
  std::string buf;
  std::string first;
  std::string last;
  std::string email;
  for (int64_t uid = 1; uid <= sizes_.users; ++uid) {
    if (!UserExists(uid)) continue;
    Rng rng(seed_, Stream::kUserRow, uid);
    Identity person;
    bool duplicate = false;
    bool household = false;
    bool patient = false;
    int64_t block_index;
    int64_t block_size;
    if (uid <= staff_users_) {
      person = BaseIdentity(uid);
      block_index = uid;
      block_size = staff_users_;
    } else if (uid <= doctor_end) {
      person = BaseIdentity(uid);
      block_index = uid - staff_users_;
      block_size = sizes_.doctors;
    } else {
      const int64_t pid = uid - doctor_end;
      person = PatientIdentity(pid);
      duplicate = IsDuplicate(pid);
      household = !duplicate && HouseholdOf(pid).kind != HouseholdKind::kNone;
      patient = true;
      block_index = pid;
      block_size = sizes_.patients;
    }
    const int64_t joined = SpreadTime(rng, block_index, block_size);

    out.Int(uid);
    // password: Django's hash format, or an unusable password ("!...").
    buf.clear();
    if (rng.Chance(0.05)) {
      buf = "!";
      for (int i = 0; i < 40; ++i) buf.push_back(static_cast<char>('a' + rng.Next() % 26));
    } else {
      static constexpr std::string_view kB64 =
          "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
      buf = "pbkdf2_sha256$150000$";
      for (int i = 0; i < 12; ++i) buf.push_back(kB64[rng.Next() % 62]);
      buf.push_back('$');
      for (int i = 0; i < 43; ++i) buf.push_back(kB64[rng.Next() % 64]);
      buf.push_back('=');
    }
    out.Text(buf);
    if (rng.Chance(0.2)) {
      out.Null();
    } else {
      PutTimestamp(out, joined + rng.Range(0, std::max<int64_t>(kTimeEnd - joined, 1)));
    }
    out.Bool(uid <= 3);
    // username: unique through the id after '_' (names hold no '_').
    const std::string local = AsciiLocal(person.first_name) + "." + AsciiLocal(person.last_name);
    if (uid == 1) {
      out.Text("admin");
    } else if (uid <= staff_users_) {
      out.Text(fmt::format("staff_{}", uid));
    } else if (!patient) {
      out.Text(fmt::format("dr.{}_{}", AsciiLocal(person.last_name), uid));
    } else if (rng.Chance(0.5)) {
      out.Text(fmt::format("{}_{}", local, uid));
    } else {
      out.Text(fmt::format("patient_{}", uid));
    }

    // Names: '' when unknown (never on a duplicate, whose variation would be
    // lost, nor in a household, whose names are what makes it one), any
    // case, stray spaces.
    first = person.first_name;
    last = person.last_name;
    if (!duplicate && !household && rng.Chance(0.02)) first.clear();
    if (!duplicate && !household && rng.Chance(0.015)) last.clear();
    const NameCase name_case = PickWeighted(rng, std::span<const Weighted<NameCase>>(kNameCases));
    if (!person.non_latin && (!first.empty() || !last.empty())) {
      ApplyCase(name_case, first);
      ApplyCase(name_case, last);
      if (name_case == NameCase::kUpper) truth.AddFact("users_name_upper", uid);
      if (name_case == NameCase::kLower) truth.AddFact("users_name_lower", uid);
      if (name_case == NameCase::kMixed) truth.AddFact("users_name_mixed_case", uid);
    }
    if (rng.Chance(0.03)) {
      std::string& target = rng.Chance(0.5) ? first : last;
      if (!target.empty()) {
        switch (rng.Range(0, 2)) {
          case 0: target.insert(0, " "); break;
          case 1: target += "  "; break;
          default: target = " " + target + " "; break;
        }
        truth.AddFact("users_name_stray_spaces", uid);
      }
    }
    if (first.empty()) truth.AddFact("users_first_name_empty", uid);
    if (last.empty()) truth.AddFact("users_last_name_empty", uid);
    if (HasNonAscii(first) || HasNonAscii(last)) truth.AddFact("users_name_non_ascii", uid);
    if (person.non_latin) truth.AddFact("users_name_non_latin", uid);
    out.Text(first);
    out.Text(last);

    // E-mail: '' when unknown, sometimes not an address, sometimes a family
    // member's (shared), sometimes in mixed case. A household's members give
    // theirs always: the shared address is what makes twins hard to tell
    // from a duplicate.
    const double e = household ? 1.0 : rng.Unit();
    if (e < 0.05) {
      email.clear();
      truth.AddFact("users_email_empty", uid);
    } else if (e < 0.07) {
      const std::string_view pattern =
          rng.Pick(std::span<const std::string_view>(kInvalidEmails));
      email = pattern;
      const size_t at = email.find("{local}");
      if (at != std::string::npos) {
        std::string l = AsciiLocal(person.first_name);
        email.replace(at, 7, l.empty() ? "john" : l);
      }
      truth.AddFact("users_email_invalid", uid);
    } else if (e < 0.09 && patient && uid - doctor_end > 30) {
      // A relative's address (a parent registering a child).
      const int64_t other = uid - rng.Range(1, 30);
      email = CleanEmail(BaseIdentity(other));
      truth.AddFact("users_email_of_relative", uid);
    } else {
      email = CleanEmail(person);
      if (rng.Chance(0.03)) {
        email[0] = static_cast<char>(email[0] & ~0x20);
        const size_t at = email.find('@');
        email[at + 1] = static_cast<char>(email[at + 1] & ~0x20);
      }
    }
    out.Text(email);
    out.Bool(uid <= 3 || (uid <= staff_users_ && rng.Chance(0.1)));
    out.Bool(rng.Chance(0.95));
    PutTimestamp(out, joined);
    MM_RETURN_IF_ERROR(out.EndRow());
    ++truth.rows;
    counter.Row();
  }
  truth.id_max = sizes_.users;
  return Status::Ok();
}

Status LegacyModel::WriteOffices(pg::CopyTextWriter& out, TableTruth& truth,
                                 std::atomic<int64_t>* progress) const {
  static constexpr std::array<Weighted<std::string_view>, 5> kCountries = {{
      {"US", 80}, {"CA", 10}, {"GB", 5}, {"ES", 3}, {"CH", 2}}};
  static constexpr std::array<std::string_view, 6> kStates = {"OR", "TX", "CO", "MA", "WA", ""};
  ProgressCounter counter(progress);
  for (int64_t id = 1; id <= sizes_.offices; ++id) {
    if (!OfficeExists(id)) continue;
    Rng rng(seed_, Stream::kOfficeRow, id);
    const std::string_view city = rng.Pick(std::span<const std::string_view>(kCities));
    out.Int(id);
    out.Text(fmt::format("{} Orthodontics #{}", city, id));
    out.Text(fmt::format("{} Main Street", rng.Range(1, 9999)));
    out.Text(rng.Chance(0.3) ? fmt::format("Suite {}", rng.Range(100, 999)) : std::string());
    out.Text(city);
    out.Text(rng.Pick(std::span<const std::string_view>(kStates)));
    out.Text(fmt::format("{:05d}", rng.Range(1000, 99999)));
    out.Text(PickWeighted(rng, std::span<const Weighted<std::string_view>>(kCountries)));
    out.Text(fmt::format("+1-555-{:04d}", rng.Range(0, 9999)));
    out.Text(rng.Chance(0.1) ? std::string() : fmt::format("office{}@clinic.example", id));
    out.Bool(rng.Chance(0.9));
    const int64_t created = SpreadTime(rng, id, sizes_.offices);
    PutTimestamp(out, created);
    PutTimestamp(out, UpdatedAfter(rng, created, Table::kOffice, id, truth));
    MM_RETURN_IF_ERROR(out.EndRow());
    ++truth.rows;
    counter.Row();
  }
  truth.id_max = sizes_.offices;
  return Status::Ok();
}

Status LegacyModel::WriteDoctors(pg::CopyTextWriter& out, TableTruth& truth,
                                 std::atomic<int64_t>* progress) const {
  ProgressCounter counter(progress);
  for (int64_t id = 1; id <= sizes_.doctors; ++id) {
    if (!DoctorExists(id)) continue;
    Rng rng(seed_, Stream::kDoctorRow, id);
    const std::optional<int64_t> office = DoctorOffice(id);
    if (!office) {
      truth.AddFact("doctors_office_null", id);
    } else if (!OfficeExists(*office)) {
      truth.AddFact("doctors_orphan_office", id);
    }
    out.Int(id);
    out.Int(DoctorUser(id));
    PutOptionalInt(out, office);
    out.Text(rng.Chance(0.05) ? std::string() : fmt::format("DDS-{:06d}", rng.Range(1, 999999)));
    out.Text(rng.Pick(std::span<const std::string_view>(kSpecialties)));
    out.Text(rng.Chance(0.2) ? std::string() : fmt::format("(555) {:03d}-{:04d}", rng.Range(200, 999), rng.Range(0, 9999)));
    const int64_t created = SpreadTime(rng, id, sizes_.doctors);
    PutTimestamp(out, created);
    PutTimestamp(out, UpdatedAfter(rng, created, Table::kDoctor, id, truth));
    MM_RETURN_IF_ERROR(out.EndRow());
    ++truth.rows;
    counter.Row();
  }
  truth.id_max = sizes_.doctors;
  return Status::Ok();
}

Status LegacyModel::WritePatients(pg::CopyTextWriter& out, TableTruth& truth,
                                  std::atomic<int64_t>* progress) const {
  ProgressCounter counter(progress);
  std::vector<std::string> variations;
  for (int64_t id = 1; id <= sizes_.patients; ++id) {
    if (!PatientExists(id)) continue;
    Rng rng(seed_, Stream::kPatientRow, id);
    variations.clear();
    const Identity person = PatientIdentity(id, &variations);
    out.Int(id);
    out.Int(PatientUser(id));
    switch (person.birth) {
      case Identity::Birth::kNull:
        out.Null();
        truth.AddFact("patients_birthdate_null", id);
        break;
      case Identity::Birth::kSentinel:
        truth.AddFact("patients_birthdate_sentinel", id);
        PutDate(out, CivilDate{person.year, person.month, person.day});
        break;
      case Identity::Birth::kFuture:
        truth.AddFact("patients_birthdate_future", id);
        PutDate(out, CivilDate{person.year, person.month, person.day});
        break;
      case Identity::Birth::kNormal:
        PutDate(out, CivilDate{person.year, person.month, person.day});
        break;
    }
    const SexValue& sex = PickWeighted(
        rng, std::span<const Weighted<SexValue>>(person.gender == 'M' ? kMaleSex : kFemaleSex));
    if (sex.is_null) {
      out.Null();
      truth.CountValue("dispatch_patient.sex", "NULL");
    } else {
      out.Text(sex.value);
      truth.CountValue("dispatch_patient.sex", sex.value);
    }
    int64_t updated = SpreadTime(rng, id, sizes_.patients);
    if (rng.Chance(0.003)) {
      updated = kTime2099 + rng.Range(0, 364 * kDay);
      truth.AddFact("patients_updated_2099", id);
    }
    PutTimestamp(out, updated);
    MM_RETURN_IF_ERROR(out.EndRow());
    if (variations.empty()) {
      const Household h = HouseholdOf(id);
      if (h.kind != HouseholdKind::kNone && h.members.front() == id) {
        DistinctGroup g{.kind = std::string(HouseholdKindName(h.kind)), .patient_ids = h.members, .user_ids = {}};
        for (int64_t m : h.members) g.user_ids.push_back(PatientUser(m));
        truth.distinct_groups.push_back(std::move(g));
      }
    } else {
      const int64_t root = RootPatient(id);
      DuplicateCluster& cluster = truth.clusters[root];
      cluster.root_patient_id = root;
      cluster.root_user_id = PatientUser(root);
      cluster.duplicates.push_back(DuplicateMember{
          .patient_id = id, .user_id = PatientUser(id), .variations = variations});
    }
    ++truth.rows;
    counter.Row();
  }
  truth.id_max = sizes_.patients;
  return Status::Ok();
}

Status LegacyModel::WriteOrders(pg::CopyTextWriter& out, TableTruth& truth,
                                std::atomic<int64_t>* progress) const {
  ProgressCounter counter(progress);
  std::string text;
  for (int64_t id = 1; id <= sizes_.orders; ++id) {
    if (!OrderExists(id)) continue;
    Rng rng(seed_, Stream::kOrderRow, id);
    const OrderRefs refs = OrderReferences(id);
    if (!PatientExists(refs.patient_id)) truth.AddFact("orders_orphan_patient", id);
    if (refs.doctor_id && !DoctorExists(*refs.doctor_id)) truth.AddFact("orders_orphan_doctor", id);
    if (refs.office_id && !OfficeExists(*refs.office_id)) truth.AddFact("orders_orphan_office", id);
    const int64_t created = OrderCreatedAt(id);
    out.Int(id);
    const CivilDate cd = CivilFromDays(created / kDay);
    out.Text(rng.Chance(0.8) ? fmt::format("MDW-{:07d}", id) : fmt::format("ORD-{}-{}", cd.year, id));
    out.Int(refs.patient_id);
    PutOptionalInt(out, refs.doctor_id);
    PutOptionalInt(out, refs.office_id);
    const std::string_view status =
        PickWeighted(rng, std::span<const Weighted<std::string_view>>(kOrderStatuses));
    out.Text(status);
    truth.CountValue("dispatch_order.status", status);
    if (std::find(kUnknownOrderStatuses.begin(), kUnknownOrderStatuses.end(), status) !=
        kUnknownOrderStatuses.end()) {
      truth.AddFact("orders_status_unknown", id);
    }
    PutCents(out, rng.Chance(0.03) ? 0 : rng.Range(1000, 600000));
    const std::string_view currency =
        PickWeighted(rng, std::span<const Weighted<std::string_view>>(kCurrencies));
    out.Text(currency);
    truth.CountValue("dispatch_order.currency", currency);
    if (rng.Chance(0.2)) {
      out.Null();
    } else {
      PutDate(out, CivilFromDays(created / kDay + rng.Range(7, 60)));
    }
    const uint8_t flags = AppendFreeText(rng, text);
    truth.CountText("dispatch_order.notes", flags);
    out.Text(text);
    PutTimestamp(out, created);
    PutTimestamp(out, UpdatedAfter(rng, created, Table::kOrder, id, truth));
    MM_RETURN_IF_ERROR(out.EndRow());
    ++truth.rows;
    counter.Row();
  }
  truth.id_max = sizes_.orders;
  return Status::Ok();
}

Status LegacyModel::WriteProducts(pg::CopyTextWriter& out, TableTruth& truth,
                                  std::atomic<int64_t>* progress) const {
  ProgressCounter counter(progress);
  int64_t next_id = 0;
  for (int64_t order = 1; order <= sizes_.orders; ++order) {
    Rng rng(seed_, Stream::kProductRow, order);
    const int64_t n = rng.Range(1, 4);
    // A deleted order's products were deleted with it: their ids are gaps.
    const bool order_exists = OrderExists(order);
    const int64_t order_created = order_exists ? OrderCreatedAt(order) : 0;
    for (int64_t k = 0; k < n; ++k) {
      const int64_t id = ++next_id;
      if (!order_exists || Rng(seed_, Stream::kProductGap, id).Chance(kProductGap)) continue;
      const ProductKind& kind = rng.Pick(std::span<const ProductKind>(kProducts));
      const double q = rng.Unit();
      int64_t quantity;
      if (q < 0.01) {
        quantity = 0;
      } else if (q < 0.015) {
        quantity = -rng.Range(1, 3);
      } else {
        quantity = rng.Chance(0.02) ? rng.Range(4, 20) : rng.Range(1, 3);
      }
      if (quantity <= 0) truth.AddFact("products_nonpositive_quantity", id);
      out.Int(id);
      out.Int(order);
      out.Text(kind.sku);
      out.Text(kind.name);
      out.Int(quantity);
      PutCents(out, rng.Chance(0.02) ? 0 : rng.Range(kind.price_cents_min, kind.price_cents_max));
      const int64_t created = order_created + rng.Range(0, 7200);
      PutTimestamp(out, created);
      PutTimestamp(out, UpdatedAfter(rng, created, Table::kProduct, id, truth));
      MM_RETURN_IF_ERROR(out.EndRow());
      ++truth.rows;
      counter.Row();
    }
  }
  truth.id_max = next_id;
  return Status::Ok();
}

Status LegacyModel::WriteJaws(pg::CopyTextWriter& out, TableTruth& truth,
                              std::atomic<int64_t>* progress) const {
  ProgressCounter counter(progress);
  std::string text;
  auto patient_exists = [this](int64_t p) { return PatientExists(p); };
  for (int64_t id = 1; id <= sizes_.jaws; ++id) {
    if (Rng(seed_, Stream::kJawGap, id).Chance(kRowGap)) continue;
    Rng rng(seed_, Stream::kJawRow, id);
    std::optional<int64_t> order;
    if (!rng.Chance(0.08)) order = rng.Range(1, sizes_.orders);
    int64_t patient = 0;
    int64_t created;
    if (order && OrderExists(*order)) {
      const int64_t p = OrderReferences(*order).patient_id;
      if (PatientExists(p)) patient = p;
      created = OrderCreatedAt(*order) + rng.Range(0, 5 * kDay);
    } else {
      created = SpreadTime(rng, id, sizes_.jaws);
    }
    if (patient == 0) patient = PickExisting(rng, sizes_.patients, patient_exists);
    if (order && !OrderExists(*order)) truth.AddFact("jaws_orphan_order", id);
    out.Int(id);
    out.Int(patient);
    PutOptionalInt(out, order);
    const std::string_view jaw_type =
        PickWeighted(rng, std::span<const Weighted<std::string_view>>(kJawTypes));
    out.Text(jaw_type);
    truth.CountValue("dispatch_jaw.jaw_type", jaw_type);
    const double f = rng.Unit();
    const int year = CivilFromDays(created / kDay).year;
    if (f < 0.1) {
      out.Text("");
      truth.CountValue("dispatch_jaw.scan_file_form", "empty");
    } else if (f < 0.4) {
      out.Text(fmt::format("C:\\scans\\{}\\{}\\jaw_{}_{}.stl", year, patient, id, jaw_type));
      truth.CountValue("dispatch_jaw.scan_file_form", "windows");
    } else {
      out.Text(fmt::format("/mnt/scans/{}/{}/jaw_{}_{}.stl", year, patient, id, jaw_type));
      truth.CountValue("dispatch_jaw.scan_file_form", "unix");
    }
    truth.CountText("dispatch_jaw.notes", AppendFreeText(rng, text));
    out.Text(text);
    PutTimestamp(out, created);
    PutTimestamp(out, UpdatedAfter(rng, created, Table::kJaw, id, truth));
    MM_RETURN_IF_ERROR(out.EndRow());
    ++truth.rows;
    counter.Row();
  }
  truth.id_max = sizes_.jaws;
  return Status::Ok();
}

Status LegacyModel::WriteProjects(pg::CopyTextWriter& out, TableTruth& truth,
                                  std::atomic<int64_t>* progress) const {
  static constexpr std::array<std::string_view, 4> kScanners = {"iTero", "3Shape TRIOS",
                                                                 "Medit i700", "Carestream"};
  ProgressCounter counter(progress);
  std::string metadata;
  for (int64_t id = 1; id <= sizes_.projects; ++id) {
    if (Rng(seed_, Stream::kProjectGap, id).Chance(kRowGap)) continue;
    Rng rng(seed_, Stream::kProjectRow, id);
    const std::string_view type = rng.Pick(std::span<const std::string_view>(kProjectTypes));
    const int64_t created = SpreadTime(rng, id, sizes_.projects);
    out.Int(id);
    out.Text(fmt::format("Case {} {} v{}", id, type, rng.Range(1, 4)));
    out.Text(type);
    out.Text(PickWeighted(rng, std::span<const Weighted<std::string_view>>(kProjectStatuses)));
    const double f = rng.Unit();
    if (f < 0.1) {
      out.Text("");
    } else if (f < 0.4) {
      out.Text(fmt::format("C:\\projects\\{}\\model_{}.stl", id / 1000, id));
    } else {
      out.Text(fmt::format("/mnt/projects/{}/model_{}.stl", id / 1000, id));
    }
    if (rng.Chance(0.05)) {
      out.Null();
    } else {
      out.Int(rng.Range(10'000, 800'000'000));
    }
    out.Int(rng.Range(1, 5));
    if (rng.Chance(0.02)) {
      metadata = rng.Pick(std::span<const std::string_view>(kInvalidJson));
      truth.AddFact("projects_invalid_metadata", id);
    } else {
      metadata = fmt::format(
          R"({{"scanner": "{}", "teeth": [{}, {}, {}], "stages": {}, "arch": "{}", "software": {{"name": "ClinCheck", "version": "{}.{}"}}}})",
          rng.Pick(std::span<const std::string_view>(kScanners)), rng.Range(11, 18),
          rng.Range(21, 28), rng.Range(31, 38), rng.Range(0, 40), rng.Chance(0.5) ? "upper" : "lower",
          rng.Range(4, 7), rng.Range(0, 9));
    }
    out.Text(metadata);
    PutTimestamp(out, created);
    PutTimestamp(out, UpdatedAfter(rng, created, Table::kProject, id, truth));
    MM_RETURN_IF_ERROR(out.EndRow());
    ++truth.rows;
    counter.Row();
  }
  truth.id_max = sizes_.projects;
  return Status::Ok();
}

Status LegacyModel::WritePlans(pg::CopyTextWriter& out, TableTruth& truth,
                               std::atomic<int64_t>* progress) const {
  ProgressCounter counter(progress);
  std::string text;
  auto patient_exists = [this](int64_t p) { return PatientExists(p); };
  auto doctor_exists = [this](int64_t d) { return DoctorExists(d); };
  for (int64_t id = 1; id <= sizes_.plans; ++id) {
    if (Rng(seed_, Stream::kPlanGap, id).Chance(kRowGap)) continue;
    Rng rng(seed_, Stream::kPlanRow, id);
    out.Int(id);
    out.Int(PickExisting(rng, sizes_.patients, patient_exists));
    const double d = rng.Unit();
    if (d < 0.05) {
      out.Null();
    } else if (d < 0.06) {
      out.Int(PickDeleted(rng, sizes_.doctors, doctor_exists));
      truth.AddFact("plans_orphan_doctor", id);
    } else {
      out.Int(PickExisting(rng, sizes_.doctors, doctor_exists));
    }
    out.Text(rng.Pick(std::span<const std::string_view>(kPlanTitles)));
    truth.CountText("dispatch_treatmentplan.description", AppendFreeText(rng, text));
    out.Text(text);
    out.Int(rng.Range(0, 60));
    out.Text(PickWeighted(rng, std::span<const Weighted<std::string_view>>(kPlanStatuses)));
    const int64_t created = SpreadTime(rng, id, sizes_.plans);
    PutTimestamp(out, created);
    PutTimestamp(out, UpdatedAfter(rng, created, Table::kTreatmentPlan, id, truth));
    MM_RETURN_IF_ERROR(out.EndRow());
    ++truth.rows;
    counter.Row();
  }
  truth.id_max = sizes_.plans;
  return Status::Ok();
}

Status LegacyModel::WriteTemplates(pg::CopyTextWriter& out, TableTruth& truth,
                                   std::atomic<int64_t>* progress) const {
  ProgressCounter counter(progress);
  std::string text;
  std::string tasks;
  for (int64_t id = 1; id <= sizes_.templates; ++id) {
    if (id == kForcedTemplateGap) continue;
    Rng rng(seed_, Stream::kTemplateRow, id);
    // One template in every block of 20 has invalid tasks (stratified).
    const int64_t block = (id - 1) / 20;
    const int64_t invalid_slot = Rng(seed_, Stream::kTemplateRow, -(block + 1)).Range(0, 19);
    tasks.clear();
    AppendTasks(rng, tasks);
    if ((id - 1) % 20 == invalid_slot) {
      const int64_t how = rng.Range(0, 2);
      if (how == 0) {
        tasks.resize(tasks.size() / 2);  // truncated by a varchar-era migration
      } else if (how == 1) {
        std::replace(tasks.begin(), tasks.end(), '"', '\'');  // Python repr, not JSON
      } else {
        tasks = "N/A";
      }
      truth.AddFact("templates_invalid_tasks", id);
    }
    out.Int(id);
    out.Text(fmt::format("{} workflow #{}",
                         rng.Pick(std::span<const std::string_view>(kTemplateKinds)), id));
    truth.CountText("dispatch_template.description", AppendFreeText(rng, text));
    out.Text(text);
    out.Text(tasks);
    out.Bool(rng.Chance(0.85));
    const int64_t created = SpreadTime(rng, id, sizes_.templates);
    PutTimestamp(out, created);
    PutTimestamp(out, UpdatedAfter(rng, created, Table::kTemplate, id, truth));
    MM_RETURN_IF_ERROR(out.EndRow());
    ++truth.rows;
    counter.Row();
  }
  truth.id_max = sizes_.templates;
  return Status::Ok();
}

Status LegacyModel::WriteStates(pg::CopyTextWriter& out, TableTruth& truth,
                                std::atomic<int64_t>* progress) const {
  ProgressCounter counter(progress);
  std::string text;
  int64_t next_id = 0;
  auto staff_exists = [this](int64_t u) { return UserExists(u); };
  char code_buf[8];
  for (int64_t order = 1; order <= sizes_.orders; ++order) {
    Rng rng(seed_, Stream::kStateRow, order);
    const int64_t n = rng.Range(1, 9);
    // A deleted order's states were kept half the time (no constraint, and
    // the audit trail was never cleaned): orphans. Otherwise their ids are gaps.
    const bool order_exists = OrderExists(order);
    const bool emit =
        order_exists || Rng(seed_, Stream::kStateOrphan, order).Chance(kStatesOfDeletedOrderKept);
    int64_t at = OrderCreatedAt(order);
    std::optional<int64_t> previous;
    int64_t main_code = 0;
    for (int64_t k = 0; k < n; ++k) {
      const int64_t id = ++next_id;
      int64_t code = main_code;
      if (k > 0 && rng.Chance(0.06)) {
        code = 8;  // on hold, then back to the main path
      } else if (k > 0 && rng.Chance(0.02)) {
        code = 9;
        k = n;  // cancelled: the last state of the order
      } else {
        main_code = std::min<int64_t>(main_code + 1, 7);
      }
      if (rng.Chance(0.005)) code = rng.Chance(0.5) ? -1 : 99;
      at += rng.Range(600, 5 * kDay);
      std::optional<int64_t> changed_by;
      const double c = rng.Unit();
      if (c < 0.01) {
        changed_by = PickDeleted(rng, staff_users_, staff_exists);
      } else if (c >= 0.09) {
        changed_by = PickExisting(rng, staff_users_, staff_exists);
      }
      const uint8_t flags = rng.Chance(0.4) ? AppendFreeText(rng, text) : (text.clear(), 0);
      if (emit) {
        if (!order_exists) truth.AddFact("states_orphan_order", id);
        if (changed_by && !UserExists(*changed_by)) truth.AddFact("states_deleted_changed_by", id);
        const bool unknown = code < 0 || code > 9 || (previous && (*previous < 0 || *previous > 9));
        if (unknown) truth.AddFact("states_unknown_code", id);
        const auto [code_end, code_ec] = std::to_chars(code_buf, code_buf + sizeof(code_buf), code);
        (void)code_ec;
        truth.CountValue("dispatch_state.state_code",
                         std::string_view(code_buf, static_cast<size_t>(code_end - code_buf)));
        truth.CountText("dispatch_state.note", flags);
        out.Int(id);
        out.Int(order);
        out.Text(code >= 0 && code <= 9 ? kStateInstructions[static_cast<size_t>(code)] : "");
        out.Int(code);
        PutOptionalInt(out, previous);
        PutOptionalInt(out, changed_by);
        PutTimestamp(out, at);
        out.Text(text);
        MM_RETURN_IF_ERROR(out.EndRow());
        ++truth.rows;
        counter.Row();
      }
      previous = code;
    }
  }
  truth.id_max = next_id;
  return Status::Ok();
}

}  // namespace medmigrate::generate
