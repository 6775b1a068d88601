/* fuzz_config.c -- libFuzzer target for the YAML loader (aif_cfg_load_string) and for
 * building a PII engine from whatever it accepts. Checks: no crash or leak; a refused
 * file always has a message; an accepted one builds (or cleanly refuses) an engine. */
#include <stdint.h>
#include <stdlib.h>

#include "config.h"
#include "pii.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct aif_config	*cfg = NULL;
	struct aif_pii		*pii = NULL;
	char			 err[2048];
	enum aif_err		 rc;

	rc = aif_cfg_load_string("fuzz.yaml", (const char *)data, size, &cfg, err,
	    sizeof(err));
	if (rc != AIF_OK) {
		if (cfg != NULL || err[0] == '\0')
			abort();
		return 0;
	}
	if (aif_pii_new(cfg, AIF_PII_EPHEMERAL_KEY, &pii, err, sizeof(err)) == AIF_OK)
		aif_pii_free(pii);
	aif_cfg_free(cfg);
	return 0;
}
