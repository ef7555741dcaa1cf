mm_add_test(validate/validation_test.cpp LABEL integration LIBS mm_validate mm_pipeline mm_generate mm_schema)
mm_add_test(validate/check_support_test.cpp LABEL unit LIBS mm_validate)
