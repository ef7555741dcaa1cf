mm_add_test(pg/connection_test.cpp LABEL integration LIBS mm_pg)
mm_add_test(pg/embedded_cluster_test.cpp LABEL integration LIBS mm_pg)
