//! The writer thread: it owns the rules state, validates each queued request against it,
//! seals the accepted events and inserts each group into sled as one atomic batch, then
//! hands the group to the flusher without waiting for the disk; the rules state it checks
//! against is written back to the store from time to time (`rules.rs`).

use std::sync::{Arc, OnceLock};

use tokio::sync::mpsc;

use super::rules::Rules;
use super::{
    stopped_error, AppendError, Appended, Clock, CopyRequest, DeathOnDrop, Deaths, Inserted, Queued, Reply,
    MAX_GROUP_EVENTS,
};
use crate::chain::Head;
use crate::chain::{ChainError, ChainVerifier};
use crate::event::{Record, Timestamp};
use crate::merkle::Frontier;
use crate::store::Store;

pub(super) struct Writer {
    pub(super) deaths: Arc<Deaths>,
    pub(super) store: Arc<Store>,
    pub(super) rules: Rules,
    /// The head including groups inserted but not yet flushed: where the next event goes.
    pub(super) head: Head,
    /// The right edge of the Merkle tree at `head`: the nodes each record completes are
    /// stored in its group's batch. `None` only when the benchmark turns it off.
    pub(super) frontier: Option<Frontier>,
    pub(super) clock: Box<dyn Clock>,
    /// The last `recorded_at` given, so transaction time never goes backwards even if the
    /// wall clock does.
    pub(super) last_time: Option<Timestamp>,
    /// Set by the flusher (or the writer) when storage failed.
    pub(super) stopped: Arc<OnceLock<String>>,
    pub(super) flush: std::sync::mpsc::Sender<Inserted>,
}

impl Writer {
    /// Runs until the queue closes, then hands back the head it left.
    pub(super) fn run(mut self, mut rx: mpsc::Receiver<Queued>) -> Head {
        let _death = DeathOnDrop(self.deaths.clone(), "writer");
        while let Some(first) = rx.blocking_recv() {
            let mut group = vec![first];
            let mut events = group[0].events();
            while events < MAX_GROUP_EVENTS {
                match rx.try_recv() {
                    Ok(req) => {
                        events += req.events();
                        group.push(req);
                    }
                    Err(_) => break,
                }
            }
            self.commit(group);
        }
        // The ledger closes: the stored rules state is brought to the head, so the next open
        // replays nothing. Not after a storage failure, when the head may not be the disk's.
        if self.stopped.get().is_none() {
            if let Err(e) = self.rules.write_back(self.head).and_then(|()| self.store.flush()) {
                tracing::warn!(
                    "writing the rules state back at close failed (the next open replays the records since): {e}"
                );
            }
        }
        self.head
    }

    fn now(&mut self) -> Timestamp {
        let t = self.clock.now();
        let t = match self.last_time {
            Some(last) if last > t => last,
            _ => t,
        };
        self.last_time = Some(t);
        t
    }

