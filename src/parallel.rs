//! Work on a sequence spread over the cores and taken back in its order: reading an export
//! file's lines, or the store's records, is most of `verify --file`, `import` and a rebuild
//! of the projection, and each item reads without the others; what links them (the chain,
//! the rules, the fold) runs on the calling thread, in order, on what comes back.

use std::collections::BTreeMap;
use std::sync::{mpsc, Arc, Mutex};

/// Items handed to a thread at a time: enough that handing them over costs little beside
/// the work, few enough that the threads' lead on the caller stays small.
pub const CHUNK: usize = 1024;

/// How many chunks per thread may be mapped and not yet taken.
const LEAD_PER_THREAD: usize = 4;

/// Maps `items` with `map` on as many threads as there are cores, a chunk of [`CHUNK`]
/// items at a time, and hands each result to `take` in the items' order, until `take`
/// refuses one (its error is the answer) or the items end. `items` is drawn on a thread of
/// its own. No more than four chunks per thread are drawn ahead of `take`, so memory stays
/// bounded however many items there are; once `take` refuses, the threads stop at their
/// next chunk and `items` is drawn no further. On one core, everything runs here.
pub fn map_in_order<T: Send, U: Send, E>(
    items: impl Iterator<Item = T> + Send,
    map: impl Fn(T) -> U + Sync,
    mut take: impl FnMut(U) -> Result<(), E>,
) -> Result<(), E> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(8);
    if threads < 2 {
        return items.map(map).try_for_each(take);
    }
    let (chunks, jobs) = mpsc::sync_channel::<(u64, Vec<T>)>(threads);
    let jobs = Arc::new(Mutex::new(jobs));
    let (finished, done) = mpsc::sync_channel::<(u64, Vec<U>)>(threads * 2);
    // One token for each chunk drawn and not yet taken: the bound on the threads' lead.
    let (lead, taken) = mpsc::sync_channel::<()>(threads * LEAD_PER_THREAD);
    let map = &map;
    // `move`: the receivers are dropped as soon as `take` refuses, before the scope waits
    // for its threads, so that none of them waits on a full channel.
    std::thread::scope(move |scope| {
        for _ in 0..threads {
            let (jobs, finished) = (jobs.clone(), finished.clone());
            scope.spawn(move || loop {
                // The lock is held only to take the next chunk.
                let job = jobs.lock().map_or(Err(mpsc::RecvError), |jobs| jobs.recv());
                let Ok((n, chunk)) = job else { return };
                let mapped = chunk.into_iter().map(map).collect();
                if finished.send((n, mapped)).is_err() {
                    return;
                }
            });
        }
        drop((jobs, finished));
        scope.spawn(move || {
            let mut items = items.fuse();
            for n in 0.. {
                let chunk: Vec<T> = items.by_ref().take(CHUNK).collect();
                if chunk.is_empty() || lead.send(()).is_err() || chunks.send((n, chunk)).is_err() {
                    return;
                }
            }
        });
        // Chunks come back in any order; they are taken in the items'.
        let mut early = BTreeMap::new();
        let mut next = 0u64;
        for (n, mapped) in done.iter() {
            early.insert(n, mapped);
            while let Some(mapped) = early.remove(&next) {
                next += 1;
                let _ = taken.recv();
                for item in mapped {
                    take(item)?;
                }
            }
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every item comes back once, mapped, in order, whatever order the threads finish
    /// in; a refusal is the answer and stops the drawing of items.
    #[test]
    fn items_come_back_mapped_in_order_until_refused() {
        let n = 10 * CHUNK as u64 + 7;
        let mut seen = Vec::new();
        let all: Result<(), ()> = map_in_order(
            0..n,
            |i| {
                // Uneven work, so that chunks finish out of order.
                if (i / CHUNK as u64).is_multiple_of(3) {
                    std::thread::sleep(std::time::Duration::from_micros(20));
                }
                i * 2
            },
            |v| {
                seen.push(v);
                Ok(())
            },
        );
        assert_eq!(all, Ok(()));
        assert_eq!(seen, (0..n).map(|i| i * 2).collect::<Vec<_>>());

        let drawn = std::sync::atomic::AtomicU64::new(0);
        let items = (0..u64::MAX).inspect(|_| {
            drawn.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        });
        let refused = map_in_order(items, |i| i, |v| if v == 3_000 { Err(v) } else { Ok(()) });
        assert_eq!(refused, Err(3_000));
        let drawn = drawn.into_inner();
        assert!(
            drawn <= 3_000 + (2 + LEAD_PER_THREAD as u64 * 8) * CHUNK as u64,
            "drew {drawn} items"
        );
    }
}
