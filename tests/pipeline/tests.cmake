mm_add_test(pipeline/migration_test.cpp LABEL integration LIBS mm_pipeline mm_generate mm_schema)
mm_add_test(pipeline/incremental_test.cpp LABEL integration LIBS mm_pipeline mm_generate mm_schema)
mm_add_test(pipeline/dedup_test.cpp LABEL integration LIBS mm_pipeline mm_generate mm_schema)
mm_add_test(pipeline/post_load_test.cpp LABEL integration LIBS mm_pipeline mm_generate mm_schema mm_report)
