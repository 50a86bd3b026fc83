//! The rules of the catalogue, given/when/then: given a small Trùng Khánh world of
//! localities, organizations, members and instruments, when one more event is submitted,
//! then it is accepted, or it is refused with the stable name of the rule it broke and a
//! message that names the offending id or value, and the state is left as it was.
//!
//! Every rule name written in `src/rules/mod.rs` must be broken by at least one case here;
//! a test scans that file so a new rule cannot be added without a case that triggers it.
//! The last tests go through the real writer: a batch whose last event breaks a rule
//! appends nothing, and does not disturb batches accepted alongside it.

use std::collections::BTreeSet;
use std::sync::Barrier;

use orgledger::event::{Date, Id, Submission, EVENT_TYPES};
use orgledger::ledger::{AppendError, Ledger, LedgerOptions};
use orgledger::rules::{MemberStatus, RuleViolation, State};

/// The day the pure tests pretend to record on. Fixed, so that the future-date rule and
/// every case give the same answer whatever day the suite runs.
const TODAY: &str = "2026-11-27";

/// The world every case starts from, in effective-date order. Cao Bằng province, Trùng
/// Khánh district, two border communes; hamlets with and without a cell (Lũng Rì is a white
/// spot); the provincial, district and grassroots committees; a border-post committee with
/// its cell; three official members (one a border-post soldier), one probationary member
/// admitted 2024-06-01, two verified candidates (one refused), and the 03-ĐA/TU programme
/// under which one cadre is below standard and one meets it.
const WORLD: &[&str] = &[
    r#"{"type":"LocalityRegistered","effective":"2000-01-01","locality":"tinh-cao-bang","name":"Cao Bằng","kind":"province","border":true}"#,
    r#"{"type":"LocalityRegistered","effective":"2000-01-01","locality":"huyen-trung-khanh","name":"Trùng Khánh","kind":"district","parent":"tinh-cao-bang","border":true}"#,
    r#"{"type":"LocalityRegistered","effective":"2000-01-01","locality":"xa-ngoc-khe","name":"Ngọc Khê","kind":"commune","parent":"huyen-trung-khanh","border":true}"#,
    r#"{"type":"LocalityRegistered","effective":"2000-01-01","locality":"xa-dam-thuy","name":"Đàm Thủy","kind":"commune","parent":"huyen-trung-khanh","border":true}"#,
    r#"{"type":"LocalityRegistered","effective":"2000-01-01","locality":"xom-pac-ngoa","name":"Pác Ngòa","kind":"hamlet","parent":"xa-ngoc-khe","border":true}"#,
    r#"{"type":"LocalityRegistered","effective":"2000-01-01","locality":"xom-na-ray","name":"Nà Rày","kind":"hamlet","parent":"xa-ngoc-khe","border":false}"#,
    r#"{"type":"LocalityRegistered","effective":"2000-01-01","locality":"xom-ban-gioc","name":"Bản Giốc","kind":"hamlet","parent":"xa-dam-thuy","border":true}"#,
    r#"{"type":"LocalityRegistered","effective":"2000-01-01","locality":"xom-lung-ri","name":"Lũng Rì","kind":"hamlet","parent":"xa-dam-thuy","border":false}"#,
    r#"{"type":"OrganizationFounded","effective":"2000-02-01","decision":{"number":"01-QĐ/TW","date":"2000-01-20","issuer":"ban-to-chuc-trung-uong"},"org":"tinh-uy-cao-bang","name":"Đảng bộ tỉnh Cao Bằng","kind":"provincial_committee","localities":["tinh-cao-bang"]}"#,
    r#"{"type":"OrganizationFounded","effective":"2000-02-01","decision":{"number":"02-QĐ/TU","date":"2000-01-20","issuer":"tinh-uy-cao-bang"},"org":"huyen-uy-trung-khanh","name":"Đảng bộ huyện Trùng Khánh","kind":"district_committee","parent":"tinh-uy-cao-bang","localities":["huyen-trung-khanh"]}"#,
    r#"{"type":"OrganizationFounded","effective":"2000-02-01","decision":{"number":"10-QĐ/HU","date":"2000-01-20","issuer":"huyen-uy-trung-khanh"},"org":"dang-uy-ngoc-khe","name":"Đảng bộ xã Ngọc Khê","kind":"grassroots_committee","parent":"huyen-uy-trung-khanh","localities":["xa-ngoc-khe"]}"#,
    r#"{"type":"OrganizationFounded","effective":"2000-02-01","decision":{"number":"11-QĐ/HU","date":"2000-01-20","issuer":"huyen-uy-trung-khanh"},"org":"dang-uy-dam-thuy","name":"Đảng bộ xã Đàm Thủy","kind":"grassroots_committee","parent":"huyen-uy-trung-khanh","localities":["xa-dam-thuy"]}"#,
    r#"{"type":"OrganizationFounded","effective":"2000-02-01","decision":{"number":"03-QĐ/TU","date":"2000-01-20","issuer":"tinh-uy-cao-bang"},"org":"dang-uy-don-ngoc-khe","name":"Đảng bộ Đồn Biên phòng Ngọc Khê","kind":"border_post_committee","parent":"tinh-uy-cao-bang","localities":["xa-ngoc-khe"]}"#,
    r#"{"type":"OrganizationFounded","effective":"2000-02-01","decision":{"number":"04-QĐ/ĐU","date":"2000-01-20","issuer":"dang-uy-don-ngoc-khe"},"org":"cb-don-ngoc-khe","name":"Chi bộ Đồn Biên phòng Ngọc Khê","kind":"cell","parent":"dang-uy-don-ngoc-khe","localities":[]}"#,
    r#"{"type":"OrganizationFounded","effective":"2000-02-01","decision":{"number":"05-QĐ/ĐU","date":"2000-01-20","issuer":"dang-uy-ngoc-khe"},"org":"cb-pac-ngoa","name":"Chi bộ xóm Pác Ngòa","kind":"cell","parent":"dang-uy-ngoc-khe","localities":["xom-pac-ngoa"]}"#,
    r#"{"type":"OrganizationFounded","effective":"2000-02-01","decision":{"number":"06-QĐ/ĐU","date":"2000-01-20","issuer":"dang-uy-ngoc-khe"},"org":"cb-na-ray","name":"Chi bộ xóm Nà Rày","kind":"cell","parent":"dang-uy-ngoc-khe","localities":["xom-na-ray"]}"#,
    r#"{"type":"OrganizationFounded","effective":"2000-02-01","decision":{"number":"07-QĐ/ĐU","date":"2000-01-20","issuer":"dang-uy-dam-thuy"},"org":"cb-ban-gioc","name":"Chi bộ xóm Bản Giốc","kind":"cell","parent":"dang-uy-dam-thuy","localities":["xom-ban-gioc"]}"#,
    r#"{"type":"BackgroundVerified","effective":"2000-03-01","person":"dv-001","outcome":"cleared","kin_abroad":false}"#,
    r#"{"type":"MemberAdmitted","effective":"2000-03-15","decision":{"number":"21-QĐ/HU","date":"2000-03-10","issuer":"huyen-uy-trung-khanh"},"member":"dv-001","name":"Nông Văn An","sex":"male","birth_date":"1960-05-01","home_locality":"xom-pac-ngoa","org":"cb-pac-ngoa"}"#,
    r#"{"type":"MemberOfficialized","effective":"2001-03-15","decision":{"number":"35-QĐ/HU","date":"2001-03-10","issuer":"huyen-uy-trung-khanh"},"member":"dv-001"}"#,
    r#"{"type":"BackgroundVerified","effective":"2002-05-01","person":"dv-002","outcome":"cleared","kin_abroad":true}"#,
    r#"{"type":"MemberAdmitted","effective":"2002-06-01","decision":{"number":"48-QĐ/HU","date":"2002-05-25","issuer":"huyen-uy-trung-khanh"},"member":"dv-002","name":"Hoàng Thị Bích","sex":"female","birth_date":"1975-08-20","home_locality":"xom-ban-gioc","org":"cb-ban-gioc","introducers":["dv-001"]}"#,
    r#"{"type":"MemberOfficialized","effective":"2003-06-01","decision":{"number":"61-QĐ/HU","date":"2003-05-28","issuer":"huyen-uy-trung-khanh"},"member":"dv-002"}"#,
    r#"{"type":"BackgroundVerified","effective":"2010-01-05","person":"dv-003","outcome":"cleared","kin_abroad":false}"#,
    r#"{"type":"MemberAdmitted","effective":"2010-02-01","decision":{"number":"12-QĐ/ĐU","date":"2010-01-28","issuer":"dang-uy-don-ngoc-khe"},"member":"dv-003","name":"Lục Văn Cường","sex":"male","birth_date":"1985-11-11","home_locality":"xa-ngoc-khe","org":"cb-don-ngoc-khe"}"#,
    r#"{"type":"MemberOfficialized","effective":"2011-02-01","decision":{"number":"19-QĐ/ĐU","date":"2011-01-28","issuer":"dang-uy-don-ngoc-khe"},"member":"dv-003"}"#,
    r#"{"type":"InstrumentIssued","effective":"2020-01-01","instrument":"03-da-tu","kind":"project","title":"Đề án 03-ĐA/TU về chuẩn hóa đội ngũ cán bộ cơ sở","issuer":"Tỉnh ủy Cao Bằng","starts":"2020-01-01","ends":"2025-12-31"}"#,
    r#"{"type":"CadreAssessed","effective":"2020-06-01","person":"dv-001","programme":"03-da-tu","meets_standard":false,"gaps":["political_theory","state_management"]}"#,
    r#"{"type":"CadreAssessed","effective":"2020-06-01","person":"dv-002","programme":"03-da-tu","meets_standard":true,"gaps":[]}"#,
    r#"{"type":"BackgroundVerified","effective":"2024-01-10","person":"ung-vien-020","outcome":"cleared","kin_abroad":false}"#,
    r#"{"type":"BackgroundVerified","effective":"2024-01-10","person":"ung-vien-021","outcome":"refused","kin_abroad":true}"#,
    r#"{"type":"BackgroundVerified","effective":"2024-05-01","person":"dv-010","outcome":"cleared","kin_abroad":false}"#,
    r#"{"type":"MemberAdmitted","effective":"2024-06-01","decision":{"number":"88-QĐ/HU","date":"2024-05-28","issuer":"huyen-uy-trung-khanh"},"member":"dv-010","name":"Đàm Thị Hoa","sex":"female","birth_date":"2000-02-02","home_locality":"xom-pac-ngoa","org":"cb-pac-ngoa","introducers":["dv-001","dv-002"]}"#,
];

