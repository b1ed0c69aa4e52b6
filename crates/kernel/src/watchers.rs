//! Watchers: long-running tasks a module runs beside the job worker, for work that waits on the
//! outside world for a long time and must not hold a job's slot (and its tenant transaction) while
//! it waits — such as a connection to a mail server that says when new mail arrives. A watcher
//! does no tenant work itself beyond what a job would: it opens its own short tenant transactions,
//! or queues a job, which keeps the crash-safety of the queue.
//!
//! A module declares its watchers ([`crate::module::Module::watchers`]); the process that runs the
//! job worker (`relais serve`, `relais worker`, `relais demo`) starts them with [`start`] and stops
//! them with [`Running::stop`] when it shuts down. Each watcher is handed a [`Shutdown`] and must
//! return soon after it is requested; one that does not is aborted after the grace period.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinSet;

/// What a watcher runs until shutdown.
pub type WatcherFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

/// One long-running task of a module, named for the logs (`outreach.idle`).
pub struct Watcher {
    pub name: &'static str,
    run: Box<dyn FnOnce(Shutdown) -> WatcherFuture + Send>,
}

impl Watcher {
    pub fn new<F, Fut>(name: &'static str, run: F) -> Self
    where
        F: FnOnce(Shutdown) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        Self { name, run: Box::new(move |shutdown| Box::pin(run(shutdown))) }
    }
}

impl std::fmt::Debug for Watcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Watcher({})", self.name)
    }
}

/// Tells a watcher the process is stopping. Cloned freely; a watcher hands clones to its own tasks.
#[derive(Debug, Clone)]
pub struct Shutdown(watch::Receiver<bool>);

impl Shutdown {
    /// Shutdown is requested when `true` is sent on the channel (or its sender is dropped).
    pub fn new(stop: watch::Receiver<bool>) -> Self {
        Self(stop)
    }

    /// A shutdown that is never requested until the returned sender says so (tests).
    pub fn channel() -> (watch::Sender<bool>, Self) {
        let (sender, receiver) = watch::channel(false);
        (sender, Self(receiver))
    }

    pub fn is_requested(&self) -> bool {
        *self.0.borrow()
    }

    /// Resolves once shutdown is requested; at once if it already was.
    pub async fn requested(&mut self) {
        // An error means the sender is gone: nobody can ask any more, which is a shutdown too.
        let _ = self.0.wait_for(|stop| *stop).await;
    }
}

/// The watchers of a process, running.
pub struct Running {
    tasks: JoinSet<()>,
    names: HashMap<tokio::task::Id, &'static str>,
}

/// Starts every watcher on its own task.
pub fn start(watchers: Vec<Watcher>, shutdown: &Shutdown) -> Running {
    let mut tasks = JoinSet::new();
    let mut names = HashMap::new();
    for watcher in watchers {
        let name = watcher.name;
        let shutdown = shutdown.clone();
        let handle = tasks.spawn(async move {
            let stopping = shutdown.clone();
            (watcher.run)(shutdown).await;
            if !stopping.is_requested() {
                tracing::warn!(watcher = name, "a watcher ended before shutdown");
            }
        });
        tracing::info!(watcher = name, "watcher started");
        names.insert(handle.id(), name);
    }
    Running { tasks, names }
}

impl Running {
    /// Waits for the watchers to end once shutdown has been requested, up to `grace`; the ones
    /// still running then are aborted (their connections close with them).
    pub async fn stop(self, grace: Duration) {
        let Running { mut tasks, names } = self;
        let drain = async {
            while let Some(done) = tasks.join_next_with_id().await {
                if let Err(error) = done
                    && error.is_panic()
                {
                    let name = names.get(&error.id()).copied().unwrap_or("?");
                    tracing::error!(watcher = name, "a watcher panicked");
                }
            }
        };
        if tokio::time::timeout(grace, drain).await.is_err() {
            tracing::warn!(left = tasks.len(), "watchers still running after the grace period: aborted");
            tasks.shutdown().await;
        }
    }
}
