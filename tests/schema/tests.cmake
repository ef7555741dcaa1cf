mm_add_test(schema/migration_files_test.cpp LABEL unit LIBS mm_schema)
mm_add_test(schema/migrator_test.cpp LABEL integration LIBS mm_schema)
mm_add_test(schema/init_command_test.cpp LABEL integration LIBS mm_schema)