fn today() -> Date {
    day(TODAY)
}

fn day(text: &str) -> Date {
    Date::parse(text).expect("a test date")
}

fn id(text: &str) -> Id {
    Id::parse(text).expect("a test id")
}

/// Parses one input line; a line that does not parse is a mistake in the test itself.
fn submission(line: &str) -> Submission {
    Submission::from_json(line).unwrap_or_else(|e| panic!("test line does not parse: {e}\n{line}"))
}

/// Folds lines into `state`; every one of them must be accepted, since they are the "given".
fn fold(state: &mut State, lines: &[&str]) {
    for line in lines {
        if let Err(v) = state.submit(&submission(line), today()) {
            panic!("a given event was refused: {v}\n{line}");
        }
    }
}

/// The world, then `extra` given events on top of it.
fn given(extra: &[&str]) -> State {
    let mut state = State::new();
    fold(&mut state, WORLD);
    fold(&mut state, extra);
    state
}

/// The whole state as text. A clone of the state has its maps laid out as the original's,
/// so a state the rules left untouched prints exactly as its clone does, and any change to
/// it shows here.
fn snapshot(state: &State) -> String {
    format!("{state:?}")
}

/// One way to break one rule: given these events on top of the world, when this event is
/// submitted, it is refused by `rule` with a message that contains `mentions`.
struct Broken {
    rule: &'static str,
    /// What the case stands for in the domain, printed when it fails.
    story: &'static str,
    given: &'static [&'static str],
    when: &'static str,
    mentions: &'static str,
}

