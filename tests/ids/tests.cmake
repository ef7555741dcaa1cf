mm_add_test(ids/uuid_derivation_test.cpp LABEL unit LIBS mm_ids)
