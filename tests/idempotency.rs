//! Idempotency keys at the writer: the same request under the same key appends once, also
//! across a restart (the key commits in the records' own batch); the key with a different
//! request is refused; keys are scoped to the actor.

use orgledger::event::Id;
use orgledger::ledger::{AppendError, Ledger, LedgerOptions};

mod common;

use common::{fixture_events as fixture, hamlet};

fn actor(name: &str) -> Id {
    Id::parse(name).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_appends_once_even_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let first = {
        let ledger = Ledger::open(dir.path(), LedgerOptions::default()).unwrap();
        ledger.append_async(actor("setup"), fixture(), None).await.unwrap();
        let batch = vec![hamlet("xom-mot"), hamlet("xom-hai")];
        let first = ledger
            .append_idempotent(actor("clerk-1"), batch.clone(), None, Some("k-1"))
            .await
            .unwrap();
        assert_eq!(first.iter().map(|a| a.seq).collect::<Vec<_>>(), vec![13, 14]);
        // Sent again at once: the first answer, nothing appended.
        let again = ledger
            .append_idempotent(actor("clerk-1"), batch, None, Some("k-1"))
            .await
            .unwrap();
        assert_eq!(again, first);
        assert_eq!(ledger.head().seq, 14);
        ledger.close();
        first
    };
    let ledger = Ledger::open(dir.path(), LedgerOptions::default()).unwrap();
    let batch = vec![hamlet("xom-mot"), hamlet("xom-hai")];
    let after_restart = ledger
        .append_idempotent(actor("clerk-1"), batch.clone(), None, Some("k-1"))
        .await
        .unwrap();
    assert_eq!(after_restart, first);
    assert_eq!(ledger.head().seq, 14);

    // The same key with another request is refused, and appends nothing.
    let other = ledger
        .append_idempotent(actor("clerk-1"), vec![hamlet("xom-ba")], None, Some("k-1"))
        .await;
    assert!(
        matches!(other, Err(AppendError::KeyReused(ref k)) if k == "k-1"),
        "{other:?}"
    );
    assert_eq!(ledger.head().seq, 14);

    // Another actor's key of the same text is another key: its request is appended (and
    // refused by the rules here, since the hamlets exist: the key did not answer for it).
    let by_other_actor = ledger
        .append_idempotent(actor("clerk-2"), batch, None, Some("k-1"))
        .await;
    assert!(
        matches!(by_other_actor, Err(AppendError::Rule { index: 0, .. })),
        "{by_other_actor:?}"
    );
    // A refused request stores no key: sent again corrected, it is appended.
    let corrected = ledger
        .append_idempotent(actor("clerk-2"), vec![hamlet("xom-bon")], None, Some("k-1"))
        .await
        .unwrap();
    assert_eq!(corrected[0].seq, 15);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_are_checked_and_a_conflict_stores_no_key() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::open(dir.path(), LedgerOptions::default()).unwrap();
    ledger.append_async(actor("setup"), fixture(), None).await.unwrap();
    let empty = ledger
        .append_idempotent(actor("clerk-1"), vec![hamlet("xom-mot")], None, Some(""))
        .await;
    assert!(matches!(empty, Err(AppendError::BadKey)), "{empty:?}");
    let long = "k".repeat(201);
    let too_long = ledger
        .append_idempotent(actor("clerk-1"), vec![hamlet("xom-mot")], None, Some(&long))
        .await;
    assert!(matches!(too_long, Err(AppendError::BadKey)), "{too_long:?}");
    let stale = ledger
        .append_idempotent(actor("clerk-1"), vec![hamlet("xom-mot")], Some(3), Some("k-2"))
        .await;
    assert!(
        matches!(stale, Err(AppendError::Conflict { expected: 3, head: 12 })),
        "{stale:?}"
    );
    let fresh = ledger
        .append_idempotent(actor("clerk-1"), vec![hamlet("xom-mot")], Some(12), Some("k-2"))
        .await
        .unwrap();
    assert_eq!(fresh[0].seq, 13);
    // The retry of the request that succeeded still names the head it expected: the key
    // answers it before the head is compared.
    let retry = ledger
        .append_idempotent(actor("clerk-1"), vec![hamlet("xom-mot")], Some(12), Some("k-2"))
        .await
        .unwrap();
    assert_eq!(retry, fresh);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_under_one_key_append_once() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = std::sync::Arc::new(Ledger::open(dir.path(), LedgerOptions::default()).unwrap());
    ledger.append_async(actor("setup"), fixture(), None).await.unwrap();
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let ledger = ledger.clone();
        tasks.push(tokio::spawn(async move {
            ledger
                .append_idempotent(actor("clerk-1"), vec![hamlet("xom-mot")], None, Some("same"))
                .await
        }));
    }
    let mut answers = Vec::new();
    for t in tasks {
        answers.push(t.await.unwrap().expect("every request gets the one result"));
    }
    assert!(answers.windows(2).all(|w| w[0] == w[1]), "{answers:?}");
    assert_eq!(ledger.head().seq, 13);
}
