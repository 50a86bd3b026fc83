//! A synthetic, province-scale ledger for benchmarks and scale tests (`orgledger generate`).
//!
//! The generator simulates a province from 1990 to 2025: districts, communes, hamlets and
//! residential groups; district, grassroots and border-post committees and their cells;
//! candidates verified and admitted, officialized after their probation, transferred, sent
//! on temporary activity, exempted when old, disciplined now and then, and dying; monthly
//! cell meetings, resolutions, annual ratings, supervisors for weak cells; congresses that
//! elect commune and cell secretaries, cadre planning for each term, and standardization
//! programmes that assess, train and settle cadres.
//!
//! It is a discrete-event simulation: every future action sits in an agenda ordered by date,
//! and an action, when its date comes, looks at the simulated world as it stands then and
//! either emits events or lapses (a member who died is not officialized). Since the world
//! mirrors what `rules` checks and events come out in date order, every event is valid, and
//! the ledger takes them through the same `Ledger::append` path as any client: nothing is
//! bypassed. The simulation draws from its own PRNG (splitmix64) seeded by the caller, so
//! the same `(events, seed)` always gives the same events, and with the generator's
//! stepped clock the same head hash.
//!
//! The size of the province is chosen so that the simulation yields at least the requested
//! number of events, which are then cut at exactly that number.

use std::collections::{BinaryHeap, VecDeque};
use std::path::{Path, PathBuf};

use crate::chain::Head;
use crate::event::*;
use crate::ledger::{AppendError, Ledger, SteppedClock};
use crate::store::{Store, StoreError};

/// Events per append: large batches keep the writer's flushes few.
pub const BATCH_EVENTS: usize = 5_000;
/// The actor recorded on every generated event.
pub const ACTOR: &str = "generator";
/// Where the generator's transaction time starts: after the last simulated date, so no
/// event is effective in the future of the day it is recorded.
pub const CLOCK_START: &str = "2026-01-05T00:00:00.000000Z";
/// How far the clock steps per event, in microseconds: a million events span 17 minutes
/// of 2026-01-05.
pub const CLOCK_STEP_MICROS: i64 = 1_000;

/// The simulated years, both included.
const FIRST_YEAR: i32 = 1990;
const LAST_YEAR: i32 = 2025;
/// A province's districts hold this many communes (the last one fewer).
const COMMUNES_PER_DISTRICT: usize = 12;
/// Border posts stationed in each border district (every other district is on the border).
const BORDER_POSTS_PER_DISTRICT: usize = 2;
/// The years commune party congresses elect their committees; each term runs to the next.
const CONGRESS_YEARS: [i32; 8] = [1991, 1996, 2001, 2005, 2010, 2015, 2020, 2025];
/// A cadre standardization programme, issued by the provincial standing committee.
struct ProgrammeSpec {
    id: &'static str,
    title: &'static str,
    /// Its first and last day, as (year, month, day).
    starts: (i32, u32, u32),
    ends: (i32, u32, u32),
}

const PROGRAMMES: [ProgrammeSpec; 3] = [
    ProgrammeSpec {
        id: "da-chuan-hoa-2001",
        title: "Chuẩn hóa cán bộ cơ sở giai đoạn 2001-2005",
        starts: (2001, 3, 15),
        ends: (2005, 12, 31),
    },
    ProgrammeSpec {
        id: "da-chuan-hoa-2012",
        title: "Chuẩn hóa đội ngũ cán bộ cơ sở giai đoạn 2012-2015",
        starts: (2012, 1, 5),
        ends: (2015, 12, 31),
    },
    ProgrammeSpec {
        id: "da-chuan-hoa-2021",
        title: "Nâng cao chất lượng cán bộ cơ sở giai đoạn 2021-2025",
        starts: (2021, 2, 1),
        ends: (2025, 10, 31),
    },
];

/// An instrument that cell life cites (a directive, a guidance, a resolution).
struct InstrumentSpec {
    id: &'static str,
    kind: InstrumentKind,
    title: &'static str,
    issuer: &'static str,
    /// The day it was issued, as (year, month, day).
    issued: (i32, u32, u32),
}

const INSTRUMENTS: [InstrumentSpec; 3] = [
    InstrumentSpec {
        id: "ct-10-2007",
        kind: InstrumentKind::Directive,
        title: "Nâng cao chất lượng sinh hoạt chi bộ",
        issuer: "Ban Bí thư",
        issued: (2007, 3, 30),
    },
    InstrumentSpec {
        id: "hd-09-2012",
        kind: InstrumentKind::Guidance,
        title: "Một số vấn đề về nội dung sinh hoạt chi bộ",
        issuer: "Ban Tổ chức Trung ương",
        issued: (2012, 3, 2),
    },
    InstrumentSpec {
        id: "nq-04-2016",
        kind: InstrumentKind::Resolution,
        title: "Tăng cường xây dựng, chỉnh đốn Đảng",
        issuer: "Ban Chấp hành Trung ương",
        issued: (2016, 10, 30),
    },
];
/// Positions of a commune committee (one seat each) and of a cell.
const COMMUNE_SEATS: [&str; 2] = ["bi-thu", "pho-bi-thu"];
const CELL_SECRETARY: &str = "bi-thu-chi-bo";

/// Syllables of Tày and Nùng place names, for hamlets, communes and districts.
const PLACE_SYLLABLES: &[&str] = &[
    "Nà", "Pác", "Lũng", "Khuổi", "Bó", "Phya", "Cốc", "Nặm", "Ngòa", "Mỏ", "Thoong", "Lạn", "Giộc", "Đỏng", "Tổng",
    "Slim", "Pò", "Keng", "Vài", "Rằng", "Khau", "Pắc", "Thẳm", "Mu", "Lùng", "Chang", "Cáy", "Khưa", "Sẳng", "Luông",
    "Mạ", "Thin", "Ngườm", "Hoan", "Tảo", "Pù", "Bản", "Lạng", "Kéo", "Đoỏng",
];
const FAMILY_NAMES: &[&str] = &[
    "Nông", "Hoàng", "Lương", "Đàm", "Triệu", "Lý", "Nguyễn", "Bế", "Lục", "Hà", "Lâm", "Mã", "Đinh", "Vi", "Chu",
];
const MALE_NAMES: &[&str] = &[
    "Hùng", "Dũng", "Thắng", "Quân", "Sơn", "Tuấn", "Cường", "Bình", "Lâm", "Hải", "Long", "Trung", "Kiên", "Hiếu",
    "Đức", "Tiến",
];
const FEMALE_NAMES: &[&str] = &[
    "Lan", "Hoa", "Hương", "Mai", "Thảo", "Nga", "Hạnh", "Liên", "Phương", "Thủy", "Dung", "Yến", "Nhung", "Hà",
];
const MEETING_TOPICS: &[&str] = &[
    "Học tập Chỉ thị 10-CT/TW",
    "Xây dựng nông thôn mới",
    "Bảo vệ đường biên, mốc giới",
    "Phát triển kinh tế hộ gia đình",
    "Công tác phát triển đảng viên",
];
const RESOLUTIONS: &[(ResolutionTopic, &str)] = &[
    (ResolutionTopic::RuralRoads, "Bê tông hóa đường liên xóm"),
    (ResolutionTopic::LandDonation, "Vận động nhân dân hiến đất làm đường"),
    (ResolutionTopic::PublicWorks, "Xây dựng nhà văn hóa xóm"),
    (ResolutionTopic::Economy, "Phát triển chăn nuôi và trồng cây hồi"),
    (ResolutionTopic::Security, "Giữ gìn an ninh trật tự khu vực biên giới"),
    (ResolutionTopic::PartyBuilding, "Nâng cao chất lượng sinh hoạt chi bộ"),
    (ResolutionTopic::Other, "Xây dựng gia đình văn hóa"),
];
const DIMENSIONS: [StandardDimension; 4] = [
    StandardDimension::Education,
    StandardDimension::Professional,
    StandardDimension::PoliticalTheory,
    StandardDimension::StateManagement,
];

