//! Capped exponential backoff with jitter.
//!
//! The schedule follows OpenBao Agent's auto-auth backoff: the first delay is `min`; after each
//! failure the next delay is `min(2 * current, max)` minus a random 0–25 %, so a fleet of agents
//! that failed together spreads out. `max` is a hard cap: no delay is ever longer than `max`
//! (some backoff libraries add jitter on top of the cap, which can double it). A success resets
//! the schedule with [`Backoff::reset`].

use std::time::Duration;

use rand::Rng;

/// Why a backoff could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidBackoff {
    /// `min` was zero, which would retry in a tight loop.
    #[error("the minimum backoff must be greater than zero")]
    ZeroMin,
    /// `min` was larger than `max`.
    #[error("the minimum backoff ({min:?}) is larger than the maximum backoff ({max:?})")]
    MinAboveMax {
        /// The minimum given.
        min: Duration,
        /// The maximum given.
        max: Duration,
    },
}

/// A retry schedule: call [`Backoff::next_delay`] after each failure.
#[derive(Debug, Clone)]
pub struct Backoff {
    min: Duration,
    max: Duration,
    /// The delay the next failure will wait.
    current: Duration,
}

impl Backoff {
    /// Builds a schedule from `min` to `max`; rejects a zero `min` and `min > max`.
    pub fn try_new(min: Duration, max: Duration) -> Result<Self, InvalidBackoff> {
        if min.is_zero() {
            return Err(InvalidBackoff::ZeroMin);
        }
        if min > max {
            return Err(InvalidBackoff::MinAboveMax { min, max });
        }
        Ok(Self {
            min,
            max,
            current: min,
        })
    }

    /// The smallest delay of the schedule.
    pub fn min(&self) -> Duration {
        self.min
    }

    /// The largest delay of the schedule.
    pub fn max(&self) -> Duration {
        self.max
    }

    /// Returns how long to wait after a failure and advances the schedule.
    pub fn next_delay(&mut self) -> Duration {
        let delay = self.current;
        let doubled = self.current.saturating_mul(2).min(self.max);
        let jitter = rand::rng().random_range(0.0..0.25);
        self.current = doubled.mul_f64(1.0 - jitter).max(self.min).min(self.max);
        delay
    }

    /// Starts the schedule again from `min`, after a success.
    pub fn reset(&mut self) {
        self.current = self.min;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_and_never_exceeds_the_cap() {
        let mut backoff =
            Backoff::try_new(Duration::from_secs(1), Duration::from_secs(10)).unwrap();
        assert_eq!(backoff.next_delay(), Duration::from_secs(1));
        let second = backoff.next_delay();
        assert!(
            second > Duration::from_millis(1400) && second <= Duration::from_secs(2),
            "{second:?}"
        );
        for _ in 0..50 {
            let delay = backoff.next_delay();
            assert!(delay <= Duration::from_secs(10), "{delay:?}");
            assert!(delay >= Duration::from_secs(1), "{delay:?}");
        }
        backoff.reset();
        assert_eq!(backoff.next_delay(), Duration::from_secs(1));
    }

    #[test]
    fn reaches_the_cap_region() {
        let mut backoff = Backoff::try_new(Duration::from_secs(1), Duration::from_secs(8)).unwrap();
        let delays: Vec<_> = (0..20).map(|_| backoff.next_delay()).collect();
        assert!(
            delays.iter().skip(8).all(|d| *d >= Duration::from_secs(6)),
            "{delays:?}"
        );
    }

    #[test]
    fn rejects_bad_bounds() {
        assert_eq!(
            Backoff::try_new(Duration::ZERO, Duration::from_secs(1)).unwrap_err(),
            InvalidBackoff::ZeroMin
        );
        assert!(matches!(
            Backoff::try_new(Duration::from_secs(2), Duration::from_secs(1)),
            Err(InvalidBackoff::MinAboveMax { .. })
        ));
    }
}
