/* workflow.h -- the `workflows:` section of the configuration (internal to core/config):
 * walks the YAML of each workflow by hand (its steps are polymorphic), validates it
 * (kinds, models, step names, the step graph: acyclic, reachable, templates that only
 * read steps which ran on every path) and builds its canonical JSON definition, the
 * text of it and its SHA-256. The runtime reads struct aif_workflow (config.h) and the
 * expression library (wfexpr.h), never this file. */
#ifndef AIF_WORKFLOW_H
#define AIF_WORKFLOW_H

#include <yaml.h>

#include "config.h"
#include "walk.h"

#define AIF_WF_MAX_WORKFLOWS	64
#define AIF_WF_MAX_STEPS	64
#define AIF_WF_MAX_CASES	32
#define AIF_WF_MAX_BRANCHES	16

/* Walks sequence `seq` (the value of the top-level `workflows` key) into
 * cfg->workflows after the rest of cfg is walked (models are looked up); every
 * problem lands in ld. cfg owns what it builds, freed by aif_wf_free_all. */
void	aif_wf_load(struct loader *ld, const yaml_node_t *seq, struct aif_config *cfg);

/* Frees cfg->workflows and what they own; leaves them NULL and 0. */
void	aif_wf_free_all(struct aif_config *cfg);

#endif
