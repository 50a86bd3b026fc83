//! The Trùng Khánh demo ledger: the story of the source article (`docs/story.md`), from 2005 to
//! the end of 2015, told as events that a newcomer can append, replay and query at once.
//!
//! What the story shows, each as a fact of `docs/story.md`:
//! - Cao Bằng province, Trùng Khánh district, its township and communes (real names), a few
//!   hundred hamlets and residential groups (generated Tày and Nùng style names), the border
//!   ones flagged; the provincial, district and commune committees; four border posts with
//!   their party committees and cells.
//! - White spots (F1, F2, F3): in 2005 some hamlets have no resident member and more have no
//!   cell. Border-post members go on temporary activity in new cells of border hamlets, new
//!   members are recruited where there were none, and cells are founded where there were
//!   none: the last hamlet without a resident member gets one during 2008, the last one
//!   without a cell gets one between January and September 2013.
//! - 150 to 165 admissions every year (F4), each after a background verification (some
//!   refused, many with kin across the border); officialization 12 months on; transfers,
//!   deaths, resignations, discipline and exemptions, as in life.
//! - Directive 10-CT/TW, Guidance 09-HD/BTCTW and Project 03-ĐA/TU; 76 commune cadres below
//!   standard at the project's start, all trained and standardized or retired under policy
//!   by its end (F5).
//! - Monthly cell meetings; weak cells with a commune committee member in charge who attends
//!   their meetings (F6); cell resolutions on rural roads, land donation and public works
//!   (F7); cadre planning with women and young cadres (F8), revised once in 2014.
//! - Things change names and minds: a hamlet and its cell are renamed in 2010, an exempted
//!   member returns to activity, a planned cadre is dropped from the plan.
//! - Transaction time: the story ends with a batch of corrections recorded on the clock's
//!   first day, as an audit of the admission records would: names typed without diacritics,
//!   a birth date with day and month swapped, a home hamlet mistyped. Asked as of a `seq`
//!   before that batch, the ledger still says what the clerks typed.
//!
//! Determinism: every choice comes from one splitmix64 stream with a fixed seed, the model
//! keeps its collections in vectors and ordered maps (never a hash map's order), and the
//! ledger's clock is a [`SteppedClock`] from a fixed instant after the story ends. So the same
//! build always writes the same events, and the same head hash.
//!
//! How it is built: an agenda of dated actions is played in date order against a small model
//! of the organization; each action looks at the model as it stands on its date, emits the
//! events it implies and updates the model as the rules will. The events then go through
//! [`Ledger::append`] like any client's, one batch per month; the demo has no bypass, so an
//! event the rules would refuse stops it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use chrono::Datelike;
use unicode_normalization::UnicodeNormalization;

use crate::event::*;
use crate::ledger::{AppendError, Ledger, SteppedClock};
use crate::rules::charter::{MAX_ADMISSION_AGE, MIN_ADMISSION_AGE};
use crate::store::{Store, StoreError};

/// The actor recorded on every demo event.
pub const DEMO_ACTOR: &str = "demo";
/// The seed of every choice the story makes. Changing it tells another story of the same
/// shape, with another head hash.
pub const DEMO_SEED: u64 = 0x5472_756e_674b_6861;
/// The demo's transaction time: a fixed instant after the story ends, so that every event is
/// visibly back-filled and the same run gives the same hashes.
pub const DEMO_CLOCK_START: &str = "2016-01-04T02:00:00.000000Z";
/// One millisecond per event keeps every `recorded_at` distinct and the whole demo on one day.
pub const DEMO_CLOCK_STEP_MICROS: i64 = 1_000;
/// The first and last calendar years of the story.
pub const STORY_FIRST_YEAR: i32 = 2005;
pub const STORY_LAST_YEAR: i32 = 2015;
/// The article: "each year the district admits 150 to 165 new members".
pub const ADMISSIONS_PER_YEAR_MIN: u32 = 150;
pub const ADMISSIONS_PER_YEAR_MAX: u32 = 165;
/// Project 03-ĐA/TU, the provincial standardization programme of grassroots cadres.
pub const STANDARDIZATION_PROGRAMME: &str = "03-da-tu";
/// The article: "before the project, 76 grassroots cadres did not meet the standard".
pub const BELOW_STANDARD_AT_START: usize = 76;

/// The demo ledger's length and the hash of its last event: the same on every machine (a
/// test writes the demo and compares). `serve --demo` checks a ledger against it before it
/// prints a demo token for it.
pub const DEMO_HEAD: (u64, &str) = (
    39_738,
    "5638df25abd4b52f8c907070e30dc55b2e9b7d2ea81e525d7f3f9753d11f1df1",
);

/// What may already be in a data directory the demo is written into: the files kept beside
/// a ledger rather than in it (tokens made first, a signing key, a server's holder file).
const DEMO_SIDE_FILES: &[&str] = &[
    crate::tokens::TOKENS_FILE,
    crate::tokens::LOCK_FILE,
    crate::commands::audit::KEY_FILE,
    crate::commands::serve::HOLDER_FILE,
];

/// Whether `serve --demo` should write the demo into `dir`: it holds no ledger. (Whatever
/// else is there, [`write_demo`] checks before writing.)
pub fn may_write_demo(dir: &Path) -> bool {
    !Store::exists_at(dir)
}

/// Why the demo could not be written. `NotEmpty` and `Store` are the caller's (CLI exit code 2);
/// `Refused` means the demo itself broke a rule, a bug in this module (exit code 1).
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error(
        "the data directory {0} holds a ledger or other files; the demo is written as a new ledger, into a \
         missing or empty directory, or one holding only a tokens file or a signing key (choose another --data)"
    )]
    NotEmpty(PathBuf),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the demo ledger was refused at batch {batch} ({month}): {error}")]
    Refused {
        batch: usize,
        month: String,
        error: AppendError,
    },
}

/// The whole demo, in effective-date order, cut into one batch per calendar month.
pub fn demo_batches() -> Vec<Vec<Submission>> {
    let mut batches: Vec<Vec<Submission>> = Vec::new();
    let mut current: Option<(i32, u32)> = None;
    for sub in Story::new(DEMO_SEED).tell() {
        let month = (sub.effective.year(), sub.effective.naive().month());
        if current != Some(month) {
            batches.push(Vec::new());
            current = Some(month);
        }
        batches.last_mut().expect("a batch was just pushed").push(sub);
    }
    batches
}

/// Writes the demo ledger into `dir`, which must hold no ledger (see
/// [`Ledger::create_new`]; a tokens file or a signing key may be there already), through
/// [`Ledger::append`] with actor `demo` and the demo's stepped clock. Returns the number of
/// events and the head hash.
pub fn write_demo(dir: &Path) -> Result<(u64, Hash), DemoError> {
    let start = Timestamp::parse(DEMO_CLOCK_START).expect("the demo clock start is a valid timestamp");
    let clock = SteppedClock::new(start, DEMO_CLOCK_STEP_MICROS);
    // The demo only ever starts a new ledger: any entry in the directory (a store, or a file
    // someone left there) is refused before anything is opened, so nothing there changes.
    let ledger = Ledger::create_new(dir, Box::new(clock), DEMO_SIDE_FILES).map_err(|e| match e {
        StoreError::DirectoryNotEmpty(path) => DemoError::NotEmpty(path),
        other => DemoError::Store(other),
    })?;
    let actor = Id::parse(DEMO_ACTOR).expect("the demo actor is a valid id");
    let batches = demo_batches();
    let meter = crate::progress::Meter::events("writing the demo", Some(batches.iter().map(|b| b.len() as u64).sum()));
    for (index, batch) in batches.into_iter().enumerate() {
        let n = batch.len() as u64;
        let month = batch
            .first()
            .map(|s| s.effective.to_string()[..7].to_owned())
            .unwrap_or_default();
        // The expected head makes the demo fail loudly rather than interleave with a writer
        // it does not know about.
        let expected = ledger.head().seq;
        ledger
            .append(actor.clone(), batch, Some(expected))
            .map_err(|error| DemoError::Refused {
                batch: index + 1,
                month,
                error,
            })?;
        meter.inc(n);
    }
    drop(meter);
    let head = ledger.head();
    ledger.close();
    Ok((head.seq, head.hash))
}

// ---------------------------------------------------------------------------------------
// The calendar of the story.

fn ymd(y: i32, m: u32, d: u32) -> Date {
    Date::from_ymd(y, m, d).expect("the demo's calendar dates are real dates")
}

/// The organization as it stood before the story is back-filled from this date: the demo
/// does not know when the old hamlets and cells were really founded, so they all carry it.
/// It follows the re-establishment of Cao Bằng province in 1991.
fn opening() -> Date {
    ymd(1992, 1, 1)
}

fn story_start() -> Date {
    ymd(STORY_FIRST_YEAR, 1, 1)
}

fn story_end() -> Date {
    ymd(STORY_LAST_YEAR, 12, 31)
}

/// The day of the audit of the admission records: the ledger clock's first day, since the
/// rules take no effective date more than a day after the day an event is recorded.
fn audit_day() -> Date {
    Date::parse(&DEMO_CLOCK_START[..10]).expect("the demo clock starts on a valid date")
}

fn days_between(from: Date, to: Date) -> i64 {
    (to.naive() - from.naive()).num_days()
}

/// The first and last dates a white-spot hamlet gets its first resident member: the last one
/// is in 2008, so that every hamlet has a member by December 2008 and not before 2008.
fn first_members_from() -> Date {
    ymd(2005, 3, 1)
}
fn first_members_until() -> Date {
    ymd(2008, 10, 15)
}

/// The first and last dates a hamlet without a cell gets one: the last is in 2013, before
/// September, so that every hamlet is covered by September 2013 and not in 2012.
fn cell_foundings_from() -> Date {
    ymd(2005, 4, 1)
}
fn cell_foundings_until() -> Date {
    ymd(2013, 8, 20)
}

/// A day written as (year, month, day), for tables of constants.
type CalendarDay = (i32, u32, u32);

/// Commune party congresses: every committee position ends and a new committee is elected.
const CONGRESSES: [(CalendarDay, &str); 4] = [
    ((2000, 6, 15), "2000-2005"),
    ((2005, 6, 15), "2005-2010"),
    ((2010, 6, 15), "2010-2015"),
    ((2015, 6, 15), "2015-2020"),
];

/// Cadre planning for the next term, approved two years ahead of its congress.
const PLANNINGS: [(CalendarDay, &str); 2] = [((2008, 6, 20), "2010-2015"), ((2013, 6, 20), "2015-2020")];

/// The revision of a cadre plan a year after its approval (the article's plans are "revised
/// regularly"): it drops one cadre planned for the district committee.
const PLAN_REVISION: (CalendarDay, &str) = ((2014, 6, 20), "2015-2020");

/// The day a hamlet of this commune is renamed, with its cell.
const HAMLET_RENAMING: (CalendarDay, &str) = ((2010, 3, 16), "trung-phuc");

/// The day an exempted member returns to activity.
const EXEMPTION_REVOCATION: CalendarDay = (2012, 9, 14);

/// The commune and the months (first and last day) whose admission records were typed
/// without diacritics, on a machine without a Vietnamese keyboard; the audit of January 2016
/// corrects them.
const UNACCENTED_ADMISSIONS: (&str, CalendarDay, CalendarDay) = ("dam-thuy", (2009, 7, 1), (2009, 9, 30));

/// The home hamlet mistyped at admission is of a member admitted from this year on, so that
/// the mistake never stands in the coverage of the dates the article speaks of (December
/// 2008, September 2013), in any version of the ledger.
const MISTYPED_HOME_FROM_YEAR: i32 = 2014;

