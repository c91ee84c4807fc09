/*
 * tests/fuzz/fuzz_config.c — ragdb.json as the library reads it
 * (engine/providers/config.c: rdb_config_load, then rdb_config_resolve for
 * fixed specs, the default model and every configured name, then
 * rdb_model_key's "${VAR}" expansion) and as the server reads it
 * (server/config.c: rdb_srv_config_load, "${VAR}" in API keys). The input
 * is the file's bytes, written to a memfd and loaded by its /proc path.
 * Property: loading, resolving and expanding are OK or fail with
 * RAGDB_EINVAL (RAGDB_ENOMEM) and a message; a resolved model has a name,
 * a model id and an endpoint; an expanded model key has no line break;
 * no crash, leak or undefined behaviour.
 */
#include <cjson/cJSON.h>
#include <sys/mman.h>
#include <unistd.h>

#include "engine/providers/config.h"
#include "fuzz_util.h"
#include "server/server.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_model(const rdb_config *c, const char *spec)
{
	rdb_model_cfg m;
	rdb_err e = { 0 };
	ragdb_status st = rdb_config_resolve(c, spec, NULL, &m, &e);
	if (st != RAGDB_OK) {
		FZ_ASSERT(st == RAGDB_EINVAL || st == RAGDB_ENOMEM);
		FZ_ASSERT(e.msg[0] != 0);
		return;
	}
	FZ_ASSERT(m.name && m.model && (m.endpoint || m.provider == RDB_PROV_HUGGINGFACE));
	FZ_ASSERT(m.provider < RDB_PROV_COUNT);
	char *key = NULL;
	rdb_err ek = { 0 };
	st = rdb_model_key(&m, &key, &ek);
	if (st == RAGDB_OK) {
		FZ_ASSERT(!key || !strpbrk(key, "\r\n"));
		rdb_key_free(key);
	} else {
		FZ_ASSERT(st == RAGDB_EINVAL || st == RAGDB_ENOMEM);
		FZ_ASSERT(ek.msg[0] != 0);
	}
	rdb_model_cfg_clear(&m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int env_done;
	if (!env_done) {
		setenv("FUZZ_KEY", "sk-fuzz-0123", 1);
		setenv("FUZZ_EMPTY", "", 1);
		setenv("FUZZ_NL", "sk-a\r\nX-Injected: 1", 1);
		/* no network is touched, but keep resolution independent of the host */
		unsetenv("OPENAI_BASE_URL");
		unsetenv("OLLAMA_HOST");
		env_done = 1;
	}
	int fd = memfd_create("ragdb.json", 0);
	if (fd < 0)
		return 0;
	if (size && write(fd, data, size) != (ssize_t)size) {
		close(fd);
		return 0;
	}
	char path[64];
	snprintf(path, sizeof path, "/proc/self/fd/%d", fd);

	rdb_config *c = NULL;
	rdb_err e = { 0 };
	ragdb_status st = rdb_config_load(path, 1, &c, &e);
	if (st != RAGDB_OK) {
		FZ_ASSERT(st == RAGDB_EINVAL || st == RAGDB_ENOMEM);
		FZ_ASSERT(e.msg[0] != 0);
	} else {
		static const char *specs[] = { "openai:text-embedding-3-small", "anthropic:claude-x",
		                               "ollama:llama3.2", "gemini:", "huggingface:bge", "nope:x",
		                               "plain" };
		for (size_t i = 0; i < sizeof specs / sizeof specs[0]; i++)
			check_model(c, specs[i]);
		if (rdb_config_default_model(c))
			check_model(c, rdb_config_default_model(c));
		/* every configured name, as the file has them */
		cJSON *root = cJSON_ParseWithLength((const char *)data, size);
		cJSON *models = cJSON_GetObjectItemCaseSensitive(root, "models"), *it;
		int k = 0;
		cJSON_ArrayForEach(it, models) {
			if (k++ >= 8)
				break;
			if (it->string)
				check_model(c, it->string);
			cJSON *nm = cJSON_GetObjectItemCaseSensitive(it, "name");
			if (cJSON_IsString(nm))
				check_model(c, nm->valuestring);
		}
		cJSON_Delete(root);
		rdb_config_free(c);
	}

	rdb_srv_config sc;
	char err[512] = "";
	rdb_srv_config_init(&sc);
	if (rdb_srv_config_load(&sc, path, err, sizeof err) != 0)
		FZ_ASSERT(err[0] != 0);
	for (size_t i = 0; i < sc.n_keys; i++)
		FZ_ASSERT(sc.keys[i].key != NULL);
	rdb_srv_config_free(&sc);
	close(fd);
	return 0;
}
