use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, Semaphore};
use tokio::task::JoinSet;
use tokio::time::{sleep, timeout};

#[derive(Debug, Clone)]
pub struct Job {
    pub id: u64,
    pub url: String,
    pub attempts: u32,
}

#[derive(Debug)]
pub enum Outcome {
    Done { id: u64, bytes: usize },
    Failed { id: u64, reason: String },
}

pub struct WorkerPool {
    concurrency: usize,
    max_attempts: u32,
    per_job_timeout: Duration,
}

impl WorkerPool {
    pub fn new(concurrency: usize) -> Self {
        Self { concurrency, max_attempts: 3, per_job_timeout: Duration::from_secs(30) }
    }

    pub fn with_timeout(mut self, per_job_timeout: Duration) -> Self {
        self.per_job_timeout = per_job_timeout;
        self
    }

    /// Runs every job from `rx`, retrying failures with exponential backoff,
    /// and reports each final outcome on `results`.
    pub async fn run(self, mut rx: mpsc::Receiver<Job>, results: mpsc::Sender<Outcome>) {
        let permits = Arc::new(Semaphore::new(self.concurrency));
        let mut tasks = JoinSet::new();
        while let Some(job) = rx.recv().await {
            let permit = permits.clone().acquire_owned().await.expect("semaphore closed");
            let results = results.clone();
            let max_attempts = self.max_attempts;
            let limit = self.per_job_timeout;
            tasks.spawn(async move {
                let _permit = permit;
                let outcome = process_with_retries(job, max_attempts, limit).await;
                // The receiver may have gone away; nothing useful to do then.
                let _ = results.send(outcome).await;
            });
            while let Some(done) = tasks.try_join_next() {
                if let Err(err) = done {
                    eprintln!("worker task panicked: {err}");
                }
            }
        }
        while let Some(done) = tasks.join_next().await {
            if let Err(err) = done {
                eprintln!("worker task panicked: {err}");
            }
        }
    }
}

async fn process_with_retries(mut job: Job, max_attempts: u32, limit: Duration) -> Outcome {
    loop {
        job.attempts += 1;
        match timeout(limit, fetch(&job.url)).await {
            Ok(Ok(bytes)) => return Outcome::Done { id: job.id, bytes },
            Ok(Err(reason)) if job.attempts >= max_attempts => {
                return Outcome::Failed { id: job.id, reason };
            }
            Err(_) if job.attempts >= max_attempts => {
                return Outcome::Failed { id: job.id, reason: format!("timed out after {limit:?}") };
            }
            _ => {
                let backoff = Duration::from_millis(200 * 2u64.pow(job.attempts - 1));
                sleep(backoff).await;
            }
        }
    }
}

async fn fetch(url: &str) -> Result<usize, String> {
    if url.is_empty() {
        return Err("empty url".to_string());
    }
    // Stand-in for a real HTTP client call.
    sleep(Duration::from_millis(5)).await;
    Ok(url.len() * 100)
}