/// Why the audit corrects each kind of mistake (the reason recorded with the correction).
const REASON_UNACCENTED_NAME: &str = "Họ tên nhập thiếu dấu khi nhập hồ sơ kết nạp";
const REASON_SWAPPED_BIRTH_DATE: &str = "Nhầm ngày và tháng sinh khi nhập hồ sơ kết nạp";
const REASON_MISTYPED_HOME: &str = "Nhầm nơi cư trú khi nhập hồ sơ kết nạp";

/// The day of Project 03-ĐA/TU's start, when the commune cadres are assessed.
fn assessment_day() -> Date {
    ymd(2012, 1, 1)
}

struct InstrumentSpec {
    id: &'static str,
    kind: InstrumentKind,
    title: &'static str,
    issuer: &'static str,
    issued: CalendarDay,
    period: Option<(CalendarDay, CalendarDay)>,
}

const INSTRUMENTS: [InstrumentSpec; 3] = [
    InstrumentSpec {
        id: "10-ct-tw",
        kind: InstrumentKind::Directive,
        title: "Chỉ thị 10-CT/TW của Ban Bí thư về nâng cao chất lượng sinh hoạt chi bộ",
        issuer: "Ban Bí thư Trung ương Đảng",
        issued: (2007, 3, 30),
        period: None,
    },
    InstrumentSpec {
        id: "03-da-tu",
        kind: InstrumentKind::Project,
        title: "Đề án 03-ĐA/TU: Chuẩn hóa đội ngũ cán bộ cơ sở giai đoạn 2012-2015",
        issuer: "Ban Thường vụ Tỉnh ủy Cao Bằng",
        issued: (2012, 1, 1),
        period: Some(((2012, 1, 1), (2015, 12, 31))),
    },
    InstrumentSpec {
        id: "09-hd-btctw",
        kind: InstrumentKind::Guidance,
        title: "Hướng dẫn 09-HD/BTCTW của Ban Tổ chức Trung ương về nội dung sinh hoạt chi bộ",
        issuer: "Ban Tổ chức Trung ương",
        issued: (2012, 3, 2),
        period: None,
    },
];

// ---------------------------------------------------------------------------------------
// The territory.

const PROVINCE: (&str, &str) = ("cao-bang", "Cao Bằng");
const DISTRICT: (&str, &str) = ("trung-khanh", "Trùng Khánh");
const PROVINCIAL_COMMITTEE: (&str, &str) = ("tinh-uy-cao-bang", "Đảng bộ tỉnh Cao Bằng");
const DISTRICT_COMMITTEE: (&str, &str) = ("huyen-uy-trung-khanh", "Đảng bộ huyện Trùng Khánh");
const CENTRAL_COMMITTEE: &str = "ban-chap-hanh-trung-uong";
const BORDER_GUARD_COMMITTEE: &str = "dang-uy-bdbp-cao-bang";

/// The township and communes of Trùng Khánh (id slug, name, on the border with China). The
/// township is first and holds the residential groups. Which communes are on the border is
/// the demo's reading of the map, not a claim of the article.
const COMMUNES: [(&str, &str, bool); 20] = [
    ("tt-trung-khanh", "Thị trấn Trùng Khánh", false),
    ("ngoc-khe", "Ngọc Khê", true),
    ("dinh-phong", "Đình Phong", true),
    ("chi-vien", "Chí Viễn", true),
    ("phong-chau", "Phong Châu", false),
    ("ngoc-con", "Ngọc Côn", true),
    ("dam-thuy", "Đàm Thủy", true),
    ("duc-hong", "Đức Hồng", false),
    ("kham-thanh", "Khâm Thành", false),
    ("lang-hieu", "Lăng Hiếu", false),
    ("phong-nam", "Phong Nậm", true),
    ("trung-phuc", "Trung Phúc", false),
    ("cao-thang", "Cao Thăng", false),
    ("lang-yen", "Lăng Yên", false),
    ("ngoc-chung", "Ngọc Chung", true),
    ("tri-phuong", "Tri Phương", false),
    ("doai-con", "Đoài Côn", false),
    ("quang-trung", "Quang Trung", false),
    ("than-giap", "Thân Giáp", false),
    ("canh-tien", "Cảnh Tiên", false),
];

/// The border posts stationed in the district (slug, name, the commune it sits in, the
/// communes it works with). Named after their communes; the demo's assumption.
const BORDER_POSTS: [(&str, &str, &str, &[&str]); 4] = [
    (
        "ngoc-khe",
        "Đồn Biên phòng Ngọc Khê",
        "ngoc-khe",
        &["ngoc-khe", "ngoc-chung"],
    ),
    (
        "dinh-phong",
        "Đồn Biên phòng Đình Phong",
        "dinh-phong",
        &["dinh-phong", "chi-vien"],
    ),
    ("dam-thuy", "Đồn Biên phòng Đàm Thủy", "dam-thuy", &["dam-thuy"]),
    (
        "ngoc-con",
        "Đồn Biên phòng Ngọc Côn",
        "ngoc-con",
        &["ngoc-con", "phong-nam"],
    ),
];

/// The cells of a border post's party committee.
const BORDER_POST_CELLS: [(&str, &str); 3] = [
    ("chi-huy", "Chi bộ Chỉ huy"),
    ("trinh-sat", "Chi bộ Trinh sát"),
    ("vu-trang", "Chi bộ Vũ trang"),
];

/// Syllables of Tày and Nùng place names: a landform or water word, then a name.
const PLACE_FIRST: [&str; 16] = [
    "Bản", "Nà", "Pác", "Phia", "Lũng", "Khuổi", "Cốc", "Slằng", "Pò", "Nặm", "Khau", "Kéo", "Thôm", "Bó", "Tà", "Vằng",
];
const PLACE_SECOND: [&str; 35] = [
    "Ngòa", "Thình", "Rằng", "Lầu", "Mạ", "Piào", "Lình", "Vài", "Hoài", "Chang", "Lạn", "Nhì", "Slam", "Tổng",
    "Sloong", "Mu", "Cải", "Khuông", "Pài", "Rạo", "Thuông", "Đán", "Luông", "Háng", "Kít", "Rì", "Siên", "Tẳng",
    "Vạc", "Khoang", "Giàng", "Thàng", "Mò", "Cáy", "Phầy",
];
/// The hamlet of the Bản Giốc waterfall, on the border in Đàm Thủy, is named as it is.
const BAN_GIOC: &str = "Bản Giốc";

const FAMILY_NAMES: [&str; 20] = [
    "Nông", "Hoàng", "Lương", "Đàm", "Lục", "Lý", "Mã", "Triệu", "Lô", "Bế", "Hà", "Đinh", "Ngôn", "La", "Phùng", "Vi",
    "Lâm", "Sầm", "Chu", "Hứa",
];
const MALE_NAMES: [&str; 24] = [
    "Hùng", "Dũng", "Thắng", "Cường", "Hải", "Tuấn", "Minh", "Quang", "Khánh", "Sơn", "Bình", "Thành", "Phúc", "Trọng",
    "Hiếu", "Đức", "Chiến", "Tiến", "Vương", "Kiên", "Toàn", "Lợi", "Hòa", "Nghĩa",
];
const FEMALE_NAMES: [&str; 22] = [
    "Mai",
    "Lan",
    "Hoa",
    "Hương",
    "Thu",
    "Hạnh",
    "Liên",
    "Nga",
    "Thủy",
    "Dung",
    "Huyền",
    "Vân",
    "Phượng",
    "Loan",
    "Nhung",
    "Hằng",
    "Yến",
    "Thảo",
    "Duyên",
    "Xuân",
    "Hiền",
    "Ngân",
];

/// Positions in a commune committee, as elected at each congress.
const SECRETARY: &str = "bi-thu";
const DEPUTY_SECRETARY: &str = "pho-bi-thu";
const COMMITTEE_MEMBER: &str = "dang-uy-vien";
const COMMITTEE_POSITIONS: [&str; 7] = [
    SECRETARY,
    DEPUTY_SECRETARY,
    COMMITTEE_MEMBER,
    COMMITTEE_MEMBER,
    COMMITTEE_MEMBER,
    COMMITTEE_MEMBER,
    COMMITTEE_MEMBER,
];
/// A cell's secretary.
const CELL_SECRETARY: &str = "bi-thu-chi-bo";
/// A member of the district committee, planned from among the communes' cadres.
const DISTRICT_COMMITTEE_MEMBER: &str = "huyen-uy-vien";

/// Cadres are planned young when they are at most this old on the planning date, so that
/// they are still under 35 when their term starts.
const YOUNG_CADRE_MAX_AGE: i32 = 32;
/// Older below-standard cadres, from this age on the assessment day, retire under policy
/// rather than train.
const RETIREMENT_UNDER_POLICY_AGE: i32 = 52;

// ---------------------------------------------------------------------------------------
// Deterministic choices.

