/* counters.c -- the metric_counters table; see counters.h. */
#include <string.h>

#include "counters.h"
#include "metrics.h"
#include "sqlbuf.h"

#define FLUSH_ROWS	64

enum aif_err
aif_counters_flush(struct aif_db *db)
{
	enum { MCOLS = 3 };
	struct aif_metric_delta d[FLUSH_ROWS];
	struct aif_dbp p[MCOLS * FLUSH_ROWS];
	struct aif_sqlbuf sql = { 0 };
	enum aif_err err = AIF_OK;
	size_t n;

	while (err == AIF_OK && (n = aif_metrics_take(d, FLUSH_ROWS)) > 0) {
		aif_sqlbuf_reset(&sql);
		aif_sqlbuf_add(&sql, "INSERT INTO metric_counters (name, labels, value) VALUES ");
		aif_sqlbuf_rows(&sql, n, MCOLS);
		/* counters saturate at the top of BIGINT instead of failing the flush */
		aif_sqlbuf_add(&sql, " ON DUPLICATE KEY UPDATE value ="
		    " IF(VALUES(value) > 0 AND value > 9223372036854775807 - VALUES(value),"
		    " 9223372036854775807, value + VALUES(value))");
		for (size_t i = 0; i < n; i++) {
			struct aif_dbp row[] = { AIF_P_STR(d[i].name), AIF_P_STR(d[i].labels),
			    AIF_P_I64(d[i].value) };
			_Static_assert(sizeof(row) / sizeof(row[0]) == MCOLS, "columns");
			memcpy(&p[i * MCOLS], row, sizeof(row));
		}
		if ((err = aif_sqlbuf_status(&sql)) == AIF_OK)
			err = aif_db_exec(db, aif_sqlbuf_get(&sql), p, n * MCOLS, NULL, NULL);
		if (err != AIF_OK)
			aif_metrics_give_back(d, n);	/* for the next flush */
	}
	aif_sqlbuf_free(&sql);
	return err;
}

enum aif_err
aif_counters_read(struct aif_db *db, struct aif_dbrows **out)
{
	static const char sql[] =
	    "SELECT name, labels, value FROM metric_counters ORDER BY"
	    " REPLACE(REPLACE(REPLACE(name, '_bucket', ''), '_count', ''), '_sum', ''),"
	    " name, labels";

	return aif_db_query_plain(db, sql, out);
}
