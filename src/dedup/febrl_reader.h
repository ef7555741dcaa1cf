// Reads a file in the FEBRL format (shared/data/febrl/README.md): CSV with
// ", " separators, header rec_id, given_name, surname, street_number,
// address_1, address_2, suburb, postcode, state, date_of_birth, soc_sec_id;
// the person is N of rec_id "rec-N-org" / "rec-N-dup-K".
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "dedup/person_record.h"

namespace medmigrate::dedup {

struct FebrlData {
  std::vector<PersonRecord> records;  // id: the row number (1-based)
  std::vector<int64_t> person;        // N of each record's rec_id
};

// InvalidArgument naming the line (never its values) when the text is not FEBRL.
Result<FebrlData> ParseFebrl(std::string_view text);

}  // namespace medmigrate::dedup
