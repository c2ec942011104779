//! When an idle worker looks for due jobs.
//!
//! apalis' own interval strategy creates its next timer without polling it after it fires, so no
//! waker is registered for that tick. A worker can then sleep until some unrelated event wakes it
//! (seen as jobs starting 10-30 s late under load). This strategy always leaves a waker registered
//! on both of its sources: the poll interval and the in-process wake-ups from the relay.
//!
//! And apalis asks its backend for work every time the worker's task wakes, whatever woke it;
//! [`Gated`] asks only when the strategy is due, while a fetch's jobs are handed out, or when
//! the backend's own wakers fire.

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use apalis::prelude::{Backend, PollSnapshot, PollStrategy, WorkerContext};
use apalis_core::backend::{BackendConfig, WireFormatBackend};
use futures::Stream;
use futures::channel::mpsc;
use futures::task::ArcWake;
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

/// A queue backend asked for work only when there may be some: when its strategy says so (the
/// poll interval, the relay's wake-ups), while it is handing out what it fetched, and when
/// something the backend itself waits on (its fetch's answer, a job slot freed) wakes it.
///
/// apalis' own `PollWith` hands the strategy's answer to nobody: its worker asks the backend
/// again every time its task wakes, and the task wakes for everything in it, so a worker with a
/// job running asked Redis for more work back to back, about ten thousand scripts a second under
/// a steady 50 bookings a second.
#[derive(Debug)]
pub struct Gated<B, S> {
    backend: B,
    strategy: S,
    /// Set by the wakers the backend registered when they fire.
    woken: Arc<AtomicBool>,
    /// The last ask handed out a job: ask again at once for the rest.
    handing_out: bool,
}

impl<B, S> Gated<B, S> {
    /// `backend`, asked for work when `strategy` is due (and as said above).
    pub fn new(backend: B, strategy: S) -> Self {
        Self { backend, strategy, woken: Arc::new(AtomicBool::new(true)), handing_out: false }
    }
}

/// A waker that marks its backend woken, then wakes the worker's task.
struct MarkWoken {
    woken: Arc<AtomicBool>,
    task: Waker,
}

impl ArcWake for MarkWoken {
    fn wake_by_ref(arc: &Arc<Self>) {
        arc.woken.store(true, Ordering::Release);
        arc.task.wake_by_ref();
    }
}

impl<B: Backend, S: PollStrategy> Backend for Gated<B, S> {
    type Task = B::Task;
    type Error = B::Error;

    fn poll_ready(
        &mut self,
        cx: &mut Context<'_>,
        worker: &WorkerContext,
    ) -> Poll<Result<(), Self::Error>> {
        self.backend.poll_ready(cx, worker)
    }

    fn poll_next(
        &mut self,
        cx: &mut Context<'_>,
        worker: &WorkerContext,
    ) -> Poll<Option<Result<Self::Task, Self::Error>>> {
        // Driven every time, so that its timer and channel keep a waker registered.
        let due = self.strategy.poll_drive(cx, &PollSnapshot::default()).is_ready();
        let woken = self.woken.swap(false, Ordering::AcqRel);
        if !(due || woken || self.handing_out) {
            return Poll::Pending;
        }
        let marking = futures::task::waker(Arc::new(MarkWoken {
            woken: self.woken.clone(),
            task: cx.waker().clone(),
        }));
        let answer = self.backend.poll_next(&mut Context::from_waker(&marking), worker);
        self.handing_out = answer.is_ready();
        answer
    }

    fn poll_close(
        &mut self,
        cx: &mut Context<'_>,
        worker: &WorkerContext,
    ) -> Poll<Result<(), Self::Error>> {
        self.backend.poll_close(cx, worker)
    }
}

impl<B: BackendConfig, S> BackendConfig for Gated<B, S> {
    type Args = B::Args;
    type Id = B::Id;
    type Kind = B::Kind;
    type Config = B::Config;
    type Layer = B::Layer;

    fn config(&self) -> &B::Config {
        self.backend.config()
    }

    fn middleware(&mut self, worker: &mut WorkerContext) -> B::Layer {
        self.backend.middleware(worker)
    }
}

impl<B: WireFormatBackend, S> WireFormatBackend for Gated<B, S> {
    type Codec = B::Codec;
    type Compact = B::Compact;

    fn codec(&self) -> &B::Codec {
        self.backend.codec()
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
