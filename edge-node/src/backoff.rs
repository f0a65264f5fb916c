//! The node's one way of waiting between tries: exponential backoff with ±50 % jitter,
//! so many nodes coming back after one outage do not all call at the same instant.
//! Registration, the outage prober, queue receives, answer chunks and result deliveries
//! each start one with their own first and longest wait.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

pub use cynode_protocol::clock::random_fraction;

pub struct Backoff {
    next: Duration,
    first: Duration,
    max: Duration,
}

impl Backoff {
    /// Waits of about `first`, doubling up to `max`.
    pub fn new(first: Duration, max: Duration) -> Self {
        Self {
            next: first,
            first,
            max,
        }
    }

    /// From 1 s to 30 s: how the node retries the gateway while it is unreachable.
    pub fn gateway() -> Self {
        Self::new(Duration::from_secs(1), Duration::from_secs(30))
    }

    pub fn next_wait(&mut self) -> Duration {
        let base = self.next;
        self.next = (self.next * 2).min(self.max);
        base.mul_f64(0.5 + random_fraction())
    }

    /// Back to the first wait (after a success).
    pub fn reset(&mut self) {
        self.next = self.first;
    }

    /// Sleeps the next wait; `false` if `stop` fired first.
    pub async fn wait(&mut self, stop: &CancellationToken) -> bool {
        tokio::select! {
            _ = tokio::time::sleep(self.next_wait()) => true,
            _ = stop.cancelled() => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_its_cap_with_jitter_and_resets() {
        let mut backoff = Backoff::gateway();
        let waits: Vec<Duration> = (0..8).map(|_| backoff.next_wait()).collect();
        for (wait, base) in waits.iter().zip([1, 2, 4, 8, 16, 30, 30, 30]) {
            let base = Duration::from_secs(base);
            assert!(
                *wait >= base / 2 && *wait < base * 3 / 2,
                "{wait:?} around {base:?}"
            );
        }
        backoff.reset();
        assert!(backoff.next_wait() < Duration::from_millis(1500));
    }
}
