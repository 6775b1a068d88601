# costsheet-stages.awk -- reads `perf report --children --stdio -g none --sort sym` of one
# process and prints, per stage of the request path, the inclusive share of that
# process's samples and its CPU µs per request (share x the process's measured CPU µs
# per request, -v cpu=...). A stage names functions that do not nest in one another;
# the names are those a -O2 build keeps (others are inlined). Call graphs come from
# DWARF unwinding, which loses some stacks: each stage's figure is a lower bound, and
# the rest (kernel, libraries, lost stacks) is not attributed. A symbol listed more than
# once counts with its largest share. Used by bench/costsheet.sh (-v p=api|worker).
BEGIN {
	if (p == "api") {
		st["FastCGI accept and read"] = "FCGX_Accept_r"
		st["parse (JSON, OpenAI fields)"] = "aif_oai_parse"
		st["auth (key hash, lookup)"] = "aif_auth_check"
		st["limits (GCRA rows)"] = "aif_rl_apply"
		st["mask (PII screen)"] = "aif_pii_screen_request"
		st["enqueue (group commit)"] = "enqueue_job"
		st["wake (doorbells)"] = "wake_workers wake_take"
		st["reply (completer, stream thread: answers)"] = "completer_main stream_main"
	} else {
		st["claim, take (handed jobs)"] = "dispatch_claim take_run"
		st["engine call (curl)"] = "curl_multi_perform"
		st["decode answer (adapter, usage)"] = "outcome_of"
		st["commit (result, usage, ring replies)"] = "commit_successes"
	}
}
/%/ && $3 == "[.]" {
	pct = $1; sub(/%/, "", pct)
	if (pct + 0 > share[$4] + 0)
		share[$4] = pct + 0
}
END {
	n = 0
	for (s in st) names[++n] = s
	# a stable order: by share, largest first
	for (i = 1; i <= n; i++) {
		split(st[names[i]], fns, " ")
		tot[i] = 0
		for (k in fns) tot[i] += share[fns[k]]
	}
	for (i = 1; i <= n; i++)
		for (j = i + 1; j <= n; j++)
			if (tot[j] > tot[i]) {
				t = tot[i]; tot[i] = tot[j]; tot[j] = t
				t = names[i]; names[i] = names[j]; names[j] = t
			}
	for (i = 1; i <= n; i++)
		printf "| %s | %s | %s | %.1f %% | %.0f |\n", p, names[i], st[names[i]], tot[i], tot[i] * cpu / 100
	printf "| %s | (all) | | 100 %% | %.0f |\n", p, cpu
}
