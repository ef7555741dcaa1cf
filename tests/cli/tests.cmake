mm_add_test(cli/cli_test.cpp LABEL e2e LIBS mm_pg)
mm_add_test(cli/secrets_test.cpp LABEL e2e LIBS mm_pg)
mm_add_test(cli/bad_input_test.cpp LABEL e2e LIBS mm_pg)
