//! A model test of the store: random sequences of appends (good batches, batches whose last
//! event breaks a rule, batches with a stale `expect_seq`) and reopenings run against the
//! real ledger and against a plain `Vec` of the submissions that should be in the log.
//! After every operation the stored records must be exactly the model, and the chain must
//! verify.

use std::path::Path;
use std::time::{Duration, Instant};

use orgledger::event::{Date, Id, Submission};
use orgledger::ledger::{AppendError, Appended, Ledger, LedgerOptions};
use orgledger::store::StoreError;
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use serde_json::json;

/// One thing a client or an operator does to the ledger.
#[derive(Debug, Clone)]
enum Operation {
    /// Appends a batch of valid events, one per choice, with `expect_seq` at the head when
    /// `expect_head` is set.
    AppendValid { choices: Vec<u8>, expect_head: bool },
    /// Appends valid events followed by one that breaks `rule`: nothing may be appended.
    AppendInvalidLast { choices: Vec<u8>, rule: BrokenRule },
    /// Appends valid events with `expect_seq` this far from the head: a conflict.
    AppendStale { choices: Vec<u8>, off_by: i64 },
    /// Closes the ledger and opens it again, replaying the log.
    Reopen,
}

/// The rules a batch's last event can break, with the name the rules give each.
#[derive(Debug, Clone, Copy)]
enum BrokenRule {
    /// A hamlet under a commune nobody registered.
    UnknownParent,
    /// A locality id that is already taken.
    IdInUse,
    /// A province with a parent locality.
    ProvinceWithParent,
    /// An effective date far in the future.
    EffectiveInFuture,
}

impl BrokenRule {
    fn name(self) -> &'static str {
        match self {
            BrokenRule::UnknownParent => "locality_unknown",
            BrokenRule::IdInUse => "id_in_use",
            BrokenRule::ProvinceWithParent => "parent_kind",
            BrokenRule::EffectiveInFuture => "effective_in_future",
        }
    }
}

fn operation() -> impl Strategy<Value = Operation> {
    let rule = prop_oneof![
        Just(BrokenRule::UnknownParent),
        Just(BrokenRule::IdInUse),
        Just(BrokenRule::ProvinceWithParent),
        Just(BrokenRule::EffectiveInFuture),
    ];
    prop_oneof![
        4 => (vec(any::<u8>(), 1..=5), any::<bool>())
            .prop_map(|(choices, expect_head)| Operation::AppendValid { choices, expect_head }),
        2 => (vec(any::<u8>(), 0..=4), rule)
            .prop_map(|(choices, rule)| Operation::AppendInvalidLast { choices, rule }),
        1 => (vec(any::<u8>(), 1..=5), prop_oneof![-3i64..=-1, 1i64..=3])
            .prop_map(|(choices, off_by)| Operation::AppendStale { choices, off_by }),
        1 => Just(Operation::Reopen),
    ]
}

/// The localities registered so far, by level, so the next valid event can be made. It is
/// the generator's state, kept beside the model and rolled back with it.
#[derive(Debug, Clone, Default)]
struct Territory {
    provinces: Vec<String>,
    districts: Vec<String>,
    communes: Vec<String>,
    /// Hamlets and residential groups.
    neighbourhoods: Vec<String>,
    /// Numbers ids, so that every id registered is new.
    ids_given: u64,
}

impl Territory {
    fn next_number(&mut self) -> u64 {
        self.ids_given += 1;
        self.ids_given
    }

    fn any_locality(&self, choice: u8) -> Option<&String> {
        let all: Vec<&String> = self
            .provinces
            .iter()
            .chain(&self.districts)
            .chain(&self.communes)
            .chain(&self.neighbourhoods)
            .collect();
        (!all.is_empty()).then(|| all[choice as usize % all.len()])
    }

