/* routing.c -- replica choice, circuit breakers and health probes; see routing.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapter.h"
#include "http.h"
#include "log.h"
#include "routing.h"
#include "util.h"

struct replica_state {
	int	 in_flight;
	int	 failures;		/* consecutive */
	int64_t	 open_until_ms;		/* 0: closed */
	int	 healthy;		/* the last health probe answered 200 */
	int64_t	 next_check_ms;		/* when the periodic probe is due */
	CURL	*probe;			/* health probe in flight, or NULL */
	struct curl_slist *auth;	/* the replica's credential header for its
					   probes (an engine may guard its health path
					   too), or NULL */
	size_t	 mi, ri;		/* where it is in routing.rs */
};

struct routing {
	const struct aif_config	*cfg;
	int			 rank;	/* this worker among n live ones */
	int			 n;
	struct replica_state	**rs;	/* [model][replica] */
	CURLM			*probes;
};

struct routing *
routing_new(const struct aif_config *cfg)
{
	struct routing *rt = calloc(1, sizeof(*rt));

	if (rt == NULL)
		return NULL;
	rt->cfg = cfg;
	rt->rank = 0;
	rt->n = 1;
	if ((rt->rs = calloc(cfg->nmodels, sizeof(*rt->rs))) == NULL ||
	    (rt->probes = curl_multi_init()) == NULL) {
		routing_free(rt);
		return NULL;
	}
	for (size_t i = 0; i < cfg->nmodels; i++) {
		if ((rt->rs[i] = calloc(cfg->models[i].nreplicas, sizeof(**rt->rs))) == NULL) {
			routing_free(rt);
			return NULL;
		}
		for (size_t r = 0; r < cfg->models[i].nreplicas; r++) {
			const struct aif_replica *rep = &cfg->models[i].replicas[r];
			struct replica_state *s = &rt->rs[i][r];

			s->mi = i;
			s->ri = r;
			/* AIF_TOOBIG cannot be: the configuration checks the length */
			if (aif_http_auth_header(&s->auth, rep->api_key_header, rep->api_key,
			    rep->api_key_len) != AIF_OK) {
				routing_free(rt);
				return NULL;
			}
		}
	}
	return rt;
}

void
routing_free(struct routing *rt)
{
	if (rt == NULL)
		return;
	for (size_t i = 0; rt->rs != NULL && i < rt->cfg->nmodels; i++) {
		for (size_t r = 0; rt->rs[i] != NULL && r < rt->cfg->models[i].nreplicas; r++) {
			if (rt->rs[i][r].probe != NULL) {
				curl_multi_remove_handle(rt->probes, rt->rs[i][r].probe);
				curl_easy_cleanup(rt->rs[i][r].probe);
			}
			aif_http_headers_free(rt->rs[i][r].auth);
		}
		free(rt->rs[i]);
	}
	free(rt->rs);
	if (rt->probes != NULL)
		curl_multi_cleanup(rt->probes);
	free(rt);
}

void
routing_set_share(struct routing *rt, int rank, int n)
{
	if (n < 1 || rank < 0 || rank >= n) {
		rank = 0;
		n = 1;
	}
	rt->rank = rank;
	rt->n = n;
}

/* This worker's share of replica ri of model mi. */
static int
routing_capacity(const struct routing *rt, size_t mi, size_t ri)
{
	int max = rt->cfg->models[mi].replicas[ri].max_in_flight;

	return max / rt->n + (rt->rank < max % rt->n ? 1 : 0);
}

int
routing_room(const struct routing *rt, size_t mi)
{
	const struct aif_model *m = &rt->cfg->models[mi];
	int room = 0;

	for (size_t r = 0; r < m->nreplicas; r++) {
		int free_slots = routing_capacity(rt, mi, r) - rt->rs[mi][r].in_flight;
		if (free_slots > 0)
			room += free_slots;
	}
	return room;
}

