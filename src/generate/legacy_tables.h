// The eleven tables of the legacy MDW schema (shared/legacy/mdw_schema.sql),
// with the columns the generator fills, in the order it fills them.
#pragma once

#include <array>
#include <cstddef>
#include <string_view>

namespace medmigrate::generate {

enum class Table {
  kAuthUser,
  kOffice,
  kDoctor,
  kPatient,
  kOrder,
  kProduct,
  kJaw,
  kProject,
  kTreatmentPlan,
  kTemplate,
  kState,
};
inline constexpr size_t kTableCount = 11;

struct TableInfo {
  Table table;
  std::string_view name;     // the SQL name
  std::string_view columns;  // for COPY name (columns) FROM STDIN
};

// In dependency order (referenced tables first).
inline constexpr std::array<TableInfo, kTableCount> kTables = {{
    {Table::kAuthUser, "auth_user",
     "id, password, last_login, is_superuser, username, first_name, last_name, email, "
     "is_staff, is_active, date_joined"},
    {Table::kOffice, "dispatch_office",
     "id, name, address_line1, address_line2, city, state, zip_code, country, phone, email, "
     "is_active, created_at, updated_at"},
    {Table::kDoctor, "dispatch_doctor",
     "id, user_id, office_id, license_number, specialty, phone, created_at, updated_at"},
    {Table::kPatient, "dispatch_patient", "id, user_id, birthdate, sex, updated_at"},
    {Table::kOrder, "dispatch_order",
     "id, order_number, patient_id, doctor_id, office_id, status, total_price, currency, "
     "due_date, notes, created_at, updated_at"},
    {Table::kProduct, "dispatch_product",
     "id, order_id, sku, name, quantity, unit_price, created_at, updated_at"},
    {Table::kJaw, "dispatch_jaw",
     "id, patient_id, order_id, jaw_type, scan_file, notes, created_at, updated_at"},
    {Table::kProject, "dispatch_project",
     "id, name, project_type, status, file_path, file_size, version, metadata, created_at, "
     "updated_at"},
    {Table::kTreatmentPlan, "dispatch_treatmentplan",
     "id, patient_id, doctor_id, title, description, stage_count, status, created_at, "
     "updated_at"},
    {Table::kTemplate, "dispatch_template",
     "id, name, description, tasks, is_active, created_at, updated_at"},
    {Table::kState, "dispatch_state",
     "id, order_id, instruction, state_code, previous_state_code, changed_by_id, changed_at, "
     "note"},
}};

inline constexpr const TableInfo& InfoOf(Table t) { return kTables[static_cast<size_t>(t)]; }
inline constexpr std::string_view NameOf(Table t) { return InfoOf(t).name; }

}  // namespace medmigrate::generate