    /// A valid event at log position `position`, picked by `choice` among what the
    /// territory allows: the first levels first, then communes, hamlets, residential
    /// groups and renamings. Effective dates grow with the position, so no entity's dates
    /// ever go backwards.
    fn valid_event(&mut self, position: u64, choice: u8) -> Submission {
        let effective = effective_on(position);
        let pick = |list: &Vec<String>| list[choice as usize % list.len()].clone();
        let line = if self.provinces.is_empty() {
            let id = format!("tinh-{}", self.next_number());
            self.provinces.push(id.clone());
            json!({"type": "LocalityRegistered", "effective": effective, "locality": id,
                   "name": "Cao Bằng", "kind": "province", "border": true})
        } else if self.districts.is_empty() {
            let (id, parent) = (format!("huyen-{}", self.next_number()), pick(&self.provinces));
            self.districts.push(id.clone());
            json!({"type": "LocalityRegistered", "effective": effective, "locality": id,
                   "name": "Trùng Khánh", "kind": "district", "parent": parent, "border": true})
        } else if self.communes.is_empty() || choice.is_multiple_of(5) {
            let n = self.next_number();
            let (id, parent) = (format!("xa-{n}"), pick(&self.districts));
            self.communes.push(id.clone());
            json!({"type": "LocalityRegistered", "effective": effective, "locality": id,
                   "name": format!("Xã Đàm Thủy {n}"), "kind": "commune", "parent": parent,
                   "border": choice.is_multiple_of(2)})
        } else if choice % 5 == 4 {
            let id = self.any_locality(choice / 5).expect("a province exists").clone();
            json!({"type": "LocalityChanged", "effective": effective, "locality": id,
                   "name": format!("Tên mới {position}"), "border": choice % 2 == 1})
        } else {
            let n = self.next_number();
            let parent = pick(&self.communes);
            let (id, name, kind) = if choice % 5 == 3 {
                (format!("to-{n}"), format!("Tổ dân phố {n}"), "residential_group")
            } else {
                (format!("xom-{n}"), format!("Xóm Pác Ngòa {n}"), "hamlet")
            };
            self.neighbourhoods.push(id.clone());
            json!({"type": "LocalityRegistered", "effective": effective, "locality": id,
                   "name": name, "kind": kind, "parent": parent, "border": choice.is_multiple_of(3)})
        };
        Submission::from_json(&line.to_string()).expect("the generator makes well-formed events")
    }

    /// An event at `position` that breaks `rule` (or, when the territory cannot break it
    /// yet, the unknown-parent rule), and the name of the rule it breaks.
    fn invalid_event(&mut self, position: u64, rule: BrokenRule) -> (Submission, &'static str) {
        let effective = effective_on(position);
        let n = self.next_number();
        let (line, rule) = match (rule, self.any_locality(n as u8).cloned()) {
            (BrokenRule::IdInUse, Some(taken)) => (
                json!({"type": "LocalityRegistered", "effective": effective, "locality": taken,
                       "name": "Trùng tên", "kind": "province", "border": false}),
                rule,
            ),
            (BrokenRule::ProvinceWithParent, Some(parent)) => (
                json!({"type": "LocalityRegistered", "effective": effective,
                       "locality": format!("tinh-{n}"), "name": "Tỉnh thừa", "kind": "province",
                       "parent": parent, "border": false}),
                rule,
            ),
            (BrokenRule::EffectiveInFuture, _) => (
                json!({"type": "LocalityRegistered", "effective": "2099-01-01",
                       "locality": format!("tinh-{n}"), "name": "Tỉnh tương lai",
                       "kind": "province", "border": false}),
                rule,
            ),
            _ => (
                json!({"type": "LocalityRegistered", "effective": effective,
                       "locality": format!("xom-{n}"), "name": "Xóm ma", "kind": "hamlet",
                       "parent": "xa-khong-co-that", "border": false}),
                BrokenRule::UnknownParent,
            ),
        };
        let sub = Submission::from_json(&line.to_string()).expect("well-formed, if unlawful");
        (sub, rule.name())
    }
}

/// The effective date of the event at log position `position` (0-based): one day apart,
/// from 2005-01-01, so far in the past that no date is ever in the future.
fn effective_on(position: u64) -> String {
    Date::from_ymd(2005, 1, 1)
        .expect("a date")
        .plus_days(position as i64)
        .to_string()
}

/// What should be in the log, and what the generator needs to continue it.
#[derive(Debug, Default)]
struct Model {
    log: Vec<Submission>,
    territory: Territory,
}

impl Model {
    fn head(&self) -> u64 {
        self.log.len() as u64
    }

    /// A batch of valid events continuing the log, with the territory they would leave.
    fn valid_batch(&self, choices: &[u8]) -> (Vec<Submission>, Territory) {
        let mut territory = self.territory.clone();
        let batch = choices
            .iter()
            .enumerate()
            .map(|(i, c)| territory.valid_event(self.head() + i as u64, *c))
            .collect();
        (batch, territory)
    }
}

fn actor() -> Id {
    Id::parse("ban-to-chuc-huyen-uy").expect("actor id")
}

/// Opens the ledger, waiting while sled still holds the lock of a ledger this process has
/// just closed (its background threads let go a moment after the last handle is dropped).
fn open_ledger(data: &Path) -> Ledger {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match Ledger::open(data, LedgerOptions::default()) {
            Err(StoreError::InUse(_)) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(2)),
            other => return other.expect("the ledger opens"),
        }
    }
}

