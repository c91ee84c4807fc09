/* tools/empty_module.c — stands in for a module that has no sources yet. */
typedef int rdb_empty_module_t;
