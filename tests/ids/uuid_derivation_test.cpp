#include "ids/uuid_derivation.h"

#include <gtest/gtest.h>

namespace medmigrate::ids {
namespace {

// Expected values from Python's uuid.uuid5(NAMESPACE_DNS, name), an
// independent implementation of RFC 4122.
struct Case {
  const char* entity;
  const char* legacy_id;
  const char* uuid;
};

class UuidDerivationTest : public ::testing::TestWithParam<Case> {};

TEST_P(UuidDerivationTest, MatchesRfc4122) {
  auto d = UuidDerivation::Create("6ba7b810-9dad-11d1-80b4-00c04fd430c8");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->Derive(GetParam().entity, GetParam().legacy_id), GetParam().uuid);
}

INSTANTIATE_TEST_SUITE_P(Python, UuidDerivationTest,
                         ::testing::Values(
                             Case{"patients", "42", "df5956c1-6225-537d-a660-77e078402b0f"},
                             Case{"orders", "1", "e9905fd9-d9f8-58f4-a4f7-c8b741200316"},
                             Case{"workflow_template_tasks", "7:0",
                                  "8cfd2c96-3418-5b29-b3a8-81ff26c94b46"},
                             Case{"profiles", "", "1432c93a-f645-550d-8111-d032e6624514"}));

TEST(UuidDerivationTest, RejectsABadNamespace) {
  for (const char* bad : {"", "not-a-uuid", "6ba7b810-9dad-11d1-80b4-00c04fd430c", 
                          "6ba7b810x9dad-11d1-80b4-00c04fd430c8", "gba7b810-9dad-11d1-80b4-00c04fd430c8"}) {
    auto d = UuidDerivation::Create(bad);
    EXPECT_FALSE(d.ok()) << bad;
    EXPECT_EQ(d.status().code(), StatusCode::kInvalidArgument);
  }
}

TEST(UuidDerivationTest, DifferentEntitiesGiveDifferentIds) {
  auto d = UuidDerivation::Create("6ba7b810-9dad-11d1-80b4-00c04fd430c8");
  ASSERT_TRUE(d.ok());
  EXPECT_NE(d->Derive("patients", "1"), d->Derive("orders", "1"));
  EXPECT_EQ(d->Derive("patients", "1"), d->Derive("patients", "1"));
}

}  // namespace
}  // namespace medmigrate::ids
