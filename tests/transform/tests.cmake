mm_add_test(transform/row_transformer_test.cpp LABEL unit LIBS mm_transform)
