//! The writer's rules state, kept on disk: one entry per entity in the store's tree (packed
//! into buckets, `store::buckets`), with a `rules` key naming the record the stored entries
//! stand at. In memory the writer holds a
//! cache of the entities recent events read or changed; the entities changed since the
//! last write-back are written back, with the head they stand at, in one atomic batch once
//! [`WRITE_BACK_EVENTS`] events have been accepted since, when the cache is over its bound
//! ([`LedgerOptions::rules_cache_bytes`], `--rules-cache-mib`; it is then emptied), and when
//! the ledger closes. Checking an event costs the entities it names, not the organization's
//! size; opening loads nothing, and replays at most the records since the last write-back
//! (none after a clean close; after a kill, fewer than [`WRITE_BACK_EVENTS`]).
//!
//! The entries are written back in batches rather than in every group's own batch, which
//! cost the append path more (BENCHMARKS.md, "The rules state on disk").
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
use crate::rules::{PagingError, Prior, RuleViolation, State};
use crate::store::{Store, StoreError};

/// The most events accepted between two write-backs of the rules state: what an open after
/// a kill replays at most.
pub(crate) const WRITE_BACK_EVENTS: u64 = 100_000;

/// The rules state of a ledger: the store's entries, read through a bounded cache.
pub(crate) struct Rules {
    store: Arc<Store>,
    /// The cached entities, with the changes of accepted events not yet inserted.
    cache: State,
    /// Events accepted between two write-backs: [`WRITE_BACK_EVENTS`] but in the tests.
    write_back_every: u64,
    /// The stored bytes of the entries the cache holds (counted again when one is changed):
    /// the measure of its bound.
    held: usize,
    budget: usize,
    /// Entities changed by accepted events since the last write-back, in order (with
    /// repeats).
    changed: Vec<Id>,
    /// Events accepted since the last write-back.
    since: u64,
    /// While a mark is out ([`Rules::mark`]): what each accepted event's change overwrote
    /// since, to take it back.
    journal: Option<Vec<Prior>>,
    /// Set once a stored entry was found damaged: the store's rules state is then marked
    /// for a rebuild at the next open, and until then this process writes no entries and
    /// keeps every change in its cache, which it no longer empties.
    damaged: bool,
    /// Whether the cache holds every entity there is: set when the state is built from the
    /// first record on an empty cache (a new ledger, a follower starting from nothing, a
    /// rebuild), cleared when the cache is emptied for its bound. While it is set, an
    /// entity the cache lacks exists nowhere, and is not looked for in the store: a
    /// catch-up from empty looked up every new entity there, a 30th of its writer's time.
    complete: bool,
    /// Where the stored state stands, as far as this ledger knows: where it was caught up
    /// to or last written at.
    stored_at: Option<Head>,
}

/// Why an entity's stored entry could not be fetched.
enum Fetch {
    /// The store could not be read.
    Store(StoreError),
    /// The bucket that would hold the entry does not read.
    Damaged(String),
}

impl std::fmt::Display for Fetch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Fetch::Store(e) => e.fmt(f),
            Fetch::Damaged(why) => f.write_str(why),
        }
    }
}

/// Where to roll back to when a later event of a batch is refused: given back to
/// [`Rules::roll_back`] or [`Rules::keep`].
pub(crate) struct Mark {
    changed: usize,
    since: u64,
}

impl Rules {
    pub(crate) fn new(store: Arc<Store>, budget: usize, write_back_every: u64) -> Rules {
        Rules {
            store,
            cache: State::new(),
            write_back_every,
            held: 0,
            budget,
            changed: Vec::new(),
            since: 0,
            journal: None,
            damaged: false,
            complete: false,
            stored_at: None,
        }
    }

    /// Checks `sub` on the state as it stands and applies its change; a refused event
    /// changes nothing. The outer error is the store's (an entry unreadable).
    pub(crate) fn submit(&mut self, sub: &Submission, today: Date) -> Result<Result<(), RuleViolation>, StoreError> {
        let (store, complete) = (&self.store, self.complete);
        let fetch = |id: &Id| match complete {
            true => Ok(None),
            false => match store.rules_entry(id) {
                Ok(Ok(entry)) => Ok(entry),
                Ok(Err(bucket)) => Err(Fetch::Damaged(bucket)),
                Err(e) => Err(Fetch::Store(e)),
            },
        };
        let (verdict, loaded) = match self.cache.check_paging(sub, today, fetch) {
            Ok(checked) => checked,
            Err(PagingError::Fetch(Fetch::Store(e))) => return Err(e),
            Err(PagingError::Fetch(Fetch::Damaged(why))) => return Err(self.found_damaged(why)?),
            Err(damaged) => return Err(self.found_damaged(damaged.to_string())?),
        };
        self.held += loaded;
        let change = match verdict {
            Ok(change) => change,
            Err(violation) => return Ok(Err(violation)),
        };
        self.changed.extend(change.ids().cloned());
        match &mut self.journal {
            Some(journal) => self.cache.apply_journaled(change, journal),
            None => self.cache.apply(change),
        }
        self.since += 1;
        Ok(Ok(()))
    }