/// splitmix64: tiny, fast and fully specified, so the story does not depend on a crate's
/// version.
struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    fn new(seed: u64) -> SplitMix64 {
        SplitMix64 { state: seed }
    }

    fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n`; the modulo bias is far below anything the story can show.
    fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    /// A number in `lo..=hi`.
    fn between(&mut self, lo: i64, hi: i64) -> i64 {
        lo + self.below((hi - lo + 1) as u64) as i64
    }

    fn chance(&mut self, per_mille: u64) -> bool {
        self.below(1000) < per_mille
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }

    fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i as u64 + 1) as usize;
            items.swap(i, j);
        }
    }

    fn date_between(&mut self, from: Date, to: Date) -> Date {
        from.plus_days(self.between(0, days_between(from, to)))
    }
}

/// An id from text the demo builds itself; a failure is a bug in this module.
fn id(s: &str) -> Id {
    Id::parse(s).unwrap_or_else(|e| panic!("the demo built a bad id: {e}"))
}

fn text(s: &str) -> Text {
    Text::parse(s).unwrap_or_else(|e| panic!("the demo built a bad text: {e}"))
}

/// A Vietnamese name as typed without diacritics: "Nông Thị Mai" as "Nong Thi Mai".
pub fn without_diacritics(name: &str) -> String {
    name.nfd()
        .filter(|c| !('\u{300}'..='\u{36f}').contains(c))
        .map(|c| match c {
            'đ' => 'd',
            'Đ' => 'D',
            c => c,
        })
        .collect()
}

/// The ASCII slug of a Vietnamese name: accents dropped, `đ` as `d`, words joined by `-`.
fn ascii_slug(name: &str) -> String {
    let mut slug = String::new();
    for c in name.nfd() {
        match c {
            'đ' | 'Đ' => slug.push('d'),
            '\u{300}'..='\u{36f}' => {}
            c if c.is_ascii_alphanumeric() => slug.push(c.to_ascii_lowercase()),
            _ if !slug.ends_with('-') => slug.push('-'),
            _ => {}
        }
    }
    slug.trim_matches('-').to_owned()
}

// ---------------------------------------------------------------------------------------
// The model the actions look at.

/// How a hamlet or residential group stands when the story starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Start {
    /// It has resident members and its own cell.
    Covered,
    /// It has resident members, who belong to a neighbouring hamlet's cell; a cell is founded
    /// later, and they transfer into it.
    Uncovered,
    /// A white spot on the border: a cell is founded with border-post members on temporary
    /// activity, who introduce the first local members.
    WhiteBorder,
    /// A white spot inland: its first members join a neighbouring cell, and it gets its own
    /// cell later.
    WhiteInland,
}

struct Commune {
    locality: Id,
    name: &'static str,
    border: bool,
    org: Id,
    places: Vec<usize>,
    /// The border post that works with this commune.
    post: Option<usize>,
    /// Members holding a position in the commune committee now.
    committee: Vec<usize>,
}

/// A hamlet (xóm) or residential group (tổ dân phố).
struct Place {
    locality: Id,
    name: String,
    slug: String,
    residential: bool,
    commune: usize,
    border: bool,
    start: Start,
    /// The covered place whose cell its members join while it has no cell of its own.
    anchor: usize,
    cell: Option<usize>,
    /// For a white spot, the day its first resident member is admitted.
    first_member: Option<Date>,
    /// Active members whose home locality is here.
    residents: u32,
}

struct Post {
    org: Id,
    name: &'static str,
    commune: usize,
    cells: Vec<usize>,
}

struct Cell {
    org: Id,
    place: Option<usize>,
    commune: Option<usize>,
    founded: Date,
    members: BTreeSet<usize>,
    hosted: BTreeSet<usize>,
    supervisors: Vec<usize>,
    secretary: Option<usize>,
    meeting_day: u32,
    weak_years: BTreeSet<i32>,
    /// The last year its supervisor stays: the year after the last weak year.
    supervised_through: i32,
    resolutions: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Home {
    Place(usize),
    /// Border-post members live at their post, in its commune, not in a hamlet.
    Post(usize),
}

struct Member {
    person: Id,
    sex: Sex,
    birth: Date,
    home: Home,
    cell: usize,
    admitted: Date,
    official: bool,
    active: bool,
    temporary: Option<usize>,
    exempted: bool,
    /// Returned to activity from an exemption; not exempted again in the story.
    exemption_revoked: bool,
    positions: Vec<(Id, &'static str)>,
    supervising: Vec<usize>,
    /// Assessed below standard under 03-ĐA/TU and not yet settled.
    assessment_open: bool,
    /// Planned for a term at some time, even if the plan was revised since: such cadres stay
    /// out of the story's deaths, departures and moves.
    planned: bool,
}

struct Candidate {
    person: Id,
    name: String,
    sex: Sex,
    birth: Date,
    home: Home,
    verified_on: Date,
    admit_on: Date,
    kin_abroad: bool,
    /// Border-post members join one of their post's cells.
    post_cell: Option<usize>,
}

/// A dated step of the story. Actions on the same day run in the order of [`Action::rank`],
/// then in the order they were scheduled.
enum Action {
    Instrument(usize),
    Opening,
    FoundCell(usize),
    Congress(usize),
    CadrePlanning(usize),
    Assessment,
    Verify {
        candidate: usize,
        cleared: bool,
    },
    Admit(usize),
    Officialize(usize),
    Month,
    WeakCells,
    Meeting {
        cell: usize,
        thematic: bool,
    },
    Resolution(usize),
    RenameHamlet(&'static str),
    RevokeExemption,
    RevisePlan(&'static str),
    Training {
        member: usize,
        dimension: StandardDimension,
    },
    Standardize(usize),
    RetireUnderPolicy(usize),
    Ratings,
    AdmissionsPlan(i32),
    YearPlan,
    Death,
    Resignation,
    Removal,
    Discipline,
    Exemption,
    Move,
    TemporaryEnd {
        member: usize,
        cell: usize,
    },
}

impl Action {
    fn rank(&self) -> u8 {
        match self {
            Action::Instrument(_) => 0,
            Action::Opening => 1,
            Action::FoundCell(_) | Action::RenameHamlet(_) => 2,
            Action::Congress(_) => 3,
            Action::CadrePlanning(_) | Action::RevisePlan(_) => 4,
            Action::Assessment => 5,
            Action::Verify { .. } => 6,
            Action::Admit(_) => 7,
            Action::Officialize(_) => 8,
            Action::Month => 9,
            Action::WeakCells => 10,
            Action::Meeting { .. } => 11,
            Action::Resolution(_) => 12,
            Action::Training { .. } | Action::Standardize(_) | Action::RetireUnderPolicy(_) => 13,
            Action::Ratings => 14,
            Action::AdmissionsPlan(_) | Action::YearPlan => 15,
            Action::Death
            | Action::Resignation
            | Action::Removal
            | Action::Discipline
            | Action::Exemption
            | Action::RevokeExemption
            | Action::Move => 16,
            Action::TemporaryEnd { .. } => 17,
        }
    }
}

struct Story {
    rng: SplitMix64,
    out: Vec<Submission>,
    agenda: BTreeMap<(Date, u8, u64), Action>,
    scheduled: u64,
    /// The date of the action being performed; nothing may be scheduled before it.
    today: Date,
    communes: Vec<Commune>,
    places: Vec<Place>,
    posts: Vec<Post>,
    cells: Vec<Cell>,
    members: Vec<Member>,
    candidates: Vec<Candidate>,
    /// Members admitted so far, for `dv-` ids; refused candidates, for `uv-` ids.
    member_numbers: u32,
    refused_numbers: u32,
    /// Decisions issued per (issuer, year), for their numbers.
    decisions: BTreeMap<(String, i32), u32>,
    /// Cadre plans: (member, term, position, org).
    plans: Vec<(usize, &'static str, &'static str, Id)>,
    /// Members whose admission record holds their name without diacritics, with the name as
    /// it should be.
    unaccented: Vec<(usize, String)>,
}

/// Elects `m` to the position it was wanted for, or to a plain committee seat when that one
/// is taken, while seats remain.
fn elect(elected: &mut Vec<(usize, &'static str)>, open: &mut Vec<&'static str>, m: usize, wanted: &'static str) {
    let position = if open.contains(&wanted) {
        wanted
    } else {
        COMMITTEE_MEMBER
    };
    if let Some(i) = open.iter().position(|p| *p == position) {
        open.remove(i);
        elected.push((m, position));
    }
}

impl Story {
    fn new(seed: u64) -> Story {
        let mut story = Story {
            rng: SplitMix64::new(seed),
            out: Vec::new(),
            agenda: BTreeMap::new(),
            scheduled: 0,
            today: opening(),
            communes: Vec::new(),
            places: Vec::new(),
            posts: Vec::new(),
            cells: Vec::new(),
            members: Vec::new(),
            candidates: Vec::new(),
            member_numbers: 0,
            refused_numbers: 0,
            decisions: BTreeMap::new(),
            plans: Vec::new(),
            unaccented: Vec::new(),
        };
        story.draw_territory();
        story.draw_white_spots();
        story.schedule_calendar();
        story
    }

    /// Plays the agenda in date order, then the audit of the admission records, and returns
    /// the events, sorted by effective date.
    fn tell(mut self) -> Vec<Submission> {
        while let Some(((date, _, _), action)) = self.agenda.pop_first() {
            if date > story_end() {
                break;
            }
            self.today = date;
            self.perform(date, action);
        }
        self.today = audit_day();
        self.audit_admission_records(audit_day());
        // The agenda already runs in date order; the stable sort makes the promise explicit.
        self.out.sort_by_key(|s| s.effective);
        self.out
    }

    fn schedule(&mut self, date: Date, action: Action) {
        // An action in the past would run out of date order against a model already ahead
        // of it: a bug in the story, caught here rather than as a refused event.
        assert!(
            date >= self.today,
            "the demo scheduled an action on {date}, before {}",
            self.today
        );
        let key = (date, action.rank(), self.scheduled);
        self.scheduled += 1;
        self.agenda.insert(key, action);
    }

    fn emit(&mut self, date: Date, event: Event) {
        self.out.push(Submission::new(date, event));
    }

    /// Emits an event with the decision it rests on, taken up to three days before.
    fn emit_decided(&mut self, date: Date, event: Event, issuer: &str, suffix: &str) {
        let lead = self.rng.between(0, 3);
        self.emit_decided_on(date.plus_days(-lead), date, event, issuer, suffix);
    }

    /// Emits an event with the decision it rests on, taken on `decided`, numbered in the
    /// issuer's series of the effective date's year.
    fn emit_decided_on(&mut self, decided: Date, date: Date, event: Event, issuer: &str, suffix: &str) {
        let number = {
            let n = self.decisions.entry((issuer.to_owned(), date.year())).or_insert(0);
            *n += 1;
            *n
        };
        let decision = Decision {
            number: text(&format!("{number}-{suffix}")),
            date: decided,
            issuer: id(issuer),
        };
        self.out.push(Submission::new(date, event).with_decision(decision));
    }

    // --- Drawing the territory (before any event) -------------------------------------

    fn draw_territory(&mut self) {
        let mut used_slugs: BTreeSet<String> = BTreeSet::new();
        used_slugs.insert(ascii_slug(BAN_GIOC));
        for (index, (slug, name, border)) in COMMUNES.iter().enumerate() {
            let township = index == 0;
            let prefix = if township { "" } else { "xa-" };
            self.communes.push(Commune {
                locality: id(&format!("{prefix}{slug}")),
                name,
                border: *border,
                org: id(&format!("dang-uy-{slug}")),
                places: Vec::new(),
                post: None,
                committee: Vec::new(),
            });
            let count = if township { 8 } else { self.rng.between(9, 12) as usize };
            for i in 0..count {
                let name = if *slug == "dam-thuy" && i == 0 {
                    BAN_GIOC.to_owned()
                } else {
                    loop {
                        let candidate = format!("{} {}", self.rng.pick(&PLACE_FIRST), self.rng.pick(&PLACE_SECOND));
                        if used_slugs.insert(ascii_slug(&candidate)) {
                            break candidate;
                        }
                    }
                };
                let place_border = *border && (name == BAN_GIOC || self.rng.chance(600));
                let start = if i == 0 {
                    Start::Covered
                } else {
                    let roll = self.rng.below(1000);
                    match (place_border, township) {
                        (true, _) if roll < 300 => Start::WhiteBorder,
                        (true, _) if roll < 600 => Start::Uncovered,
                        (false, true) if roll < 100 => Start::WhiteInland,
                        (false, true) if roll < 300 => Start::Uncovered,
                        (false, false) if roll < 150 => Start::WhiteInland,
                        (false, false) if roll < 480 => Start::Uncovered,
                        _ => Start::Covered,
                    }
                };
                let slug = ascii_slug(&name);
                let locality = if township {
                    format!("tdp-{slug}")
                } else {
                    format!("xom-{slug}")
                };
                self.communes[index].places.push(self.places.len());
                self.places.push(Place {
                    locality: id(&locality),
                    name,
                    slug,
                    residential: township,
                    commune: index,
                    border: place_border,
                    start,
                    anchor: usize::MAX,
                    cell: None,
                    first_member: None,
                    residents: 0,
                });
            }
        }
        // A place without a cell leans on the nearest covered place of its commune.
        for c in 0..self.communes.len() {
            let list = self.communes[c].places.clone();
            for (i, &p) in list.iter().enumerate() {
                let anchor = list
                    .iter()
                    .enumerate()
                    .filter(|(_, &q)| self.places[q].start == Start::Covered)
                    .min_by_key(|(j, _)| (i.abs_diff(*j), *j))
                    .map(|(_, &q)| q)
                    .expect("the first place of every commune is covered");
                self.places[p].anchor = anchor;
            }
        }
        for (slug, name, seat, communes) in BORDER_POSTS {
            let post = self.posts.len();
            let commune = self.commune_by_slug(seat);
            self.posts.push(Post {
                org: id(&format!("dbp-{slug}")),
                name,
                commune,
                cells: Vec::new(),
            });
            for served in communes {
                let c = self.commune_by_slug(served);
                self.communes[c].post = Some(post);
            }
        }
    }

    fn commune_by_slug(&self, slug: &str) -> usize {
        COMMUNES
            .iter()
            .position(|(s, _, _)| *s == slug)
            .expect("border posts name known communes")
    }

    /// Chooses when each white spot gets its first member and when each place without a cell
    /// gets one, so that the article's dates hold: all have members by December 2008 (the
    /// last during 2008), all have cells by September 2013 (the last during 2013).
    fn draw_white_spots(&mut self) {
        let mut white: Vec<usize> = (0..self.places.len())
            .filter(|&p| matches!(self.places[p].start, Start::WhiteBorder | Start::WhiteInland))
            .collect();
        self.rng.shuffle(&mut white);
        let span = days_between(first_members_from(), first_members_until());
        let n = white.len() as i64;
        for (i, &p) in white.iter().enumerate() {
            let offset = if n > 1 { span * i as i64 / (n - 1) } else { span };
            self.places[p].first_member = Some(first_members_from().plus_days(offset));
        }
        // Border white spots get a cell first, staffed by border-post members on temporary
        // activity, a few months before their first local member.
        for &p in &white {
            if self.places[p].start == Start::WhiteBorder {
                let first = self.places[p].first_member.expect("set above");
                let founded = first.plus_days(-self.rng.between(90, 200)).max(ymd(2005, 1, 5));
                self.schedule(founded, Action::FoundCell(p));
            }
        }
        // The others get a cell on a schedule that quickens towards 2013, as the district's
        // campaign did (the i-th of n at the square root of i/n of the span), each not before
        // it has members.
        let mut waiting: Vec<(Date, u64, usize)> = Vec::new();
        for p in 0..self.places.len() {
            let earliest = match self.places[p].start {
                Start::Uncovered => cell_foundings_from(),
                Start::WhiteInland => self.places[p].first_member.expect("set above").plus_days(180),
                _ => continue,
            };
            let tie = self.rng.next_u64();
            waiting.push((earliest, tie, p));
        }
        waiting.sort();
        let span = days_between(cell_foundings_from(), cell_foundings_until());
        let n = waiting.len() as i64;
        for (i, &(earliest, _, p)) in waiting.iter().enumerate() {
            let fraction_per_mille = if n > 1 {
                (i as i64 * 1_000_000 / (n - 1)).isqrt()
            } else {
                1000
            };
            let slot = cell_foundings_from().plus_days(span * fraction_per_mille / 1000);
            self.schedule(slot.max(earliest), Action::FoundCell(p));
        }
    }

    fn schedule_calendar(&mut self) {
        self.schedule(opening(), Action::Opening);
        for (i, spec) in INSTRUMENTS.iter().enumerate() {
            let (y, m, d) = spec.issued;
            self.schedule(ymd(y, m, d), Action::Instrument(i));
        }
        for year in opening().year()..=STORY_LAST_YEAR {
            for month in 1..=12 {
                self.schedule(ymd(year, month, 1), Action::Month);
            }
        }
        for year in STORY_FIRST_YEAR..=STORY_LAST_YEAR {
            self.schedule(ymd(year - 1, 8, 1), Action::AdmissionsPlan(year));
            self.schedule(ymd(year, 1, 1), Action::YearPlan);
            self.schedule(ymd(year, 1, 2), Action::WeakCells);
            self.schedule(ymd(year, 12, 20), Action::Ratings);
        }
        for (i, ((y, m, d), _)) in CONGRESSES.iter().enumerate() {
            self.schedule(ymd(*y, *m, *d), Action::Congress(i));
        }
        for (i, ((y, m, d), _)) in PLANNINGS.iter().enumerate() {
            self.schedule(ymd(*y, *m, *d), Action::CadrePlanning(i));
        }
        self.schedule(assessment_day(), Action::Assessment);
        let ((y, m, d), commune) = HAMLET_RENAMING;
        self.schedule(ymd(y, m, d), Action::RenameHamlet(commune));
        let (y, m, d) = EXEMPTION_REVOCATION;
        self.schedule(ymd(y, m, d), Action::RevokeExemption);
        let ((y, m, d), term) = PLAN_REVISION;
        self.schedule(ymd(y, m, d), Action::RevisePlan(term));
    }

    fn perform(&mut self, date: Date, action: Action) {
        match action {
            Action::Instrument(i) => self.issue_instrument(date, i),
            Action::Opening => self.open_the_ledger(date),
            Action::FoundCell(p) => self.found_cell(date, p),
            Action::Congress(i) => self.hold_congress(date, CONGRESSES[i].1),
            Action::CadrePlanning(i) => self.plan_cadres(date, PLANNINGS[i].1),
            Action::Assessment => self.assess_cadres(date),
            Action::Verify { candidate, cleared } => self.verify(date, candidate, cleared),
            Action::Admit(candidate) => self.admit(date, candidate),
            Action::Officialize(m) => self.officialize(date, m),
            Action::Month => self.open_month(date),
            Action::WeakCells => self.supervise_weak_cells(date),
            Action::Meeting { cell, thematic } => self.hold_meeting(date, cell, thematic),
            Action::Resolution(cell) => self.adopt_resolution(date, cell),
            Action::RenameHamlet(commune) => self.rename_hamlet(date, commune),
            Action::RevokeExemption => self.revoke_an_exemption(date),
            Action::RevisePlan(term) => self.revise_plan(date, term),
            Action::Training { member, dimension } => self.complete_training(date, member, dimension),
            Action::Standardize(m) => self.standardize(date, m),
            Action::RetireUnderPolicy(m) => self.retire_under_policy(date, m),
            Action::Ratings => self.rate_cells(date),
            Action::AdmissionsPlan(year) => self.plan_admissions(year),
            Action::YearPlan => self.plan_year(date.year()),
            Action::Death => self.end_a_membership(date, EndReason::Died),
            Action::Resignation => self.end_a_membership(date, EndReason::Resigned),
            Action::Removal => self.end_a_membership(date, EndReason::Removed),
            Action::Discipline => self.discipline(date),
            Action::Exemption => self.exempt(date),
            Action::Move => self.move_house(date),
            Action::TemporaryEnd { member, cell } => self.end_temporary(date, member, cell),
        }
    }

    // --- The opening: the organization as it stood -----------------------------------

    fn open_the_ledger(&mut self, date: Date) {
        let register = |locality: &Id, name: &str, kind, parent: Option<&Id>, border| {
            Event::LocalityRegistered(LocalityRegistered {
                locality: locality.clone(),
                name: text(name),
                kind,
                parent: parent.cloned(),
                border,
            })
        };
        let (province, district) = (id(PROVINCE.0), id(DISTRICT.0));
        self.emit(
            date,
            register(&province, PROVINCE.1, LocalityKind::Province, None, true),
        );
        self.emit(
            date,
            register(&district, DISTRICT.1, LocalityKind::District, Some(&province), true),
        );
        for c in 0..self.communes.len() {
            let e = register(
                &self.communes[c].locality,
                self.communes[c].name,
                LocalityKind::Commune,
                Some(&district),
                self.communes[c].border,
            );
            self.emit(date, e);
        }
        for p in 0..self.places.len() {
            let place = &self.places[p];
            let kind = if place.residential {
                LocalityKind::ResidentialGroup
            } else {
                LocalityKind::Hamlet
            };
            let e = register(
                &place.locality,
                &place.name,
                kind,
                Some(&self.communes[place.commune].locality),
                place.border,
            );
            self.emit(date, e);
        }

        let found = |org: &str, name: &str, kind, parent: Option<&str>, localities: Vec<Id>| {
            Event::OrganizationFounded(OrganizationFounded {
                org: id(org),
                name: text(name),
                kind,
                parent: parent.map(id),
                localities,
            })
        };
        let e = found(
            PROVINCIAL_COMMITTEE.0,
            PROVINCIAL_COMMITTEE.1,
            OrgKind::ProvincialCommittee,
            None,
            vec![province],
        );
        self.emit_decided(date, e, CENTRAL_COMMITTEE, "QĐ/TW");
        let e = found(
            DISTRICT_COMMITTEE.0,
            DISTRICT_COMMITTEE.1,
            OrgKind::DistrictCommittee,
            Some(PROVINCIAL_COMMITTEE.0),
            vec![district],
        );
        self.emit_decided(date, e, PROVINCIAL_COMMITTEE.0, "QĐ/TU");
        for c in 0..self.communes.len() {
            let commune = &self.communes[c];
            let name = if c == 0 {
                format!("Đảng bộ {}", commune.name.replacen("Thị trấn", "thị trấn", 1))
            } else {
                format!("Đảng bộ xã {}", commune.name)
            };
            let e = found(
                commune.org.as_str(),
                &name,
                OrgKind::GrassrootsCommittee,
                Some(DISTRICT_COMMITTEE.0),
                vec![commune.locality.clone()],
            );
            self.emit_decided(date, e, DISTRICT_COMMITTEE.0, "QĐ/HU");
        }
        for k in 0..self.posts.len() {
            let served: Vec<Id> = (0..self.communes.len())
                .filter(|&c| self.communes[c].post == Some(k))
                .map(|c| self.communes[c].locality.clone())
                .collect();
            let post_org = self.posts[k].org.clone();
            let e = found(
                post_org.as_str(),
                &format!("Đảng bộ {}", self.posts[k].name),
                OrgKind::BorderPostCommittee,
                Some(PROVINCIAL_COMMITTEE.0),
                served,
            );
            self.emit_decided(date, e, BORDER_GUARD_COMMITTEE, "QĐ/ĐU");
            for (slug, name) in BORDER_POST_CELLS {
                let cell_org = format!("{post_org}-{slug}");
                let e = found(
                    &cell_org,
                    &format!("{name} {}", self.posts[k].name),
                    OrgKind::Cell,
                    Some(post_org.as_str()),
                    vec![],
                );
                self.emit_decided(date, e, post_org.as_str(), "QĐ/ĐU");
                let cell = self.new_cell(id(&cell_org), None, None, date);
                self.posts[k].cells.push(cell);
            }
        }
        for p in 0..self.places.len() {
            if self.places[p].start == Start::Covered {
                self.found_cell(date, p);
            }
        }
        self.plan_seed_members();
    }

    fn new_cell(&mut self, org: Id, place: Option<usize>, commune: Option<usize>, founded: Date) -> usize {
        let meeting_day = self.rng.between(3, 12) as u32;
        self.cells.push(Cell {
            org,
            place,
            commune,
            founded,
            members: BTreeSet::new(),
            hosted: BTreeSet::new(),
            supervisors: Vec::new(),
            secretary: None,
            meeting_day,
            weak_years: BTreeSet::new(),
            supervised_through: 0,
            resolutions: 0,
        });
        self.cells.len() - 1
    }

    /// The members the organization already had: admitted between the opening and the
    /// story, so that every year of the story counts only its own admissions.
    fn plan_seed_members(&mut self) {
        let mut seeds = Vec::new();
        for p in 0..self.places.len() {
            let count = match self.places[p].start {
                Start::Covered if self.places[p].residential => self.rng.between(5, 10),
                Start::Covered => self.rng.between(4, 9),
                Start::Uncovered => self.rng.between(1, 4),
                Start::WhiteBorder | Start::WhiteInland => 0,
            };
            for _ in 0..count {
                let admit_on = self.rng.date_between(ymd(1992, 6, 1), ymd(2004, 9, 30));
                let age = self.rng.between(20, 50) as i32;
                seeds.push(self.new_candidate(Home::Place(p), admit_on, age, 300, None));
            }
        }
        for k in 0..self.posts.len() {
            for cell in self.posts[k].cells.clone() {
                for _ in 0..self.rng.between(6, 8) {
                    let admit_on = self.rng.date_between(ymd(1995, 1, 1), ymd(2003, 12, 31));
                    let age = self.rng.between(20, 28) as i32;
                    seeds.push(self.new_candidate(Home::Post(k), admit_on, age, 50, Some(cell)));
                }
            }
        }
        self.schedule_candidates(seeds, Vec::new());
    }

    // --- Candidates and members ---------------------------------------------------------

    fn commune_of(&self, home: Home) -> usize {
        match home {
            Home::Place(p) => self.places[p].commune,
            Home::Post(k) => self.posts[k].commune,
        }
    }

    fn home_locality(&self, home: Home) -> Id {
        match home {
            Home::Place(p) => self.places[p].locality.clone(),
            Home::Post(k) => self.communes[self.posts[k].commune].locality.clone(),
        }
    }

    /// A person with a name, sex and birth date making them `age` on `admit_on`; kin across
    /// the border are common in border hamlets, as the article says.
    fn new_candidate(
        &mut self,
        home: Home,
        admit_on: Date,
        age: i32,
        female_per_mille: u64,
        post_cell: Option<usize>,
    ) -> Candidate {
        let sex = if self.rng.chance(female_per_mille) {
            Sex::Female
        } else {
            Sex::Male
        };
        let (middle, given) = match sex {
            Sex::Female => ("Thị", self.rng.pick(&FEMALE_NAMES)),
            Sex::Male => ("Văn", self.rng.pick(&MALE_NAMES)),
        };
        let name = format!("{} {middle} {given}", self.rng.pick(&FAMILY_NAMES));
        let birth = admit_on.plus_days(-(age as i64 * 365 + age as i64 / 4 + self.rng.between(1, 300)));
        let kin_per_mille = match home {
            Home::Place(p) if self.places[p].border => 400,
            _ if self.communes[self.commune_of(home)].border => 150,
            _ => 20,
        };
        let kin_abroad = self.rng.chance(kin_per_mille);
        let verified_on = admit_on.plus_days(-self.rng.between(30, 150));
        Candidate {
            // Numbered when scheduled, in order of admission.
            person: id("dv-000000"),
            name,
            sex,
            birth,
            home,
            verified_on,
            admit_on,
            kin_abroad,
            post_cell,
        }
    }

    /// Numbers the cleared candidates in order of admission (`dv-`) and the refused ones
    /// (`uv-`), and schedules their verification and admission.
    fn schedule_candidates(&mut self, mut cleared: Vec<Candidate>, refused: Vec<Candidate>) {
        cleared.sort_by_key(|c| c.admit_on);
        for mut candidate in cleared {
            self.member_numbers += 1;
            candidate.person = id(&format!("dv-{:06}", self.member_numbers));
            let index = self.candidates.len();
            self.schedule(
                candidate.verified_on,
                Action::Verify {
                    candidate: index,
                    cleared: true,
                },
            );
            self.schedule(candidate.admit_on, Action::Admit(index));
            self.candidates.push(candidate);
        }
        for mut candidate in refused {
            self.refused_numbers += 1;
            candidate.person = id(&format!("uv-{:06}", self.refused_numbers));
            let index = self.candidates.len();
            self.schedule(
                candidate.verified_on,
                Action::Verify {
                    candidate: index,
                    cleared: false,
                },
            );
            self.candidates.push(candidate);
        }
    }

    fn verify(&mut self, date: Date, candidate: usize, cleared: bool) {
        let c = &self.candidates[candidate];
        let outcome = if cleared {
            VerificationOutcome::Cleared
        } else {
            VerificationOutcome::Refused
        };
        let e = Event::BackgroundVerified(BackgroundVerified {
            person: c.person.clone(),
            outcome,
            kin_abroad: c.kin_abroad,
        });
        self.emit(date, e);
    }

    /// The cell a member living in `place` joins on `date`: its own, or its anchor's.
    fn cell_for(&self, place: usize, date: Date) -> usize {
        match self.places[place].cell {
            Some(c) if self.cells[c].founded <= date => c,
            _ => self.places[self.places[place].anchor]
                .cell
                .expect("anchors are covered from the opening"),
        }
    }

    fn age(&self, m: usize, date: Date) -> i32 {
        date.years_since(self.members[m].birth)
    }

    fn admit(&mut self, date: Date, candidate: usize) {
        let home = self.candidates[candidate].home;
        let cell = match (self.candidates[candidate].post_cell, home) {
            (Some(c), _) => c,
            (None, Home::Place(p)) => self.cell_for(p, date),
            (None, Home::Post(k)) => self.posts[k].cells[0],
        };
        // Two official members introduce the candidate: of the cell, or the border-post
        // members on temporary activity there when the cell is new.
        let mut sponsors: Vec<usize> = self.cells[cell]
            .members
            .iter()
            .copied()
            .filter(|&m| self.members[m].official)
            .collect();
        self.rng.shuffle(&mut sponsors);
        let mut hosted: Vec<usize> = self.cells[cell].hosted.iter().copied().collect();
        self.rng.shuffle(&mut hosted);
        sponsors.extend(hosted);
        sponsors.truncate(2);
        let introducers: Vec<Id> = sponsors.iter().map(|&m| self.members[m].person.clone()).collect();
        let (unaccented_commune, (y, m, d), (last_y, last_m, last_d)) = UNACCENTED_ADMISSIONS;
        let typed_without_diacritics = COMMUNES[self.commune_of(home)].0 == unaccented_commune
            && (ymd(y, m, d)..=ymd(last_y, last_m, last_d)).contains(&date);
        let c = &self.candidates[candidate];
        let typed_name = if typed_without_diacritics {
            without_diacritics(&c.name)
        } else {
            c.name.clone()
        };
        let e = Event::MemberAdmitted(MemberAdmitted {
            member: c.person.clone(),
            name: text(&typed_name),
            sex: c.sex,
            birth_date: c.birth,
            home_locality: self.home_locality(home),
            org: self.cells[cell].org.clone(),
            introducers: if introducers.is_empty() {
                None
            } else {
                Some(introducers)
            },
        });
        let member = Member {
            person: c.person.clone(),
            sex: c.sex,
            birth: c.birth,
            home,
            cell,
            admitted: date,
            official: false,
            active: true,
            temporary: None,
            exempted: false,
            exemption_revoked: false,
            positions: Vec::new(),
            supervising: Vec::new(),
            assessment_open: false,
            planned: false,
        };
        let true_name = (typed_name != c.name).then(|| c.name.clone());
        self.emit_decided(date, e, DISTRICT_COMMITTEE.0, "QĐ/HU");
        let m = self.members.len();
        self.members.push(member);
        if let Some(name) = true_name {
            self.unaccented.push((m, name));
        }
        self.cells[cell].members.insert(m);
        if let Home::Place(p) = home {
            self.places[p].residents += 1;
        }
        let due = date
            .plus_months(crate::rules::charter::PROBATION_MONTHS)
            .plus_days(self.rng.between(0, 45));
        self.schedule(due, Action::Officialize(m));
    }

    fn officialize(&mut self, date: Date, m: usize) {
        if !self.members[m].active {
            return;
        }
        let e = Event::MemberOfficialized(MemberOfficialized {
            member: self.members[m].person.clone(),
        });
        self.emit_decided(date, e, DISTRICT_COMMITTEE.0, "QĐ/HU");
        self.members[m].official = true;
    }

    /// Members the story may let die, leave or move: not a border-post member, not a cadre
    /// the later facts rely on, and not the last member living in their hamlet.
    fn ordinary(&self, m: usize) -> bool {
        let member = &self.members[m];
        let Home::Place(p) = member.home else { return false };
        member.active
            && member.official
            && member.positions.is_empty()
            && member.supervising.is_empty()
            && !member.assessment_open
            && !member.planned
            && member.temporary.is_none()
            && self.places[p].residents >= 2
    }

    fn leave_cell(&mut self, m: usize) {
        let cell = self.members[m].cell;
        self.cells[cell].members.remove(&m);
        if let Home::Place(p) = self.members[m].home {
            self.places[p].residents -= 1;
        }
    }

    fn end_a_membership(&mut self, date: Date, reason: EndReason) {
        let pool: Vec<usize> = (0..self.members.len())
            .filter(|&m| self.ordinary(m))
            .filter(|&m| match reason {
                EndReason::Died => self.age(m, date) >= 55,
                EndReason::Resigned => self.age(m, date) < 50,
                _ => true,
            })
            .collect();
        if pool.is_empty() {
            return;
        }
        // Death takes the oldest of a few drawn at random, so members age as in life.
        let m = if reason == EndReason::Died {
            (0..3)
                .map(|_| self.rng.pick(&pool))
                .min_by_key(|&m| (self.members[m].birth, m))
                .expect("three draws")
        } else {
            self.rng.pick(&pool)
        };
        let e = Event::MembershipEnded(MembershipEnded {
            member: self.members[m].person.clone(),
            reason,
        });
        if reason == EndReason::Removed {
            let issuer = self.communes[self.commune_of(self.members[m].home)].org.clone();
            self.emit_decided(date, e, issuer.as_str(), "QĐ/ĐU");
        } else {
            self.emit(date, e);
        }
        self.leave_cell(m);
        self.members[m].active = false;
    }

    fn discipline(&mut self, date: Date) {
        let pool: Vec<usize> = (0..self.members.len()).filter(|&m| self.ordinary(m)).collect();
        if pool.is_empty() {
            return;
        }
        let m = self.rng.pick(&pool);
        let form = if self.rng.chance(700) {
            DisciplineForm::Reprimand
        } else {
            DisciplineForm::Warning
        };
        let e = Event::MemberDisciplined(MemberDisciplined {
            member: self.members[m].person.clone(),
            form,
        });
        let issuer = self.communes[self.commune_of(self.members[m].home)].org.clone();
        self.emit_decided(date, e, issuer.as_str(), "QĐ/ĐU");
    }

    fn exempt(&mut self, date: Date) {
        let pool: Vec<usize> = (0..self.members.len())
            .filter(|&m| {
                let member = &self.members[m];
                member.active
                    && member.official
                    && !member.exempted
                    && !member.exemption_revoked
                    && self.age(m, date) >= 68
            })
            .collect();
        if pool.is_empty() {
            return;
        }
        let m = self.rng.pick(&pool);
        let e = Event::MemberExempted(MemberExempted {
            member: self.members[m].person.clone(),
            reason: text("Tuổi cao, sức yếu"),
        });
        self.emit(date, e);
        self.members[m].exempted = true;
    }

    /// A member moves house to another hamlet and transfers to the cell there. A hamlet still
    /// waiting for its first member is not a destination: its first member is the story.
    fn move_house(&mut self, date: Date) {
        let pool: Vec<usize> = (0..self.members.len()).filter(|&m| self.ordinary(m)).collect();
        if pool.is_empty() {
            return;
        }
        let m = self.rng.pick(&pool);
        for _ in 0..6 {
            let dest = self.rng.below(self.places.len() as u64) as usize;
            if Home::Place(dest) == self.members[m].home || self.places[dest].first_member.is_some_and(|f| f > date) {
                continue;
            }
            let to = self.cell_for(dest, date);
            if to == self.members[m].cell {
                continue;
            }
            let e = Event::MemberTransferred(MemberTransferred {
                member: self.members[m].person.clone(),
                to_org: self.cells[to].org.clone(),
                home_locality: Some(self.places[dest].locality.clone()),
            });
            self.emit(date, e);
            self.leave_cell(m);
            self.members[m].home = Home::Place(dest);
            self.members[m].cell = to;
            self.cells[to].members.insert(m);
            self.places[dest].residents += 1;
            return;
        }
    }

    // --- Cells --------------------------------------------------------------------------

    fn found_cell(&mut self, date: Date, p: usize) {
        let commune = self.places[p].commune;
        let parent = self.communes[commune].org.clone();
        let place = &self.places[p];
        let (org, name) = if place.residential {
            (
                format!("cb-tdp-{}", place.slug),
                format!("Chi bộ tổ dân phố {}", place.name),
            )
        } else {
            (format!("cb-{}", place.slug), format!("Chi bộ xóm {}", place.name))
        };
        let e = Event::OrganizationFounded(OrganizationFounded {
            org: id(&org),
            name: text(&name),
            kind: OrgKind::Cell,
            parent: Some(parent.clone()),
            localities: vec![place.locality.clone()],
        });
        self.emit_decided(date, e, parent.as_str(), "QĐ/ĐU");
        let cell = self.new_cell(id(&org), Some(p), Some(commune), date);
        self.places[p].cell = Some(cell);

        // The members living here leave the neighbouring cell for their own.
        let residents: Vec<usize> = (0..self.members.len())
            .filter(|&m| self.members[m].active && self.members[m].home == Home::Place(p))
            .collect();
        let mut left = BTreeSet::new();
        for m in residents {
            let from = self.members[m].cell;
            if self.cells[from].secretary == Some(m) {
                self.end_position(date, m, self.cells[from].org.clone(), CELL_SECRETARY);
                self.cells[from].secretary = None;
            }
            let e = Event::MemberTransferred(MemberTransferred {
                member: self.members[m].person.clone(),
                to_org: self.cells[cell].org.clone(),
                home_locality: None,
            });
            self.emit(date, e);
            self.cells[from].members.remove(&m);
            self.cells[cell].members.insert(m);
            self.members[m].cell = cell;
            left.insert(from);
        }
        self.ensure_secretary(date, cell);
        for from in left {
            self.ensure_secretary(date, from);
        }

        // Border posts send members on temporary activity: to found the cell of a white
        // spot, or to help a new cell of a border hamlet find its feet.
        if let Some(post) = self.communes[commune].post.filter(|_| date >= story_start()) {
            if self.places[p].start == Start::WhiteBorder {
                let until = date.plus_days(self.rng.between(540, 900));
                let count = self.rng.between(2, 3);
                self.start_temporary(date, post, cell, until, count as usize);
            } else if self.places[p].border {
                self.start_temporary(date, post, cell, date.plus_days(365), 1);
            }
        }
    }

    fn start_temporary(&mut self, date: Date, post: usize, cell: usize, until: Date, count: usize) {
        let mut available: Vec<usize> = self.posts[post]
            .cells
            .iter()
            .flat_map(|&c| self.cells[c].members.iter().copied())
            .filter(|&m| self.members[m].official && self.members[m].temporary.is_none())
            .collect();
        available.sort();
        self.rng.shuffle(&mut available);
        for m in available.into_iter().take(count) {
            let e = Event::TemporaryActivityStarted(TemporaryActivityStarted {
                member: self.members[m].person.clone(),
                host_org: self.cells[cell].org.clone(),
                until: Some(until),
            });
            self.emit(date, e);
            self.members[m].temporary = Some(cell);
            self.cells[cell].hosted.insert(m);
            self.schedule(until, Action::TemporaryEnd { member: m, cell });
        }
    }

    fn end_temporary(&mut self, date: Date, m: usize, cell: usize) {
        if self.members[m].temporary != Some(cell) || !self.members[m].active {
            return;
        }
        let e = Event::TemporaryActivityEnded(TemporaryActivityEnded {
            member: self.members[m].person.clone(),
            host_org: self.cells[cell].org.clone(),
        });
        self.emit(date, e);
        self.members[m].temporary = None;
        self.cells[cell].hosted.remove(&m);
    }

    /// A cell without a secretary elects its longest-standing official member.
    fn ensure_secretary(&mut self, date: Date, cell: usize) {
        if self.cells[cell].secretary.is_some() {
            return;
        }
        let pick = self.cells[cell]
            .members
            .iter()
            .copied()
            .filter(|&m| self.members[m].official)
            .min_by_key(|&m| (self.members[m].admitted, m));
        if let Some(m) = pick {
            let org = self.cells[cell].org.clone();
            self.assign_position(date, m, org, CELL_SECRETARY, None);
            self.cells[cell].secretary = Some(m);
        }
    }

    fn assign_position(&mut self, date: Date, m: usize, org: Id, position: &'static str, term: Option<&str>) {
        let e = Event::PositionAssigned(PositionAssigned {
            person: self.members[m].person.clone(),
            org: org.clone(),
            position: id(position),
            term: term.map(id),
        });
        self.emit(date, e);
        self.members[m].positions.push((org, position));
    }

    fn end_position(&mut self, date: Date, m: usize, org: Id, position: &'static str) {
        let e = Event::PositionEnded(PositionEnded {
            person: self.members[m].person.clone(),
            org: org.clone(),
            position: id(position),
        });
        self.emit(date, e);
        let held = &mut self.members[m].positions;
        if let Some(i) = held.iter().position(|(o, p)| *o == org && *p == position) {
            held.remove(i);
        }
    }

    /// On the first of each month: secretaries where missing, then the month's meetings and
    /// resolutions.
    fn open_month(&mut self, date: Date) {
        for cell in 0..self.cells.len() {
            if self.cells[cell].founded <= date {
                self.ensure_secretary(date, cell);
            }
        }
        if date < story_start() {
            return;
        }
        let (year, month) = (date.year(), date.naive().month());
        let resolution_per_mille = 40 + 5 * (year - STORY_FIRST_YEAR) as u64;
        for cell in 0..self.cells.len() {
            if self.cells[cell].founded > date {
                continue;
            }
            let day = self.cells[cell].meeting_day;
            self.schedule(ymd(year, month, day), Action::Meeting { cell, thematic: false });
            if self.rng.chance(25) {
                let thematic_day = self.rng.between(18, 25) as u32;
                self.schedule(ymd(year, month, thematic_day), Action::Meeting { cell, thematic: true });
            }
            if self.cells[cell].place.is_some() && self.rng.chance(resolution_per_mille) {
                self.schedule(ymd(year, month, day), Action::Resolution(cell));
            }
        }
    }

    fn hold_meeting(&mut self, date: Date, cell: usize, thematic: bool) {
        let present = (self.cells[cell].members.len() + self.cells[cell].hosted.len()) as i64;
        if present == 0 {
            return;
        }
        let attendance = present - self.rng.between(0, present / 4);
        let border = self.cells[cell].place.is_none_or(|p| self.places[p].border);
        let mut topics = Vec::new();
        if thematic {
            let mut themes = vec![
                "Chuyên đề: Xây dựng giao thông nông thôn",
                "Chuyên đề: Vận động nhân dân hiến đất làm đường",
                "Chuyên đề: Phát triển đảng viên ở nơi ít đảng viên",
            ];
            if date >= ymd(2007, 2, 7) {
                themes.push("Chuyên đề: Học tập và làm theo tấm gương đạo đức Hồ Chí Minh");
            }
            if border {
                themes.push("Chuyên đề: Bảo vệ chủ quyền lãnh thổ, an ninh biên giới");
            }
            topics.push(text(self.rng.pick(&themes)));
        } else {
            topics.push(text("Đánh giá kết quả thực hiện nhiệm vụ tháng"));
            topics.push(text("Triển khai nhiệm vụ tháng tới"));
            if date >= ymd(2012, 3, 2) && self.rng.chance(300) {
                topics.push(text("Sinh hoạt theo Hướng dẫn 09-HD/BTCTW"));
            } else if date >= ymd(2007, 3, 30) && self.rng.chance(200) {
                topics.push(text(
                    "Thực hiện Chỉ thị 10-CT/TW về nâng cao chất lượng sinh hoạt chi bộ",
                ));
            }
        }
        let e = Event::CellMeetingHeld(CellMeetingHeld {
            cell: self.cells[cell].org.clone(),
            kind: if thematic {
                MeetingKind::Thematic
            } else {
                MeetingKind::Regular
            },
            attendance: attendance as u32,
            supervisor_present: (!self.cells[cell].supervisors.is_empty()).then_some(true),
            topics,
        });
        self.emit(date, e);
    }

    fn adopt_resolution(&mut self, date: Date, cell: usize) {
        let Some(p) = self.cells[cell].place else { return };
        if self.cells[cell].members.is_empty() {
            return;
        }
        let roll = self.rng.below(1000);
        let place = self.places[p].name.clone();
        let (topic, title) = match roll {
            0..=349 => (
                ResolutionTopic::RuralRoads,
                format!("Bê tông hóa đường giao thông nông thôn {place}"),
            ),
            350..=549 => (
                ResolutionTopic::LandDonation,
                format!("Vận động nhân dân hiến đất làm đường {place}"),
            ),
            550..=749 => (
                ResolutionTopic::PublicWorks,
                format!("Xây dựng nhà văn hóa, kênh mương {place}"),
            ),
            750..=869 => (
                ResolutionTopic::Economy,
                format!("Phát triển trồng dẻ, chăn nuôi trâu bò {place}"),
            ),
            870..=929 => (
                ResolutionTopic::Security,
                format!("Giữ gìn an ninh trật tự, bảo vệ mốc giới {place}"),
            ),
            930..=979 => (
                ResolutionTopic::PartyBuilding,
                format!("Nâng cao chất lượng sinh hoạt chi bộ {place}"),
            ),
            _ => (ResolutionTopic::Other, format!("Xây dựng gia đình văn hóa {place}")),
        };
        self.cells[cell].resolutions += 1;
        let resolution = format!(
            "nq-{}-{}",
            self.cells[cell].org.as_str().trim_start_matches("cb-"),
            self.cells[cell].resolutions
        );
        let e = Event::ResolutionAdopted(ResolutionAdopted {
            cell: self.cells[cell].org.clone(),
            resolution: id(&resolution),
            topic,
            title: text(&format!("Nghị quyết: {title}")),
        });
        self.emit(date, e);
    }

    /// On 2 January: supervisors whose cells are no longer weak are released; this year's
    /// weak cells get a commune committee member in charge, who attends their meetings this
    /// year and next; a weak border cell also gets a border-post member on temporary activity.
    fn supervise_weak_cells(&mut self, date: Date) {
        let year = date.year();
        for cell in 0..self.cells.len() {
            if !self.cells[cell].supervisors.is_empty() && self.cells[cell].supervised_through < year {
                for m in std::mem::take(&mut self.cells[cell].supervisors) {
                    self.release_supervisor(date, m, cell);
                }
            }
        }
        let mut weak = Vec::new();
        for cell in 0..self.cells.len() {
            if self.cells[cell].commune.is_none() || self.cells[cell].founded >= ymd(year, 1, 1) {
                continue;
            }
            let per_mille = if self.cells[cell].members.len() < 4 { 150 } else { 35 };
            if self.rng.chance(per_mille) && weak.len() < 14 {
                weak.push(cell);
            }
        }
        for cell in weak {
            let commune = self.cells[cell].commune.expect("hamlet cells belong to a commune");
            let committee = self.communes[commune].committee.clone();
            if committee.is_empty() {
                continue;
            }
            self.cells[cell].weak_years.insert(year);
            self.cells[cell].supervised_through = year + 1;
            if self.cells[cell].supervisors.is_empty() {
                let m = self.rng.pick(&committee);
                self.assign_supervisor(date, m, cell);
            }
            let place = self.cells[cell].place.expect("hamlet cells cover their hamlet");
            if let Some(post) = self.communes[commune].post {
                if self.places[place].border && self.cells[cell].hosted.is_empty() {
                    self.start_temporary(date, post, cell, ymd(year, 12, 31), 1);
                }
            }
        }
    }

    fn assign_supervisor(&mut self, date: Date, m: usize, cell: usize) {
        let e = Event::SupervisorAssigned(SupervisorAssigned {
            member: self.members[m].person.clone(),
            cell: self.cells[cell].org.clone(),
        });
        self.emit(date, e);
        self.cells[cell].supervisors.push(m);
        self.members[m].supervising.push(cell);
    }

    fn release_supervisor(&mut self, date: Date, m: usize, cell: usize) {
        let e = Event::SupervisorReleased(SupervisorReleased {
            member: self.members[m].person.clone(),
            cell: self.cells[cell].org.clone(),
        });
        self.emit(date, e);
        self.cells[cell].supervisors.retain(|&s| s != m);
        self.members[m].supervising.retain(|&c| c != cell);
    }

    fn rate_cells(&mut self, date: Date) {
        let year = date.year();
        for cell in 0..self.cells.len() {
            if self.cells[cell].founded > date {
                continue;
            }
            let level = if self.cells[cell].weak_years.contains(&year) {
                QualityLevel::Weak
            } else {
                match self.rng.below(100) {
                    0..=14 => QualityLevel::Excellent,
                    15..=69 => QualityLevel::Good,
                    _ => QualityLevel::Fair,
                }
            };
            let e = Event::QualityRated(QualityRated {
                subject: self.cells[cell].org.clone(),
                year,
                level,
            });
            self.emit(date, e);
        }
    }

    // --- The yearly plans ---------------------------------------------------------------

    /// In August, the district plans next year's admissions: first the white spots whose
    /// first member is due that year, then recruits where members are few, 150 to 165 in
    /// all; and the candidates whose verification will be refused.
    fn plan_admissions(&mut self, year: i32) {
        let total = self
            .rng
            .between(ADMISSIONS_PER_YEAR_MIN as i64, ADMISSIONS_PER_YEAR_MAX as i64) as usize;
        let mut cleared = Vec::new();
        for p in 0..self.places.len() {
            if let Some(first) = self.places[p].first_member.filter(|f| f.year() == year) {
                let age = self.recruit_age();
                cleared.push(self.new_candidate(Home::Place(p), first, age, 450, None));
            }
        }
        while cleared.len() < total {
            let admit_on = ymd(year, 1, 10).plus_days(self.rng.between(0, 340));
            let p = self.recruiting_place(admit_on);
            let age = self.recruit_age();
            cleared.push(self.new_candidate(Home::Place(p), admit_on, age, 450, None));
        }
        let mut refused = Vec::new();
        for _ in 0..self.rng.between(12, 24) {
            let verified_on = ymd(year, 1, 5).plus_days(self.rng.between(0, 350));
            let p = self.recruiting_place(verified_on);
            let age = self.recruit_age();
            let mut candidate = self.new_candidate(Home::Place(p), verified_on, age, 450, None);
            candidate.verified_on = verified_on;
            // A refusal is most often a background that could not be cleared across the border.
            let kin_per_mille = if self.places[p].border { 750 } else { 300 };
            candidate.kin_abroad = self.rng.chance(kin_per_mille);
            refused.push(candidate);
        }
        self.schedule_candidates(cleared, refused);
    }

    fn recruit_age(&mut self) -> i32 {
        if self.rng.chance(850) {
            self.rng.between(19, 32) as i32
        } else {
            self.rng.between(33, 45) as i32
        }
    }

    /// A place for a recruit: any place that already has had its first member, weighted
    /// towards the ones with few members, as the article says the district did.
    fn recruiting_place(&mut self, date: Date) -> usize {
        let weights: Vec<u64> = self
            .places
            .iter()
            .map(|place| match place.first_member {
                Some(first) if first > date => 0,
                _ if place.residents < 3 => 4,
                _ => 1,
            })
            .collect();
        let mut roll = self.rng.below(weights.iter().sum());
        for (p, w) in weights.iter().enumerate() {
            if roll < *w {
                return p;
            }
            roll -= w;
        }
        unreachable!("the roll is below the sum of the weights")
    }

    /// On 1 January: the year's deaths, departures, discipline, exemptions and moves, each on
    /// a day of the year, the member chosen on that day.
    fn plan_year(&mut self, year: i32) {
        let counts = [
            (Action::Death, self.rng.between(8, 14)),
            (Action::Resignation, self.rng.between(1, 2)),
            (Action::Removal, self.rng.between(0, 1)),
            (Action::Discipline, self.rng.between(2, 3)),
            (Action::Exemption, self.rng.between(2, 5)),
            (Action::Move, self.rng.between(10, 18)),
        ];
        for (kind, count) in counts {
            for _ in 0..count {
                let date = ymd(year, 1, 5).plus_days(self.rng.between(0, 355));
                let action = match kind {
                    Action::Death => Action::Death,
                    Action::Resignation => Action::Resignation,
                    Action::Removal => Action::Removal,
                    Action::Discipline => Action::Discipline,
                    Action::Exemption => Action::Exemption,
                    _ => Action::Move,
                };
                self.schedule(date, action);
            }
        }
    }

    // --- Changes of names and minds ------------------------------------------------------

    /// The commune renames one of its hamlets after its households resettle along the new
    /// road, and the commune committee renames the hamlet's cell to match. The ids stay: an
    /// id names the hamlet and the cell, not what they are called. The new name is the first
    /// of the name list that no hamlet uses, so that no choice of the story is drawn for it.
    fn rename_hamlet(&mut self, date: Date, commune_slug: &str) {
        let commune = self.commune_by_slug(commune_slug);
        let hamlet = self.communes[commune].places.iter().copied().find(|&p| {
            !self.places[p].residential && self.places[p].cell.is_some_and(|c| self.cells[c].founded <= date)
        });
        let Some(p) = hamlet else { return };
        let used: BTreeSet<String> = self
            .places
            .iter()
            .flat_map(|place| [place.slug.clone(), ascii_slug(&place.name)])
            .collect();
        let new_name = PLACE_FIRST
            .iter()
            .flat_map(|first| PLACE_SECOND.iter().map(move |second| format!("{first} {second}")))
            .find(|name| !used.contains(&ascii_slug(name)))
            .expect("the name list holds more names than the district has hamlets");
        let e = Event::LocalityChanged(LocalityChanged {
            locality: self.places[p].locality.clone(),
            name: Some(text(&new_name)),
            parent: None,
            border: None,
        });
        self.emit(date, e);
        let cell = self.places[p].cell.expect("found above");
        let e = Event::OrganizationRenamed(OrganizationRenamed {
            org: self.cells[cell].org.clone(),
            name: text(&format!("Chi bộ xóm {new_name}")),
        });
        let committee = self.communes[commune].org.clone();
        self.emit_decided_on(date, date, e, committee.as_str(), "QĐ/ĐU");
        self.places[p].name = new_name;
    }

    /// The youngest member exempted for age and health returns to activity.
    fn revoke_an_exemption(&mut self, date: Date) {
        let exempted = (0..self.members.len())
            .filter(|&m| self.members[m].active && self.members[m].exempted)
            .max_by_key(|&m| (self.members[m].birth, m));
        let Some(m) = exempted else { return };
        let e = Event::ExemptionRevoked(ExemptionRevoked {
            member: self.members[m].person.clone(),
        });
        self.emit(date, e);
        self.members[m].exempted = false;
        self.members[m].exemption_revoked = true;
    }

    /// The revision of a term's plan drops the oldest cadre planned for the district
    /// committee, whom the term's congresses do not elect (they elect commune committees),
    /// so the rest of the story is unchanged.
    fn revise_plan(&mut self, date: Date, term: &'static str) {
        let district = id(DISTRICT_COMMITTEE.0);
        let oldest = self
            .plans
            .iter()
            .enumerate()
            .filter(|(_, (m, t, _, org))| *t == term && *org == district && self.members[*m].active)
            .min_by_key(|(i, (m, ..))| (self.members[*m].birth, *i))
            .map(|(i, _)| i);
        let Some(i) = oldest else { return };
        let (m, ..) = self.plans.remove(i);
        let e = Event::CadreUnplanned(CadreUnplanned {
            person: self.members[m].person.clone(),
            term: id(term),
        });
        self.emit(date, e);
    }

    // --- Cadres -------------------------------------------------------------------------

    fn issue_instrument(&mut self, date: Date, i: usize) {
        let spec = &INSTRUMENTS[i];
        let e = Event::InstrumentIssued(InstrumentIssued {
            instrument: id(spec.id),
            kind: spec.kind,
            title: text(spec.title),
            issuer: text(spec.issuer),
            starts: spec.period.map(|((y, m, d), _)| ymd(y, m, d)),
            ends: spec.period.map(|(_, (y, m, d))| ymd(y, m, d)),
        });
        self.emit(date, e);
    }

    /// Official members living in the commune, of an age to serve, not yet chosen.
    fn eligible_cadres(&self, commune: usize, date: Date, ages: (i32, i32), taken: &[usize]) -> Vec<usize> {
        (0..self.members.len())
            .filter(|&m| {
                let member = &self.members[m];
                let age = self.age(m, date);
                member.active
                    && member.official
                    && matches!(member.home, Home::Place(p) if self.places[p].commune == commune)
                    && (ages.0..=ages.1).contains(&age)
                    && !taken.contains(&m)
            })
            .collect()
    }

    /// A commune congress: the outgoing committee's positions end, and a new committee is
    /// elected from those planned for the term, some of the outgoing members, and others.
    fn hold_congress(&mut self, date: Date, term: &'static str) {
        for commune in 0..self.communes.len() {
            let org = self.communes[commune].org.clone();
            let outgoing = std::mem::take(&mut self.communes[commune].committee);
            for &m in &outgoing {
                let held: Vec<&'static str> = self.members[m]
                    .positions
                    .iter()
                    .filter(|(o, _)| *o == org)
                    .map(|(_, p)| *p)
                    .collect();
                for position in held {
                    self.end_position(date, m, org.clone(), position);
                }
            }
            let mut open: Vec<&'static str> = COMMITTEE_POSITIONS.to_vec();
            let mut elected: Vec<(usize, &'static str)> = Vec::new();
            let planned: Vec<(usize, &'static str)> = self
                .plans
                .iter()
                .filter(|(m, t, _, o)| *t == term && *o == org && self.members[*m].active && self.age(*m, date) <= 58)
                .map(|(m, _, p, _)| (*m, *p))
                .collect();
            for (m, position) in planned {
                elect(&mut elected, &mut open, m, position);
            }
            for &m in &outgoing {
                let already = elected.iter().any(|(e, _)| *e == m);
                if !already && self.members[m].active && self.age(m, date) <= 55 && self.rng.chance(500) {
                    elect(&mut elected, &mut open, m, COMMITTEE_MEMBER);
                }
            }
            let taken: Vec<usize> = elected.iter().map(|(m, _)| *m).collect();
            let mut pool = self.eligible_cadres(commune, date, (25, 55), &taken);
            self.rng.shuffle(&mut pool);
            for m in pool {
                if open.is_empty() {
                    break;
                }
                let position = open[0];
                elect(&mut elected, &mut open, m, position);
            }
            for (m, position) in elected.clone() {
                self.assign_position(date, m, org.clone(), position, Some(term));
                self.communes[commune].committee.push(m);
            }
            // The committee member in charge of a weak cell must sit on the new committee.
            for cell in 0..self.cells.len() {
                if self.cells[cell].commune != Some(commune) {
                    continue;
                }
                let committee = self.communes[commune].committee.clone();
                for s in self.cells[cell].supervisors.clone() {
                    if !committee.contains(&s) {
                        self.release_supervisor(date, s, cell);
                        if !committee.is_empty() && self.cells[cell].supervisors.is_empty() {
                            let successor = self.rng.pick(&committee);
                            self.assign_supervisor(date, successor, cell);
                        }
                    }
                }
            }
        }
    }

    /// Cadre planning for a term: per commune, a secretary, a deputy and committee members,
    /// young cadres and women among them, and one cadre for the district committee.
    fn plan_cadres(&mut self, date: Date, term: &'static str) {
        let district = id(DISTRICT_COMMITTEE.0);
        for commune in 0..self.communes.len() {
            let org = self.communes[commune].org.clone();
            let mut chosen: Vec<usize> = Vec::new();
            // One young woman and one other young cadre among five, then experienced cadres:
            // about a third young and more than a third women, as the plans' ratios require.
            let young = (24, YOUNG_CADRE_MAX_AGE);
            let experienced = (YOUNG_CADRE_MAX_AGE + 1, 50);
            let wants: [(Option<Sex>, (i32, i32)); 5] = [
                (Some(Sex::Female), young),
                (None, young),
                (Some(Sex::Male), experienced),
                (None, experienced),
                (Some(Sex::Male), experienced),
            ];
            for (sex, ages) in wants {
                let pool: Vec<usize> = self
                    .eligible_cadres(commune, date, ages, &chosen)
                    .into_iter()
                    .filter(|&m| sex.is_none_or(|s| self.members[m].sex == s))
                    .collect();
                if !pool.is_empty() {
                    chosen.push(self.rng.pick(&pool));
                }
            }
            // The oldest lead; the young are planned as committee members to grow into it.
            let mut by_age = chosen.clone();
            by_age.sort_by_key(|&m| (self.members[m].birth, m));
            let positions = [
                SECRETARY,
                DEPUTY_SECRETARY,
                COMMITTEE_MEMBER,
                COMMITTEE_MEMBER,
                COMMITTEE_MEMBER,
            ];
            for (m, position) in by_age.into_iter().zip(positions) {
                self.plan_cadre(date, m, term, position, org.clone());
            }
            let prefer_women = self.rng.chance(300);
            let pool: Vec<usize> = self
                .eligible_cadres(commune, date, experienced, &chosen)
                .into_iter()
                .filter(|&m| !prefer_women || self.members[m].sex == Sex::Female)
                .collect();
            if !pool.is_empty() {
                let m = self.rng.pick(&pool);
                self.plan_cadre(date, m, term, DISTRICT_COMMITTEE_MEMBER, district.clone());
            }
        }
    }

    fn plan_cadre(&mut self, date: Date, m: usize, term: &'static str, position: &'static str, org: Id) {
        let e = Event::CadrePlanned(CadrePlanned {
            person: self.members[m].person.clone(),
            term: id(term),
            position: id(position),
            org: org.clone(),
        });
        self.emit(date, e);
        self.members[m].planned = true;
        self.plans.push((m, term, position, org));
    }

    /// The start of 03-ĐA/TU: every commune committee member is assessed; 76 fall short.
    /// The oldest of those retire under policy; the others train, gap by gap, and are
    /// standardized before the project ends.
    fn assess_cadres(&mut self, date: Date) {
        let programme = id(STANDARDIZATION_PROGRAMME);
        let cadres: Vec<usize> = (0..self.communes.len())
            .flat_map(|c| self.communes[c].committee.clone())
            .collect();
        assert!(
            cadres.len() > BELOW_STANDARD_AT_START,
            "the demo needs more than {BELOW_STANDARD_AT_START} commune cadres, it has {}",
            cadres.len()
        );
        let mut older: Vec<usize> = cadres
            .iter()
            .copied()
            .filter(|&m| self.age(m, date) >= RETIREMENT_UNDER_POLICY_AGE)
            .collect();
        let mut others: Vec<usize> = cadres.iter().copied().filter(|m| !older.contains(m)).collect();
        self.rng.shuffle(&mut older);
        self.rng.shuffle(&mut others);
        older.truncate(12);
        let below: BTreeSet<usize> = older
            .iter()
            .chain(others.iter())
            .copied()
            .take(BELOW_STANDARD_AT_START)
            .collect();
        let dimensions = StandardDimension::ALL;
        for m in cadres {
            let gaps = if below.contains(&m) {
                let mut gaps: Vec<StandardDimension> = dimensions.to_vec();
                self.rng.shuffle(&mut gaps);
                gaps.truncate(self.rng.between(1, 3) as usize);
                gaps.sort();
                gaps
            } else {
                Vec::new()
            };
            let e = Event::CadreAssessed(CadreAssessed {
                person: self.members[m].person.clone(),
                programme: programme.clone(),
                meets_standard: gaps.is_empty(),
                gaps: gaps.clone(),
            });
            self.emit(date, e);
            if gaps.is_empty() {
                continue;
            }
            self.members[m].assessment_open = true;
            if older.contains(&m) {
                let retires = self.rng.date_between(ymd(2012, 4, 1), ymd(2014, 12, 31));
                self.schedule(retires, Action::RetireUnderPolicy(m));
                continue;
            }
            let mut day = self.rng.date_between(ymd(2012, 3, 1), ymd(2014, 6, 30));
            for dimension in gaps {
                self.schedule(day, Action::Training { member: m, dimension });
                day = day.plus_days(self.rng.between(60, 240)).min(ymd(2015, 10, 31));
            }
            let standardized_on = day.plus_days(self.rng.between(7, 30));
            self.schedule(standardized_on, Action::Standardize(m));
        }
    }

    fn complete_training(&mut self, date: Date, m: usize, dimension: StandardDimension) {
        let (course, level) = match dimension {
            StandardDimension::Education => ("Bổ túc văn hóa trung học phổ thông", "Tốt nghiệp trung học phổ thông"),
            StandardDimension::Professional => ("Trung cấp chuyên môn nghiệp vụ", "Trung cấp"),
            StandardDimension::PoliticalTheory => ("Trung cấp lý luận chính trị - hành chính", "Trung cấp"),
            StandardDimension::StateManagement => ("Bồi dưỡng kiến thức quản lý nhà nước", "Chuyên viên"),
        };
        let e = Event::TrainingCompleted(TrainingCompleted {
            person: self.members[m].person.clone(),
            course: text(course),
            dimension,
            level: text(level),
            programme: Some(id(STANDARDIZATION_PROGRAMME)),
        });
        self.emit(date, e);
    }

    fn standardize(&mut self, date: Date, m: usize) {
        let e = Event::CadreStandardized(CadreStandardized {
            person: self.members[m].person.clone(),
            programme: id(STANDARDIZATION_PROGRAMME),
        });
        self.emit(date, e);
        self.members[m].assessment_open = false;
    }

    /// An older cadre retires under policy: their commune posts end and go to others, and
    /// the cells they were in charge of get another committee member.
    fn retire_under_policy(&mut self, date: Date, m: usize) {
        let e = Event::CadreRetiredUnderPolicy(CadreRetiredUnderPolicy {
            person: self.members[m].person.clone(),
            programme: id(STANDARDIZATION_PROGRAMME),
        });
        self.emit(date, e);
        self.members[m].assessment_open = false;
        let commune = self.commune_of(self.members[m].home);
        let org = self.communes[commune].org.clone();
        let held: Vec<&'static str> = self.members[m]
            .positions
            .iter()
            .filter(|(o, _)| *o == org)
            .map(|(_, p)| *p)
            .collect();
        if held.is_empty() {
            return;
        }
        for &position in &held {
            self.end_position(date, m, org.clone(), position);
        }
        self.communes[commune].committee.retain(|&c| c != m);
        let term = CONGRESSES
            .iter()
            .rev()
            .find(|((y, mo, d), _)| ymd(*y, *mo, *d) <= date)
            .map(|(_, t)| *t);
        for position in held {
            let taken = self.communes[commune].committee.clone();
            let pool = self.eligible_cadres(commune, date, (25, 55), &taken);
            if pool.is_empty() {
                continue;
            }
            let successor = self.rng.pick(&pool);
            self.assign_position(date, successor, org.clone(), position, term);
            self.communes[commune].committee.push(successor);
        }
        for cell in self.members[m].supervising.clone() {
            self.release_supervisor(date, m, cell);
            let committee = self.communes[commune].committee.clone();
            if !committee.is_empty() {
                let successor = self.rng.pick(&committee);
                self.assign_supervisor(date, successor, cell);
            }
        }
    }

    // --- The audit of the admission records (transaction time) --------------------------

    /// On the clock's first day the district checks the admission records against the
    /// members' files and records, as corrections, what the clerks typed wrong. The ledger
    /// keeps what was typed: asked as of a `seq` before this batch, it still says it.
    ///
    /// Only members still on the rolls are corrected, since the rules let no event name an
    /// ended member. The names typed without diacritics were typed so at admission (see
    /// [`UNACCENTED_ADMISSIONS`]). The swapped birth date and the mistyped home hamlet are
    /// chosen now, once the story is told, among members none of its figures rely on, and
    /// their admission event, not yet appended, is given the value the clerk typed: a birth
    /// date of a member never planned as a cadre (so the plans' shares of young cadres do not
    /// move), and the home hamlet of a member admitted late who never moved house, typed as
    /// the next hamlet of the same commune, while the true one has other residents.
    fn audit_admission_records(&mut self, date: Date) {
        let mut corrected: BTreeSet<usize> = BTreeSet::new();
        for (m, name) in std::mem::take(&mut self.unaccented) {
            if self.members[m].active {
                self.correct(date, m, ProfileField::Name, &name, REASON_UNACCENTED_NAME);
                corrected.insert(m);
            }
        }

        let swapped = (0..self.members.len()).find_map(|m| {
            let member = &self.members[m];
            let birth = member.birth.naive();
            let (day, month) = (birth.day(), birth.month());
            if day > 12 || day == month {
                return None;
            }
            let typed = ymd(birth.year(), day, month);
            let age = member.admitted.years_since(typed);
            let admissible = (MIN_ADMISSION_AGE..=MAX_ADMISSION_AGE).contains(&age);
            (member.active
                && !member.planned
                && member.positions.is_empty()
                && member.admitted >= story_start()
                && admissible
                && !corrected.contains(&m))
            .then_some((m, typed))
        });
        if let Some((m, typed)) = swapped {
            let person = self.members[m].person.clone();
            self.admission_record(&person).birth_date = typed;
            let truth = self.members[m].birth.to_string();
            self.correct(date, m, ProfileField::BirthDate, &truth, REASON_SWAPPED_BIRTH_DATE);
            corrected.insert(m);
        }

        let moved: BTreeSet<Id> = self
            .out
            .iter()
            .filter_map(|s| match &s.event {
                Event::MemberTransferred(e) if e.home_locality.is_some() => Some(e.member.clone()),
                _ => None,
            })
            .collect();
        let mistyped = (0..self.members.len()).find_map(|m| {
            let member = &self.members[m];
            let Home::Place(p) = member.home else { return None };
            (member.active
                && !member.planned
                && member.admitted.year() >= MISTYPED_HOME_FROM_YEAR
                && !moved.contains(&member.person)
                && self.places[p].residents >= 2
                && !corrected.contains(&m))
            .then_some((m, p))
        });
        if let Some((m, p)) = mistyped {
            let places = &self.communes[self.places[p].commune].places;
            let next =
                places[(places.iter().position(|&q| q == p).expect("a place of its commune") + 1) % places.len()];
            let typed = self.places[next].locality.clone();
            let person = self.members[m].person.clone();
            self.admission_record(&person).home_locality = typed;
            let truth = self.places[p].locality.to_string();
            self.correct(date, m, ProfileField::HomeLocality, &truth, REASON_MISTYPED_HOME);
        }
    }

    /// The admission event of `person`, among those emitted so far.
    fn admission_record(&mut self, person: &Id) -> &mut MemberAdmitted {
        self.out
            .iter_mut()
            .find_map(|s| match &mut s.event {
                Event::MemberAdmitted(e) if &e.member == person => Some(e),
                _ => None,
            })
            .expect("every member was admitted")
    }

    fn correct(&mut self, date: Date, m: usize, field: ProfileField, value: &str, reason: &str) {
        let e = Event::ProfileCorrected(ProfileCorrected {
            subject: self.members[m].person.clone(),
            field,
            value: text(value),
            reason: text(reason),
        });
        self.emit(date, e);
    }
}
