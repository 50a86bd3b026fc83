//! The writer's rules state, kept on disk: one entry per entity in the store's tree, written
//! in the same atomic batch as the records whose events changed it, so that it always
//! stands exactly at the head. In memory the writer holds only a cache of the entities
//! recent events read or changed, bounded by [`LedgerOptions::rules_cache_bytes`]
//! (`--rules-cache-mib`): checking an event costs the entities it names, not the organization's
//! size, and opening the ledger loads nothing.
//!
//! The rules themselves stay pure ([`crate::rules`]): a check runs against the cached part
//! of the state, and [`State::check_paging`] loads from the store each entity it asked for
//! and did not find, checking again until it asked only for ids that exist nowhere.
//!
//! [`LedgerOptions::rules_cache_bytes`]: super::LedgerOptions::rules_cache_bytes

use std::collections::HashSet;
use std::sync::Arc;

use crate::chain::{ChainVerifier, Head};
use crate::event::{Date, Id, Submission};
use crate::rules::{PagingError, RuleViolation, State};
use crate::store::{Store, StoreError};

/// How many records the replay at open folds between two writes of the rules entries.
const REPLAY_BATCH: u64 = 10_000;

/// The rules state of a ledger: the store's entries, read through a bounded cache.
pub(crate) struct Rules {
    store: Arc<Store>,
    /// The cached entities, with the changes of accepted events not yet inserted.
    cache: State,
    /// The stored bytes of the entries the cache holds (counted again when one is changed):
    /// the measure of its bound.
    held: usize,
    budget: usize,
    /// Entities changed by accepted events since the last insert, in order (with repeats).
    changed: Vec<Id>,
    /// Set once a stored entry was found damaged: the store's rules state is then marked
    /// for a rebuild at the next open, and until then this process writes no entries and
    /// keeps every change in its cache, which it no longer empties.
    damaged: bool,
}

/// Where to roll back to when a later event of a batch is refused.
pub(crate) struct Mark {
    cache: State,
    changed: usize,
}

impl Rules {
    pub(crate) fn new(store: Arc<Store>, budget: usize) -> Rules {
        Rules {
            store,
            cache: State::new(),
            held: 0,
            budget,
            changed: Vec::new(),
            damaged: false,
        }
    }

    /// Checks `sub` on the state as it stands and applies its change; a refused event
    /// changes nothing. The outer error is the store's (an entry unreadable).
    pub(crate) fn submit(&mut self, sub: &Submission, today: Date) -> Result<Result<(), RuleViolation>, StoreError> {
        let store = &self.store;
        let (verdict, loaded) = match self.cache.check_paging(sub, today, |id| store.rules_entry(id)) {
            Ok(checked) => checked,
            Err(PagingError::Fetch(e)) => return Err(e),
            Err(damaged) => {
                // The rules state is derived from the log: the next open rebuilds it, checking
                // every record. The event that needed the entry is refused; the others go on.
                tracing::error!("{damaged}; the rules state is rebuilt from the log at the next open");
                self.damaged = true;
                self.store.mark_rules_for_rebuild()?;
                return Err(StoreError::Damaged(format!(
                    "{damaged}; reopening the ledger rebuilds the rules state from the log"
                )));
            }
        };
        self.held += loaded;
        let change = match verdict {
            Ok(change) => change,
            Err(violation) => return Ok(Err(violation)),
        };
        self.changed.extend(change.ids().cloned());
        self.cache.apply(change);
        Ok(Ok(()))
    }

    /// An O(1) mark to roll back to.
    pub(crate) fn mark(&self) -> Mark {
        Mark {
            cache: self.cache.clone(),
            changed: self.changed.len(),
        }
    }

    pub(crate) fn roll_back(&mut self, mark: Mark) {
        self.cache = mark.cache;
        self.changed.truncate(mark.changed);
    }

    /// The new entries of every entity changed since the last call, for the batch that
    /// inserts their records; `None` once an entry was found damaged (the store's state is
    /// then rebuilt at the next open, and the changes stay in the cache).
    pub(crate) fn take_entries(&mut self) -> Option<Vec<(Id, Vec<u8>)>> {
        if self.damaged {
            self.changed.clear();
            return None;
        }
        let mut seen = HashSet::new();
        let mut entries = Vec::new();
        for id in std::mem::take(&mut self.changed) {
            if seen.contains(&id) {
                continue;
            }
            if let Some(bytes) = self.cache.encode_entry(&id) {
                self.held += bytes.len();
                entries.push((id.clone(), bytes));
            }
            seen.insert(id);
        }
        Some(entries)
    }

    /// Called once the entries [`Rules::take_entries`] gave are in the store: the cache,
    /// over its bound, is emptied (everything it holds is stored by then).
    pub(crate) fn inserted(&mut self) {
        if self.held > self.budget && !self.damaged {
            self.cache = State::new();
            self.held = 0;
        }
    }

    /// Brings the stored rules state up to the log's head, checking every record after the
    /// point it stood at (its hash, its link and every rule). A store whose rules state is
    /// missing or of another layout (written by an earlier version, or imported without
    /// one) has it rebuilt from the first record.
    /// An entry found damaged on the way has the state rebuilt from the first record too.
    pub(crate) fn catch_up(&mut self) -> Result<Head, StoreError> {
        let start = match self.store.rules_head()? {
            Some(head) if self.stands_in_log(head)? => head,
            _ => Head::EMPTY,
        };
        if start != Head::EMPTY {
            match self.catch_up_from(start) {
                Err(StoreError::Damaged(_)) if self.damaged => {
                    *self = Rules::new(self.store.clone(), self.budget);
                }
                done => return done,
            }
        }
        self.store.clear_rules()?;
        self.catch_up_from(Head::EMPTY)
    }

    fn catch_up_from(&mut self, start: Head) -> Result<Head, StoreError> {
        let store = self.store.clone();
        let recorded = self.store.head()?;
        let mut chain = ChainVerifier::after(start);
        let meter = crate::progress::Meter::events("replaying the rules", Some(recorded.seq.saturating_sub(start.seq)));
        let mut pending = 0;
        for record in store.records(start.seq + 1) {
            let record = record?;
            meter.inc(1);
            chain.check_record(&record).map_err(StoreError::from_chain)?;
            if let Err(v) = self.submit(record.submission(), record.recorded_at().date())? {
                return Err(StoreError::Corrupt {
                    seq: record.seq(),
                    reason: format!("the stored event breaks {v}"),
                });
            }
            pending += 1;
            if pending == REPLAY_BATCH {
                self.put(chain.head())?;
                pending = 0;
            }
        }
        let head = chain.head();
        if head != recorded {
            return Err(StoreError::Corrupt {
                seq: head.first_bad_against(recorded),
                reason: "the recorded head does not match the log".into(),
            });
        }
        if head != start {
            self.put(head)?;
            self.store.flush()?;
        }
        Ok(head)
    }

    /// Whether `head` is a point of the log: the record at its `seq` has its hash.
    fn stands_in_log(&self, head: Head) -> Result<bool, StoreError> {
        Ok(match head.seq {
            0 => true,
            seq => self.store.raw(seq)?.is_some_and(|(hash, _)| hash == head.hash),
        })
    }

    fn put(&mut self, head: Head) -> Result<(), StoreError> {
        let Some(entries) = self.take_entries() else {
            return Ok(());
        };
        self.store.put_rules(&entries, head)?;
        self.inserted();
        Ok(())
    }
}
