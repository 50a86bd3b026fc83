//! The subscription root: the log from any `seq` and then live, and each new head.
//!
//! `events` never misses or repeats an event across the switch from catch-up to live: it
//! keeps one cursor (the last `seq` sent), reads the log from the store up to the durable
//! head, and then waits for the head to move, which it watches from before its first read.
//! Whatever became durable meanwhile is read on the next turn; nothing is read twice because
//! the cursor only moves forward. A slow subscriber costs reads, never lost events.

use async_graphql::{Context, Result, Subscription as SubscriptionMacro};
use futures_util::stream::{self, Stream, StreamExt};
use tokio::sync::watch;

use super::objects::EventNode;
use super::query::{check_types, HeadObject};
use super::{codes, env, error, require, Session, SignedCheckpoint};
use crate::chain::Head;
use crate::event::Record;
use crate::ledger::Ledger;
use crate::tokens::Permission;
use std::sync::Arc;

/// The root of every subscription.
pub struct Subscription;

/// How many records a subscription reads from the store in one go.
const READ_CHUNK: usize = 256;

struct Follow {
    ledger: std::sync::Arc<Ledger>,
    head: watch::Receiver<Head>,
    stopping: watch::Receiver<bool>,
    /// The last `seq` sent (or skipped by the type filter).
    cursor: u64,
    types: Option<Vec<String>>,
    buffered: std::collections::VecDeque<Record>,
    /// The connection's token, checked before each event is sent.
    session: Option<Session>,
    /// Set once the stream has sent its last item (an error).
    ended: bool,
}

impl Follow {
    /// The next event to send: from the buffer, else read from the store up to the durable
    /// head, else after the head moves. `None` when the server stops or the store fails.
    async fn next(&mut self) -> Option<Result<Record>> {
        if self.ended {
            return None;
        }
        loop {
            if let Some(r) = self.buffered.pop_front() {
                if let Some(Err(e)) = self.session.as_ref().map(Session::check) {
                    self.ended = true;
                    return Some(Err(e));
                }
                return Some(Ok(r));
            }
            // Mark the current head as seen before reading up to it: a head that moves after
            // this line wakes the wait below.
            let durable = self.head.borrow_and_update().seq;
            if self.cursor < durable {
                let until = durable.min(self.cursor + READ_CHUNK as u64);
                for item in self
                    .ledger
                    .store()
                    .records(self.cursor + 1)
                    .take((until - self.cursor) as usize)
                {
                    match item {
                        Ok(r) => {
                            self.cursor = r.seq();
                            if self.types.as_ref().is_none_or(|t| t.iter().any(|t| t == r.type_name())) {
                                self.buffered.push_back(r);
                            }
                        }
                        Err(e) => {
                            tracing::error!("subscription: {e}");
                            self.ended = true;
                            return Some(Err(error(codes::INTERNAL, e.to_string())));
                        }
                    }
                }
                continue;
            }
            tokio::select! {
                changed = self.head.changed() => if changed.is_err() { return None },
                _ = self.stopping.wait_for(|s| *s) => return None,
            }
        }
    }
}

#[SubscriptionMacro]
impl Subscription {
    /// Every event from `fromSeq` (default: the next one appended) in `seq` order: first
    /// those already in the log, then each new one once it is durable, none missed or
    /// repeated. `types` keeps only events of those types.
    async fn events(
        &self,
        ctx: &Context<'_>,
        from_seq: Option<u64>,
        types: Option<Vec<String>>,
    ) -> Result<impl Stream<Item = Result<EventNode>>> {
        require(ctx, Permission::Read)?;
        check_types(&types)?;
        let env = env(ctx);
        let head = env.ledger.watch_head();
        let start = match from_seq {
            Some(s) => s.saturating_sub(1),
            None => head.borrow().seq,
        };
        let follow = Follow {
            ledger: env.ledger.clone(),
            head,
            stopping: env.stopping.clone(),
            cursor: start,
            types,
            buffered: Default::default(),
            session: ctx.data_opt::<Session>().cloned(),
            ended: false,
        };
        Ok(stream::unfold(follow, |mut f| async move {
            let next = f.next().await?;
            Some((next.map(|r| EventNode(Box::new(r))), f))
        }))
    }

    /// Each checkpoint the server publishes, the latest first if there is one: after an
    /// append group, at most once per checkpoint interval, cosigned by a quorum of its
    /// witnesses when it has some. A client following `events` checks each against the last
    /// (a consistency proof) as it comes. Checkpoints published faster than the subscriber
    /// reads are coalesced: the latest is always sent (auditor, admin). On a follower: each
    /// checkpoint of the leader it verifies.
    async fn checkpoints(&self, ctx: &Context<'_>) -> Result<impl Stream<Item = Result<Arc<SignedCheckpoint>>>> {
        require(ctx, Permission::Audit)?;
        let env = env(ctx);
        let published = env.published.subscribe();
        let stopping = env.stopping.clone();
        let session = ctx.data_opt::<Session>().cloned();
        Ok(stream::unfold(
            (published, stopping, session, true, false),
            |(mut published, mut stopping, session, first, ended)| async move {
                if ended {
                    return None;
                }
                loop {
                    if !first || published.borrow().is_none() {
                        tokio::select! {
                            changed = published.changed() => changed.ok()?,
                            _ = stopping.wait_for(|s| *s) => return None,
                        }
                    }
                    let Some(cp) = published.borrow_and_update().clone() else {
                        continue;
                    };
                    let item = match session.as_ref().map(Session::check) {
                        Some(Err(e)) => Err(e),
                        _ => Ok(cp),
                    };
                    let ended = item.is_err();
                    return Some((item, (published, stopping, session, false, ended)));
                }
            },
        )
        .boxed())
    }

    /// The durable head, now and each time it moves. Heads that follow each other faster
    /// than the subscriber reads are coalesced: the latest is always sent.
    async fn head(&self, ctx: &Context<'_>) -> Result<impl Stream<Item = Result<HeadObject>>> {
        require(ctx, Permission::Read)?;
        let env = env(ctx);
        let head = env.ledger.watch_head();
        let stopping = env.stopping.clone();
        let session = ctx.data_opt::<Session>().cloned();
        // The state: the watch, the stop signal, the token, and whether the next item is the
        // first (sent at once) or the stream has ended (after a revoked token's error).
        Ok(stream::unfold(
            (head, stopping, session, true, false),
            |(mut head, mut stopping, session, first, ended)| async move {
                if ended {
                    return None;
                }
                if !first {
                    tokio::select! {
                        changed = head.changed() => changed.ok()?,
                        _ = stopping.wait_for(|s| *s) => return None,
                    }
                }
                let h = *head.borrow_and_update();
                let item = match session.as_ref().map(Session::check) {
                    Some(Err(e)) => Err(e),
                    _ => Ok(HeadObject(h)),
                };
                let ended = item.is_err();
                Some((item, (head, stopping, session, false, ended)))
            },
        )
        .boxed())
    }
}