    /// Validates each request of the group in turn against the state left by the ones
    /// before it, inserts the accepted ones as one atomic batch, and hands them to the
    /// flusher, which answers them once they are durable.
    fn commit(&mut self, group: Vec<Queued>) {
        if let Some(died) = self.deaths.append_path() {
            for req in group {
                req.into_reply().send(Err(AppendError::Store(died.clone())));
            }
            return;
        }
        if let Some(cause) = self.stopped.get() {
            for req in group {
                req.into_reply().send(Err(stopped_error(cause)));
            }
            return;
        }
        // Room for every event of the group at once: grown one push at a time, the list of a
        // copied group of 4,096 records was moved whole at each doubling, into fresh pages.
        let mut records: Vec<Record> = Vec::with_capacity(group.iter().map(Queued::events).sum());
        let mut replies = Vec::new();
        // Idempotency entries of this group, written with its records; a key used twice
        // within one group is found here, since the group is not in the store yet.
        let mut keys: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
        for req in group {
            let req = match req {
                Queued::Append(req) => req,
                Queued::Copy(copy) => {
                    self.copy(copy, &mut records, &mut replies);
                    continue;
                }
            };
            if let Some(idem) = &req.idempotency {
                let stored = match keys.iter().find(|(k, _)| *k == idem.key) {
                    Some((_, v)) => Ok(Some(v.clone())),
                    None => self.store.idempotent(&idem.key).map_err(AppendError::Store),
                };
                match stored.and_then(|found| found.map(|v| idem.decode(&v)).transpose()) {
                    // Answered after the next flush, like any append: the first request's
                    // events may still be on their way to the disk.
                    Ok(Some(appended)) => {
                        replies.push((req.reply, appended));
                        continue;
                    }
                    Ok(None) => {}
                    Err(e) => {
                        req.reply.send(Err(e));
                        continue;
                    }
                }
            }
            if let Some(expected) = req.expect_seq {
                if expected != self.head.seq {
                    req.reply.send(Err(AppendError::Conflict {
                        expected,
                        head: self.head.seq,
                    }));
                    continue;
                }
            }
            // `Rules::submit` leaves the state as it was when it refuses an event, so only a
            // batch of several events needs a mark to roll back to.
            let state_mark = (req.submissions.len() > 1).then(|| self.rules.mark());
            let (head_mark, records_mark) = (self.head, records.len());
            let mut refused = None;
            for (index, sub) in req.submissions.into_iter().enumerate() {
                let now = self.now();
                match self.rules.submit(&sub, now.date()) {
                    Ok(Ok(())) => {}
                    Ok(Err(violation)) => {
                        refused = Some(AppendError::Rule { index, violation });
                        break;
                    }
                    Err(e) => {
                        refused = Some(AppendError::Store(e));
                        break;
                    }
                }
                let record = Record::seal(self.head.seq + 1, self.head.hash, now, req.actor.clone(), sub);
                self.head = Head {
                    seq: record.seq(),
                    hash: record.hash(),
                };
                records.push(record);
            }
            match refused {
                Some(err) => {
                    if let Some(mark) = state_mark {
                        self.rules.roll_back(mark);
                    }
                    self.head = head_mark;
                    records.truncate(records_mark);
                    req.reply.send(Err(err));
                }
                None => {
                    if let Some(mark) = state_mark {
                        self.rules.keep(mark);
                    }
                    let appended: Vec<Appended> = records[records_mark..]
                        .iter()
                        .map(|r| Appended {
                            seq: r.seq(),
                            hash: r.hash(),
                        })
                        .collect();
                    if let Some(idem) = &req.idempotency {
                        keys.push((idem.key.clone(), idem.encode(&appended)));
                    }
                    replies.push((req.reply, appended));
                }
            }
        }
        if replies.is_empty() {
            return;
        }
        let mut nodes = Vec::with_capacity(records.len() * 2);
        if let Some(frontier) = &mut self.frontier {
            for r in &records {
                nodes.extend(frontier.push(&r.hash()));
            }
        }
        let tree = self.frontier.is_some().then_some(nodes.as_slice());
        // A failed insert may still reach the disk (sled can have taken part of it into its
        // write buffer), so its outcome is unknown, like a failed flush's.
        if let Err(e) = self.store.insert_group_with(&records, tree, &keys) {
            let cause = e.to_string();
            tracing::error!("inserting a group failed; the ledger stops appending until reopened: {cause}");
            let _ = self.stopped.set(cause);
            let cause = self.stopped.get().expect("just set");
            for (reply, _) in replies {
                reply.send(Err(stopped_error(cause)));
            }
            return;
        }
        if let Err(e) = self.rules.inserted(self.head) {
            // The records are in; only the stored rules state lags, and the next open
            // replays what it lacks. Appends go on: the cache holds every change.
            tracing::warn!("writing the rules state back failed (the next open replays the records since): {e}");
        }
        if let Err(std::sync::mpsc::SendError(inserted)) = self.flush.send(Inserted { records, replies }) {
            // The flusher is gone (it died): this group was inserted and may reach the disk.
            let cause = "the flusher stopped".to_owned();
            let _ = self.stopped.set(cause);
            let error = self
                .deaths
                .append_path()
                .map_or_else(|| stopped_error("the flusher stopped"), AppendError::Store);
            for (reply, _) in inserted.replies {
                reply.send(Err(error.clone()));
            }
        }
    }

    /// Checks records another ledger sealed as an import does (hash, `seq` and `prev`
    /// against the head, every rule against the state on their `recorded_at` date) and, if
    /// all pass, adds them to the group as they are. The first bad one refuses the whole
    /// request, and the state and head are as they were before it.
    fn copy(&mut self, req: CopyRequest, records: &mut Vec<Record>, replies: &mut Vec<(Reply, Vec<Appended>)>) {
        let state_mark = self.rules.mark();
        let (head_mark, records_mark, time_mark) = (self.head, records.len(), self.last_time);
        let mut chain = ChainVerifier::after(self.head);
        let mut refused = None;
        for record in req.records {
            if let Err(e) = chain.check_record(&record) {
                refused = Some(AppendError::Diverged(e));
                break;
            }
            match self.rules.submit(record.submission(), record.recorded_at().date()) {
                Ok(Ok(())) => {}
                Ok(Err(v)) => {
                    refused = Some(AppendError::Diverged(ChainError {
                        seq: record.seq(),
                        error: format!("the event breaks {v}"),
                    }));
                    break;
                }
                Err(e) => {
                    refused = Some(AppendError::Store(e));
                    break;
                }
            }
            self.head = chain.head();
            // This ledger's own appends, if it ever made any, would not go back in time.
            self.last_time = self.last_time.max(Some(record.recorded_at()));
            records.push(record);
        }
        if let Some(e) = refused {
            self.rules.roll_back(state_mark);
            self.head = head_mark;
            self.last_time = time_mark;
            records.truncate(records_mark);
            req.reply.send(Err(e));
            return;
        }
        self.rules.keep(state_mark);
        let appended = records[records_mark..]
            .iter()
            .map(|r| Appended {
                seq: r.seq(),
                hash: r.hash(),
            })
            .collect();
        replies.push((req.reply, appended));
    }
}
