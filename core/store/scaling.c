/* scaling.c -- the autoscale_decisions table; see scaling.h. */
#include "scaling.h"
#include "util.h"

#define NEVER_MS	1000000000

enum aif_err
aif_scaling_since(struct aif_db *db, const char *scope, const char *action, int64_t *ms)
{
	static const char sql[] =
	    "SELECT COALESCE(TIMESTAMPDIFF(MICROSECOND, MAX(at), NOW(6)) DIV 1000, 1000000000)"
	    " FROM autoscale_decisions WHERE scope = ? AND action = ?";
	struct aif_dbp p[] = { AIF_P_STR(scope), AIF_P_STR(action) };
	enum aif_err err = AIF_DB_QUERY_I64(db, sql, p, ms);

	if (err != AIF_OK)
		*ms = NEVER_MS;
	return err == AIF_NOTFOUND ? AIF_OK : err;
}

enum aif_err
aif_scaling_record(struct aif_db *db, const char *scope, int current, int desired,
    const char *action, const char *reason, int command_rc)
{
	static const char sql[] =
	    "INSERT INTO autoscale_decisions (scope, current, desired, action, reason,"
	    " command_rc) VALUES (?, ?, ?, ?, ?, ?)";
	struct aif_dbp p[] = {
		AIF_P_STR(scope), AIF_P_I64(current), AIF_P_I64(desired), AIF_P_STR(action),
		AIF_P_STR(reason), command_rc == INT32_MIN ? AIF_P_NULL() : AIF_P_I64(command_rc),
	};

	return AIF_DB_EXEC(db, sql, p, NULL, NULL);
}

enum aif_err
aif_scaling_recent(struct aif_db *db, int limit, struct aif_dbrows **out)
{
	static const char sql[] =
	    "SELECT DATE_FORMAT(at, '%Y-%m-%d %H:%i:%s') AS at, scope, current, desired,"
	    " action, reason FROM autoscale_decisions ORDER BY id DESC LIMIT ?";
	struct aif_dbp p[] = { AIF_P_I64(limit) };

	return AIF_DB_QUERY(db, sql, p, out);
}