/* Best usable replica of model mi, or -1. */
static int
best_of(const struct routing *rt, size_t mi, const char *avoid_url, int64_t now)
{
	const struct aif_model *m = &rt->cfg->models[mi];
	int best = -1, best_avoided = -1;

	for (size_t r = 0; r < m->nreplicas; r++) {
		const struct replica_state *s = &rt->rs[mi][r];
		if (s->in_flight >= routing_capacity(rt, mi, r) || s->open_until_ms > now)
			continue;
		if (avoid_url != NULL && strcmp(m->replicas[r].url, avoid_url) == 0) {
			best_avoided = (int)r;
			continue;
		}
		if (best < 0 || s->in_flight < rt->rs[mi][best].in_flight)
			best = (int)r;
	}
	return best >= 0 ? best : best_avoided;
}

int
routing_pick(struct routing *rt, size_t mi, const char *avoid_url, size_t *out_mi,
    size_t *out_ri)
{
	return routing_pick_kind(rt, mi, AIF_KIND_ALL, avoid_url, out_mi, out_ri);
}

int
routing_pick_kind(struct routing *rt, size_t mi, unsigned kinds, const char *avoid_url,
    size_t *out_mi, size_t *out_ri)
{
	const struct aif_model *m = &rt->cfg->models[mi];
	int64_t now = aif_now_ms();
	int r = best_of(rt, mi, avoid_url, now);

	if (r >= 0) {
		*out_mi = mi;
		*out_ri = (size_t)r;
		return 0;
	}
	for (size_t k = 0; k < m->nfallbacks; k++) {
		size_t fi = aif_cfg_model_index(rt->cfg, m->fallbacks[k]);
		if (fi == SIZE_MAX || (rt->cfg->models[fi].kinds & kinds) == 0 ||
		    (r = best_of(rt, fi, NULL, now)) < 0)
			continue;
		*out_mi = fi;
		*out_ri = (size_t)r;
		return 0;
	}
	return -1;
}

/* Earliest end of an open circuit of model mi (INT64_MAX: none open), 0 if one is closed. */
static int64_t
earliest_close(const struct routing *rt, size_t mi, int64_t now)
{
	const struct aif_model *m = &rt->cfg->models[mi];
	int64_t best = INT64_MAX;

	for (size_t r = 0; r < m->nreplicas; r++) {
		int64_t until = rt->rs[mi][r].open_until_ms;
		if (until <= now)
			return 0;
		if (until < best)
			best = until;
	}
	return best;
}

int64_t
routing_wait_ms(const struct routing *rt, size_t mi)
{
	const struct aif_model *m = &rt->cfg->models[mi];
	int64_t now = aif_now_ms();
	int64_t until = earliest_close(rt, mi, now);

	for (size_t k = 0; k < m->nfallbacks && until != 0; k++) {
		size_t fi = aif_cfg_model_index(rt->cfg, m->fallbacks[k]);
		int64_t f;
		if (fi == SIZE_MAX)
			continue;
		if ((f = earliest_close(rt, fi, now)) < until)
			until = f;
	}
	return until == 0 || until == INT64_MAX ? 0 : until - now;
}

void
routing_acquire(struct routing *rt, size_t mi, size_t ri)
{
	rt->rs[mi][ri].in_flight++;
}

void
routing_release(struct routing *rt, size_t mi, size_t ri)
{
	if (rt->rs[mi][ri].in_flight > 0)
		rt->rs[mi][ri].in_flight--;
}

void
routing_result(struct routing *rt, size_t mi, size_t ri, int ok)
{
	const struct aif_model *m = &rt->cfg->models[mi];
	struct replica_state *s = &rt->rs[mi][ri];

	if (ok) {
		if (s->open_until_ms != 0)
			aif_info("msg=\"circuit closed\" model=%s replica=%s", m->id,
			    m->replicas[ri].url);
		s->failures = 0;
		s->open_until_ms = 0;
		return;
	}
	s->failures++;
	if (s->failures >= m->circuit_failures) {
		if (s->open_until_ms == 0)
			aif_warn("msg=\"circuit opened\" model=%s replica=%s failures=%d"
			    " open_ms=%d", m->id, m->replicas[ri].url, s->failures,
			    m->circuit_open_ms);
		s->open_until_ms = aif_now_ms() + m->circuit_open_ms;
	}
}

