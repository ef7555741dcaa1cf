mm_add_test(common/config_test.cpp LABEL unit LIBS mm_common)
mm_add_test(common/db_url_test.cpp LABEL unit LIBS mm_common)
mm_add_test(common/copy_text_test.cpp LABEL unit LIBS mm_common)