/// Checks that the acknowledgements of a batch name the positions after `head`, one each.
fn check_acknowledged(appended: &[Appended], head: u64, len: usize) -> Result<(), TestCaseError> {
    let seqs: Vec<u64> = appended.iter().map(|a| a.seq).collect();
    let expected: Vec<u64> = (head + 1..=head + len as u64).collect();
    prop_assert_eq!(seqs, expected);
    Ok(())
}

/// Compares everything the store holds with the model, and verifies the chain.
fn check_store(ledger: &Ledger, model: &Model, acknowledged: &[Appended]) -> Result<(), TestCaseError> {
    prop_assert_eq!(ledger.head().seq, model.head());
    let store = ledger.store();
    let records = store
        .records(1)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TestCaseError::fail(format!("reading the log: {e}")))?;
    prop_assert_eq!(records.len(), model.log.len());
    for (i, (record, expected)) in records.iter().zip(&model.log).enumerate() {
        prop_assert_eq!(record.seq(), i as u64 + 1);
        prop_assert_eq!(record.type_name(), expected.event.type_name());
        prop_assert_eq!(record.effective(), expected.effective);
        prop_assert_eq!(record.submission(), expected, "record {}", i + 1);
    }
    for a in acknowledged {
        let hash = records[a.seq as usize - 1].hash();
        prop_assert_eq!(hash, a.hash, "the acknowledged hash of record {}", a.seq);
    }
    match store.verify() {
        Ok(Ok(verified)) => {
            prop_assert_eq!(verified.events, model.head());
            prop_assert_eq!(verified.head, ledger.head());
        }
        Ok(Err(broken)) => return Err(TestCaseError::fail(format!("the chain is broken: {broken}"))),
        Err(e) => return Err(TestCaseError::fail(format!("verify could not read: {e}"))),
    }
    Ok(())
}

fn run_operations(operations: &[Operation]) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("ledger");
    let mut ledger = Some(open_ledger(&data));
    let mut model = Model::default();
    for op in operations {
        let open = ledger.as_ref().expect("the ledger is open between operations");
        let head = model.head();
        let mut acknowledged = Vec::new();
        match op {
            Operation::AppendValid { choices, expect_head } => {
                let (batch, territory) = model.valid_batch(choices);
                let expect = expect_head.then_some(head);
                let appended = open
                    .append(actor(), batch.clone(), expect)
                    .map_err(|e| TestCaseError::fail(format!("a valid batch was refused: {e}")))?;
                check_acknowledged(&appended, head, batch.len())?;
                acknowledged = appended;
                model.log.extend(batch);
                model.territory = territory;
            }
            Operation::AppendInvalidLast { choices, rule } => {
                let (mut batch, mut territory) = model.valid_batch(choices);
                let (bad, rule) = territory.invalid_event(head + batch.len() as u64, *rule);
                batch.push(bad);
                let last = batch.len() - 1;
                match open.append(actor(), batch, None) {
                    Err(AppendError::Rule { index, violation }) => {
                        prop_assert_eq!(index, last, "the last event is the bad one");
                        prop_assert_eq!(violation.rule, rule, "{}", violation.message);
                    }
                    other => {
                        return Err(TestCaseError::fail(format!(
                            "a batch breaking {rule} was not refused by that rule: {other:?}"
                        )))
                    }
                }
            }
            Operation::AppendStale { choices, off_by } => {
                let (batch, _) = model.valid_batch(choices);
                let stale = head.checked_add_signed(*off_by).unwrap_or(head + off_by.unsigned_abs());
                match open.append(actor(), batch, Some(stale)) {
                    Err(AppendError::Conflict { expected, head: found }) => {
                        prop_assert_eq!(expected, stale);
                        prop_assert_eq!(found, head);
                    }
                    other => {
                        return Err(TestCaseError::fail(format!(
                            "a stale expect_seq {stale} (head {head}) was not a conflict: {other:?}"
                        )))
                    }
                }
            }
            Operation::Reopen => {
                ledger.take().expect("open").close();
                ledger = Some(open_ledger(&data));
            }
        }
        check_store(ledger.as_ref().expect("open"), &model, &acknowledged)?;
    }
    Ok(())
}

/// How many random operation sequences to run: a quick sample normally, many more under
/// `ORGLEDGER_STRESS=1`.
fn cases() -> u32 {
    if std::env::var("ORGLEDGER_STRESS").as_deref() == Ok("1") {
        2000
    } else {
        64
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        // Each case opens sled at least once and flushes on every append; 64 cases take
        // about a second in a debug build.
        cases: cases(),
        max_shrink_iters: 200,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn the_store_holds_exactly_what_the_model_says(operations in vec(operation(), 1..=12)) {
        run_operations(&operations)?;
    }
}