void
routing_down(struct routing *rt, size_t mi, size_t ri)
{
	struct replica_state *s = &rt->rs[mi][ri];

	if (s->failures < rt->cfg->models[mi].circuit_failures)
		s->failures = rt->cfg->models[mi].circuit_failures - 1;
	routing_result(rt, mi, ri, 0);
}

int
routing_in_flight(const struct routing *rt, size_t mi, size_t ri)
{
	return rt->rs[mi][ri].in_flight;
}

int
routing_is_open(const struct routing *rt, size_t mi, size_t ri)
{
	return rt->rs[mi][ri].open_until_ms > aif_now_ms();
}

static void
start_probe(struct routing *rt, size_t mi, size_t ri)
{
	const struct aif_model *m = &rt->cfg->models[mi];
	const struct aif_replica *rep = &m->replicas[ri];
	const struct aif_adapter *ad = aif_adapter_find(m->adapter);
	struct replica_state *s = &rt->rs[mi][ri];
	CURL *e;

	if (ad == NULL || ad->health_path == NULL ||
	    (e = aif_http_probe(rep->url, ad->health_path,
	    AIF_ROUTING_PROBE_TIMEOUT_MS)) == NULL)
		return;
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, s->auth);
	curl_easy_setopt(e, CURLOPT_PRIVATE, (char *)s);
	if (curl_multi_add_handle(rt->probes, e) != CURLM_OK) {
		curl_easy_cleanup(e);
		return;
	}
	s->probe = e;
}

/* A probe of (mi, ri) answered `ok`: the replica's health, and an open circuit closes
 * (ok) or stays open another circuit_open_ms. */
static void
probed(struct routing *rt, size_t mi, size_t ri, int ok, int64_t now)
{
	struct replica_state *s = &rt->rs[mi][ri];

	s->healthy = ok;
	s->next_check_ms = now + AIF_ROUTING_HEALTH_MS;
	if (s->open_until_ms == 0)
		return;
	if (ok)
		routing_result(rt, mi, ri, 1);
	else if (s->open_until_ms < now + rt->cfg->models[mi].circuit_open_ms)
		s->open_until_ms = now + rt->cfg->models[mi].circuit_open_ms;
}

int
routing_is_healthy(const struct routing *rt, size_t mi, size_t ri)
{
	return rt->rs[mi][ri].healthy && !routing_is_open(rt, mi, ri);
}

void
routing_probe(struct routing *rt)
{
	int64_t now = aif_now_ms();
	int running = 0, left;
	CURLMsg *msg;

	for (size_t i = 0; i < rt->cfg->nmodels; i++)
		for (size_t r = 0; r < rt->cfg->models[i].nreplicas; r++) {
			struct replica_state *s = &rt->rs[i][r];
			if (s->probe == NULL && (s->open_until_ms != 0 ||
			    s->next_check_ms <= now))
				start_probe(rt, i, r);
		}
	curl_multi_perform(rt->probes, &running);
	while ((msg = curl_multi_info_read(rt->probes, &left)) != NULL) {
		struct replica_state *s = NULL;
		CURL *e = msg->easy_handle;
		long status = 0;
		int ok;

		if (msg->msg != CURLMSG_DONE)
			continue;
		/* msg belongs to the multi handle: read it before the handle goes */
		ok = msg->data.result == CURLE_OK;
		curl_easy_getinfo(e, CURLINFO_PRIVATE, (char **)&s);
		curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
		curl_multi_remove_handle(rt->probes, e);
		curl_easy_cleanup(e);
		s->probe = NULL;
		probed(rt, s->mi, s->ri, ok && status == 200, now);
	}
}
