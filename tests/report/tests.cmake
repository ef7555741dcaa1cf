mm_add_test(report/report_test.cpp LABEL e2e LIBS mm_pg)
# The HTML report's headless-Chromium screenshot is kept here for people to look at.
target_compile_definitions(report_report_test PRIVATE
  MEDMIGRATE_ARTIFACTS_DIR="${PROJECT_BINARY_DIR}/Testing/artifacts")
