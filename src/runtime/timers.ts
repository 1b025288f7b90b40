// Node's timers hold at most 2^31-1 ms: a longer delay (e.g. a requeue for a deadline of
// MaxInt32 seconds) silently fires after 1 ms, a hot loop. Every timer in the runtime takes its
// delay through timerDelay.
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** Never negative, never NaN, never past MAX_TIMER_MS. */
export const timerDelay = (ms: number): number => (Number.isNaN(ms) ? 0 : Math.min(Math.max(0, ms), MAX_TIMER_MS));
