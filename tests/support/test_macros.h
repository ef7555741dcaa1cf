// ASSERT_OK and friends for Status and Result<T>.
#pragma once

#include <gtest/gtest.h>

#include "common/status.h"

#define ASSERT_OK(expr)                                    \
  do {                                                     \
    const auto& mm_s_ = (expr);                            \
    ASSERT_TRUE(::medmigrate::testing::IsOk(mm_s_))        \
        << #expr << ": " << ::medmigrate::testing::Message(mm_s_); \
  } while (0)

#define EXPECT_OK(expr)                                    \
  do {                                                     \
    const auto& mm_s_ = (expr);                            \
    EXPECT_TRUE(::medmigrate::testing::IsOk(mm_s_))        \
        << #expr << ": " << ::medmigrate::testing::Message(mm_s_); \
  } while (0)

#define MM_ASSERT_OK_AND_ASSIGN_IMPL(tmp, lhs, expr)                  \
  auto tmp = (expr);                                                  \
  ASSERT_TRUE(tmp.ok()) << #expr << ": " << tmp.status().message();   \
  lhs = std::move(tmp).value()

#define ASSERT_OK_AND_ASSIGN(lhs, expr) \
  MM_ASSERT_OK_AND_ASSIGN_IMPL(MM_CONCAT(mm_test_result_, __LINE__), lhs, expr)

namespace medmigrate::testing {
inline bool IsOk(const Status& s) { return s.ok(); }
template <typename T>
bool IsOk(const Result<T>& r) { return r.ok(); }
inline std::string Message(const Status& s) { return s.message(); }
template <typename T>
std::string Message(const Result<T>& r) { return r.status().message(); }
}  // namespace medmigrate::testing
