//! Retry policy: exponential backoff with jitter, honouring `Retry-After`, with an overall deadline.

use std::time::Duration;

use kalends_core::config::JobsConfig;
use rand::Rng as _;

/// When to run a transiently failed job again, and when to give up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Delay before the first retry; doubles with each attempt.
    pub base: Duration,
    /// Longest delay between two attempts.
    pub max_delay: Duration,
    /// After failing for this long, the job is recorded as failed.
    pub give_up_after: Duration,
}

impl RetryPolicy {
    /// The policy configured under `[jobs]`.
    pub fn from_config(jobs: &JobsConfig) -> Self {
        Self {
            base: Duration::from_millis(jobs.retry_base_ms),
            max_delay: Duration::from_millis(jobs.retry_max_delay_ms),
            give_up_after: Duration::from_secs(jobs.retry_give_up_after_secs),
        }
    }

    /// The delay before retry number `attempt + 1` of a job that has been failing for `failing_for`,
    /// or `None` when it is time to give up.
    ///
    /// The delay is drawn uniformly from the upper half of `base * 2^attempt` (capped at
    /// `max_delay`), so a burst of failures spreads out instead of retrying in lockstep; a
    /// `Retry-After` from the other side is a floor, itself capped at `max_delay` (the queue
    /// schedules by adding the delay to the clock: an absurd hint must not reach it).
    pub fn next_delay(
        &self,
        attempt: u32,
        failing_for: Duration,
        retry_after: Option<Duration>,
    ) -> Option<Duration> {
        if failing_for >= self.give_up_after {
            return None;
        }
        let ceiling =
            self.base.saturating_mul(2u32.saturating_pow(attempt.min(31))).min(self.max_delay);
        let low = ceiling / 2;
        let jittered = rand::rng().random_range(low..=ceiling);
        Some(jittered.max(retry_after.unwrap_or_default().min(self.max_delay)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            base: Duration::from_secs(1),
            max_delay: Duration::from_secs(3600),
            give_up_after: Duration::from_secs(86_400),
        }
    }

    #[test]
    fn delays_double_per_attempt_within_the_jitter_band() {
        for attempt in 0..8 {
            let ceiling = Duration::from_secs(1 << attempt);
            for _ in 0..50 {
                let d = policy().next_delay(attempt, Duration::ZERO, None).unwrap();
                assert!(d >= ceiling / 2 && d <= ceiling, "attempt {attempt}: {d:?}");
            }
        }
    }

    #[test]
    fn jitter_spreads_retries_of_simultaneous_failures() {
        let delays: std::collections::HashSet<_> =
            (0..20).map(|_| policy().next_delay(5, Duration::ZERO, None).unwrap()).collect();
        assert!(delays.len() > 10, "{delays:?}");
    }

    #[test]
    fn delays_never_exceed_the_cap() {
        let d = policy().next_delay(40, Duration::ZERO, None).unwrap();
        assert!(d <= Duration::from_secs(3600) && d >= Duration::from_secs(1800));
    }

    #[test]
    fn retry_after_from_the_provider_is_a_floor() {
        let d = policy().next_delay(0, Duration::ZERO, Some(Duration::from_secs(120))).unwrap();
        assert_eq!(d, Duration::from_secs(120));
    }

    #[test]
    fn a_retry_after_beyond_the_longest_delay_waits_the_longest_delay() {
        for hint in [Duration::from_secs(7200), Duration::from_secs(u64::MAX), Duration::MAX] {
            let d = policy().next_delay(0, Duration::ZERO, Some(hint)).unwrap();
            assert_eq!(d, Duration::from_secs(3600), "{hint:?}");
        }
    }

    #[test]
    fn a_job_failing_past_the_deadline_gives_up() {
        assert_eq!(policy().next_delay(3, Duration::from_secs(86_400), None), None);
    }
}
