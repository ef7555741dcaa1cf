// The words the generator builds legacy rows from: names, nicknames, statuses,
// free-text snippets, and the dirty variants listed in shared/legacy/README.md.
// Every table here is data, not code: adding a variant means adding a row.
// Changing a table changes the data generated for a seed (documented in
// docs/design/generator.md).
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

#include "generate/random.h"

namespace medmigrate::generate {

struct FirstName {
  std::string_view name;
  char gender;  // 'M' or 'F'
};

inline constexpr std::array<FirstName, 64> kFirstNames = {{
    {"James", 'M'},     {"Robert", 'M'},    {"John", 'M'},        {"Michael", 'M'},
    {"William", 'M'},   {"David", 'M'},     {"Richard", 'M'},     {"Joseph", 'M'},
    {"Thomas", 'M'},    {"Christopher", 'M'}, {"Daniel", 'M'},    {"Anthony", 'M'},
    {"Edward", 'M'},    {"Samuel", 'M'},    {"Benjamin", 'M'},    {"Nicholas", 'M'},
    {"Jonathan", 'M'},  {"Alexander", 'M'}, {"José", 'M'},        {"François", 'M'},
    {"Jürgen", 'M'},    {"Søren", 'M'},     {"Łukasz", 'M'},      {"Andrés", 'M'},
    {"Mohammed", 'M'},  {"Wei", 'M'},       {"Kevin", 'M'},       {"Brian", 'M'},
    {"Jean-Luc", 'M'},  {"Matthew", 'M'},   {"Mark", 'M'},        {"Steven", 'M'},
    {"Mary", 'F'},      {"Patricia", 'F'},  {"Jennifer", 'F'},    {"Elizabeth", 'F'},
    {"Linda", 'F'},     {"Barbara", 'F'},   {"Susan", 'F'},       {"Margaret", 'F'},
    {"Katherine", 'F'}, {"Catherine", 'F'}, {"Rebecca", 'F'},     {"Victoria", 'F'},
    {"Deborah", 'F'},   {"Jessica", 'F'},   {"Sarah", 'F'},       {"Karen", 'F'},
    {"Nancy", 'F'},     {"Lisa", 'F'},      {"Zoë", 'F'},         {"Chloé", 'F'},
    {"Renée", 'F'},     {"Małgorzata", 'F'}, {"Ingrid", 'F'},     {"Siobhán", 'F'},
    {"María", 'F'},     {"Ana-Lucía", 'F'}, {"Fatima", 'F'},      {"Priya", 'F'},
    {"Emily", 'F'},     {"Hannah", 'F'},    {"Olivia", 'F'},      {"Sophie", 'F'},
}};

inline constexpr std::array<std::string_view, 72> kLastNames = {{
    "Smith",     "Johnson",   "Williams",  "Brown",     "Jones",     "Garcia",
    "Miller",    "Davis",     "Rodriguez", "Martinez",  "Hernandez", "Lopez",
    "Gonzalez",  "Wilson",    "Anderson",  "Thomas",    "Taylor",    "Moore",
    "Jackson",   "Martin",    "Lee",       "Perez",     "Thompson",  "White",
    "Harris",    "Sanchez",   "Clark",     "Ramirez",   "Lewis",     "Robinson",
    "Walker",    "Young",     "Allen",     "King",      "Wright",    "Scott",
    "O'Brien",   "O'Connor",  "McDonald",  "MacLeod",   "van der Berg", "de la Cruz",
    "Müller",    "Schröder",  "Gómez",     "Núñez",     "Peña",      "Ødegaard",
    "Åberg",     "Nguyễn",    "Kowalczyk", "Wiśniewski", "Dvořák",   "Smith-Jones",
    "Nakamura",  "Patel",     "Singh",     "Kim",       "Chen",      "Ivanova",
    "Rossi",     "Bianchi",   "Dubois",    "Lefèvre",   "Fernández", "Álvarez",
    "Murphy",    "Kelly",     "Byrne",     "Hughes",    "Foster",    "Bennett",
}};

// Names in non-Latin scripts, used whole (first and last together).
struct NonLatinName {
  std::string_view first;
  std::string_view last;
  char gender;
};
inline constexpr std::array<NonLatinName, 12> kNonLatinNames = {{
    {"伟", "李", 'M'},           {"芳", "王", 'F'},         {"秀英", "张", 'F'},
    {"Иван", "Иванов", 'M'},     {"Ольга", "Смирнова", 'F'}, {"Γιώργος", "Παπαδόπουλος", 'M'},
    {"Ελένη", "Οικονόμου", 'F'}, {"محمد", "علي", 'M'},      {"花子", "佐藤", 'F'},
    {"민준", "김", 'M'},         {"서연", "이", 'F'},       {"דוד", "כהן", 'M'},
}};

// Formal name -> a nickname the same person registers under.
struct Nickname {
  std::string_view formal;
  std::string_view nickname;
};
inline constexpr std::array<Nickname, 30> kNicknames = {{
    {"Robert", "Bob"},       {"Robert", "Rob"},        {"William", "Bill"},
    {"William", "Will"},     {"Richard", "Rick"},      {"James", "Jim"},
    {"Michael", "Mike"},     {"Joseph", "Joe"},        {"Thomas", "Tom"},
    {"Christopher", "Chris"}, {"Daniel", "Dan"},       {"Anthony", "Tony"},
    {"Edward", "Ed"},        {"Samuel", "Sam"},        {"Benjamin", "Ben"},
    {"Nicholas", "Nick"},    {"Jonathan", "Jon"},      {"Alexander", "Alex"},
    {"Elizabeth", "Liz"},    {"Elizabeth", "Beth"},    {"Patricia", "Pat"},
    {"Jennifer", "Jen"},     {"Margaret", "Peggy"},    {"Katherine", "Kate"},
    {"Catherine", "Cathy"},  {"Susan", "Sue"},         {"Rebecca", "Becky"},
    {"Victoria", "Vicky"},   {"Deborah", "Debbie"},    {"Matthew", "Matt"},
}};

inline constexpr std::array<std::string_view, 8> kEmailDomains = {
    "gmail.com", "yahoo.com", "hotmail.com", "outlook.com",
    "icloud.com", "aol.com", "comcast.net", "example.org"};

// Values of auth_user.email that are not addresses. "{local}" is replaced by
// the person's would-be local part. None of them matches
// ^[^@\s]+@[^@\s]+\.[^@\s]+$ (the check docs/design/generator.md gives).
inline constexpr std::array<std::string_view, 8> kInvalidEmails = {
    "n/a", "{local}@", "none", "-", "{local}(at)gmail.com", "{local}@gmail", "unknown", "@{local}"};

inline constexpr std::array<Weighted<std::string_view>, 19> kOrderStatuses = {{
    {"new", 120},         {"New ", 12},      {" NEW", 8},          {"in_progress", 150},
    {"In Progress", 20},  {"in-progress", 15}, {"shipped", 180},   {"SHIPPED", 15},
    {"delivered", 350},   {"cancelled", 40}, {"canceled", 15},     {"Delivered", 20},
    {"on hold", 6},       {"pending???", 2}, {"x", 1},             {"returned", 3},
    {"todo", 1},          {"", 1},           {"draft-old", 1},
}};
// The raw statuses above that mean nothing known (the truth file lists their orders).
inline constexpr std::array<std::string_view, 6> kUnknownOrderStatuses = {
    "pending???", "x", "returned", "todo", "", "draft-old"};

inline constexpr std::array<Weighted<std::string_view>, 4> kCurrencies = {{
    {"USD", 85}, {"EUR", 7}, {"GBP", 4}, {"CAD", 4}}};

inline constexpr std::array<Weighted<std::string_view>, 7> kJawTypes = {{
    {"upper", 40}, {"lower", 40}, {"Upper", 6}, {"Lower", 6}, {"UPPER", 4}, {"LOWER", 3},
    {"uPPer", 1}}};

struct ProductKind {
  std::string_view sku;
  std::string_view name;
  int64_t price_cents_min;
  int64_t price_cents_max;
};
inline constexpr std::array<ProductKind, 10> kProducts = {{
    {"ALN-STD", "Clear aligner (standard)", 9900, 29900},
    {"ALN-PRO", "Clear aligner (pro)", 19900, 49900},
    {"RET-VIV", "Vivera retainer", 4900, 19900},
    {"RET-HAW", "Hawley retainer", 3900, 14900},
    {"MOD-PRT", "Printed model", 1500, 6000},
    {"SCN-3DI", "3D intraoral scan", 2500, 9900},
    {"ATT-TPL", "Attachment template", 990, 4990},
    {"CHW-PK", "Aligner chewies (pack)", 199, 999},
    {"CAS-STD", "Aligner case", 299, 1499},
    {"RFN-SET", "Refinement set", 9900, 39900},
}};

inline constexpr std::array<std::string_view, 8> kSpecialties = {
    "Orthodontics", "General dentistry", "Pediatric dentistry", "Prosthodontics",
    "orthodontics", "Oral surgery", "", "Periodontics"};

inline constexpr std::array<std::string_view, 12> kCities = {
    "Springfield", "Portland", "Austin", "Denver", "Boston", "Seattle",
    "Toronto", "London", "Madrid", "Montréal", "San José", "Zürich"};

inline constexpr std::array<std::string_view, 8> kProjectTypes = {
    "aligner", "retainer", "model", "scan", "Aligner", "SCAN", "other", "attachment"};
inline constexpr std::array<Weighted<std::string_view>, 7> kProjectStatuses = {{
    {"active", 50}, {"archived", 30}, {"draft", 10}, {"ACTIVE", 3}, {"Archived", 3},
    {"deleted", 2}, {"in review", 2}}};
inline constexpr std::array<Weighted<std::string_view>, 8> kPlanStatuses = {{
    {"draft", 15}, {"approved", 25}, {"in_progress", 30}, {"completed", 25}, {"cancelled", 4},
    {"Completed", 3}, {"IN PROGRESS", 2}, {"on-hold", 1}}};
inline constexpr std::array<std::string_view, 8> kPlanTitles = {
    "Class II correction", "Crowding, upper and lower", "Open bite", "Deep bite",
    "Spacing closure", "Crossbite correction", "Refinement", "Retention phase"};

// Metadata values of dispatch_project that are not valid JSON.
inline constexpr std::array<std::string_view, 8> kInvalidJson = {
    "{\"scanner\": \"iTero\",",
    "{'scanner': 'iTero', 'teeth': [11, 12]}",
    "not json",
    "",
    "{\"teeth\": [11, 12,]}",
    "{\"note\": \"unterminated}",
    "N/A",
    "{\"a\": 1}}"};

struct TaskKind {
  std::string_view name;
  std::string_view role;
};
inline constexpr std::array<TaskKind, 10> kTaskKinds = {{
    {"Receive impression", "technician"}, {"Scan model", "technician"},
    {"Design setup", "designer"},         {"Doctor approval", "doctor"},
    {"Print models", "technician"},       {"Thermoform aligners", "technician"},
    {"Trim and polish", "technician"},    {"Quality check", "qa"},
    {"Pack and ship", "shipping"},        {"Follow-up call", "support"},
}};
inline constexpr std::array<std::string_view, 10> kTemplateKinds = {
    "Aligner", "Retainer", "Refinement", "Model", "Scan only",
    "Rush aligner", "Night guard", "Bleaching tray", "Attachment", "Replacement"};

// Instructions of state transitions, by state code 0..9.
inline constexpr std::array<std::string_view, 10> kStateInstructions = {
    "Order created",   "Received at lab",      "Design in progress", "Design approved by doctor",
    "Manufacturing",   "Quality check",        "Shipped to office",  "Delivered",
    "On hold",         "Cancelled"};

// Free-text snippets and what each contains, so the truth file can count rows
// with control characters, HTML, etc. exactly.
enum TextFlag : uint8_t {
  kTextHtml = 1,        // <tag ...> looking text
  kTextControl = 2,     // a byte in 0x01-0x08, 0x0b, 0x0c, 0x0e-0x1f or 0x7f
  kTextTabNewline = 4,  // tab, newline or carriage return
  kTextBackslash = 8,
  kTextQuote = 16,      // ' or "
  kTextNonAscii = 32,
};
struct TextSnippet {
  std::string_view text;
  uint8_t flags;
};
inline constexpr std::array<Weighted<TextSnippet>, 22> kTextSnippets = {{
    {{"Patient prefers morning appointments.", 0}, 30},
    {{"Rush order", 0}, 20},
    {{"Please call the office before shipping", 0}, 15},
    {{"Refinement requested after tray 14", 0}, 10},
    {{"<b>urgent</b>", kTextHtml}, 3},
    {{"<script>alert(1)</script>", kTextHtml}, 1},
    {{"see <a href=\"http://old-mdw/case\">case</a>", kTextHtml | kTextQuote}, 1},
    {{"line one\nline two", kTextTabNewline}, 4},
    {{"col1\tcol2\tcol3", kTextTabNewline}, 2},
    {{"windows line\r\nbreak", kTextTabNewline}, 2},
    {{"file at C:\\scans\\old\\case.stl", kTextBackslash}, 2},
    {{"escape \\N is not null", kTextBackslash}, 1},
    {{"doctor said \"no attachments\"", kTextQuote}, 3},
    {{"patient's mother called", kTextQuote}, 3},
    {{"bell\x07 char", kTextControl}, 1},
    {{"form\x0c" "feed and \x1b[0m escape", kTextControl}, 1},
    {{"vertical\x0btab\x01", kTextControl}, 1},
    {{"delete\x7f char", kTextControl}, 1},
    {{"Señor José — préférence ✓", kTextNonAscii}, 2},
    {{"患者は朝の予約を希望", kTextNonAscii}, 1},
    {{"  leading and trailing spaces  ", 0}, 2},
    {{"100% done; 50 < 60 and 70 > 3", 0}, 1},
}};

// Sex values per gender and how often each is stored ("" and NULL included).
struct SexValue {
  std::string_view value;
  bool is_null;
};
inline constexpr std::array<Weighted<SexValue>, 5> kMaleSex = {{
    {{"M", false}, 85}, {{"m", false}, 6}, {{"U", false}, 3}, {{"", false}, 3}, {{"", true}, 3}}};
inline constexpr std::array<Weighted<SexValue>, 5> kFemaleSex = {{
    {{"F", false}, 85}, {{"f", false}, 6}, {{"U", false}, 3}, {{"", false}, 3}, {{"", true}, 3}}};

}  // namespace medmigrate::generate
