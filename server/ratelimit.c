/*
 * server/ratelimit.c — the per-client rate limit: a token bucket per client
 * address (rate tokens a second, up to burst), in a fixed-size table.
 *
 * The table never grows: a client is hashed to a window of RL_PROBE slots
 * and, when all are taken by others, takes the slot seen least recently. So
 * memory is bounded whatever the number of clients; a flood of new
 * addresses can at worst reset another client's bucket (to full, which
 * errs on the side of letting it through).
 */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "server/internal.h"

#define RL_SLOTS 4096
#define RL_PROBE 8
#define RL_KEY 48

typedef struct rl_slot {
	char client[RL_KEY];
	double tokens;
	double last;
} rl_slot;

struct srv_ratelimit {
	pthread_mutex_t mu;
	double rate, burst;
	rl_slot slots[RL_SLOTS];
};

srv_ratelimit *srv_ratelimit_create(double rate, double burst)
{
	srv_ratelimit *rl = calloc(1, sizeof *rl);

	if (!rl)
		return NULL;
	pthread_mutex_init(&rl->mu, NULL);
	rl->rate = rate;
	rl->burst = burst < 1 ? 1 : burst;
	return rl;
}

void srv_ratelimit_free(srv_ratelimit *rl)
{
	if (!rl)
		return;
	pthread_mutex_destroy(&rl->mu);
	free(rl);
}

static uint32_t rl_hash(const char *s)
{
	uint32_t h = 2166136261u;

	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 16777619u;
	}
	return h;
}

unsigned srv_ratelimit_take(srv_ratelimit *rl, const char *client, double now)
{
	uint32_t h = rl_hash(client);
	rl_slot *slot = NULL, *oldest = NULL;
	unsigned wait = 0;

	pthread_mutex_lock(&rl->mu);
	for (uint32_t i = 0; i < RL_PROBE; i++) {
		rl_slot *s = &rl->slots[(h + i) % RL_SLOTS];
		if (s->client[0] && strncmp(s->client, client, RL_KEY - 1) == 0) {
			slot = s;
			break;
		}
		/* The victim: an empty slot if any, else the least recently seen. */
		if (!s->client[0]) {
			if (!oldest || oldest->client[0])
				oldest = s;
		} else if (!oldest || (oldest->client[0] && s->last < oldest->last)) {
			oldest = s;
		}
	}
	if (!slot) {
		slot = oldest;
		strncpy(slot->client, client, RL_KEY - 1);
		slot->client[RL_KEY - 1] = '\0';
		slot->tokens = rl->burst;
		slot->last = now;
	}
	slot->tokens += (now - slot->last) * rl->rate;
	if (slot->tokens > rl->burst)
		slot->tokens = rl->burst;
	slot->last = now;
	if (slot->tokens >= 1.0) {
		slot->tokens -= 1.0;
	} else {
		double secs = (1.0 - slot->tokens) / rl->rate;
		wait = (unsigned)ceil(secs);
		if (wait < 1)
			wait = 1;
	}
	pthread_mutex_unlock(&rl->mu);
	return wait;
}