/// Why the generator could not write its ledger. `NotEmpty` is the caller's to fix (CLI
/// exit 2); `Refused` is a generator bug, since every event it makes should be valid.
#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    #[error("{0} is not empty; generate writes only into an empty data directory")]
    NotEmpty(PathBuf),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the ledger refused a generated event (a generator bug): {0}")]
    Refused(AppendError),
}

/// Writes a synthetic ledger of exactly `events` events into the empty (or absent)
/// directory `dir`, through `Ledger::append`, and returns its head.
pub fn write_ledger(dir: &Path, events: u64, seed: u64) -> Result<Head, GenerateError> {
    let start = Timestamp::parse(CLOCK_START).expect("a valid timestamp");
    let clock = SteppedClock::new(start, CLOCK_STEP_MICROS);
    let ledger = Ledger::create_new(dir, Box::new(clock), &[]).map_err(|e| match e {
        StoreError::DirectoryNotEmpty(path) => GenerateError::NotEmpty(path),
        other => GenerateError::Store(other),
    })?;
    let actor = Id::parse(ACTOR).expect("a valid id");
    let meter = crate::progress::Meter::events("generating", Some(events));
    for batch in synthetic_batches(events, seed) {
        let n = batch.len() as u64;
        ledger.append(actor.clone(), batch, None).map_err(|e| match e {
            AppendError::Store(s) => GenerateError::Store(s),
            other => GenerateError::Refused(other),
        })?;
        meter.inc(n);
    }
    drop(meter);
    let head = ledger.head();
    ledger.close();
    Store::settle(dir);
    Ok(head)
}

/// The events of a synthetic ledger of exactly `events` events, in batches of
/// [`BATCH_EVENTS`], for the ledger, the benchmark and tests. The same arguments always
/// give the same events.
pub fn synthetic_batches(events: u64, seed: u64) -> impl Iterator<Item = Vec<Submission>> {
    let mut province = Province::new(communes_for(events, seed), seed, events);
    std::iter::from_fn(move || province.next_batch(BATCH_EVENTS))
}

/// How many communes the province needs to yield at least `events` events, and not many
/// more, so that the cut at `events` falls late in the simulated years. Measured by running
/// the simulation without keeping its events, since its yield per commune varies with the
/// draws and with the shape of the province.
fn communes_for(events: u64, seed: u64) -> usize {
    // The most a province may yield over `events` before fewer communes are tried.
    let enough = events.saturating_add(events / 20);
    // The largest count known to yield too few events, and the smallest known to yield
    // enough: the answer lies above the first and at or below the second.
    let (mut too_few, mut sufficient) = (0usize, None::<usize>);
    let mut communes = 1;
    loop {
        let yielded = Province::new(communes, seed, u64::MAX).count_events();
        if yielded >= events {
            if yielded <= enough {
                return communes;
            }
            sufficient = Some(communes);
        } else {
            too_few = communes;
        }
        if let Some(s) = sufficient {
            if s == too_few + 1 {
                return s;
            }
        }
        // Scale in proportion, aiming 2% high, within the bounds already known.
        let guess = (communes as f64 * events as f64 * 1.02 / yielded.max(1) as f64).ceil() as usize;
        let ceiling = sufficient.map_or(usize::MAX, |s| s - 1);
        communes = guess.clamp(too_few + 1, ceiling);
    }
}

