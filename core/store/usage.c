/* usage.c -- usage rollups and reports; see usage.h. */
#include "usage.h"
#include "util.h"

enum aif_err
aif_usage_rollup(struct aif_db *db, uint64_t *rows)
{
	static const char sql[] =
	    "INSERT INTO usage_daily (day, api_key_id, tenant, model, jobs, prompt_tokens,"
	    " completion_tokens, cost_micros)"
	    " SELECT DATE(created_at), api_key_id, MAX(tenant), model, COUNT(*),"
	    " SUM(prompt_tokens), SUM(completion_tokens), SUM(cost_micros) FROM `usage`"
	    " WHERE created_at >= CURDATE() - INTERVAL 1 DAY"
	    " GROUP BY DATE(created_at), api_key_id, model"
	    " ON DUPLICATE KEY UPDATE jobs = VALUES(jobs), prompt_tokens = VALUES(prompt_tokens),"
	    " completion_tokens = VALUES(completion_tokens), cost_micros = VALUES(cost_micros),"
	    " tenant = VALUES(tenant), rolled_up_at = NOW(6)";

	*rows = 0;
	return aif_db_exec_plain(db, sql, rows);
}

#define SUMS	" COUNT(*) AS jobs, SUM(u.prompt_tokens) AS prompt_tokens," \
		" SUM(u.completion_tokens) AS completion_tokens," \
		" SUM(u.total_tokens) AS total_tokens, SUM(u.cost_micros) AS cost_micros"
#define WINDOW	" WHERE u.created_at >= ? AND u.created_at < ? + INTERVAL 1 DAY"

enum aif_err
aif_usage_report(struct aif_db *db, enum aif_usage_by by, const char *since,
    const char *until, struct aif_dbrows **out)
{
	static const char by_key[] =
	    "SELECT CONCAT(k.key_prefix, ' ', k.name) AS name," SUMS
	    " FROM `usage` u LEFT JOIN api_keys k ON k.id = u.api_key_id" WINDOW
	    " GROUP BY u.api_key_id, k.key_prefix, k.name ORDER BY cost_micros DESC";
	static const char by_tenant[] =
	    "SELECT u.tenant AS name," SUMS " FROM `usage` u" WINDOW
	    " GROUP BY u.tenant ORDER BY cost_micros DESC";
	static const char by_model[] =
	    "SELECT u.model AS name," SUMS " FROM `usage` u" WINDOW
	    " GROUP BY u.model ORDER BY cost_micros DESC";
	struct aif_dbp p[] = { AIF_P_STR(since), AIF_P_STR(until) };

	return AIF_DB_QUERY(db, by == AIF_USAGE_BY_KEY ? by_key : by == AIF_USAGE_BY_TENANT ?
	    by_tenant : by_model, p, out);
}
