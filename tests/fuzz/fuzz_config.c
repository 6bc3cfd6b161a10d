/*
 * fuzz_config.c - libFuzzer harness for the configuration reader (common/cfg.c, on inih):
 * the input is written to a private file and loaded with every key table of the project
 * (conf/registry.h) applied, as a program sharing the file would load it, then freed.
 */
#include "conf/registry.h"
#include "tests/fuzz/fuzz.h"

/* What a loaded configuration promises its readers: every integer within its bounds. */
static void check_loaded(void)
{
	for (size_t t = 0; t < conf_registry.n; t++)
		for (const struct cfg_key *k = conf_registry.v[t]; k->name != NULL; k++)
			if (k->type == CFG_INT)
				FUZZ_CHECK(*(const int *)k->target >= k->min &&
					   *(const int *)k->target <= k->max);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[512];

	if (cfg_load(fuzz_file_write(data, size), conf_registry, conf_registry, err,
		     sizeof(err)) == 0)
		check_loaded();
	cfg_free(conf_registry);
	return 0;
}