/// The generator's PRNG: splitmix64, small and fully determined by its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n > 0`).
    fn below(&mut self, n: u64) -> u64 {
        ((self.next() as u128 * n as u128) >> 64) as u64
    }

    /// A number in `lo..=hi`.
    fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + self.below((hi - lo + 1) as u64) as i64
    }

    fn percent(&mut self, p: u64) -> bool {
        self.below(100) < p
    }

    fn per_mille(&mut self, p: u64) -> bool {
        self.below(1000) < p
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

fn date(y: i32, m: u32, d: u32) -> Date {
    Date::from_ymd(y, m, d).expect("a real calendar date")
}

fn id(text: String) -> Id {
    Id::parse(&text).expect("the generator makes valid ids")
}

fn text(s: &str) -> Text {
    Text::parse(s).expect("the generator makes valid text")
}

/// The last simulated day.
fn end_date() -> Date {
    date(LAST_YEAR, 12, 31)
}

struct District {
    committee: Id,
    /// Its communes, and its border posts' cells.
    communes: Vec<u32>,
    post_cells: Vec<u32>,
}

struct Commune {
    id: Id,
    district: u32,
    committee: Id,
    border: bool,
    hamlets: Vec<u32>,
    cells: Vec<u32>,
    /// Who holds each of [`COMMUNE_SEATS`].
    seats: [Option<u32>; 2],
}

struct Hamlet {
    id: Id,
    name: String,
    commune: u32,
    cell: Option<u32>,
}

struct Cell {
    id: Id,
    name: String,
    district: u32,
    /// `None` for a border post's cell.
    commune: Option<u32>,
    /// Where its members live: its hamlets, or the commune a border post stands in.
    homes: Vec<Id>,
    /// Its active members (official membership here), each knowing its slot in this list.
    members: Vec<u32>,
    supervisor: Option<u32>,
    weak: bool,
    secretary: Option<u32>,
    founded_year: i32,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Standing {
    Candidate,
    Member,
    Gone,
}

/// A post a person holds, so that a death can clear it as the rules do.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Seat {
    Commune(u32, usize),
    Secretary(u32),
}

struct Person {
    id: Id,
    cell: u32,
    slot: u32,
    sex: Sex,
    birth: Date,
    home: Id,
    standing: Standing,
    official: bool,
    /// The host cell of a running temporary activity.
    temporary: Option<u32>,
    exempted: bool,
    supervising: Vec<u32>,
    seats: Vec<Seat>,
    /// Indexes into [`CONGRESS_YEARS`] of the terms the person is planned for.
    plans: Vec<usize>,
}

/// Something that happens on a date, decided when the date comes.
enum Action {
    /// The annual plan of a cell: its meetings, candidates, resolutions and rating.
    CellYear {
        cell: u32,
        year: i32,
    },
    CommuneYear {
        commune: u32,
        year: i32,
    },
    Meeting {
        cell: u32,
        month: u32,
    },
    Verify {
        cell: u32,
    },
    Admit {
        person: u32,
    },
    Officialize {
        person: u32,
    },
    Leave {
        person: u32,
        reason: EndReason,
    },
    Exempt {
        person: u32,
    },
    Transfer {
        person: u32,
    },
    TemporaryStart {
        person: u32,
    },
    TemporaryEnd {
        person: u32,
        host: u32,
    },
    Discipline {
        person: u32,
    },
    Correct {
        person: u32,
    },
    Resolution {
        cell: u32,
    },
    Rate {
        cell: u32,
        year: i32,
    },
    Supervise {
        cell: u32,
    },
    Release {
        cell: u32,
    },
    ElectSecretary {
        cell: u32,
    },
    Congress {
        commune: u32,
        term: usize,
    },
    Plan {
        commune: u32,
        term: usize,
    },
    Unplan {
        person: u32,
        term: usize,
    },
    Instrument {
        index: usize,
    },
    Programme {
        index: usize,
    },
    Assess {
        commune: u32,
        programme: usize,
    },
    Train {
        person: u32,
        programme: usize,
        dimension: StandardDimension,
    },
    Settle {
        person: u32,
        programme: usize,
        retire: bool,
    },
    FoundCell {
        hamlet: u32,
    },
    NewHamlet {
        commune: u32,
    },
    Rename {
        hamlet: u32,
    },
}

/// An agenda entry; the heap pops the earliest date first, and on one date the action
/// scheduled first.
struct Scheduled {
    date: Date,
    order: u64,
    action: Action,
}

impl PartialEq for Scheduled {
    fn eq(&self, other: &Self) -> bool {
        (self.date, self.order) == (other.date, other.order)
    }
}
impl Eq for Scheduled {}
impl PartialOrd for Scheduled {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Scheduled {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (other.date, other.order).cmp(&(self.date, self.order))
    }
}

/// The simulated province and its agenda.
struct Province {
    rng: Rng,
    agenda: BinaryHeap<Scheduled>,
    scheduled: u64,
    /// The date of the action being handled: nothing is scheduled before it.
    now: Date,
    /// Events made but not yet handed out.
    out: VecDeque<Submission>,
    /// How many events have been handed out, and the most that will be.
    emitted: u64,
    limit: u64,
    province_committee: Id,
    districts: Vec<District>,
    communes: Vec<Commune>,
    hamlets: Vec<Hamlet>,
    cells: Vec<Cell>,
    people: Vec<Person>,
    decisions: u64,
    resolutions: u64,
    term_ids: Vec<Id>,
    programme_ids: Vec<Id>,
    assessed: Vec<Vec<bool>>,
}

impl Province {
    /// A province of `communes` communes; its founding events are queued at once.
    fn new(communes: usize, seed: u64, limit: u64) -> Province {
        let term_ids = CONGRESS_YEARS
            .iter()
            .enumerate()
            .map(|(i, y)| {
                id(format!(
                    "nk-{y}-{}",
                    CONGRESS_YEARS.get(i + 1).copied().unwrap_or(y + 5)
                ))
            })
            .collect();
        let mut p = Province {
            rng: Rng(seed ^ 0x6f72_676c_6564_6765),
            agenda: BinaryHeap::new(),
            scheduled: 0,
            now: date(FIRST_YEAR, 1, 1),
            out: VecDeque::new(),
            emitted: 0,
            limit,
            province_committee: id("tu-tinh".into()),
            districts: Vec::new(),
            communes: Vec::new(),
            hamlets: Vec::new(),
            cells: Vec::new(),
            people: Vec::new(),
            decisions: 0,
            resolutions: 0,
            term_ids,
            programme_ids: PROGRAMMES.iter().map(|p| id(p.id.into())).collect(),
            assessed: vec![Vec::new(); PROGRAMMES.len()],
        };
        p.found_world(communes);
        p
    }

    /// Hands out the next batch of at most `size` events, or `None` at the end.
    fn next_batch(&mut self, size: usize) -> Option<Vec<Submission>> {
        let mut batch = Vec::with_capacity(size);
        while batch.len() < size && self.emitted < self.limit {
            match self.out.pop_front() {
                Some(sub) => {
                    batch.push(sub);
                    self.emitted += 1;
                }
                None => {
                    if !self.step() {
                        break;
                    }
                }
            }
        }
        (!batch.is_empty()).then_some(batch)
    }

    /// Runs the whole simulation (up to the limit) and counts its events.
    fn count_events(mut self) -> u64 {
        while self.next_batch(BATCH_EVENTS).is_some() {}
        self.emitted
    }

    /// Handles the next action of the agenda; false when the agenda is empty.
    fn step(&mut self) -> bool {
        let Some(next) = self.agenda.pop() else { return false };
        self.now = next.date;
        self.handle(next.action);
        true
    }

    fn schedule(&mut self, when: Date, action: Action) {
        let when = if when < self.now { self.now } else { when };
        if when > end_date() {
            return;
        }
        self.scheduled += 1;
        self.agenda.push(Scheduled {
            date: when,
            order: self.scheduled,
            action,
        });
    }

    fn emit(&mut self, effective: Date, event: Event) {
        self.out.push_back(Submission::new(effective, event));
    }

    /// Emits an event that rests on a decision of `issuer`, dated a few days before it.
    fn emit_decided(&mut self, effective: Date, event: Event, issuer: &Id, suffix: &str) {
        self.decisions += 1;
        let decision = Decision {
            number: text(&format!("{}-{suffix}", self.decisions)),
            date: effective.plus_days(-self.rng.range(0, 10)),
            issuer: issuer.clone(),
        };
        self.out
            .push_back(Submission::new(effective, event).with_decision(decision));
    }

    fn day_in_year(&mut self, year: i32) -> Date {
        date(year, 1, 1).plus_days(self.rng.range(0, 364))
    }

    fn place_name(&mut self) -> String {
        let a = *self.rng.pick(PLACE_SYLLABLES);
        let b = *self.rng.pick(PLACE_SYLLABLES);
        format!("{a} {b}")
    }

    fn person_name(&mut self, sex: Sex) -> String {
        let family = *self.rng.pick(FAMILY_NAMES);
        let (middle, given) = match sex {
            Sex::Male => ("Văn", *self.rng.pick(MALE_NAMES)),
            Sex::Female => ("Thị", *self.rng.pick(FEMALE_NAMES)),
        };
        format!("{family} {middle} {given}")
    }

    fn district_committee(&self, cell: u32) -> Id {
        self.districts[self.cells[cell as usize].district as usize]
            .committee
            .clone()
    }

    fn active(&self, person: u32) -> bool {
        self.people[person as usize].standing == Standing::Member
    }

    fn age_on(&self, person: u32, d: Date) -> i32 {
        d.years_since(self.people[person as usize].birth)
    }

    // -----------------------------------------------------------------------------------
    // The world as it stands in January 1990.

    fn found_world(&mut self, communes: usize) {
        let d1 = date(FIRST_YEAR, 1, 1);
        let province = id("tinh-tong-hop".into());
        self.emit(
            d1,
            Event::LocalityRegistered(LocalityRegistered {
                locality: province.clone(),
                name: text("Tỉnh Tổng Hợp"),
                kind: LocalityKind::Province,
                parent: None,
                border: true,
            }),
        );
        let committee = self.province_committee.clone();
        self.emit_decided(
            d1,
            Event::OrganizationFounded(OrganizationFounded {
                org: committee.clone(),
                name: text("Đảng bộ tỉnh Tổng Hợp"),
                kind: OrgKind::ProvincialCommittee,
                parent: None,
                localities: vec![province.clone()],
            }),
            &committee,
            "QĐ/TW",
        );
        let districts = communes.div_ceil(COMMUNES_PER_DISTRICT);
        for di in 0..districts {
            let in_district = COMMUNES_PER_DISTRICT.min(communes - di * COMMUNES_PER_DISTRICT);
            self.found_district(di, in_district, &province);
        }
        // Later history that does not hang from one cell.
        for (index, instrument) in INSTRUMENTS.iter().enumerate() {
            let (y, m, d) = instrument.issued;
            self.schedule(date(y, m, d), Action::Instrument { index });
        }
        for (index, programme) in PROGRAMMES.iter().enumerate() {
            let (y, m, d) = programme.starts;
            self.schedule(date(y, m, d), Action::Programme { index });
        }
        // The founding events were made district by district; the ledger takes them in date
        // order (a stable sort keeps each day's events in the order they depend on).
        self.out.make_contiguous().sort_by_key(|s| s.effective);
    }

    fn found_district(&mut self, di: usize, communes: usize, province: &Id) {
        let d2 = date(FIRST_YEAR, 1, 2);
        let border = di.is_multiple_of(2);
        let locality = id(format!("huyen-{di:02}"));
        let committee = id(format!("hu-{di:02}"));
        let name = self.place_name();
        self.emit(
            d2,
            Event::LocalityRegistered(LocalityRegistered {
                locality: locality.clone(),
                name: text(&format!("Huyện {name}")),
                kind: LocalityKind::District,
                parent: Some(province.clone()),
                border,
            }),
        );
        let province_committee = self.province_committee.clone();
        self.emit_decided(
            d2,
            Event::OrganizationFounded(OrganizationFounded {
                org: committee.clone(),
                name: text(&format!("Đảng bộ huyện {name}")),
                kind: OrgKind::DistrictCommittee,
                parent: Some(province_committee.clone()),
                localities: vec![locality.clone()],
            }),
            &province_committee,
            "QĐ/TU",
        );
        let district = self.districts.len() as u32;
        self.districts.push(District {
            committee: committee.clone(),
            communes: Vec::new(),
            post_cells: Vec::new(),
        });
        for ci in 0..communes {
            // A third of a border district's communes lie on the border; the last commune
            // of each district is its township, made of residential groups.
            let on_border = border && ci % 3 == 0;
            let township = ci + 1 == communes && communes > 1;
            self.found_commune(district, di, ci, on_border, township, &locality, &committee);
        }
        if border {
            for post in 0..BORDER_POSTS_PER_DISTRICT {
                self.found_border_post(district, di, post, &committee);
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn found_commune(
        &mut self,
        district: u32,
        di: usize,
        ci: usize,
        border: bool,
        township: bool,
        parent: &Id,
        district_committee: &Id,
    ) {
        let (d3, d4, d8) = (date(FIRST_YEAR, 1, 3), date(FIRST_YEAR, 1, 4), date(FIRST_YEAR, 1, 8));
        let locality = id(format!("xa-{di:02}-{ci:02}"));
        let committee = id(format!("du-{di:02}-{ci:02}"));
        let name = self.place_name();
        let (place, org) = if township {
            ("Thị trấn", "thị trấn")
        } else {
            ("Xã", "xã")
        };
        self.emit(
            d3,
            Event::LocalityRegistered(LocalityRegistered {
                locality: locality.clone(),
                name: text(&format!("{place} {name}")),
                kind: LocalityKind::Commune,
                parent: Some(parent.clone()),
                border,
            }),
        );
        self.emit_decided(
            d3,
            Event::OrganizationFounded(OrganizationFounded {
                org: committee.clone(),
                name: text(&format!("Đảng bộ {org} {name}")),
                kind: OrgKind::GrassrootsCommittee,
                parent: Some(district_committee.clone()),
                localities: vec![locality.clone()],
            }),
            district_committee,
            "QĐ/HU",
        );
        let commune = self.communes.len() as u32;
        self.communes.push(Commune {
            id: locality.clone(),
            district,
            committee: committee.clone(),
            border,
            hamlets: Vec::new(),
            cells: Vec::new(),
            seats: [None, None],
        });
        self.districts[district as usize].communes.push(commune);
        let hamlets = self.rng.range(10, 20) as usize;
        for hi in 0..hamlets {
            let (kind, hid, hname) = if township {
                (
                    LocalityKind::ResidentialGroup,
                    id(format!("to-{di:02}-{ci:02}-{hi:02}")),
                    format!("Tổ dân phố {}", hi + 1),
                )
            } else {
                (
                    LocalityKind::Hamlet,
                    id(format!("xom-{di:02}-{ci:02}-{hi:02}")),
                    format!("Xóm {}", self.place_name()),
                )
            };
            let on_border = border && self.rng.percent(50);
            self.emit(
                d4,
                Event::LocalityRegistered(LocalityRegistered {
                    locality: hid.clone(),
                    name: text(&hname),
                    kind,
                    parent: Some(locality.clone()),
                    border: on_border,
                }),
            );
            let hamlet = self.hamlets.len() as u32;
            self.hamlets.push(Hamlet {
                id: hid,
                name: hname,
                commune,
                cell: None,
            });
            self.communes[commune as usize].hamlets.push(hamlet);
        }
        // Most hamlets have a cell from the start, some share their neighbour's, and the
        // rest get one of their own between 1991 and mid-2013.
        let mut previous_cell: Option<u32> = None;
        for hi in 0..hamlets {
            let hamlet = self.communes[commune as usize].hamlets[hi];
            if township || self.rng.percent(65) {
                let cell = self.found_cell_now(hamlet, d8);
                previous_cell = Some(cell);
            } else if let Some(cell) = previous_cell.filter(|_| self.rng.percent(30)) {
                // This hamlet is covered by the neighbouring cell (listed when founded).
                let hid = self.hamlets[hamlet as usize].id.clone();
                self.hamlets[hamlet as usize].cell = Some(cell);
                self.cells[cell as usize].homes.push(hid);
                previous_cell = None;
            } else {
                let when = date(1991, 1, 1).plus_days(self.rng.range(0, 22 * 365 + 150));
                self.schedule(when, Action::FoundCell { hamlet });
                previous_cell = None;
            }
        }
        // The founding cells are emitted only now, with every hamlet they cover.
        let founded: Vec<u32> = self.communes[commune as usize].cells.clone();
        for cell in founded {
            self.emit_cell_founded(cell, d8, &committee, district_committee);
            self.schedule_founding_members(cell, date(FIRST_YEAR, 1, 11), 5, 12);
            let when = date(FIRST_YEAR, 1, 11);
            self.schedule(when, Action::CellYear { cell, year: FIRST_YEAR });
        }
        self.schedule(
            date(FIRST_YEAR, 12, 20),
            Action::CommuneYear {
                commune,
                year: FIRST_YEAR,
            },
        );
        let congress = date(CONGRESS_YEARS[0], 4, 1).plus_days(self.rng.range(0, 100));
        self.schedule(congress, Action::Congress { commune, term: 0 });
        if self.rng.percent(30) {
            let when = date(1995, 1, 1).plus_days(self.rng.range(0, 23 * 365));
            self.schedule(when, Action::NewHamlet { commune });
        }
        for hi in 0..hamlets {
            if self.rng.percent(8) {
                let hamlet = self.communes[commune as usize].hamlets[hi];
                let when = date(1992, 1, 1).plus_days(self.rng.range(0, 32 * 365));
                self.schedule(when, Action::Rename { hamlet });
            }
        }
    }

    /// Adds a cell for `hamlet` to the model (not yet emitted) and returns it.
    fn found_cell_now(&mut self, hamlet: u32, when: Date) -> u32 {
        let h = &self.hamlets[hamlet as usize];
        let commune = h.commune;
        let cell_id = id(format!("cb-{}", h.id.as_str()));
        let name = format!("Chi bộ {}", h.name);
        let home = h.id.clone();
        let district = self.communes[commune as usize].district;
        let cell = self.cells.len() as u32;
        self.cells.push(Cell {
            id: cell_id,
            name,
            district,
            commune: Some(commune),
            homes: vec![home],
            members: Vec::new(),
            supervisor: None,
            weak: false,
            secretary: None,
            founded_year: when.year(),
        });
        self.hamlets[hamlet as usize].cell = Some(cell);
        self.communes[commune as usize].cells.push(cell);
        cell
    }

    fn emit_cell_founded(&mut self, cell: u32, when: Date, parent: &Id, issuer: &Id) {
        let c = &self.cells[cell as usize];
        let event = Event::OrganizationFounded(OrganizationFounded {
            org: c.id.clone(),
            name: text(&c.name),
            kind: OrgKind::Cell,
            parent: Some(parent.clone()),
            localities: c.homes.clone(),
        });
        self.emit_decided(when, event, issuer, "QĐ/ĐU");
    }

    fn schedule_founding_members(&mut self, cell: u32, from: Date, least: i64, most: i64) {
        for _ in 0..self.rng.range(least, most) {
            let when = from.plus_days(self.rng.range(0, 75));
            self.schedule(when, Action::Verify { cell });
        }
    }

    fn found_border_post(&mut self, district: u32, di: usize, post: usize, district_committee: &Id) {
        let d6 = date(FIRST_YEAR, 1, 6);
        let communes = &self.districts[district as usize].communes;
        let commune = communes[(post * 3) % communes.len()];
        let stationed = self.communes[commune as usize].id.clone();
        let committee = id(format!("dbp-{di:02}-{post}"));
        let cell_id = id(format!("cb-dbp-{di:02}-{post}"));
        let name = self.place_name();
        self.emit_decided(
            d6,
            Event::OrganizationFounded(OrganizationFounded {
                org: committee.clone(),
                name: text(&format!("Đảng bộ Đồn Biên phòng {name}")),
                kind: OrgKind::BorderPostCommittee,
                parent: Some(district_committee.clone()),
                localities: vec![stationed.clone()],
            }),
            district_committee,
            "QĐ/HU",
        );
        let cell = self.cells.len() as u32;
        self.cells.push(Cell {
            id: cell_id,
            name: format!("Chi bộ Đồn Biên phòng {name}"),
            district,
            commune: None,
            homes: vec![stationed],
            members: Vec::new(),
            supervisor: None,
            weak: false,
            secretary: None,
            founded_year: FIRST_YEAR,
        });
        self.districts[district as usize].post_cells.push(cell);
        self.emit_cell_founded(cell, d6, &committee, district_committee);
        self.schedule_founding_members(cell, date(FIRST_YEAR, 1, 11), 8, 15);
        self.schedule(date(FIRST_YEAR, 1, 11), Action::CellYear { cell, year: FIRST_YEAR });
    }

    // -----------------------------------------------------------------------------------
    // Actions.

    fn handle(&mut self, action: Action) {
        let d = self.now;
        match action {
            Action::CellYear { cell, year } => self.cell_year(cell, year),
            Action::CommuneYear { commune, year } => {
                let level = self.quality_level(false);
                let subject = self.communes[commune as usize].committee.clone();
                self.emit(d, Event::QualityRated(QualityRated { subject, year, level }));
                if year < LAST_YEAR {
                    let when = date(year + 1, 12, 20).plus_days(self.rng.range(0, 8));
                    self.schedule(
                        when,
                        Action::CommuneYear {
                            commune,
                            year: year + 1,
                        },
                    );
                }
            }
            Action::Meeting { cell, month } => self.meeting(cell, month),
            Action::Verify { cell } => self.verify(cell),
            Action::Admit { person } => self.admit(person),
            Action::Officialize { person } => {
                if self.active(person) && !self.people[person as usize].official {
                    self.people[person as usize].official = true;
                    let member = self.people[person as usize].id.clone();
                    let issuer = self.district_committee(self.people[person as usize].cell);
                    self.emit_decided(
                        d,
                        Event::MemberOfficialized(MemberOfficialized { member }),
                        &issuer,
                        "QĐ/HU",
                    );
                }
            }
            Action::Leave { person, reason } => self.leave(person, reason),
            Action::Exempt { person } => {
                if self.active(person) && !self.people[person as usize].exempted {
                    self.people[person as usize].exempted = true;
                    let member = self.people[person as usize].id.clone();
                    let reason = text("Tuổi cao, sức yếu");
                    self.emit(d, Event::MemberExempted(MemberExempted { member, reason }));
                }
            }
            Action::Transfer { person } => self.transfer(person),
            Action::TemporaryStart { person } => self.temporary_start(person),
            Action::TemporaryEnd { person, host } => {
                if self.active(person) && self.people[person as usize].temporary == Some(host) {
                    self.people[person as usize].temporary = None;
                    let member = self.people[person as usize].id.clone();
                    let host_org = self.cells[host as usize].id.clone();
                    self.emit(
                        d,
                        Event::TemporaryActivityEnded(TemporaryActivityEnded { member, host_org }),
                    );
                }
            }
            Action::Discipline { person } => {
                if self.active(person) {
                    let form = if self.rng.percent(70) {
                        DisciplineForm::Reprimand
                    } else {
                        DisciplineForm::Warning
                    };
                    let member = self.people[person as usize].id.clone();
                    let issuer = self.district_committee(self.people[person as usize].cell);
                    self.emit_decided(
                        d,
                        Event::MemberDisciplined(MemberDisciplined { member, form }),
                        &issuer,
                        "QĐ-KL/ĐU",
                    );
                }
            }
            Action::Correct { person } => {
                if self.active(person) {
                    let sex = self.people[person as usize].sex;
                    let value = text(&self.person_name(sex));
                    let subject = self.people[person as usize].id.clone();
                    let reason = text("Sửa tên theo giấy khai sinh");
                    self.emit(
                        d,
                        Event::ProfileCorrected(ProfileCorrected {
                            subject,
                            field: ProfileField::Name,
                            value,
                            reason,
                        }),
                    );
                }
            }
            Action::Resolution { cell } => {
                self.resolutions += 1;
                let (topic, title) = *self.rng.pick(RESOLUTIONS);
                let event = Event::ResolutionAdopted(ResolutionAdopted {
                    cell: self.cells[cell as usize].id.clone(),
                    resolution: id(format!("nq-{:07}", self.resolutions)),
                    topic,
                    title: text(title),
                });
                self.emit(d, event);
            }
            Action::Rate { cell, year } => self.rate(cell, year),
            Action::Supervise { cell } => self.supervise(cell),
            Action::Release { cell } => {
                if let Some(person) = self.cells[cell as usize].supervisor.take() {
                    self.people[person as usize].supervising.retain(|c| *c != cell);
                    let member = self.people[person as usize].id.clone();
                    let cell = self.cells[cell as usize].id.clone();
                    self.emit(d, Event::SupervisorReleased(SupervisorReleased { member, cell }));
                }
            }
            Action::ElectSecretary { cell } => self.elect_secretary(cell),
            Action::Congress { commune, term } => self.congress(commune, term),
            Action::Plan { commune, term } => self.plan(commune, term),
            Action::Unplan { person, term } => {
                if self.active(person) && self.people[person as usize].plans.contains(&term) {
                    self.people[person as usize].plans.retain(|t| *t != term);
                    let person = self.people[person as usize].id.clone();
                    let term = self.term_ids[term].clone();
                    self.emit(d, Event::CadreUnplanned(CadreUnplanned { person, term }));
                }
            }
            Action::Instrument { index } => {
                let spec = &INSTRUMENTS[index];
                let event = Event::InstrumentIssued(InstrumentIssued {
                    instrument: id(spec.id.into()),
                    kind: spec.kind,
                    title: text(spec.title),
                    issuer: text(spec.issuer),
                    starts: Some(d),
                    ends: None,
                });
                self.emit(d, event);
            }
            Action::Programme { index } => self.programme(index),
            Action::Assess { commune, programme } => self.assess(commune, programme),
            Action::Train {
                person,
                programme,
                dimension,
            } => {
                if self.active(person) {
                    let event = Event::TrainingCompleted(TrainingCompleted {
                        person: self.people[person as usize].id.clone(),
                        course: text(match dimension {
                            StandardDimension::Education => "Bổ túc văn hóa trung học phổ thông",
                            StandardDimension::Professional => "Trung cấp chuyên môn",
                            StandardDimension::PoliticalTheory => "Trung cấp lý luận chính trị",
                            StandardDimension::StateManagement => "Bồi dưỡng quản lý nhà nước",
                        }),
                        dimension,
                        level: text("Trung cấp"),
                        programme: Some(self.programme_ids[programme].clone()),
                    });
                    self.emit(d, event);
                }
            }
            Action::Settle {
                person,
                programme,
                retire,
            } => {
                if self.active(person) {
                    let who = self.people[person as usize].id.clone();
                    let prog = self.programme_ids[programme].clone();
                    let event = if retire {
                        Event::CadreRetiredUnderPolicy(CadreRetiredUnderPolicy {
                            person: who,
                            programme: prog,
                        })
                    } else {
                        Event::CadreStandardized(CadreStandardized {
                            person: who,
                            programme: prog,
                        })
                    };
                    self.emit(d, event);
                }
            }
            Action::FoundCell { hamlet } => {
                if self.hamlets[hamlet as usize].cell.is_none() {
                    let cell = self.found_cell_now(hamlet, d);
                    let commune = self.hamlets[hamlet as usize].commune as usize;
                    let parent = self.communes[commune].committee.clone();
                    let issuer = self.district_committee(cell);
                    self.emit_cell_founded(cell, d, &parent, &issuer);
                    self.schedule_founding_members(cell, d.plus_days(1), 3, 5);
                    self.schedule(d, Action::CellYear { cell, year: d.year() });
                }
            }
            Action::NewHamlet { commune } => {
                let c = &self.communes[commune as usize];
                let hid = id(format!(
                    "{}-m{}",
                    c.id.as_str().replacen("xa-", "xom-", 1),
                    c.hamlets.len()
                ));
                let parent = c.id.clone();
                let name = format!("Xóm {} Mới", self.place_name());
                self.emit(
                    d,
                    Event::LocalityRegistered(LocalityRegistered {
                        locality: hid.clone(),
                        name: text(&name),
                        kind: LocalityKind::Hamlet,
                        parent: Some(parent),
                        border: false,
                    }),
                );
                let hamlet = self.hamlets.len() as u32;
                self.hamlets.push(Hamlet {
                    id: hid,
                    name,
                    commune,
                    cell: None,
                });
                self.communes[commune as usize].hamlets.push(hamlet);
                let when = d.plus_days(self.rng.range(365, 6 * 365));
                self.schedule(when, Action::FoundCell { hamlet });
            }
            Action::Rename { hamlet } => {
                let name = format!("Xóm {}", self.place_name());
                let h = &mut self.hamlets[hamlet as usize];
                h.name = name.clone();
                let (locality, cell) = (h.id.clone(), h.cell);
                let event = Event::LocalityChanged(LocalityChanged {
                    locality,
                    name: Some(text(&name)),
                    parent: None,
                    border: None,
                });
                self.emit(d, event);
                // A cell named after this hamlet alone takes its new name.
                if let Some(cell) = cell.filter(|c| self.cells[*c as usize].homes.len() == 1) {
                    let c = &mut self.cells[cell as usize];
                    c.name = format!("Chi bộ {name}");
                    let event = Event::OrganizationRenamed(OrganizationRenamed {
                        org: c.id.clone(),
                        name: text(&c.name),
                    });
                    self.emit(d, event);
                }
            }
        }
    }

    fn cell_year(&mut self, cell: u32, year: i32) {
        let post = self.cells[cell as usize].commune.is_none();
        for month in 1..=12 {
            let when = date(year, month, 1).plus_days(self.rng.range(2, 26));
            self.schedule(when, Action::Meeting { cell, month });
        }
        let candidates = if post {
            self.rng.range(0, 4)
        } else {
            *self.rng.pick(&[0, 0, 1, 1, 1, 2, 2, 3])
        };
        for _ in 0..candidates {
            let when = date(year, 1, 1).plus_days(self.rng.range(20, 300));
            self.schedule(when, Action::Verify { cell });
        }
        if !post {
            let resolutions = *self.rng.pick(&[0, 0, 1, 1, 1, 2]);
            for _ in 0..resolutions {
                let when = self.day_in_year(year);
                self.schedule(when, Action::Resolution { cell });
            }
        }
        let secretary_due = (year - self.cells[cell as usize].founded_year) % 5 == 1;
        if self.cells[cell as usize].secretary.is_none() || secretary_due {
            let when = date(year, 3, 1).plus_days(self.rng.range(0, 27));
            self.schedule(when, Action::ElectSecretary { cell });
        }
        if post {
            // Border posts send members on temporary activity to border hamlets' cells.
            let members = self.cells[cell as usize].members.clone();
            for person in members {
                if self.rng.percent(30) {
                    let when = self.day_in_year(year);
                    self.schedule(when, Action::TemporaryStart { person });
                }
            }
        }
        let rating = date(year, 12, 15).plus_days(self.rng.range(0, 13));
        self.schedule(rating, Action::Rate { cell, year });
        if year < LAST_YEAR {
            let when = date(year + 1, 1, 2).plus_days(self.rng.range(0, 6));
            self.schedule(when, Action::CellYear { cell, year: year + 1 });
        }
    }

    fn meeting(&mut self, cell: u32, month: u32) {
        let c = &self.cells[cell as usize];
        let members = c.members.len() as u64;
        if members == 0 {
            return;
        }
        let supervised = c.weak && c.supervisor.is_some();
        let attendance = (members * self.rng.range(70, 100) as u64 / 100).max(1) as u32;
        let thematic = month.is_multiple_of(3);
        let topics = if thematic {
            let topic = *self.rng.pick(MEETING_TOPICS);
            vec![text(topic)]
        } else {
            Vec::new()
        };
        let supervisor_present = supervised.then(|| self.rng.percent(85));
        let event = Event::CellMeetingHeld(CellMeetingHeld {
            cell: self.cells[cell as usize].id.clone(),
            kind: if thematic {
                MeetingKind::Thematic
            } else {
                MeetingKind::Regular
            },
            attendance,
            supervisor_present,
            topics,
        });
        self.emit(self.now, event);
    }

    fn verify(&mut self, cell: u32) {
        let d = self.now;
        let c = &self.cells[cell as usize];
        let post = c.commune.is_none();
        let border = c.commune.is_some_and(|k| self.communes[k as usize].border) || post;
        let sex = if !post && self.rng.percent(38) {
            Sex::Female
        } else {
            Sex::Male
        };
        let age = if post {
            self.rng.range(19, 24)
        } else {
            self.rng.range(19, 45)
        };
        let birth = d.plus_days(-(age * 365 + self.rng.range(10, 300)));
        // Most live in the cell's own hamlets; some in another hamlet of the commune,
        // which is how hamlets without a cell come to have members.
        let home = match c.commune {
            Some(k) if self.rng.percent(5) => {
                let hamlets = &self.communes[k as usize].hamlets;
                let h = hamlets[self.rng.below(hamlets.len() as u64) as usize];
                self.hamlets[h as usize].id.clone()
            }
            _ => self.rng.pick(&c.homes).clone(),
        };
        let person = self.people.len() as u32;
        let pid = id(format!("dv-{:07}", person + 1));
        let refused = self.rng.percent(4);
        let kin_abroad = self.rng.percent(if border { 25 } else { 3 });
        self.people.push(Person {
            id: pid.clone(),
            cell,
            slot: 0,
            sex,
            birth,
            home,
            standing: Standing::Candidate,
            official: false,
            temporary: None,
            exempted: false,
            supervising: Vec::new(),
            seats: Vec::new(),
            plans: Vec::new(),
        });
        let outcome = if refused {
            VerificationOutcome::Refused
        } else {
            VerificationOutcome::Cleared
        };
        self.emit(
            d,
            Event::BackgroundVerified(BackgroundVerified {
                person: pid,
                outcome,
                kin_abroad,
            }),
        );
        if !refused {
            let when = d.plus_days(self.rng.range(20, 120));
            self.schedule(when, Action::Admit { person });
        }
    }

    fn admit(&mut self, person: u32) {
        let d = self.now;
        let cell = self.people[person as usize].cell;
        // Up to two official members of the cell introduce the candidate.
        let mut introducers: Vec<Id> = Vec::new();
        let members = &self.cells[cell as usize].members;
        for _ in 0..4 {
            if members.is_empty() || introducers.len() == 2 {
                break;
            }
            let m = members[self.rng.below(members.len() as u64) as usize];
            let p = &self.people[m as usize];
            if p.official && !introducers.contains(&p.id) {
                introducers.push(p.id.clone());
            }
        }
        let sex = self.people[person as usize].sex;
        let name = text(&self.person_name(sex));
        let p = &self.people[person as usize];
        let event = Event::MemberAdmitted(MemberAdmitted {
            member: p.id.clone(),
            name,
            sex,
            birth_date: p.birth,
            home_locality: p.home.clone(),
            org: self.cells[cell as usize].id.clone(),
            introducers: (!introducers.is_empty()).then_some(introducers),
        });
        let issuer = self.district_committee(cell);
        self.emit_decided(d, event, &issuer, "QĐ/HU");
        self.join_cell(person, cell);
        self.people[person as usize].standing = Standing::Member;
        self.schedule_life(person);
    }

    /// Schedules what will happen to a new member: probation, old age, moves, death.
    fn schedule_life(&mut self, person: u32) {
        let d = self.now;
        let post = self.cells[self.people[person as usize].cell as usize].commune.is_none();
        let birth = self.people[person as usize].birth;
        let probation_end = d.plus_months(12).plus_days(self.rng.range(0, 60));
        if self.rng.per_mille(8) {
            let when = d.plus_months(11);
            let reason = if self.rng.percent(50) {
                EndReason::Removed
            } else {
                EndReason::Resigned
            };
            self.schedule(when, Action::Leave { person, reason });
        }
        self.schedule(probation_end, Action::Officialize { person });
        let death_age = if self.rng.percent(4) {
            self.rng.range(30, 60)
        } else {
            self.rng.range(60, 95)
        };
        let death = birth.plus_days(death_age * 365 + self.rng.range(0, 364));
        let death = if death <= d {
            d.plus_days(self.rng.range(400, 4000))
        } else {
            death
        };
        self.schedule(
            death,
            Action::Leave {
                person,
                reason: EndReason::Died,
            },
        );
        if self.rng.percent(60) {
            let seventy = birth.plus_days(70 * 366 + self.rng.range(0, 200));
            if seventy < death && seventy > d {
                self.schedule(seventy, Action::Exempt { person });
            }
        }
        let transfers = if post { 60 } else { 12 };
        if self.rng.percent(transfers) {
            let span = if post {
                self.rng.range(2 * 365, 6 * 365)
            } else {
                self.rng.range(400, 30 * 365)
            };
            self.schedule(d.plus_days(span), Action::Transfer { person });
        }
        if !post && self.rng.percent(5) {
            let when = d.plus_days(self.rng.range(200, 20 * 365));
            self.schedule(when, Action::TemporaryStart { person });
        }
        if self.rng.percent(2) {
            let when = d.plus_days(self.rng.range(30, 20 * 365));
            self.schedule(when, Action::Discipline { person });
        }
        if self.rng.percent(1) {
            let when = d.plus_days(self.rng.range(30, 10 * 365));
            self.schedule(when, Action::Correct { person });
        }
    }

    fn join_cell(&mut self, person: u32, cell: u32) {
        let members = &mut self.cells[cell as usize].members;
        self.people[person as usize].slot = members.len() as u32;
        self.people[person as usize].cell = cell;
        members.push(person);
    }

    fn leave_cell(&mut self, person: u32) {
        let (cell, slot) = (self.people[person as usize].cell, self.people[person as usize].slot);
        let members = &mut self.cells[cell as usize].members;
        members.swap_remove(slot as usize);
        if let Some(&moved) = members.get(slot as usize) {
            self.people[moved as usize].slot = slot;
        }
    }

    fn leave(&mut self, person: u32, reason: EndReason) {
        if !self.active(person) {
            return;
        }
        let d = self.now;
        self.leave_cell(person);
        // As the rules do: a membership's end also ends its temporary activity, its
        // supervision of cells and the posts it holds.
        let p = &mut self.people[person as usize];
        p.standing = Standing::Gone;
        p.temporary = None;
        let supervising = std::mem::take(&mut p.supervising);
        let seats = std::mem::take(&mut p.seats);
        let member = p.id.clone();
        let cell = p.cell;
        for c in supervising {
            self.cells[c as usize].supervisor = None;
        }
        for seat in seats {
            match seat {
                Seat::Commune(k, i) => self.communes[k as usize].seats[i] = None,
                Seat::Secretary(c) => self.cells[c as usize].secretary = None,
            }
        }
        let event = Event::MembershipEnded(MembershipEnded { member, reason });
        if matches!(reason, EndReason::Removed | EndReason::Expelled) {
            let issuer = self.district_committee(cell);
            self.emit_decided(d, event, &issuer, "QĐ/HU");
        } else {
            self.emit(d, event);
        }
    }

    fn transfer(&mut self, person: u32) {
        if !self.active(person) || self.people[person as usize].temporary.is_some() {
            return;
        }
        let from = self.people[person as usize].cell;
        let district = &self.districts[self.cells[from as usize].district as usize];
        let to = if self.cells[from as usize].commune.is_none() {
            // A soldier moves to another post, possibly in another district.
            let posts: Vec<u32> = self
                .districts
                .iter()
                .flat_map(|d| d.post_cells.iter().copied())
                .collect();
            *self.rng.pick(&posts)
        } else {
            let commune = district.communes[self.rng.below(district.communes.len() as u64) as usize];
            let cells = &self.communes[commune as usize].cells;
            if cells.is_empty() {
                return;
            }
            cells[self.rng.below(cells.len() as u64) as usize]
        };
        if to == from {
            return;
        }
        let home = self.rng.pick(&self.cells[to as usize].homes).clone();
        let event = Event::MemberTransferred(MemberTransferred {
            member: self.people[person as usize].id.clone(),
            to_org: self.cells[to as usize].id.clone(),
            home_locality: Some(home.clone()),
        });
        self.emit(self.now, event);
        self.leave_cell(person);
        self.join_cell(person, to);
        self.people[person as usize].home = home;
    }

    fn temporary_start(&mut self, person: u32) {
        if !self.active(person) || self.people[person as usize].temporary.is_some() {
            return;
        }
        let d = self.now;
        let home = self.people[person as usize].cell;
        let district = &self.districts[self.cells[home as usize].district as usize];
        // Border posts host their members in the cells of border communes; other members
        // work for a while in another commune of their district.
        let communes: Vec<u32> = if self.cells[home as usize].commune.is_none() {
            district
                .communes
                .iter()
                .copied()
                .filter(|k| self.communes[*k as usize].border)
                .collect()
        } else {
            district.communes.clone()
        };
        if communes.is_empty() {
            return;
        }
        let commune = *self.rng.pick(&communes);
        let cells = &self.communes[commune as usize].cells;
        if cells.is_empty() {
            return;
        }
        let host = cells[self.rng.below(cells.len() as u64) as usize];
        if host == home {
            return;
        }
        let until = d.plus_months(self.rng.range(6, 18) as u32);
        let event = Event::TemporaryActivityStarted(TemporaryActivityStarted {
            member: self.people[person as usize].id.clone(),
            host_org: self.cells[host as usize].id.clone(),
            until: Some(until),
        });
        self.emit(d, event);
        self.people[person as usize].temporary = Some(host);
        let end = until.plus_days(-self.rng.range(0, 10));
        self.schedule(end, Action::TemporaryEnd { person, host });
    }

    fn quality_level(&mut self, was_weak: bool) -> QualityLevel {
        let roll = self.rng.below(100);
        let weak = if was_weak { 45 } else { 7 };
        if roll < weak {
            QualityLevel::Weak
        } else if roll < weak + 20 {
            QualityLevel::Fair
        } else if roll < 85 {
            QualityLevel::Good
        } else {
            QualityLevel::Excellent
        }
    }

    fn rate(&mut self, cell: u32, year: i32) {
        let level = self.quality_level(self.cells[cell as usize].weak);
        let subject = self.cells[cell as usize].id.clone();
        self.emit(self.now, Event::QualityRated(QualityRated { subject, year, level }));
        let weak = level == QualityLevel::Weak;
        self.cells[cell as usize].weak = weak;
        let supervised = self.cells[cell as usize].supervisor.is_some();
        let when = date(year + 1, 1, 5).plus_days(self.rng.range(0, 20));
        if weak && !supervised && self.cells[cell as usize].commune.is_some() {
            self.schedule(when, Action::Supervise { cell });
        } else if !weak && supervised && matches!(level, QualityLevel::Good | QualityLevel::Excellent) {
            self.schedule(when, Action::Release { cell });
        }
    }

    /// An official member of one of `commune`'s cells other than `except_cell`, and not one
    /// of `except`, if one is found in a few draws.
    fn official_in_commune(&mut self, commune: u32, except_cell: Option<u32>, except: &[u32]) -> Option<u32> {
        for _ in 0..12 {
            let cells = &self.communes[commune as usize].cells;
            if cells.is_empty() {
                return None;
            }
            let cell = cells[self.rng.below(cells.len() as u64) as usize];
            if except_cell == Some(cell) {
                continue;
            }
            let members = &self.cells[cell as usize].members;
            if members.is_empty() {
                continue;
            }
            let m = members[self.rng.below(members.len() as u64) as usize];
            if self.people[m as usize].official && !except.contains(&m) {
                return Some(m);
            }
        }
        None
    }

    fn supervise(&mut self, cell: u32) {
        let c = &self.cells[cell as usize];
        let (Some(commune), None, true) = (c.commune, c.supervisor, c.weak) else {
            return;
        };
        // The committee member in charge comes from another cell of the commune.
        let Some(person) = self.official_in_commune(commune, Some(cell), &[]) else {
            return;
        };
        self.cells[cell as usize].supervisor = Some(person);
        self.people[person as usize].supervising.push(cell);
        let event = Event::SupervisorAssigned(SupervisorAssigned {
            member: self.people[person as usize].id.clone(),
            cell: self.cells[cell as usize].id.clone(),
        });
        self.emit(self.now, event);
    }

    fn elect_secretary(&mut self, cell: u32) {
        let members = &self.cells[cell as usize].members;
        let officials: Vec<u32> = members
            .iter()
            .copied()
            .filter(|m| self.people[*m as usize].official)
            .collect();
        if officials.is_empty() {
            return;
        }
        let new = *self.rng.pick(&officials);
        let old = self.cells[cell as usize].secretary;
        if old == Some(new) {
            return;
        }
        let org = self.cells[cell as usize].id.clone();
        let position = id(CELL_SECRETARY.into());
        if let Some(old) = old {
            self.people[old as usize].seats.retain(|s| *s != Seat::Secretary(cell));
            let person = self.people[old as usize].id.clone();
            self.emit(
                self.now,
                Event::PositionEnded(PositionEnded {
                    person,
                    org: org.clone(),
                    position: position.clone(),
                }),
            );
        }
        self.cells[cell as usize].secretary = Some(new);
        self.people[new as usize].seats.push(Seat::Secretary(cell));
        let person = self.people[new as usize].id.clone();
        self.emit(
            self.now,
            Event::PositionAssigned(PositionAssigned {
                person,
                org,
                position,
                term: None,
            }),
        );
    }

    fn congress(&mut self, commune: u32, term: usize) {
        let org = self.communes[commune as usize].committee.clone();
        for seat in 0..COMMUNE_SEATS.len() {
            let current = self.communes[commune as usize].seats;
            let except: Vec<u32> = current.iter().flatten().copied().collect();
            // Half the holders are re-elected; the other seats go to someone new.
            if current[seat].is_some() && self.rng.percent(50) {
                continue;
            }
            let Some(new) = self.official_in_commune(commune, None, &except) else {
                continue;
            };
            let position = id(COMMUNE_SEATS[seat].into());
            if let Some(old) = current[seat] {
                self.people[old as usize]
                    .seats
                    .retain(|s| *s != Seat::Commune(commune, seat));
                let person = self.people[old as usize].id.clone();
                self.emit(
                    self.now,
                    Event::PositionEnded(PositionEnded {
                        person,
                        org: org.clone(),
                        position: position.clone(),
                    }),
                );
            }
            self.communes[commune as usize].seats[seat] = Some(new);
            self.people[new as usize].seats.push(Seat::Commune(commune, seat));
            let event = Event::PositionAssigned(PositionAssigned {
                person: self.people[new as usize].id.clone(),
                org: org.clone(),
                position,
                term: Some(self.term_ids[term].clone()),
            });
            self.emit(self.now, event);
        }
        if term + 1 < CONGRESS_YEARS.len() {
            let year = CONGRESS_YEARS[term + 1];
            let when = date(year, 4, 1).plus_days(self.rng.range(0, 100));
            self.schedule(
                when,
                Action::Congress {
                    commune,
                    term: term + 1,
                },
            );
            let planning = date(year - 1, 9, 1).plus_days(self.rng.range(0, 60));
            self.schedule(
                planning,
                Action::Plan {
                    commune,
                    term: term + 1,
                },
            );
        }
    }

    fn plan(&mut self, commune: u32, term: usize) {
        let org = self.communes[commune as usize].committee.clone();
        let mut chosen: Vec<u32> = Vec::new();
        for slot in 0..3 {
            let Some(person) = self.official_in_commune(commune, None, &chosen) else {
                continue;
            };
            if self.people[person as usize].plans.contains(&term) {
                continue;
            }
            chosen.push(person);
            self.people[person as usize].plans.push(term);
            let event = Event::CadrePlanned(CadrePlanned {
                person: self.people[person as usize].id.clone(),
                term: self.term_ids[term].clone(),
                position: id(COMMUNE_SEATS[slot % 2].into()),
                org: org.clone(),
            });
            self.emit(self.now, event);
            if self.rng.percent(15) {
                let when = self.now.plus_days(self.rng.range(60, 300));
                self.schedule(when, Action::Unplan { person, term });
            }
        }
    }

    fn programme(&mut self, index: usize) {
        let ProgrammeSpec {
            title, starts, ends, ..
        } = PROGRAMMES[index];
        let event = Event::InstrumentIssued(InstrumentIssued {
            instrument: self.programme_ids[index].clone(),
            kind: InstrumentKind::Project,
            title: text(title),
            issuer: text("Ban Thường vụ Tỉnh ủy"),
            starts: Some(date(starts.0, starts.1, starts.2)),
            ends: Some(date(ends.0, ends.1, ends.2)),
        });
        self.emit(self.now, event);
        for commune in 0..self.communes.len() as u32 {
            let when = self.now.plus_days(self.rng.range(10, 80));
            self.schedule(
                when,
                Action::Assess {
                    commune,
                    programme: index,
                },
            );
        }
    }

    /// Assesses a commune's cadres (its committee's seat holders and its cell secretaries)
    /// under a programme, and schedules the training and settlement of those below standard.
    fn assess(&mut self, commune: u32, programme: usize) {
        let (d, (ey, em, ed)) = (self.now, PROGRAMMES[programme].ends);
        let ends = date(ey, em, ed).min(end_date());
        let mut cadres: Vec<u32> = self.communes[commune as usize]
            .seats
            .iter()
            .flatten()
            .copied()
            .collect();
        for &cell in &self.communes[commune as usize].cells {
            cadres.extend(self.cells[cell as usize].secretary);
        }
        let assessed = &mut self.assessed[programme];
        if assessed.len() < self.people.len() {
            assessed.resize(self.people.len(), false);
        }
        for person in cadres {
            if self.assessed[programme][person as usize] || !self.active(person) {
                continue;
            }
            self.assessed[programme][person as usize] = true;
            let mut gaps = Vec::new();
            if self.rng.percent(40) {
                for dim in DIMENSIONS {
                    if self.rng.percent(45) {
                        gaps.push(dim);
                    }
                }
            }
            let event = Event::CadreAssessed(CadreAssessed {
                person: self.people[person as usize].id.clone(),
                programme: self.programme_ids[programme].clone(),
                meets_standard: gaps.is_empty(),
                gaps: gaps.clone(),
            });
            self.emit(d, event);
            if gaps.is_empty() {
                continue;
            }
            let span = (ends.naive() - d.naive()).num_days().max(120);
            if self.age_on(person, ends) >= 55 {
                let when = d.plus_days(self.rng.range(60, span));
                self.schedule(
                    when,
                    Action::Settle {
                        person,
                        programme,
                        retire: true,
                    },
                );
                continue;
            }
            let mut when = d;
            let step = span / (gaps.len() as i64 + 1);
            for dimension in gaps {
                when = when.plus_days(self.rng.range(step / 2, step));
                self.schedule(
                    when,
                    Action::Train {
                        person,
                        programme,
                        dimension,
                    },
                );
            }
            let settle = when.plus_days(self.rng.range(1, step.max(2)));
            self.schedule(
                settle,
                Action::Settle {
                    person,
                    programme,
                    retire: false,
                },
            );
        }
    }
}
