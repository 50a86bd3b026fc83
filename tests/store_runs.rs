//! Records stored as runs (FORMAT.md section 8): a group of appends writes its records as
//! runs of consecutive records, one sled value each, compressed, and every way of reading a
//! record finds it wherever it sits in a run; a store of an earlier version (one plain
//! record per value, or plain runs) reads as it is and takes compressed runs from its next
//! group on; a damaged run is named at its first record.

mod common;

use std::path::Path;

use orgledger::event::{Id, Record, Submission};
use orgledger::ledger::{Ledger, LedgerOptions};
use orgledger::store::{Store, StoreError};

fn actor() -> Id {
    Id::parse("ban-to-chuc-huyen-uy").expect("actor id")
}

/// The commune the hamlets hang from, then `n` hamlets in one group.
fn commune_and_hamlets(from: usize, n: usize) -> Vec<Submission> {
    let mut subs = Vec::new();
    if from == 0 {
        subs.extend(common::fixture_events().into_iter().take(3));
    }
    subs.extend((from..from + n).map(|i| common::hamlet(&format!("xom-{i}"))));
    subs
}

fn append_closed(data: &Path, groups: &[Vec<Submission>]) -> u64 {
    let ledger = Ledger::open(data, LedgerOptions::default()).expect("open the ledger");
    for group in groups {
        ledger.append(actor(), group.clone(), None).expect("a valid group");
    }
    let head = ledger.head().seq;
    ledger.close();
    common::wait_until_released(data);
    head
}

fn open_store(data: &Path) -> Store {
    Store::open_unchecked(data, false).expect("open the store")
}

/// Every way of reading records agrees with the others, from every starting point.
fn assert_reads_back(store: &Store, head: u64) {
    let all: Vec<Record> = store.records(1).map(|r| r.expect("reads")).collect();
    assert_eq!(all.len() as u64, head);
    for (i, record) in all.iter().enumerate() {
        let seq = i as u64 + 1;
        assert_eq!(record.seq(), seq);
        let (hash, bytes) = store.raw(seq).expect("reads").expect("stored");
        assert_eq!((hash, bytes.as_slice()), (record.hash(), record.canonical()));
        assert_eq!(
            store.raw_value(seq).expect("reads").expect("stored")[32..],
            *record.canonical()
        );
    }
    for from in 1..=head + 1 {
        let seqs: Vec<u64> = store.raw_records(from).map(|r| r.expect("reads").seq).collect();
        assert_eq!(seqs, (from..=head).collect::<Vec<_>>(), "raw_records({from})");
        let lines = store.export_lines(from).count() as u64;
        assert_eq!(lines, head + 1 - from, "export_lines({from})");
    }
    assert!(store.raw(head + 1).expect("reads").is_none());
    assert!(store.raw(0).expect("reads").is_none());
    let verified = store.verify().expect("reads").expect("the chain verifies");
    assert_eq!(verified.events, head);
}

#[test]
fn a_group_is_stored_as_runs_and_every_record_reads_back_from_anywhere() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("ledger");
    let head = append_closed(
        &data,
        &[
            commune_and_hamlets(0, 200),
            commune_and_hamlets(200, 1),
            commune_and_hamlets(201, 2),
        ],
    );
    let store = open_store(&data);
    let values = store.record_values().expect("reads");
    // 203 records of the first group in runs of at most 16, then a single record and a run
    // of two.
    assert!(
        (203 / 16 + 2..=203 / 8).contains(&values),
        "{values} values for {head} records"
    );
    assert_eq!(
        store.format_marker().expect("reads").as_deref(),
        Some(&b"orgledger-store-4"[..])
    );
    // Every run is compressed; the single record of the second group, too short to gain,
    // may be stored plain.
    let compressed = store.compressed_values().expect("reads");
    assert!(
        (values - 1..=values).contains(&compressed),
        "{compressed} of {values} values compressed"
    );
    assert_reads_back(&store, head);
}