/// At least one case per rule name of `src/rules/mod.rs`; several where a rule guards more
/// than one path (a locality and an organization parent, an org and a person rating...).
const BROKEN: &[Broken] = &[
    // Envelope and ordering rules.
    Broken {
        rule: "effective_in_future",
        story: "a renaming dated two days after the day it is recorded",
        given: &[],
        when: r#"{"type":"OrganizationRenamed","effective":"2026-11-29","org":"cb-pac-ngoa","name":"Chi bộ Pác Ngòa mới"}"#,
        mentions: "2026-11-29",
    },
    Broken {
        rule: "decision_required",
        story: "a cell founded without the decision that founds it",
        given: &[],
        when: r#"{"type":"OrganizationFounded","effective":"2025-03-01","org":"cb-lung-ri","name":"Chi bộ xóm Lũng Rì","kind":"cell","parent":"dang-uy-dam-thuy","localities":["xom-lung-ri"]}"#,
        mentions: "OrganizationFounded",
    },
    Broken {
        rule: "decision_required",
        story: "an expulsion recorded without the decision that expels",
        given: &[],
        when: r#"{"type":"MembershipEnded","effective":"2025-03-01","member":"dv-001","reason":"expelled"}"#,
        mentions: "MembershipEnded",
    },
    Broken {
        rule: "decision_after_effective",
        story: "an officialization resting on a decision signed the day after",
        given: &[],
        when: r#"{"type":"MemberOfficialized","effective":"2025-06-01","decision":{"number":"45-QĐ/HU","date":"2025-06-02","issuer":"huyen-uy-trung-khanh"},"member":"dv-010"}"#,
        mentions: "45-QĐ/HU",
    },
    Broken {
        rule: "effective_date_backwards",
        story: "an exemption back-dated before the member's last recorded fact",
        given: &[],
        when: r#"{"type":"MemberExempted","effective":"2010-01-01","member":"dv-001","reason":"Tuổi cao"}"#,
        mentions: "dv-001",
    },
    Broken {
        rule: "entity_ended",
        story: "a member who died is exempted afterwards",
        given: &[r#"{"type":"MembershipEnded","effective":"2025-01-10","member":"dv-002","reason":"died"}"#],
        when: r#"{"type":"MemberExempted","effective":"2025-03-01","member":"dv-002","reason":"Ốm đau"}"#,
        mentions: "dv-002",
    },
    Broken {
        rule: "entity_ended",
        story: "a cell founded over a retired hamlet",
        given: &[r#"{"type":"LocalityRetired","effective":"2025-01-10","locality":"xom-lung-ri"}"#],
        when: r#"{"type":"OrganizationFounded","effective":"2025-03-01","decision":{"number":"70-QĐ/ĐU","date":"2025-02-20","issuer":"dang-uy-dam-thuy"},"org":"cb-lung-ri","name":"Chi bộ xóm Lũng Rì","kind":"cell","parent":"dang-uy-dam-thuy","localities":["xom-lung-ri"]}"#,
        mentions: "xom-lung-ri",
    },
    Broken {
        rule: "entity_ended",
        story: "a dissolved cell renamed afterwards",
        given: &[
            r#"{"type":"OrganizationDissolved","effective":"2025-01-10","decision":{"number":"71-QĐ/ĐU","date":"2025-01-05","issuer":"dang-uy-ngoc-khe"},"org":"cb-na-ray"}"#,
        ],
        when: r#"{"type":"OrganizationRenamed","effective":"2025-03-01","org":"cb-na-ray","name":"Chi bộ Nà Rày"}"#,
        mentions: "cb-na-ray",
    },
    // Ids.
    Broken {
        rule: "id_in_use",
        story: "a hamlet registered a second time",
        given: &[],
        when: r#"{"type":"LocalityRegistered","effective":"2025-03-01","locality":"xom-pac-ngoa","name":"Pác Ngòa","kind":"hamlet","parent":"xa-ngoc-khe","border":true}"#,
        mentions: "xom-pac-ngoa",
    },
    Broken {
        rule: "id_in_use",
        story: "a candidate verified under a cell's id",
        given: &[],
        when: r#"{"type":"BackgroundVerified","effective":"2025-03-01","person":"cb-pac-ngoa","outcome":"cleared","kin_abroad":false}"#,
        mentions: "cb-pac-ngoa",
    },
    Broken {
        rule: "id_in_use",
        story: "a member admitted under a programme's id",
        given: &[],
        when: r#"{"type":"MemberAdmitted","effective":"2025-03-01","decision":{"number":"90-QĐ/HU","date":"2025-02-20","issuer":"huyen-uy-trung-khanh"},"member":"03-da-tu","name":"Nông Thị Mai","sex":"female","birth_date":"1990-01-01","home_locality":"xom-pac-ngoa","org":"cb-pac-ngoa"}"#,
        mentions: "03-da-tu",
    },
    Broken {
        rule: "id_in_use",
        story: "two cells adopt resolutions under the same id",
        given: &[
            r#"{"type":"ResolutionAdopted","effective":"2025-01-10","cell":"cb-ban-gioc","resolution":"nq-01-2025","topic":"rural_roads","title":"Làm đường bê tông"}"#,
        ],
        when: r#"{"type":"ResolutionAdopted","effective":"2025-03-01","cell":"cb-pac-ngoa","resolution":"nq-01-2025","topic":"land_donation","title":"Hiến đất làm đường"}"#,
        mentions: "nq-01-2025",
    },
    // References as of the effective date.
    Broken {
        rule: "locality_unknown",
        story: "a cell covering a hamlet nobody registered",
        given: &[],
        when: r#"{"type":"OrganizationFounded","effective":"2025-03-01","decision":{"number":"72-QĐ/ĐU","date":"2025-02-20","issuer":"dang-uy-dam-thuy"},"org":"cb-khuoi-ky","name":"Chi bộ xóm Khuổi Ky","kind":"cell","parent":"dang-uy-dam-thuy","localities":["xom-khuoi-ky"]}"#,
        mentions: "xom-khuoi-ky",
    },
    Broken {
        rule: "locality_not_yet_registered",
        story: "a cell founded before the hamlet it covers was registered",
        given: &[
            r#"{"type":"LocalityRegistered","effective":"2025-06-01","locality":"xom-khuoi-ky","name":"Khuổi Ky","kind":"hamlet","parent":"xa-dam-thuy","border":true}"#,
        ],
        when: r#"{"type":"OrganizationFounded","effective":"2025-03-01","decision":{"number":"72-QĐ/ĐU","date":"2025-02-20","issuer":"dang-uy-dam-thuy"},"org":"cb-khuoi-ky","name":"Chi bộ xóm Khuổi Ky","kind":"cell","parent":"dang-uy-dam-thuy","localities":["xom-khuoi-ky"]}"#,
        mentions: "xom-khuoi-ky",
    },
    Broken {
        rule: "organization_unknown",
        story: "a transfer to a cell that was never founded",
        given: &[],
        when: r#"{"type":"MemberTransferred","effective":"2025-03-01","member":"dv-001","to_org":"cb-khong-co"}"#,
        mentions: "cb-khong-co",
    },
    Broken {
        rule: "organization_not_yet_founded",
        story: "a transfer dated before the target cell was founded",
        given: &[
            r#"{"type":"OrganizationFounded","effective":"2025-06-01","decision":{"number":"73-QĐ/ĐU","date":"2025-05-20","issuer":"dang-uy-dam-thuy"},"org":"cb-lung-ri","name":"Chi bộ xóm Lũng Rì","kind":"cell","parent":"dang-uy-dam-thuy","localities":["xom-lung-ri"]}"#,
        ],
        when: r#"{"type":"MemberTransferred","effective":"2025-03-01","member":"dv-002","to_org":"cb-lung-ri"}"#,
        mentions: "cb-lung-ri",
    },
    Broken {
        rule: "not_a_cell",
        story: "a candidate admitted straight into a commune committee",
        given: &[],
        when: r#"{"type":"MemberAdmitted","effective":"2025-03-01","decision":{"number":"90-QĐ/HU","date":"2025-02-20","issuer":"huyen-uy-trung-khanh"},"member":"ung-vien-020","name":"Nông Thị Mai","sex":"female","birth_date":"1990-01-01","home_locality":"xom-pac-ngoa","org":"dang-uy-ngoc-khe"}"#,
        mentions: "dang-uy-ngoc-khe",
    },
    Broken {
        rule: "member_unknown",
        story: "a verified candidate who was never admitted is exempted",
        given: &[],
        when: r#"{"type":"MemberExempted","effective":"2025-03-01","member":"ung-vien-020","reason":"Ốm đau"}"#,
        mentions: "ung-vien-020",
    },
    Broken {
        rule: "member_not_yet_admitted",
        story: "an introducer who is admitted only after the admission they introduce",
        given: &[
            r#"{"type":"BackgroundVerified","effective":"2025-05-01","person":"dv-040","outcome":"cleared","kin_abroad":false}"#,
            r#"{"type":"MemberAdmitted","effective":"2025-06-01","decision":{"number":"95-QĐ/HU","date":"2025-05-25","issuer":"huyen-uy-trung-khanh"},"member":"dv-040","name":"Hà Văn Sơn","sex":"male","birth_date":"1980-04-04","home_locality":"xom-ban-gioc","org":"cb-ban-gioc"}"#,
        ],
        when: r#"{"type":"MemberAdmitted","effective":"2025-03-01","decision":{"number":"90-QĐ/HU","date":"2025-02-20","issuer":"huyen-uy-trung-khanh"},"member":"ung-vien-020","name":"Nông Thị Mai","sex":"female","birth_date":"1990-01-01","home_locality":"xom-pac-ngoa","org":"cb-pac-ngoa","introducers":["dv-040"]}"#,
        mentions: "dv-040",
    },
    // Territory.
    Broken {
        rule: "parent_required",
        story: "a hamlet registered without its commune",
        given: &[],
        when: r#"{"type":"LocalityRegistered","effective":"2025-03-01","locality":"xom-khuoi-ky","name":"Khuổi Ky","kind":"hamlet","border":true}"#,
        mentions: "hamlet",
    },
    Broken {
        rule: "parent_required",
        story: "a cell founded without a parent committee",
        given: &[],
        when: r#"{"type":"OrganizationFounded","effective":"2025-03-01","decision":{"number":"72-QĐ/ĐU","date":"2025-02-20","issuer":"dang-uy-dam-thuy"},"org":"cb-lung-ri","name":"Chi bộ xóm Lũng Rì","kind":"cell","localities":["xom-lung-ri"]}"#,
        mentions: "cell",
    },
    Broken {
        rule: "parent_kind",
        story: "a hamlet hung directly under the district",
        given: &[],
        when: r#"{"type":"LocalityRegistered","effective":"2025-03-01","locality":"xom-khuoi-ky","name":"Khuổi Ky","kind":"hamlet","parent":"huyen-trung-khanh","border":true}"#,
        mentions: "huyen-trung-khanh",
    },
    Broken {
        rule: "parent_kind",
        story: "a province registered under another province",
        given: &[],
        when: r#"{"type":"LocalityRegistered","effective":"2025-03-01","locality":"tinh-lang-son","name":"Lạng Sơn","kind":"province","parent":"tinh-cao-bang","border":true}"#,
        mentions: "tinh-cao-bang",
    },
    Broken {
        rule: "parent_kind",
        story: "a hamlet made its own parent",
        given: &[],
        when: r#"{"type":"LocalityChanged","effective":"2025-03-01","locality":"xom-lung-ri","parent":"xom-lung-ri"}"#,
        mentions: "own parent",
    },
    Broken {
        rule: "parent_kind",
        story: "a cell founded directly under the district committee",
        given: &[],
        when: r#"{"type":"OrganizationFounded","effective":"2025-03-01","decision":{"number":"72-QĐ/HU","date":"2025-02-20","issuer":"huyen-uy-trung-khanh"},"org":"cb-lung-ri","name":"Chi bộ xóm Lũng Rì","kind":"cell","parent":"huyen-uy-trung-khanh","localities":["xom-lung-ri"]}"#,
        mentions: "huyen-uy-trung-khanh",
    },
    Broken {
        rule: "duplicate_locality",
        story: "a cell that lists its hamlet twice",
        given: &[],
        when: r#"{"type":"OrganizationFounded","effective":"2025-03-01","decision":{"number":"72-QĐ/ĐU","date":"2025-02-20","issuer":"dang-uy-dam-thuy"},"org":"cb-lung-ri","name":"Chi bộ xóm Lũng Rì","kind":"cell","parent":"dang-uy-dam-thuy","localities":["xom-lung-ri","xom-lung-ri"]}"#,
        mentions: "xom-lung-ri",
    },
    Broken {
        rule: "nothing_changed",
        story: "a locality change that changes nothing",
        given: &[],
        when: r#"{"type":"LocalityChanged","effective":"2025-03-01","locality":"xom-lung-ri"}"#,
        mentions: "xom-lung-ri",
    },
    Broken {
        rule: "locality_has_children",
        story: "a commune retired while its hamlets remain",
        given: &[],
        when: r#"{"type":"LocalityRetired","effective":"2025-03-01","locality":"xa-ngoc-khe"}"#,
        mentions: "xa-ngoc-khe",
    },
    Broken {
        rule: "merge_target",
        story: "a hamlet merged into a commune",
        given: &[],
        when: r#"{"type":"LocalityRetired","effective":"2025-03-01","locality":"xom-lung-ri","merged_into":"xa-dam-thuy"}"#,
        mentions: "xa-dam-thuy",
    },
    Broken {
        rule: "merge_target",
        story: "a hamlet merged into itself",
        given: &[],
        when: r#"{"type":"LocalityRetired","effective":"2025-03-01","locality":"xom-lung-ri","merged_into":"xom-lung-ri"}"#,
        mentions: "itself",
    },
    Broken {
        rule: "merge_target",
        story: "a cell merged into a grassroots committee",
        given: &[],
        when: r#"{"type":"OrganizationDissolved","effective":"2025-03-01","decision":{"number":"74-QĐ/ĐU","date":"2025-02-20","issuer":"dang-uy-ngoc-khe"},"org":"cb-na-ray","merged_into":"dang-uy-ngoc-khe"}"#,
        mentions: "dang-uy-ngoc-khe",
    },
    Broken {
        rule: "merge_target",
        story: "a cell merged into itself",
        given: &[],
        when: r#"{"type":"OrganizationDissolved","effective":"2025-03-01","decision":{"number":"74-QĐ/ĐU","date":"2025-02-20","issuer":"dang-uy-ngoc-khe"},"org":"cb-na-ray","merged_into":"cb-na-ray"}"#,
        mentions: "itself",
    },
    // Organizations.
    Broken {
        rule: "organization_has_members",
        story: "a cell dissolved while its members are still in it",
        given: &[],
        when: r#"{"type":"OrganizationDissolved","effective":"2025-03-01","decision":{"number":"74-QĐ/ĐU","date":"2025-02-20","issuer":"dang-uy-ngoc-khe"},"org":"cb-pac-ngoa"}"#,
        mentions: "cb-pac-ngoa",
    },
    Broken {
        rule: "organization_has_members",
        story: "a cell dissolved while it hosts a border-post soldier on temporary activity",
        given: &[
            r#"{"type":"TemporaryActivityStarted","effective":"2025-01-10","member":"dv-003","host_org":"cb-na-ray"}"#,
        ],
        when: r#"{"type":"OrganizationDissolved","effective":"2025-03-01","decision":{"number":"74-QĐ/ĐU","date":"2025-02-20","issuer":"dang-uy-ngoc-khe"},"org":"cb-na-ray"}"#,
        mentions: "cb-na-ray",
    },
    Broken {
        rule: "organization_has_children",
        story: "a commune committee dissolved while its cell is active",
        given: &[],
        when: r#"{"type":"OrganizationDissolved","effective":"2025-03-01","decision":{"number":"75-QĐ/HU","date":"2025-02-20","issuer":"huyen-uy-trung-khanh"},"org":"dang-uy-dam-thuy"}"#,
        mentions: "dang-uy-dam-thuy",
    },
    // Membership lifecycle.
    Broken {
        rule: "already_member",
        story: "a member's background verified again as if a candidate",
        given: &[],
        when: r#"{"type":"BackgroundVerified","effective":"2025-03-01","person":"dv-001","outcome":"cleared","kin_abroad":false}"#,
        mentions: "dv-001",
    },
    Broken {
        rule: "already_member",
        story: "a member admitted a second time",
        given: &[],
        when: r#"{"type":"MemberAdmitted","effective":"2025-03-01","decision":{"number":"90-QĐ/HU","date":"2025-02-20","issuer":"huyen-uy-trung-khanh"},"member":"dv-001","name":"Nông Văn An","sex":"male","birth_date":"1960-05-01","home_locality":"xom-pac-ngoa","org":"cb-pac-ngoa"}"#,
        mentions: "dv-001",
    },
    Broken {
        rule: "background_not_cleared",
        story: "a candidate admitted although the verification refused them",
        given: &[],
        when: r#"{"type":"MemberAdmitted","effective":"2025-03-01","decision":{"number":"90-QĐ/HU","date":"2025-02-20","issuer":"huyen-uy-trung-khanh"},"member":"ung-vien-021","name":"Lý Văn Tú","sex":"male","birth_date":"1995-07-07","home_locality":"xom-ban-gioc","org":"cb-ban-gioc"}"#,
        mentions: "ung-vien-021",
    },
    Broken {
        rule: "background_not_cleared",
        story: "a person admitted with no verification at all",
        given: &[],
        when: r#"{"type":"MemberAdmitted","effective":"2025-03-01","decision":{"number":"90-QĐ/HU","date":"2025-02-20","issuer":"huyen-uy-trung-khanh"},"member":"ung-vien-099","name":"Lý Thị Thu","sex":"female","birth_date":"1995-07-07","home_locality":"xom-ban-gioc","org":"cb-ban-gioc"}"#,
        mentions: "ung-vien-099",
    },
    Broken {
        rule: "admission_age",
        story: "a candidate admitted at seventeen",
        given: &[],
        when: r#"{"type":"MemberAdmitted","effective":"2025-03-01","decision":{"number":"90-QĐ/HU","date":"2025-02-20","issuer":"huyen-uy-trung-khanh"},"member":"ung-vien-020","name":"Nông Thị Mai","sex":"female","birth_date":"2007-03-02","home_locality":"xom-pac-ngoa","org":"cb-pac-ngoa"}"#,
        mentions: "ung-vien-020 is 17",
    },
    Broken {
        rule: "introducer",
        story: "a candidate who introduces themself",
        given: &[],
        when: r#"{"type":"MemberAdmitted","effective":"2025-03-01","decision":{"number":"90-QĐ/HU","date":"2025-02-20","issuer":"huyen-uy-trung-khanh"},"member":"ung-vien-020","name":"Nông Thị Mai","sex":"female","birth_date":"1990-01-01","home_locality":"xom-pac-ngoa","org":"cb-pac-ngoa","introducers":["ung-vien-020"]}"#,
        mentions: "themself",
    },
    Broken {
        rule: "introducer",
        story: "a probationary member introduces a candidate",
        given: &[],
        when: r#"{"type":"MemberAdmitted","effective":"2025-03-01","decision":{"number":"90-QĐ/HU","date":"2025-02-20","issuer":"huyen-uy-trung-khanh"},"member":"ung-vien-020","name":"Nông Thị Mai","sex":"female","birth_date":"1990-01-01","home_locality":"xom-pac-ngoa","org":"cb-pac-ngoa","introducers":["dv-010"]}"#,
        mentions: "dv-010",
    },
    Broken {
        rule: "introducer",
        story: "the same introducer listed twice",
        given: &[],
        when: r#"{"type":"MemberAdmitted","effective":"2025-03-01","decision":{"number":"90-QĐ/HU","date":"2025-02-20","issuer":"huyen-uy-trung-khanh"},"member":"ung-vien-020","name":"Nông Thị Mai","sex":"female","birth_date":"1990-01-01","home_locality":"xom-pac-ngoa","org":"cb-pac-ngoa","introducers":["dv-001","dv-001"]}"#,
        mentions: "dv-001",
    },
    Broken {
        rule: "not_probationary",
        story: "an official member officialized again",
        given: &[],
        when: r#"{"type":"MemberOfficialized","effective":"2025-03-01","decision":{"number":"91-QĐ/HU","date":"2025-02-20","issuer":"huyen-uy-trung-khanh"},"member":"dv-001"}"#,
        mentions: "dv-001",
    },
    Broken {
        rule: "probation_12_months",
        story: "a probationary member officialized after nine months",
        given: &[],
        when: r#"{"type":"MemberOfficialized","effective":"2025-03-01","decision":{"number":"91-QĐ/HU","date":"2025-02-20","issuer":"huyen-uy-trung-khanh"},"member":"dv-010"}"#,
        mentions: "2025-06-01",
    },
    Broken {
        rule: "transfer_same_org",
        story: "a member transferred to the cell they are already in",
        given: &[],
        when: r#"{"type":"MemberTransferred","effective":"2025-03-01","member":"dv-001","to_org":"cb-pac-ngoa"}"#,
        mentions: "cb-pac-ngoa",
    },
    Broken {
        rule: "transfer_to_host",
        story: "a soldier transferred to the cell that hosts them on temporary activity",
        given: &[
            r#"{"type":"TemporaryActivityStarted","effective":"2025-01-10","member":"dv-003","host_org":"cb-ban-gioc"}"#,
        ],
        when: r#"{"type":"MemberTransferred","effective":"2025-03-01","member":"dv-003","to_org":"cb-ban-gioc"}"#,
        mentions: "cb-ban-gioc",
    },
    Broken {
        rule: "temporary_activity_open",
        story: "a second temporary activity while the first still runs",
        given: &[
            r#"{"type":"TemporaryActivityStarted","effective":"2025-01-10","member":"dv-003","host_org":"cb-ban-gioc"}"#,
        ],
        when: r#"{"type":"TemporaryActivityStarted","effective":"2025-03-01","member":"dv-003","host_org":"cb-pac-ngoa"}"#,
        mentions: "dv-003",
    },
    Broken {
        rule: "host_is_home",
        story: "a soldier on temporary activity in their own border-post cell",
        given: &[],
        when: r#"{"type":"TemporaryActivityStarted","effective":"2025-03-01","member":"dv-003","host_org":"cb-don-ngoc-khe"}"#,
        mentions: "cb-don-ngoc-khe",
    },
    Broken {
        rule: "until_before_start",
        story: "a temporary activity that ends the day it starts",
        given: &[],
        when: r#"{"type":"TemporaryActivityStarted","effective":"2025-03-01","member":"dv-003","host_org":"cb-ban-gioc","until":"2025-03-01"}"#,
        mentions: "2025-03-01",
    },
    Broken {
        rule: "no_temporary_activity",
        story: "a temporary activity ended that never started",
        given: &[],
        when: r#"{"type":"TemporaryActivityEnded","effective":"2025-03-01","member":"dv-003","host_org":"cb-ban-gioc"}"#,
        mentions: "dv-003",
    },
    Broken {
        rule: "already_exempted",
        story: "an exempted member exempted again",
        given: &[r#"{"type":"MemberExempted","effective":"2025-01-10","member":"dv-001","reason":"Tuổi cao"}"#],
        when: r#"{"type":"MemberExempted","effective":"2025-03-01","member":"dv-001","reason":"Tuổi cao"}"#,
        mentions: "dv-001",
    },
    Broken {
        rule: "not_exempted",
        story: "an exemption revoked that was never granted",
        given: &[],
        when: r#"{"type":"ExemptionRevoked","effective":"2025-03-01","member":"dv-002"}"#,
        mentions: "dv-002",
    },
    Broken {
        rule: "probationary_discipline",
        story: "a probationary member expelled instead of reprimanded or warned",
        given: &[],
        when: r#"{"type":"MemberDisciplined","effective":"2025-03-01","decision":{"number":"92-QĐ/HU","date":"2025-02-20","issuer":"huyen-uy-trung-khanh"},"member":"dv-010","form":"expulsion"}"#,
        mentions: "expulsion",
    },
    Broken {
        rule: "correction_value",
        story: "a birth date corrected to a day that does not exist",
        given: &[],
        when: r#"{"type":"ProfileCorrected","effective":"2025-03-01","subject":"dv-001","field":"birth_date","value":"1960-02-30","reason":"Sai ngày sinh"}"#,
        mentions: "1960-02-30",
    },
    Broken {
        rule: "correction_value",
        story: "a sex corrected to a value outside the catalogue",
        given: &[],
        when: r#"{"type":"ProfileCorrected","effective":"2025-03-01","subject":"dv-001","field":"sex","value":"nam","reason":"Sai giới tính"}"#,
        mentions: "nam",
    },
    Broken {
        rule: "correction_value",
        story: "a home locality corrected to a name instead of an id",
        given: &[],
        when: r#"{"type":"ProfileCorrected","effective":"2025-03-01","subject":"dv-001","field":"home_locality","value":"Xóm Nà Rày","reason":"Chuyển nhà"}"#,
        mentions: "Xóm Nà Rày",
    },
    // Cadres.
    Broken {
        rule: "instrument_period",
        story: "a programme that ends before it starts",
        given: &[],
        when: r#"{"type":"InstrumentIssued","effective":"2025-03-01","instrument":"05-nq-tu","kind":"resolution","title":"Nghị quyết 05-NQ/TU","issuer":"Tỉnh ủy Cao Bằng","starts":"2025-12-31","ends":"2025-01-01"}"#,
        mentions: "2025-01-01",
    },
    Broken {
        rule: "position_held",
        story: "a secretary assigned the post they already hold",
        given: &[
            r#"{"type":"PositionAssigned","effective":"2025-01-10","person":"dv-001","org":"dang-uy-ngoc-khe","position":"bi-thu"}"#,
        ],
        when: r#"{"type":"PositionAssigned","effective":"2025-03-01","person":"dv-001","org":"dang-uy-ngoc-khe","position":"bi-thu"}"#,
        mentions: "bi-thu",
    },
    Broken {
        rule: "position_not_held",
        story: "a post ended that the member never held",
        given: &[],
        when: r#"{"type":"PositionEnded","effective":"2025-03-01","person":"dv-002","org":"dang-uy-dam-thuy","position":"bi-thu"}"#,
        mentions: "dv-002",
    },
    Broken {
        rule: "already_planned",
        story: "a cadre planned twice for the same term",
        given: &[
            r#"{"type":"CadrePlanned","effective":"2025-01-10","person":"dv-010","term":"2025-2030","position":"pho-bi-thu","org":"dang-uy-ngoc-khe"}"#,
        ],
        when: r#"{"type":"CadrePlanned","effective":"2025-03-01","person":"dv-010","term":"2025-2030","position":"bi-thu","org":"dang-uy-ngoc-khe"}"#,
        mentions: "2025-2030",
    },
    Broken {
        rule: "not_planned",
        story: "a cadre taken off a plan they were never on",
        given: &[],
        when: r#"{"type":"CadreUnplanned","effective":"2025-03-01","person":"dv-010","term":"2025-2030"}"#,
        mentions: "dv-010",
    },
    Broken {
        rule: "gaps_match_standard",
        story: "an assessment that meets the standard yet lists a gap",
        given: &[],
        when: r#"{"type":"CadreAssessed","effective":"2025-03-01","person":"dv-003","programme":"03-da-tu","meets_standard":true,"gaps":["education"]}"#,
        mentions: "meets_standard",
    },
    Broken {
        rule: "gaps_match_standard",
        story: "an assessment below the standard with no gap named",
        given: &[],
        when: r#"{"type":"CadreAssessed","effective":"2025-03-01","person":"dv-003","programme":"03-da-tu","meets_standard":false,"gaps":[]}"#,
        mentions: "meets_standard",
    },
    Broken {
        rule: "duplicate_gap",
        story: "an assessment naming the same gap twice",
        given: &[],
        when: r#"{"type":"CadreAssessed","effective":"2025-03-01","person":"dv-003","programme":"03-da-tu","meets_standard":false,"gaps":["education","education"]}"#,
        mentions: "twice",
    },
    Broken {
        rule: "standard_already_settled",
        story: "a standardized cadre assessed again under the same programme",
        given: &[
            r#"{"type":"TrainingCompleted","effective":"2025-01-10","person":"dv-001","course":"Trung cấp lý luận chính trị","dimension":"political_theory","level":"trung cấp","programme":"03-da-tu"}"#,
            r#"{"type":"TrainingCompleted","effective":"2025-01-20","person":"dv-001","course":"Quản lý nhà nước ngạch chuyên viên","dimension":"state_management","level":"chuyên viên","programme":"03-da-tu"}"#,
            r#"{"type":"CadreStandardized","effective":"2025-02-01","person":"dv-001","programme":"03-da-tu"}"#,
        ],
        when: r#"{"type":"CadreAssessed","effective":"2025-03-01","person":"dv-001","programme":"03-da-tu","meets_standard":true,"gaps":[]}"#,
        mentions: "dv-001",
    },
    Broken {
        rule: "standard_already_settled",
        story: "a standardized cadre then retired under the policy",
        given: &[
            r#"{"type":"TrainingCompleted","effective":"2025-01-10","person":"dv-001","course":"Trung cấp lý luận chính trị","dimension":"political_theory","level":"trung cấp","programme":"03-da-tu"}"#,
            r#"{"type":"TrainingCompleted","effective":"2025-01-20","person":"dv-001","course":"Quản lý nhà nước ngạch chuyên viên","dimension":"state_management","level":"chuyên viên","programme":"03-da-tu"}"#,
            r#"{"type":"CadreStandardized","effective":"2025-02-01","person":"dv-001","programme":"03-da-tu"}"#,
        ],
        when: r#"{"type":"CadreRetiredUnderPolicy","effective":"2025-03-01","person":"dv-001","programme":"03-da-tu"}"#,
        mentions: "dv-001",
    },
    Broken {
        rule: "not_assessed",
        story: "a cadre standardized who was never assessed",
        given: &[],
        when: r#"{"type":"CadreStandardized","effective":"2025-03-01","person":"dv-003","programme":"03-da-tu"}"#,
        mentions: "dv-003",
    },
    Broken {
        rule: "meets_standard",
        story: "a cadre who met the standard retired under the standardization policy",
        given: &[],
        when: r#"{"type":"CadreRetiredUnderPolicy","effective":"2025-03-01","person":"dv-002","programme":"03-da-tu"}"#,
        mentions: "dv-002",
    },
    Broken {
        rule: "instrument_unknown",
        story: "an assessment under a programme that was never issued",
        given: &[],
        when: r#"{"type":"CadreAssessed","effective":"2025-03-01","person":"dv-003","programme":"99-da-tu","meets_standard":true,"gaps":[]}"#,
        mentions: "99-da-tu",
    },
    Broken {
        rule: "instrument_not_yet_issued",
        story: "an assessment dated before its programme was issued",
        given: &[
            r#"{"type":"InstrumentIssued","effective":"2025-06-01","instrument":"05-nq-tu","kind":"resolution","title":"Nghị quyết 05-NQ/TU","issuer":"Tỉnh ủy Cao Bằng"}"#,
        ],
        when: r#"{"type":"CadreAssessed","effective":"2025-03-01","person":"dv-003","programme":"05-nq-tu","meets_standard":true,"gaps":[]}"#,
        mentions: "05-nq-tu",
    },
    Broken {
        rule: "no_such_gap",
        story: "a training that closes a gap the cadre does not have",
        given: &[],
        when: r#"{"type":"TrainingCompleted","effective":"2025-03-01","person":"dv-001","course":"Đại học tại chức","dimension":"education","level":"đại học","programme":"03-da-tu"}"#,
        mentions: "education",
    },
    Broken {
        rule: "gaps_open",
        story: "a cadre standardized with both gaps still open",
        given: &[],
        when: r#"{"type":"CadreStandardized","effective":"2025-03-01","person":"dv-001","programme":"03-da-tu"}"#,
        mentions: "political_theory, state_management",
    },
    // Cell life.
    Broken {
        rule: "supervisor_assigned",
        story: "a committee member put in charge of a cell twice",
        given: &[r#"{"type":"SupervisorAssigned","effective":"2025-01-10","member":"dv-001","cell":"cb-ban-gioc"}"#],
        when: r#"{"type":"SupervisorAssigned","effective":"2025-03-01","member":"dv-001","cell":"cb-ban-gioc"}"#,
        mentions: "dv-001",
    },
    Broken {
        rule: "not_supervisor",
        story: "a supervisor released from a cell they were never in charge of",
        given: &[],
        when: r#"{"type":"SupervisorReleased","effective":"2025-03-01","member":"dv-001","cell":"cb-ban-gioc"}"#,
        mentions: "dv-001",
    },
    Broken {
        rule: "attendance_exceeds_members",
        story: "a one-member cell reporting two present",
        given: &[],
        when: r#"{"type":"CellMeetingHeld","effective":"2025-03-01","cell":"cb-ban-gioc","kind":"regular","attendance":2}"#,
        mentions: "cb-ban-gioc",
    },
    Broken {
        rule: "no_supervisor",
        story: "a supervisor present at a cell that has none",
        given: &[],
        when: r#"{"type":"CellMeetingHeld","effective":"2025-03-01","cell":"cb-ban-gioc","kind":"regular","attendance":1,"supervisor_present":true}"#,
        mentions: "cb-ban-gioc",
    },
    Broken {
        rule: "rating_year",
        story: "a cell rated for a year that has not begun",
        given: &[],
        when: r#"{"type":"QualityRated","effective":"2025-03-01","subject":"cb-ban-gioc","year":2026,"level":"good"}"#,
        mentions: "2026",
    },
    Broken {
        rule: "already_rated",
        story: "a cell rated twice for one year",
        given: &[
            r#"{"type":"QualityRated","effective":"2025-01-10","subject":"cb-ban-gioc","year":2024,"level":"weak"}"#,
        ],
        when: r#"{"type":"QualityRated","effective":"2025-03-01","subject":"cb-ban-gioc","year":2024,"level":"good"}"#,
        mentions: "cb-ban-gioc",
    },
    Broken {
        rule: "already_rated",
        story: "a member rated twice for one year",
        given: &[
            r#"{"type":"QualityRated","effective":"2025-01-10","subject":"dv-002","year":2024,"level":"excellent"}"#,
        ],
        when: r#"{"type":"QualityRated","effective":"2025-03-01","subject":"dv-002","year":2024,"level":"good"}"#,
        mentions: "dv-002",
    },
    Broken {
        rule: "subject_unknown",
        story: "a hamlet given a quality rating",
        given: &[],
        when: r#"{"type":"QualityRated","effective":"2025-03-01","subject":"xom-pac-ngoa","year":2024,"level":"good"}"#,
        mentions: "xom-pac-ngoa",
    },
];

/// The rule names written in `src/rules/mod.rs`: every string literal passed as the first
/// argument of `violation(`. Any other call (a name held in a variable) would escape this
/// scan, so it is reported as an error instead of being skipped.
fn rule_names_in_source() -> BTreeSet<&'static str> {
    const SOURCE: &str = include_str!("../src/rules/mod.rs");
    const CALL: &str = "violation(";
    let mut names = BTreeSet::new();
    let mut at = 0;
    while let Some(found) = SOURCE[at..].find(CALL) {
        let start = at + found;
        at = start + CALL.len();
        if SOURCE[..start].ends_with("fn ") {
            continue;
        }
        let args = SOURCE[at..].trim_start();
        let literal = args
            .strip_prefix('"')
            .and_then(|rest| rest.find('"').map(|end| &rest[..end]));
        match literal {
            Some(name) => {
                names.insert(name);
            }
            None => panic!(
                "a `violation(` call whose rule is not a string literal: {:?}",
                &args[..args.len().min(60)]
            ),
        }
    }
    names
}

#[test]
fn every_rule_in_the_source_is_broken_by_a_case() {
    let in_source = rule_names_in_source();
    let in_cases: BTreeSet<&str> = BROKEN.iter().map(|c| c.rule).collect();
    let uncovered: Vec<_> = in_source.difference(&in_cases).collect();
    let unknown: Vec<_> = in_cases.difference(&in_source).collect();
    assert!(
        uncovered.is_empty(),
        "rules with no case that breaks them: {uncovered:?}"
    );
    assert!(
        unknown.is_empty(),
        "cases naming rules the source does not have: {unknown:?}"
    );
    // A scan that found nothing would make both checks pass; the catalogue has dozens.
    assert!(
        in_source.len() >= 50,
        "only {} rule names found in src/rules/mod.rs",
        in_source.len()
    );
}

#[test]
fn each_broken_rule_is_refused_by_name_and_leaves_the_state_unchanged() {
    let mut failures = Vec::new();
    for case in BROKEN {
        let mut state = given(case.given);
        let before = snapshot(&state);
        match state.submit(&submission(case.when), today()) {
            Ok(()) => failures.push(format!("{} ({}): accepted", case.rule, case.story)),
            Err(RuleViolation { rule, message }) => {
                if rule != case.rule {
                    failures.push(format!(
                        "{} ({}): refused by {rule} instead: {message}",
                        case.rule, case.story
                    ));
                } else if !message.contains(case.mentions) {
                    failures.push(format!(
                        "{} ({}): message does not mention {:?}: {message}",
                        case.rule, case.story, case.mentions
                    ));
                }
            }
        }
        if snapshot(&state) != before {
            failures.push(format!(
                "{} ({}): the event was not refused without a trace: the state changed",
                case.rule, case.story
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        BROKEN.len(),
        failures.join("\n")
    );
}

/// One accepted event of every type, in date order, on top of the world: the happy path of
/// the whole catalogue, each event depending on the ones before it.
const HAPPY_STORY: &[&str] = &[
    r#"{"type":"LocalityRegistered","effective":"2025-01-05","locality":"xom-khuoi-ky","name":"Khuổi Ky","kind":"hamlet","parent":"xa-dam-thuy","border":true}"#,
    r#"{"type":"LocalityChanged","effective":"2025-01-06","locality":"xom-lung-ri","name":"Lũng Rì Thượng","border":true}"#,
    r#"{"type":"LocalityRetired","effective":"2025-01-07","locality":"xom-khuoi-ky","merged_into":"xom-ban-gioc"}"#,
    r#"{"type":"OrganizationFounded","effective":"2025-01-10","decision":{"number":"72-QĐ/ĐU","date":"2025-01-08","issuer":"dang-uy-dam-thuy"},"org":"cb-lung-ri","name":"Chi bộ xóm Lũng Rì","kind":"cell","parent":"dang-uy-dam-thuy","localities":["xom-lung-ri"]}"#,
    r#"{"type":"OrganizationRenamed","effective":"2025-01-11","org":"cb-lung-ri","name":"Chi bộ xóm Lũng Rì Thượng"}"#,
    r#"{"type":"OrganizationDissolved","effective":"2025-01-12","decision":{"number":"74-QĐ/ĐU","date":"2025-01-12","issuer":"dang-uy-ngoc-khe"},"org":"cb-na-ray","merged_into":"cb-pac-ngoa"}"#,
    r#"{"type":"BackgroundVerified","effective":"2025-01-15","person":"dv-030","outcome":"cleared","kin_abroad":true}"#,
    r#"{"type":"MemberAdmitted","effective":"2025-02-01","decision":{"number":"90-QĐ/HU","date":"2025-01-28","issuer":"huyen-uy-trung-khanh"},"member":"dv-030","name":"Triệu Thị Lan","sex":"female","birth_date":"1998-09-09","home_locality":"xom-lung-ri","org":"cb-lung-ri","introducers":["dv-002"]}"#,
    r#"{"type":"MemberOfficialized","effective":"2025-06-01","decision":{"number":"91-QĐ/HU","date":"2025-05-28","issuer":"huyen-uy-trung-khanh"},"member":"dv-010"}"#,
    r#"{"type":"MemberTransferred","effective":"2025-06-10","member":"dv-002","to_org":"cb-lung-ri","home_locality":"xom-lung-ri"}"#,
    r#"{"type":"TemporaryActivityStarted","effective":"2025-06-15","member":"dv-003","host_org":"cb-ban-gioc","until":"2026-06-30"}"#,
    r#"{"type":"SupervisorAssigned","effective":"2025-06-16","member":"dv-001","cell":"cb-ban-gioc"}"#,
    r#"{"type":"CellMeetingHeld","effective":"2025-06-20","cell":"cb-ban-gioc","kind":"thematic","attendance":1,"supervisor_present":true,"topics":["Hiến đất làm đường"]}"#,
    r#"{"type":"ResolutionAdopted","effective":"2025-06-20","cell":"cb-ban-gioc","resolution":"nq-01-2025-ban-gioc","topic":"land_donation","title":"Vận động nhân dân hiến đất làm đường"}"#,
    r#"{"type":"SupervisorReleased","effective":"2025-07-01","member":"dv-001","cell":"cb-ban-gioc"}"#,
    r#"{"type":"TemporaryActivityEnded","effective":"2025-07-01","member":"dv-003","host_org":"cb-ban-gioc"}"#,
    r#"{"type":"MemberExempted","effective":"2025-08-01","member":"dv-001","reason":"Tuổi cao, sức yếu"}"#,
    r#"{"type":"ExemptionRevoked","effective":"2025-08-15","member":"dv-001"}"#,
    r#"{"type":"MemberDisciplined","effective":"2025-09-01","decision":{"number":"93-QĐ/ĐU","date":"2025-08-28","issuer":"dang-uy-dam-thuy"},"member":"dv-030","form":"warning"}"#,
    r#"{"type":"ProfileCorrected","effective":"2025-09-05","subject":"dv-030","field":"birth_date","value":"1998-09-19","reason":"Sai ngày sinh trong lý lịch"}"#,
    r#"{"type":"InstrumentIssued","effective":"2025-09-10","instrument":"09-hd-btctw","kind":"guidance","title":"Hướng dẫn 09-HD/BTCTW","issuer":"Ban Tổ chức Trung ương"}"#,
    r#"{"type":"PositionAssigned","effective":"2025-09-15","person":"dv-002","org":"cb-lung-ri","position":"bi-thu-chi-bo","term":"2025-2030"}"#,
    r#"{"type":"PositionEnded","effective":"2025-10-01","person":"dv-002","org":"cb-lung-ri","position":"bi-thu-chi-bo"}"#,
    r#"{"type":"CadrePlanned","effective":"2025-10-05","person":"dv-010","term":"2025-2030","position":"pho-bi-thu","org":"dang-uy-ngoc-khe"}"#,
    r#"{"type":"CadreUnplanned","effective":"2025-10-06","person":"dv-010","term":"2025-2030"}"#,
    r#"{"type":"CadreAssessed","effective":"2025-10-10","person":"dv-003","programme":"03-da-tu","meets_standard":false,"gaps":["education"]}"#,
    r#"{"type":"TrainingCompleted","effective":"2025-10-15","person":"dv-001","course":"Trung cấp lý luận chính trị","dimension":"political_theory","level":"trung cấp","programme":"03-da-tu"}"#,
    r#"{"type":"TrainingCompleted","effective":"2025-10-20","person":"dv-001","course":"Quản lý nhà nước ngạch chuyên viên","dimension":"state_management","level":"chuyên viên","programme":"03-da-tu"}"#,
    r#"{"type":"CadreStandardized","effective":"2025-11-01","person":"dv-001","programme":"03-da-tu"}"#,
    r#"{"type":"CadreRetiredUnderPolicy","effective":"2025-11-02","person":"dv-003","programme":"03-da-tu"}"#,
    r#"{"type":"QualityRated","effective":"2025-12-15","subject":"cb-ban-gioc","year":2025,"level":"weak"}"#,
    r#"{"type":"QualityRated","effective":"2025-12-15","subject":"dv-010","year":2025,"level":"good"}"#,
    r#"{"type":"MembershipEnded","effective":"2025-12-20","member":"dv-030","reason":"resigned"}"#,
];

#[test]
fn the_happy_path_of_every_event_type_is_accepted() {
    let mut state = given(&[]);
    for line in HAPPY_STORY {
        if let Err(v) = state.submit(&submission(line), today()) {
            panic!("refused on the happy path: {v}\n{line}");
        }
    }
    let told: BTreeSet<&str> = HAPPY_STORY.iter().map(|l| submission(l).event.type_name()).collect();
    let catalogue: BTreeSet<&str> = EVENT_TYPES.iter().copied().collect();
    let untold: Vec<_> = catalogue.difference(&told).collect();
    assert!(untold.is_empty(), "event types with no accepted happy path: {untold:?}");

    // The story's effects are visible through the state's accessors.
    let membership = |who: &str| {
        state
            .person(&id(who))
            .and_then(|p| p.membership.clone())
            .expect("a member")
    };
    assert_eq!(membership("dv-010").status, MemberStatus::Official);
    assert_eq!(membership("dv-002").org, id("cb-lung-ri"));
    assert_eq!(membership("dv-003").temporary, None);
    assert!(membership("dv-030").ended.is_some());
    assert_eq!(membership("dv-030").birth_date, day("1998-09-19"));
    assert!(state
        .organization(&id("cb-na-ray"))
        .expect("cb-na-ray")
        .dissolved
        .is_some());
    assert!(state
        .locality(&id("xom-khuoi-ky"))
        .expect("xom-khuoi-ky")
        .retired
        .is_some());
    assert!(state.locality(&id("xom-lung-ri")).expect("xom-lung-ri").border);
    assert_eq!(state.organization(&id("cb-lung-ri")).expect("cb-lung-ri").members, 1);
    assert_eq!(state.organization(&id("cb-ban-gioc")).expect("cb-ban-gioc").members, 0);
}

/// Applies `line` to a fresh copy of `state` and returns the rule that refused it, if any.
fn outcome(state: &State, line: &str) -> Result<(), &'static str> {
    state.clone().submit(&submission(line), today()).map_err(|v| v.rule)
}

#[test]
fn officialization_is_possible_exactly_twelve_months_after_admission() {
    // dv-010 was admitted on 2024-06-01.
    let state = given(&[]);
    let officialized = |on: &str| {
        format!(
            r#"{{"type":"MemberOfficialized","effective":"{on}","decision":{{"number":"91-QĐ/HU","date":"2025-05-20","issuer":"huyen-uy-trung-khanh"}},"member":"dv-010"}}"#
        )
    };
    assert_eq!(outcome(&state, &officialized("2025-06-01")), Ok(()));
    assert_eq!(outcome(&state, &officialized("2025-05-31")), Err("probation_12_months"));
}

#[test]
fn admission_is_open_from_eighteen_to_sixty_years_of_age() {
    let state = given(&[]);
    let admitted_born = |birth: &str| {
        format!(
            r#"{{"type":"MemberAdmitted","effective":"2025-03-01","decision":{{"number":"90-QĐ/HU","date":"2025-02-20","issuer":"huyen-uy-trung-khanh"}},"member":"ung-vien-020","name":"Nông Thị Mai","sex":"female","birth_date":"{birth}","home_locality":"xom-pac-ngoa","org":"cb-pac-ngoa"}}"#
        )
    };
    // Eighteen on the day itself; seventeen until the day before the birthday.
    assert_eq!(outcome(&state, &admitted_born("2007-03-01")), Ok(()));
    assert_eq!(outcome(&state, &admitted_born("2007-03-02")), Err("admission_age"));
    // Sixty until the day before the sixty-first birthday; sixty-one on it.
    assert_eq!(outcome(&state, &admitted_born("1965-03-01")), Ok(()));
    assert_eq!(outcome(&state, &admitted_born("1964-03-02")), Ok(()));
    assert_eq!(outcome(&state, &admitted_born("1964-03-01")), Err("admission_age"));
}

#[test]
fn an_event_may_be_dated_one_day_ahead_of_utc_but_not_two() {
    let state = given(&[]);
    let renamed = |on: &str| {
        format!(r#"{{"type":"OrganizationRenamed","effective":"{on}","org":"cb-pac-ngoa","name":"Chi bộ Pác Ngòa"}}"#)
    };
    assert_eq!(outcome(&state, &renamed("2026-11-28")), Ok(()));
    assert_eq!(outcome(&state, &renamed("2026-11-29")), Err("effective_in_future"));
}

#[test]
fn a_refused_event_leaves_the_state_as_it_was() {
    let untouched = given(&[]);
    let mut refused = untouched.clone();
    let too_young = r#"{"type":"MemberAdmitted","effective":"2025-03-01","decision":{"number":"90-QĐ/HU","date":"2025-02-20","issuer":"huyen-uy-trung-khanh"},"member":"ung-vien-020","name":"Nông Thị Mai","sex":"female","birth_date":"2010-01-01","home_locality":"xom-pac-ngoa","org":"cb-pac-ngoa"}"#;
    let bad_second_locality = r#"{"type":"OrganizationFounded","effective":"2025-03-01","decision":{"number":"72-QĐ/ĐU","date":"2025-02-20","issuer":"dang-uy-dam-thuy"},"org":"cb-lung-ri","name":"Chi bộ xóm Lũng Rì","kind":"cell","parent":"dang-uy-dam-thuy","localities":["xom-lung-ri","xom-khong-co"]}"#;
    assert_eq!(
        refused.submit(&submission(too_young), today()).map_err(|v| v.rule),
        Err("admission_age")
    );
    assert_eq!(
        refused
            .submit(&submission(bad_second_locality), today())
            .map_err(|v| v.rule),
        Err("locality_unknown")
    );

    // Nothing of either refused event shows through the accessors.
    let candidate = refused.person(&id("ung-vien-020")).expect("the verified candidate");
    assert!(candidate.membership.is_none());
    assert_eq!(
        refused.organization(&id("cb-pac-ngoa")).expect("cb-pac-ngoa").members,
        2
    );
    assert!(refused.organization(&id("cb-lung-ri")).is_none());
    assert!(refused.kind_of(&id("cb-lung-ri")).is_none());
    assert_eq!(
        refused
            .organization(&id("dang-uy-dam-thuy"))
            .expect("dang-uy-dam-thuy")
            .active_children,
        1
    );

    // And every follow-up gets the same answer from the refused state as from the untouched
    // one: the ids stay free, the dates stay open, the counts stay the same.
    let follow_ups = [
        r#"{"type":"MemberAdmitted","effective":"2025-03-01","decision":{"number":"90-QĐ/HU","date":"2025-02-20","issuer":"huyen-uy-trung-khanh"},"member":"ung-vien-020","name":"Nông Thị Mai","sex":"female","birth_date":"2000-01-01","home_locality":"xom-pac-ngoa","org":"cb-pac-ngoa"}"#,
        r#"{"type":"OrganizationFounded","effective":"2025-03-01","decision":{"number":"72-QĐ/ĐU","date":"2025-02-20","issuer":"dang-uy-dam-thuy"},"org":"cb-lung-ri","name":"Chi bộ xóm Lũng Rì","kind":"cell","parent":"dang-uy-dam-thuy","localities":["xom-lung-ri"]}"#,
        // Verified on 2024-01-10; had the refused admission touched the candidate, this
        // later-but-earlier-than-refused date would go backwards.
        r#"{"type":"BackgroundVerified","effective":"2024-02-01","person":"ung-vien-020","outcome":"cleared","kin_abroad":false}"#,
        r#"{"type":"CellMeetingHeld","effective":"2025-03-01","cell":"cb-pac-ngoa","kind":"regular","attendance":3}"#,
        r#"{"type":"CellMeetingHeld","effective":"2025-03-01","cell":"cb-pac-ngoa","kind":"regular","attendance":2}"#,
        r#"{"type":"OrganizationDissolved","effective":"2025-03-01","decision":{"number":"75-QĐ/HU","date":"2025-02-20","issuer":"huyen-uy-trung-khanh"},"org":"dang-uy-dam-thuy"}"#,
    ];
    for line in follow_ups {
        assert_eq!(outcome(&refused, line), outcome(&untouched, line), "{line}");
    }
    assert_eq!(snapshot(&refused), snapshot(&untouched));
}

// Through the real writer.

const ACTOR: &str = "van-phong-huyen-uy";

/// A fingerprint of the whole state that does not depend on how its maps happen to be laid
/// out: the state as JSON, whose objects keep their keys sorted. Two states that hold the
/// same entities with the same fields print the same, however they were built.
fn fingerprint(state: &State) -> serde_json::Value {
    serde_json::to_value(state).expect("the state serializes")
}

/// Every line the tables above hold (given events, events that break a rule, the happy
/// path): in a random order on top of the world, some are accepted and many refused, by
/// every rule, in states the tables never built.
fn every_table_line() -> Vec<&'static str> {
    let mut lines: Vec<&'static str> = Vec::new();
    for case in BROKEN {
        lines.extend(case.given.iter().copied());
        lines.push(case.when);
    }
    lines.extend(HAPPY_STORY.iter().copied());
    lines.sort_unstable();
    lines.dedup();
    lines
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 256, ..Default::default() })]

    /// Refusal is structural: for any sequence of submissions, each refused one leaves the
    /// state equal to what it was before it, and the state at the end is the fold of the
    /// accepted ones alone, replayed on a fresh state. Checking reads the state; only
    /// applying the change of an accepted event writes it.
    #[test]
    fn a_refused_submission_leaves_the_state_as_the_fold_of_the_accepted_ones(
        picks in proptest::collection::vec(0usize..10_000, 1..60)
    ) {
        let pool = every_table_line();
        let mut state = given(&[]);
        let mut accepted = Vec::new();
        for pick in picks {
            let line = pool[pick % pool.len()];
            let before = fingerprint(&state);
            let checked = state.check(&submission(line), today());
            proptest::prop_assert_eq!(&fingerprint(&state), &before, "check wrote the state: {}", line);
            match checked {
                Ok(change) => {
                    state.apply(change);
                    accepted.push(line);
                }
                Err(v) => {
                    // The same refusal through `submit`, and still nothing changed.
                    let again = state.submit(&submission(line), today());
                    proptest::prop_assert_eq!(again, Err(v), "{}", line);
                    proptest::prop_assert_eq!(&fingerprint(&state), &before, "refused yet changed: {}", line);
                }
            }
        }
        let replayed = given(&accepted);
        proptest::prop_assert_eq!(fingerprint(&state), fingerprint(&replayed));
    }
}

/// The rules hold no `expect` or `unwrap` left over from the days when folding could meet
/// an entity its check had not found: every such path is a value now.
#[test]
fn the_rules_never_panic_on_a_missing_entity() {
    let source = include_str!("../src/rules/mod.rs");
    for needle in [".expect(", ".unwrap()", "unreachable!", "panic!("] {
        let lines: Vec<_> = source
            .lines()
            .enumerate()
            .filter(|(_, l)| l.contains(needle))
            .map(|(n, l)| format!("{}: {}", n + 1, l.trim()))
            .collect();
        assert!(lines.is_empty(), "src/rules/mod.rs still has {needle}: {lines:?}");
    }
}

fn submissions(lines: &[String]) -> Vec<Submission> {
    lines.iter().map(|l| submission(l)).collect()
}

fn world_lines() -> Vec<String> {
    WORLD.iter().map(|l| l.to_string()).collect()
}

/// A hamlet registration under Đàm Thủy, with an id of the test's choosing.
fn hamlet(locality: &str) -> String {
    format!(
        r#"{{"type":"LocalityRegistered","effective":"2025-03-01","locality":"{locality}","name":"Xóm mới","kind":"hamlet","parent":"xa-dam-thuy","border":false}}"#
    )
}

/// Each stored event as its submitted JSON text, in `seq` order.
fn stored_lines(ledger: &Ledger) -> Vec<String> {
    ledger
        .store()
        .records(1)
        .map(|r| serde_json::Value::Object(r.expect("a readable record").submission().to_value()).to_string())
        .collect()
}

#[test]
fn a_batch_whose_last_event_breaks_a_rule_appends_nothing() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let ledger = Ledger::open(dir.path(), LedgerOptions::default()).expect("a new ledger");
    ledger
        .append(id(ACTOR), submissions(&world_lines()), None)
        .expect("the world is accepted");
    let head = ledger.head();
    assert_eq!(head.seq, WORLD.len() as u64);

    // Two good events, then one that breaks `id_in_use` (it repeats the first).
    let batch = [hamlet("xom-moi-1"), hamlet("xom-moi-2"), hamlet("xom-moi-1")];
    match ledger.append(id(ACTOR), submissions(&batch), None) {
        Err(AppendError::Rule { index, violation }) => {
            assert_eq!(index, 2);
            assert_eq!(violation.rule, "id_in_use");
            assert!(violation.message.contains("xom-moi-1"), "{}", violation.message);
        }
        other => panic!("expected the last event to break id_in_use, got {other:?}"),
    }
    assert_eq!(ledger.head(), head);
    assert_eq!(ledger.store().head().expect("the stored head"), head);
    assert_eq!(stored_lines(&ledger).len(), WORLD.len());

    // The first two events were not kept in the writer's state either: alone, they pass.
    let appended = ledger
        .append(id(ACTOR), submissions(&batch[..2]), None)
        .expect("the good part alone");
    assert_eq!(
        appended.iter().map(|a| a.seq).collect::<Vec<_>>(),
        vec![head.seq + 1, head.seq + 2]
    );
}

#[test]
fn a_refused_batch_does_not_disturb_batches_accepted_alongside_it() {
    const ROUNDS: usize = 4;
    const SUBMITTERS: usize = 8;
    let dir = tempfile::tempdir().expect("a temp dir");
    let ledger = Ledger::open(dir.path(), LedgerOptions::default()).expect("a new ledger");
    ledger
        .append(id(ACTOR), submissions(&world_lines()), None)
        .expect("the world is accepted");

    let mut accepted_ids = Vec::new();
    let mut refused_ids = Vec::new();
    for round in 0..ROUNDS {
        // All submitters start together, so the writer finds them queued at once and
        // validates refused and accepted batches within the same groups.
        let start = Barrier::new(SUBMITTERS);
        let results: Vec<(usize, Result<Vec<u64>, AppendError>)> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..SUBMITTERS)
                .map(|submitter| {
                    let (ledger, start) = (&ledger, &start);
                    scope.spawn(move || {
                        let first = format!("xom-r{round}-s{submitter}-a");
                        let second = format!("xom-r{round}-s{submitter}-b");
                        // Odd submitters repeat their first id last, which `id_in_use` refuses.
                        let batch = if submitter % 2 == 0 {
                            vec![hamlet(&first), hamlet(&second)]
                        } else {
                            vec![hamlet(&first), hamlet(&second), hamlet(&first)]
                        };
                        start.wait();
                        let result = ledger.append(id(ACTOR), submissions(&batch), None);
                        (
                            submitter,
                            result.map(|appended| appended.iter().map(|a| a.seq).collect()),
                        )
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("a submitter thread"))
                .collect()
        });
        for (submitter, result) in results {
            let ids = [
                format!("xom-r{round}-s{submitter}-a"),
                format!("xom-r{round}-s{submitter}-b"),
            ];
            match (submitter % 2, result) {
                (0, Ok(seqs)) => {
                    assert_eq!(seqs.len(), 2);
                    assert_eq!(seqs[1], seqs[0] + 1, "a batch is appended contiguously");
                    accepted_ids.extend(ids);
                }
                (1, Err(AppendError::Rule { index: 2, violation })) if violation.rule == "id_in_use" => {
                    refused_ids.extend(ids);
                }
                (_, other) => {
                    panic!("submitter {submitter} of round {round}: unexpected {other:?}")
                }
            }
        }
    }

    let expected_seq = (WORLD.len() + accepted_ids.len()) as u64;
    assert_eq!(ledger.head().seq, expected_seq);
    let stored = stored_lines(&ledger);
    assert_eq!(stored.len() as u64, expected_seq);
    let names = |locality: &str| stored.iter().filter(|l| l.contains(&format!("\"{locality}\""))).count();
    for locality in &accepted_ids {
        assert_eq!(names(locality), 1, "{locality} was accepted and must be stored once");
    }
    for locality in &refused_ids {
        assert_eq!(
            names(locality),
            0,
            "{locality} was in a refused batch and must not be stored"
        );
    }
    let verified = ledger
        .store()
        .verify()
        .expect("the store reads")
        .expect("the chain verifies");
    assert_eq!(verified.events, expected_seq);

    // Reopening replays every stored event through the rules again: nothing half-applied.
    drop(ledger);
    let reopened = Ledger::open(dir.path(), LedgerOptions::default()).expect("the ledger reopens");
    assert_eq!(reopened.head().seq, expected_seq);
}

#[test]
fn a_member_whose_lapsed_host_was_dissolved_can_still_be_named() {
    // dv-003's temporary activity at Nà Rày ran out on 2025-02-01, so the cell could be
    // dissolved; the dissolved cell must not hold the soldier's later events hostage.
    let state = given(&[
        r#"{"type":"TemporaryActivityStarted","effective":"2025-01-10","member":"dv-003","host_org":"cb-na-ray","until":"2025-02-01"}"#,
        r#"{"type":"OrganizationDissolved","effective":"2025-03-01","decision":{"number":"74-QĐ/ĐU","date":"2025-02-20","issuer":"dang-uy-ngoc-khe"},"org":"cb-na-ray"}"#,
    ]);
    let membership = state
        .person(&id("dv-003"))
        .and_then(|p| p.membership.clone())
        .expect("dv-003");
    assert_eq!(membership.temporary, None);
    assert!(state
        .organization(&id("cb-na-ray"))
        .expect("cb-na-ray")
        .hosted
        .is_empty());
    let later = [
        r#"{"type":"MemberTransferred","effective":"2025-04-01","member":"dv-003","to_org":"cb-pac-ngoa"}"#,
        r#"{"type":"TemporaryActivityStarted","effective":"2025-04-01","member":"dv-003","host_org":"cb-ban-gioc"}"#,
        r#"{"type":"MembershipEnded","effective":"2025-04-01","member":"dv-003","reason":"died"}"#,
    ];
    for line in later {
        assert_eq!(outcome(&state, line), Ok(()), "{line}");
    }
    // The dissolved cell itself still cannot be named.
    let ended_there =
        r#"{"type":"TemporaryActivityEnded","effective":"2025-04-01","member":"dv-003","host_org":"cb-na-ray"}"#;
    assert_eq!(outcome(&state, ended_there), Err("entity_ended"));
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 128, ..Default::default() })]

    /// The ledger keeps the rules state in its store and only a cache of it in memory,
    /// emptied whenever it grows past its bound: a check through the cache, loading each
    /// entity it misses from the stored entries ([`State::check_paging`]), gives the very
    /// verdict of the whole state, for any sequence of submissions and any points at which
    /// the cache is emptied; and the entries written back after each accepted event are,
    /// at the end, exactly the whole state's.
    #[test]
    fn a_check_through_a_cache_of_stored_entries_is_the_check_of_the_whole_state(
        picks in proptest::collection::vec((0usize..10_000, proptest::bool::weighted(0.3)), 1..60)
    ) {
        let pool = every_table_line();
        let mut whole = given(&[]);
        let mut stored: std::collections::HashMap<Id, Vec<u8>> =
            whole.entries().map(|(id, bytes)| (id.clone(), bytes)).collect();
        let mut cache = State::new();
        for (pick, empty_the_cache) in picks {
            if empty_the_cache {
                cache = State::new();
            }
            let line = pool[pick % pool.len()];
            let sub = submission(line);
            let expected = whole.check(&sub, today());
            let (verdict, _) = cache
                .check_paging(&sub, today(), |id| Ok::<_, String>(stored.get(id).cloned()))
                .expect("every stored entry decodes");
            match (expected, verdict) {
                (Ok(full), Ok(paged)) => {
                    let ids: Vec<Id> = paged.ids().cloned().collect();
                    whole.apply(full);
                    cache.apply(paged);
                    for id in ids {
                        let bytes = cache.encode_entry(&id).expect("a changed entity is held");
                        stored.insert(id, bytes);
                    }
                }
                (Err(full), Err(paged)) => proptest::prop_assert_eq!(paged, full, "{}", line),
                (full, paged) => proptest::prop_assert!(false, "the whole state: {:?}; through the cache: {:?}\n{}", full.map(|_| ()), paged.map(|_| ()), line),
            }
        }
        let expected: std::collections::HashMap<Id, Vec<u8>> =
            whole.entries().map(|(id, bytes)| (id.clone(), bytes)).collect();
        proptest::prop_assert_eq!(stored, expected);
    }
}

