//! When an idle worker looks for due jobs.
//!
//! apalis' own interval strategy creates its next timer without polling it after it fires, so no
//! waker is registered for that tick. A worker can then sleep until some unrelated event wakes it
//! (seen as jobs starting 10-30 s late under load). This strategy always leaves a waker registered
//! on both of its sources: the poll interval and the in-process wake-ups from the relay.

use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use apalis::prelude::{PollSnapshot, PollStrategy};
use futures::Stream;
use futures::channel::mpsc;
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};

/// The relay's wake-ups, kept across the runs of a worker that is started again.
pub type Wake = Arc<Mutex<mpsc::Receiver<()>>>;

/// Wakes the worker every `interval`, and at once whenever the relay pushed work.
#[derive(Debug)]
pub struct WakeOrTick {
    tick: tokio::time::Interval,
    wake: Option<Wake>,
    stopping: Option<Pin<Box<WaitForCancellationFutureOwned>>>,
}

impl WakeOrTick {
    /// A strategy ticking every `interval`, also woken by `wake` when given.
    pub fn new(interval: Duration, wake: Option<Wake>) -> Self {
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        Self { tick, wake, stopping: None }
    }

    /// Stops asking for jobs once `shutdown` is cancelled, so a stopping worker only finishes
    /// what it already has.
    pub fn until(mut self, shutdown: CancellationToken) -> Self {
        self.stopping = Some(Box::pin(shutdown.cancelled_owned()));
        self
    }
}

impl PollStrategy for WakeOrTick {
    fn poll_drive(&mut self, cx: &mut Context<'_>, _snapshot: &PollSnapshot) -> Poll<Option<()>> {
        if let Some(stopping) = &mut self.stopping
            && stopping.as_mut().poll(cx).is_ready()
        {
            return Poll::Pending;
        }
        let mut due = false;
        // Poll each source until it is pending, so each has registered the waker for its next event.
        while self.tick.poll_tick(cx).is_ready() {
            due = true;
        }
        if let Some(wake) = &self.wake {
            // One run of the worker at a time polls it: the lock is never contended.
            let mut wake = wake.lock().unwrap_or_else(PoisonError::into_inner);
            loop {
                match Pin::new(&mut *wake).poll_next(cx) {
                    Poll::Ready(Some(())) => due = true,
                    // The relay is gone (shutdown); the ticker still drives the worker.
                    Poll::Ready(None) => {
                        drop(wake);
                        self.wake = None;
                        break;
                    }
                    Poll::Pending => break,
                }
            }
        }
        if due { Poll::Ready(Some(())) } else { Poll::Pending }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::task::noop_waker_ref;

    #[tokio::test]
    async fn a_wake_up_is_reported_and_the_next_one_still_arrives() {
        let (mut tx, rx) = mpsc::channel(1);
        let mut strategy =
            WakeOrTick::new(Duration::from_secs(3600), Some(Arc::new(Mutex::new(rx))));
        let mut cx = Context::from_waker(noop_waker_ref());
        let snapshot = PollSnapshot::default();
        assert!(strategy.poll_drive(&mut cx, &snapshot).is_pending());
        tx.try_send(()).unwrap();
        assert!(strategy.poll_drive(&mut cx, &snapshot).is_ready());
        assert!(strategy.poll_drive(&mut cx, &snapshot).is_pending());
        tx.try_send(()).unwrap();
        assert!(strategy.poll_drive(&mut cx, &snapshot).is_ready());
        drop(tx);
        assert!(
            strategy.poll_drive(&mut cx, &snapshot).is_pending(),
            "a closed channel leaves the ticker"
        );
    }

    /// Each tick wakes the task that waits for it (a lost waker would hang here until the
    /// time limit), never before its time, and only once.
    #[tokio::test]
    async fn the_ticker_keeps_firing_at_its_interval() {
        let interval = Duration::from_millis(50);
        let started = tokio::time::Instant::now();
        let mut strategy = WakeOrTick::new(interval, None);
        let snapshot = PollSnapshot::default();
        for n in 1..=3 {
            let next = std::future::poll_fn(|cx| strategy.poll_drive(cx, &snapshot));
            // The time limit first: a tick only noticed when the limit's own timer wakes the task
            // is a lost waker, not a tick that arrived.
            let fired = tokio::select! {
                biased;
                () = tokio::time::sleep(Duration::from_secs(5)) => None,
                fired = next => fired,
            };
            assert_eq!(fired, Some(()), "tick {n} arrives within 5 s");
            let elapsed = started.elapsed();
            assert!(elapsed >= interval * n, "tick {n} after {elapsed:?}, before its time");
            let mut cx = Context::from_waker(noop_waker_ref());
            assert!(strategy.poll_drive(&mut cx, &snapshot).is_pending(), "tick {n} fired twice");
        }
    }
}