#[test]
fn a_store_of_one_record_per_value_reads_as_it_is_and_takes_runs() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("ledger");
    let before = append_closed(&data, &[commune_and_hamlets(0, 40)]);
    {
        // Rewrite it as an earlier version stored it: one record per value.
        let store = open_store(&data);
        for seq in 1..=before {
            let value = store.raw_value(seq).expect("reads").expect("stored");
            store.tamper(seq, Some(value)).expect("rewrite");
        }
        store.tamper_format(b"orgledger-store-1").expect("mark");
        assert_eq!(store.record_values().expect("reads"), before);
        assert_reads_back(&store, before);
    }
    common::wait_until_released(&data);
    let head = append_closed(&data, &[commune_and_hamlets(40, 60)]);
    let store = open_store(&data);
    assert!(store.record_values().expect("reads") < head - 40);
    assert_eq!(
        store.format_marker().expect("reads").as_deref(),
        Some(&b"orgledger-store-4"[..])
    );
    assert_reads_back(&store, head);
}

#[test]
fn a_store_of_plain_runs_reads_as_it_is_and_takes_compressed_values() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("ledger");
    let before = append_closed(&data, &[commune_and_hamlets(0, 100)]);
    let values_before = {
        // Rewrite it as the version before compression stored it: plain runs.
        let store = open_store(&data);
        store.rewrite_plain().expect("rewrite");
        store.tamper_format(b"orgledger-store-2").expect("mark");
        assert_eq!(store.compressed_values().expect("reads"), 0);
        assert_reads_back(&store, before);
        store.record_values().expect("reads")
    };
    common::wait_until_released(&data);
    let head = append_closed(&data, &[commune_and_hamlets(100, 60)]);
    let store = open_store(&data);
    assert_eq!(
        store.format_marker().expect("reads").as_deref(),
        Some(&b"orgledger-store-4"[..])
    );
    let values = store.record_values().expect("reads");
    assert_eq!(
        store.compressed_values().expect("reads"),
        values - values_before,
        "the old values stay plain, the new ones are compressed"
    );
    assert_reads_back(&store, head);
}

#[test]
fn a_store_of_an_unknown_format_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("ledger");
    append_closed(&data, &[commune_and_hamlets(0, 3)]);
    open_store(&data).tamper_format(b"orgledger-store-5").expect("mark");
    common::wait_until_released(&data);
    match Store::open_unchecked(&data, false) {
        Err(StoreError::WrongFormat(_)) => {}
        other => panic!("not refused: {:?}", other.err()),
    }
}

#[test]
fn a_damaged_run_is_named_at_its_first_record() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("ledger");
    let head = append_closed(&data, &[commune_and_hamlets(0, 60)]);
    {
        let store = open_store(&data);
        // A value in a run's form whose lengths do not add up, put where record 20 was.
        let mut value = store.raw_value(20).expect("reads").expect("stored");
        value.extend_from_slice(&[0, 0, 0, 9, 0, 0, 0, 9, 0, 2, 0x01]);
        store.tamper(20, Some(value)).expect("damage");
        match store.verify() {
            Err(StoreError::Corrupt { seq: 20, reason }) => assert!(reason.contains("run"), "{reason}"),
            other => panic!("not named at 20: {other:?}"),
        }
        let read: Vec<_> = store.raw_records(1).collect();
        assert_eq!(read.len(), 20, "19 records, then the damage, then nothing");
        assert!(matches!(read[19], Err(StoreError::Corrupt { seq: 20, .. })));
        assert!(store.raw(21).expect("a later record still reads").is_some());
        assert!(head > 41);
        // A value in the compressed form whose block does not decompress, put where record
        // 40 was: named at 40 too, by every reader.
        let mut garbled = vec![0xF0; 24];
        garbled.extend_from_slice(&[0, 0, 1, 0, 0, 1, 0x02]);
        store.tamper(40, Some(garbled)).expect("damage");
        let read: Vec<_> = store.raw_records(21).collect();
        assert_eq!(read.len(), 20, "19 records, then the damage, then nothing");
        match &read[19] {
            Err(StoreError::Corrupt { seq: 40, reason }) => assert!(reason.contains("compressed"), "{reason}"),
            other => panic!("not named at 40: {:?}", other.as_ref().map(|r| r.seq)),
        }
        assert!(matches!(store.raw(40), Err(StoreError::Corrupt { seq: 40, .. })));
    }
}