    /// A stored entry or bucket did not read: the rules state is derived from the log, so it
    /// is marked for the next open to rebuild it, checking every record, and this process
    /// writes no entries from now on. The event that needed it is refused (the error
    /// returned); the others go on.
    fn found_damaged(&mut self, why: String) -> Result<StoreError, StoreError> {
        tracing::error!("{why}; the rules state is rebuilt from the log at the next open");
        self.damaged = true;
        self.store.mark_rules_for_rebuild()?;
        Ok(StoreError::Damaged(format!(
            "{why}; reopening the ledger rebuilds the rules state from the log"
        )))
    }

    /// A mark to roll back to: from here until [`Rules::roll_back`] or [`Rules::keep`],
    /// each accepted event's change is journaled. Entries loaded from the store meanwhile
    /// stay in the cache either way: they are the stored state, which a rollback leaves
    /// as it is.
    pub(crate) fn mark(&mut self) -> Mark {
        self.journal = Some(Vec::new());
        Mark {
            changed: self.changed.len(),
            since: self.since,
        }
    }

    /// Takes back every change accepted since `mark`.
    pub(crate) fn roll_back(&mut self, mark: Mark) {
        if let Some(mut journal) = self.journal.take() {
            self.cache.undo(&mut journal, 0);
        }
        self.changed.truncate(mark.changed);
        self.since = mark.since;
    }

    /// Keeps the changes accepted since `mark`, and stops journaling.
    pub(crate) fn keep(&mut self, _mark: Mark) {
        self.journal = None;
    }

    /// Called once the records of accepted events up to `head` are inserted: writes the
    /// state back when it is due (see the module's documentation).
    pub(crate) fn inserted(&mut self, head: Head) -> Result<(), StoreError> {
        if self.since >= self.write_back_every || self.held > self.budget {
            self.write_back(head)?;
        }
        Ok(())
    }

    /// Writes the entries of every entity changed since the last write-back, and `head` as
    /// where the stored state stands, in one atomic batch (not flushed: sled keeps its
    /// writes in order, so it is durable only after the records before it). Then a cache
    /// over its bound is emptied. Nothing is written once an entry was found damaged: the
    /// state is rebuilt at the next open, and until then every change stays in the cache.
    pub(crate) fn write_back(&mut self, head: Head) -> Result<(), StoreError> {
        if self.damaged {
            return Ok(());
        }
        // Unless nothing changed since the state was stored at this head (a ledger opened
        // and closed with nothing appended): writing where it stands again would be a write
        // to sled's log at every close, which makes the next open write sled's whole table
        // of pages again (13.5 MB at 10,000,000 events).
        if !(self.changed.is_empty() && self.stored_at == Some(head)) {
            let mut seen = HashSet::new();
            let mut entries = Vec::new();
            for id in &self.changed {
                if !seen.insert(id) {
                    continue;
                }
                if let Some(bytes) = self.cache.encode_entry(id) {
                    entries.push((id.clone(), bytes));
                }
            }
            // On failure the changes stay listed, for the next write-back; a bucket that
            // does not read has the state rebuilt at the next open, and every change kept
            // in the cache until then.
            match self.store.put_rules(&entries, head) {
                Err(StoreError::Damaged(why)) => {
                    self.found_damaged(why)?;
                    return Ok(());
                }
                written => written?,
            }
            self.stored_at = Some(head);
            self.changed.clear();
            self.since = 0;
            self.held += entries.iter().map(|(_, bytes)| bytes.len()).sum::<usize>();
        }
        if self.held > self.budget {
            self.cache = State::new();
            self.held = 0;
            self.complete = false;
        }
        Ok(())
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
                // An entry or bucket found damaged on the way: rebuilt below.
                Err(StoreError::Damaged(_)) | Ok(_) if self.damaged => {}
                done => return done,
            }
        }
        self.store.clear_rules()?;
        // Nothing is stored now: built from the first record on an empty cache, the cache
        // holds all there is.
        *self = Rules {
            complete: true,
            ..Rules::new(self.store.clone(), self.budget, self.write_back_every)
        };
        self.catch_up_from(Head::EMPTY)
    }

    fn catch_up_from(&mut self, start: Head) -> Result<Head, StoreError> {
        let store = self.store.clone();
        let recorded = self.store.head()?;
        let mut chain = ChainVerifier::after(start);
        let meter = crate::progress::Meter::events("replaying the rules", Some(recorded.seq.saturating_sub(start.seq)));
        store.for_each_record(start.seq + 1, u64::MAX, |record| {
            meter.inc(1);
            chain.check_record(&record).map_err(StoreError::from_chain)?;
            if let Err(v) = self.submit(record.submission(), record.recorded_at().date())? {
                return Err(StoreError::Corrupt {
                    seq: record.seq(),
                    reason: format!("the stored event breaks {v}"),
                });
            }
            self.inserted(chain.head())
        })?;
        let head = chain.head();
        if head != recorded {
            return Err(StoreError::Corrupt {
                seq: head.first_bad_against(recorded),
                reason: "the recorded head does not match the log".into(),
            });
        }
        if head != start {
            self.write_back(head)?;
            self.store.flush()?;
        }
        self.stored_at = Some(head);
        Ok(head)
    }

    /// Whether `head` is a point of the log: the record at its `seq` has its hash.
    fn stands_in_log(&self, head: Head) -> Result<bool, StoreError> {
        Ok(match head.seq {
            0 => true,
            seq => self.store.raw(seq)?.is_some_and(|(hash, _)| hash == head.hash),
        })
    }
}
