mm_add_test(spec/spec_parser_test.cpp LABEL unit LIBS mm_spec)
