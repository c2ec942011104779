//! The long-running parts of a process (HTTP server, worker, relay, scheduler...), each a task
//! that is started again if it panics: a bug in one part is logged, not a shutdown.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use tokio::task::{Id, JoinSet};
use tokio_util::sync::CancellationToken;

/// How long a panicked task rests before it starts again (so a task that panics at once does
/// not spin).
const RESTART_DELAY: Duration = Duration::from_secs(1);

/// Starts one run of a task; called again for each restart.
type Start = Arc<dyn Fn() -> BoxFuture<'static, anyhow::Result<()>> + Send + Sync>;

/// Tasks that stop the process when they fail and are restarted when they panic.
pub struct Supervisor {
    shutdown: CancellationToken,
    tasks: JoinSet<anyhow::Result<()>>,
    names: HashMap<Id, (&'static str, Start)>,
}

impl std::fmt::Debug for Supervisor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut names: Vec<_> = self.names.values().map(|(name, _)| *name).collect();
        names.sort_unstable();
        f.debug_struct("Supervisor").field("tasks", &names).finish_non_exhaustive()
    }
}

impl Supervisor {
    /// No tasks yet; `shutdown` is cancelled when one fails.
    pub fn new(shutdown: CancellationToken) -> Self {
        Self { shutdown, tasks: JoinSet::new(), names: HashMap::new() }
    }

    /// Runs `start()` as the task `name`; a panic runs it again, an error stops everything.
    pub fn spawn<F, Fut>(&mut self, name: &'static str, start: F)
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
    {
        let start: Start = Arc::new(move || Box::pin(start()));
        self.launch(name, start, Duration::ZERO);
    }

    fn launch(&mut self, name: &'static str, start: Start, delay: Duration) {
        let shutdown = self.shutdown.clone();
        let run = start.clone();
        let handle = self.tasks.spawn(async move {
            if !delay.is_zero() {
                tokio::select! {
                    () = tokio::time::sleep(delay) => {}
                    () = shutdown.cancelled() => return Ok(()),
                }
            }
            run().await
        });
        self.names.insert(handle.id(), (name, start));
    }

    /// Waits until every task has stopped; the first failure wins (and stops the others). A
    /// panicked task is logged and started again, unless the process is shutting down.
    pub async fn wait(mut self) -> anyhow::Result<()> {
        let mut result = Ok(());
        while let Some(joined) = self.tasks.join_next_with_id().await {
            let outcome = match joined {
                Ok((id, outcome)) => {
                    self.names.remove(&id);
                    outcome
                }
                Err(error) => {
                    let task = self.names.remove(&error.id());
                    let name = task.as_ref().map_or("unknown", |(name, _)| *name);
                    match (error.is_panic(), task) {
                        (true, Some((name, start))) if !self.shutdown.is_cancelled() => {
                            // The panic hook printed the message; the task's own state is rebuilt.
                            tracing::error!(task = name, "a task panicked; starting it again");
                            metrics::counter!("kalends_task_panics_total", "task" => name)
                                .increment(1);
                            self.launch(name, start, RESTART_DELAY);
                            continue;
                        }
                        (true, _) => {
                            tracing::error!(task = name, "a task panicked while shutting down");
                            continue;
                        }
                        (false, _) => Err(anyhow::anyhow!("the task {name} was cancelled")),
                    }
                }
            };
            if let Err(e) = outcome {
                self.shutdown.cancel();
                if result.is_ok() {
                    result = Err(e);
                }
            }
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[tokio::test]
    async fn a_panicking_task_is_started_again_and_the_others_keep_running() {
        let shutdown = CancellationToken::new();
        let mut supervisor = Supervisor::new(shutdown.clone());
        let starts = Arc::new(AtomicUsize::new(0));
        let counted = starts.clone();
        let token = shutdown.clone();
        supervisor.spawn("flaky", move || {
            let (starts, token) = (counted.clone(), token.clone());
            async move {
                if starts.fetch_add(1, Ordering::SeqCst) == 0 {
                    panic!("a bug");
                }
                token.cancelled().await;
                Ok(())
            }
        });
        let token = shutdown.clone();
        supervisor.spawn("steady", move || {
            let token = token.clone();
            async move {
                token.cancelled().await;
                Ok(())
            }
        });
        let waiting = tokio::spawn(supervisor.wait());
        let restarted = async {
            while starts.load(Ordering::SeqCst) < 2 {
                assert!(!waiting.is_finished(), "a panic stopped the process");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        };
        tokio::time::timeout(Duration::from_secs(10), restarted)
            .await
            .expect("the panicked task was started again");
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(!waiting.is_finished(), "the process keeps running");
        assert_eq!(starts.load(Ordering::SeqCst), 2);
        shutdown.cancel();
        assert!(waiting.await.unwrap().is_ok());
    }

    #[tokio::test]
    async fn a_failing_task_stops_everything_with_its_error() {
        let shutdown = CancellationToken::new();
        let mut supervisor = Supervisor::new(shutdown.clone());
        supervisor.spawn("broken", || async { Err(anyhow::anyhow!("cannot listen")) });
        let token = shutdown.clone();
        supervisor.spawn("steady", move || {
            let token = token.clone();
            async move {
                token.cancelled().await;
                Ok(())
            }
        });
        let error = supervisor.wait().await.unwrap_err();
        assert_eq!(error.to_string(), "cannot listen");
        assert!(shutdown.is_cancelled());
    }
}
