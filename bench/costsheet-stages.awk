# costsheet-stages.awk -- reads `perf report --children --stdio -g none --sort sym` of one
# process and prints, per stage of the request path, the inclusive share of that
# process's samples and its CPU µs per request (share x the process's measured CPU µs
# per request, -v cpu=...). A stage names non-nested public functions, so their inclusive
# shares add up; static functions may be inlined by the compiler and are not named.
# Used by bench/costsheet.sh (-v p=api|worker).
BEGIN {
	if (p == "api") {
		st["parse (JSON, OpenAI fields)"] = "aif_oai_parse json_loadb"
		st["auth (key lookup)"] = "aif_auth_check"
		st["limits (GCRA rows)"] = "aif_rl_apply"
		st["mask (PII screen)"] = "aif_pii_screen_request"
		st["enqueue (group commit)"] = "aif_queue_enqueue_batch"
		st["wake (doorbells)"] = "wake_workers"
		st["reply (completer: read rows, answer)"] = "completer_main"
		st["FastCGI accept and read"] = "FCGX_Accept_r"
	} else {
		st["claim"] = "aif_queue_claim"
		st["engine call (curl)"] = "curl_multi_perform"
		st["commit (result, usage)"] = "aif_queue_succeed"
		st["decode answer (adapter, usage)"] = "outcome_of"
		st["ring replies"] = "aif_doorbell_ring_patient"
		st["poll (waiting for events)"] = "curl_multi_poll"
	}
}
/%/ && $3 == "[.]" {
	pct = $1; sub(/%/, "", pct)
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
