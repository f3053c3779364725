/* Watchdog self-fencing's timing rule (see selffence.h). */
#include "selffence.h"

uint64_t selffence_left_ms(uint64_t now_ms, uint64_t gone_since_ms,
			   const struct selffence_timing *t)
{
	uint64_t at;

	if (!gone_since_ms || !t)
		return UINT64_MAX;
	at = gone_since_ms + t->timeout_ms + t->margin_ms;
	return now_ms >= at ? 0 : at - now_ms;
}

uint64_t selffence_lease_from_beat(bool own, bool config_quorate, uint64_t sent_mono_ms,
				   uint64_t now_ms, uint32_t timeout_ms)
{
	if (!own || !config_quorate || !sent_mono_ms || !timeout_ms)
		return 0;
	if (sent_mono_ms > now_ms)
		sent_mono_ms = now_ms;
	return sent_mono_ms + timeout_ms;
}

uint64_t selffence_lease_extend(uint64_t cur_expires_ms, uint64_t offered_expires_ms)
{
	return offered_expires_ms > cur_expires_ms ? offered_expires_ms : cur_expires_ms;
}

bool selffence_lease_expired(uint64_t now_ms, uint64_t expires_ms)
{
	return expires_ms && now_ms >= expires_ms;
}

uint32_t selffence_beat_ms(uint32_t timeout_ms)
{
	uint32_t b = timeout_ms / 5;

	if (b < 200)
		b = 200;
	if (b > 1000)
		b = 1000;
	return b;
}

uint32_t selffence_watchdog_s(const struct selffence_timing *t)
{
	uint32_t s = t ? t->margin_ms / 2000 : 0;

	return s ? s : 1;
}
