//! Group commit: many callers' writes, one commit.
//!
//! Callers hand their item to one writer task through a bounded queue and wait for its answer.
//! The task takes whatever is queued (up to `max_group`), writes it all with one commit, and
//! only then answers each caller, so nobody is told "done" before their write is durable. A
//! full queue makes callers wait (backpressure), and a caller whose answer can no longer come
//! (the task stopped) gets `None` rather than waiting for ever.
//!
//! `writers` groups may be committing at once: 1 where the database has one writer (SQLite),
//! a few where several connections write side by side (PostgreSQL), so that the round trips
//! of one group's statements do not hold up the next. A new group forms only when a writer is
//! free, so groups grow while the writers are busy.
//!
//! The task starts with the first item, on the caller's runtime, and ends when every handle
//! ([`Group`], shared by clones of its owner) is dropped.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};

use tokio::sync::{Semaphore, mpsc, oneshot};

type Commit<T, R> =
    Arc<dyn Fn(Vec<T>) -> Pin<Box<dyn Future<Output = Vec<R>> + Send>> + Send + Sync>;

/// A group-commit writer for items `T`, answering each with an `R`.
pub(crate) struct Group<T, R> {
    queue: OnceLock<mpsc::Sender<(T, oneshot::Sender<R>)>>,
    commit: Commit<T, R>,
    capacity: usize,
    max_group: usize,
    writers: usize,
}

impl<T: Send + 'static, R: Send + 'static> Group<T, R> {
    /// `commit` writes a group with one commit and returns one answer per item, in order.
    /// `capacity` items may wait in the queue; at most `max_group` are committed together, and
    /// at most `writers` groups at once.
    pub(crate) fn new<F, Fut>(capacity: usize, max_group: usize, writers: usize, commit: F) -> Self
    where
        F: Fn(Vec<T>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Vec<R>> + Send + 'static,
    {
        Self {
            queue: OnceLock::new(),
            commit: Arc::new(move |items| Box::pin(commit(items))),
            capacity: capacity.max(1),
            max_group: max_group.max(1),
            writers: writers.max(1),
        }
    }

    /// Queues `item` (waiting while the queue is full) and waits until the group it joined is
    /// committed: its answer, or `None` when the writer stopped before answering.
    pub(crate) async fn submit(&self, item: T) -> Option<R> {
        let queue = self.queue.get_or_init(|| {
            let (sender, receiver) = mpsc::channel(self.capacity);
            tokio::spawn(write(
                receiver,
                self.commit.clone(),
                self.max_group,
                self.writers,
            ));
            sender
        });
        let (answer, answered) = oneshot::channel();
        queue.send((item, answer)).await.ok()?;
        answered.await.ok()
    }
}

/// The writer task: forms a group whenever a writer is free, until every sender is gone. Groups
/// already committing finish and answer their callers.
async fn write<T: Send + 'static, R: Send + 'static>(
    mut queue: mpsc::Receiver<(T, oneshot::Sender<R>)>,
    commit: Commit<T, R>,
    max_group: usize,
    writers: usize,
) {
    let free = Arc::new(Semaphore::new(writers));
    loop {
        let Ok(writer) = free.clone().acquire_owned().await else {
            return;
        };
        let Some(first) = queue.recv().await else {
            return;
        };
        let mut items = vec![first.0];
        let mut answers = vec![first.1];
        while items.len() < max_group {
            match queue.try_recv() {
                Ok((item, answer)) => {
                    items.push(item);
                    answers.push(answer);
                }
                Err(_) => break,
            }
        }
        let commit = commit.clone();
        tokio::spawn(async move {
            let results = commit(items).await;
            // A caller that gave up waiting has dropped its receiver; its write stands all the
            // same. A missing answer (never expected) drops its sender: that caller gets
            // `None`, as do all of a group whose commit panicked.
            for (answer, result) in answers.into_iter().zip(results) {
                let _ = answer.send(result);
            }
            drop(writer);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// Items 0 to 39 submitted by 40 callers at once; each must get `answer(item)` back.
    async fn submit_from_40_callers(group: &Arc<Group<u32, u32>>, answer: fn(u32) -> u32) {
        let mut callers = tokio::task::JoinSet::new();
        for item in 0..40u32 {
            let group = group.clone();
            callers.spawn(async move { (item, group.submit(item).await) });
        }
        while let Some(joined) = callers.join_next().await {
            let (item, got) = joined.expect("a caller");
            assert_eq!(got, Some(answer(item)));
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn callers_waiting_together_share_a_commit_and_each_gets_its_answer() {
        let commits = Arc::new(Mutex::new(Vec::new()));
        let seen = commits.clone();
        let group = Arc::new(Group::new(16, 8, 1, move |items: Vec<u32>| {
            let seen = seen.clone();
            async move {
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                seen.lock().expect("not poisoned").push(items.len());
                items.into_iter().map(|item| item * 10).collect::<Vec<_>>()
            }
        }));
        submit_from_40_callers(&group, |item| item * 10).await;
        let commits = commits.lock().expect("not poisoned").clone();
        assert_eq!(commits.iter().sum::<usize>(), 40);
        assert!(commits.iter().all(|&size| size <= 8), "{commits:?}");
        assert!(commits.len() < 40, "callers shared commits: {commits:?}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn no_more_groups_commit_at_once_than_there_are_writers() {
        let now = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let most = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let (during, peak) = (now.clone(), most.clone());
        let group = Arc::new(Group::new(64, 4, 2, move |items: Vec<u32>| {
            let (during, peak) = (during.clone(), peak.clone());
            async move {
                let at_once = during.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
                peak.fetch_max(at_once, std::sync::atomic::Ordering::SeqCst);
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                during.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
                items
            }
        }));
        submit_from_40_callers(&group, |item| item).await;
        assert_eq!(most.load(std::sync::atomic::Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_caller_whose_answer_cannot_come_gets_none() {
        // A commit that answers nobody (as when the writer stops mid-group).
        let group = Group::new(4, 4, 2, |_: Vec<u32>| async { Vec::<u32>::new() });
        assert_eq!(group.submit(1).await, None);
        // One that panics: the task is gone, and later callers are not left waiting.
        let group = Group::new(4, 4, 1, |_: Vec<u32>| async {
            panic!("the writer stops");
            #[expect(
                unreachable_code,
                reason = "the closure must name the type it would return"
            )]
            Vec::<u32>::new()
        });
        assert_eq!(group.submit(1).await, None);
        assert_eq!(group.submit(2).await, None);
    }
}
