/* support_placeholder.c: keeps bn_test_support non-empty until helpers land. */
int bn_test_support_placeholder;