/// A stored entry that does not decode is named, never read as an empty state.
#[test]
fn a_damaged_stored_entry_is_named() {
    let whole = given(&[]);
    let mut cache = State::new();
    let line =
        r#"{"type":"OrganizationRenamed","effective":"2025-03-01","org":"cb-pac-ngoa","name":"Chi bộ Pác Ngòa mới"}"#;
    let result = cache.check_paging(&submission(line), today(), |id| {
        Ok::<_, String>(whole.encode_entry(id).map(|bytes| {
            if id.as_str() == "cb-pac-ngoa" {
                vec![0xff; 3]
            } else {
                bytes
            }
        }))
    });
    match result {
        Err(orgledger::rules::PagingError::Damaged { id, .. }) => assert_eq!(id.as_str(), "cb-pac-ngoa"),
        other => panic!("a damaged entry: {:?}", other.map(|(v, n)| (v.map(|_| ()), n))),
    }
}

/// What a journal notes takes the state back exactly: the happy path applied with a
/// journal on top of the world, then taken back to each point of it in turn (the latest
/// first), is each time the state that only the events before that point make; taken back
/// whole, it is the world again.
#[test]
fn a_journal_takes_back_exactly_what_was_applied() {
    let world = fingerprint(&given(&[]));
    let mut state = given(&[]);
    let mut journal = Vec::new();
    let mut lengths = Vec::new();
    for line in HAPPY_STORY {
        lengths.push(journal.len());
        let change = state
            .check(&submission(line), today())
            .unwrap_or_else(|v| panic!("refused on the happy path: {v}\n{line}"));
        state.apply_journaled(change, &mut journal);
    }
    assert_eq!(fingerprint(&state), fingerprint(&given(HAPPY_STORY)));
    assert_ne!(fingerprint(&state), world, "the story changes the state");
    for (events, &length) in lengths.iter().enumerate().rev() {
        state.undo(&mut journal, length);
        assert_eq!(journal.len(), length);
        assert_eq!(
            fingerprint(&state),
            fingerprint(&given(&HAPPY_STORY[..events])),
            "taken back to the first {events} events of the story"
        );
    }
    assert_eq!(fingerprint(&state), world);
}
