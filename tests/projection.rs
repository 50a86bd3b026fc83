//! The read side as auditors use it (issue 3): projections asked as of a date and as of a
//! `seq`, their snapshots, and the `report` command.
//!
//! Everything here starts from one hand-made ledger of Trùng Khánh district, 2005 to 2015
//! (`trung_khanh_story`): localities renamed, moved to another commune and retired; cells
//! founded, renamed and dissolved; members admitted, officialized, transferred, hosted on
//! temporary activity, exempted, disciplined and dead; profile corrections; cadres assessed,
//! trained, standardized and retired under 03-ĐA/TU; a cadre plan; supervisors, meetings,
//! ratings and resolutions; and, appended last, facts back-filled years after they took
//! effect and corrections of earlier records. So valid time and transaction time disagree
//! often, which is what the bitemporal projection must get right.
//!
//! The key property: the live projection at the head, asked as of `(date, s)`, gives the
//! same report as a projection folded from records `1..=s` only. It is checked for every
//! `s` of the ledger, every report and a spread of dates, and a set of hand-computed facts
//! keeps it from being true of two equally wrong answers.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::{json, Map, Value};

use orgledger::commands::report::{compute, AsOf, ReportKind};
use orgledger::event::{Date, Id, Submission, Timestamp};
use orgledger::ledger::caches::Opened;
use orgledger::ledger::{Ledger, LedgerOptions, SteppedClock};
use orgledger::projection::snapshot::{self, SnapshotError};
use orgledger::projection::{Parts, Projection};
use orgledger::store::Store;

/// The programme of the standardization report: 03-ĐA/TU of the Cao Bằng provincial
/// committee, 2012 to 2015.
const PROGRAMME: &str = "03-da-tu";
/// The term of the cadre plan.
const TERM: &str = "nk-2015-2020";
/// When the story's records are written: after its last effective date, so no event is
/// refused for lying in the future.
const RECORDED_FROM: &str = "2016-01-04T08:00:00.000000Z";

// ---------------------------------------------------------------------------------------
// The story

/// The story's events as they are written, each with its effective date so that the main
/// story can be put in the order of valid time before it is appended.
#[derive(Default)]
struct Chronicle {
    events: Vec<(String, Value)>,
}

/// Someone who is verified and then admitted.
struct Newcomer<'a> {
    id: &'a str,
    name: &'a str,
    sex: &'a str,
    birth: &'a str,
    home: &'a str,
    cell: &'a str,
    verified: &'a str,
    admitted: &'a str,
    kin_abroad: bool,
}

/// Events whose decision the Charter requires (the rules refuse them without one).
const NEEDS_DECISION: &[&str] = &[
    "OrganizationFounded",
    "OrganizationDissolved",
    "MemberAdmitted",
    "MemberOfficialized",
    "MemberDisciplined",
];

impl Chronicle {
    fn record(&mut self, effective: &str, kind: &str, fields: Value) {
        let mut line = Map::new();
        line.insert("type".into(), json!(kind));
        line.insert("effective".into(), json!(effective));
        if let Value::Object(f) = fields {
            line.extend(f);
        }
        if NEEDS_DECISION.contains(&kind) {
            let number = format!("{}-QĐ/HU", self.events.len() + 1);
            line.insert(
                "decision".into(),
                json!({"number": number, "date": effective, "issuer": "huyen-uy-trung-khanh"}),
            );
        }
        self.events.push((effective.to_string(), Value::Object(line)));
    }

    fn locality(&mut self, effective: &str, id: &str, name: &str, kind: &str, parent: Option<&str>, border: bool) {
        let mut f = json!({"locality": id, "name": name, "kind": kind, "border": border});
        if let Some(p) = parent {
            f["parent"] = json!(p);
        }
        self.record(effective, "LocalityRegistered", f);
    }

    fn organization(
        &mut self,
        effective: &str,
        id: &str,
        name: &str,
        kind: &str,
        parent: Option<&str>,
        localities: &[&str],
    ) {
        let mut f = json!({"org": id, "name": name, "kind": kind, "localities": localities});
        if let Some(p) = parent {
            f["parent"] = json!(p);
        }
        self.record(effective, "OrganizationFounded", f);
    }

    fn admit(&mut self, n: &Newcomer) {
        self.record(
            n.verified,
            "BackgroundVerified",
            json!({"person": n.id, "outcome": "cleared", "kin_abroad": n.kin_abroad}),
        );
        self.record(
            n.admitted,
            "MemberAdmitted",
            json!({"member": n.id, "name": n.name, "sex": n.sex, "birth_date": n.birth, "home_locality": n.home, "org": n.cell}),
        );
    }

    fn officialize(&mut self, effective: &str, member: &str) {
        self.record(effective, "MemberOfficialized", json!({"member": member}));
    }

    fn meeting(&mut self, effective: &str, cell: &str, kind: &str, attendance: u32, supervisor_present: bool) {
        self.record(
            effective,
            "CellMeetingHeld",
            json!({"cell": cell, "kind": kind, "attendance": attendance, "supervisor_present": supervisor_present}),
        );
    }

    fn rating(&mut self, effective: &str, subject: &str, year: i32, level: &str) {
        self.record(
            effective,
            "QualityRated",
            json!({"subject": subject, "year": year, "level": level}),
        );
    }

    fn lines(&self) -> Vec<String> {
        self.events.iter().map(|(_, v)| v.to_string()).collect()
    }
}

fn date(s: &str) -> Date {
    Date::parse(s).expect("a date of the story")
}

/// The ledger of the tests, as JSON lines in append order.
///
/// The main story is written chapter by chapter and then put in the order of valid time
/// (a stable sort, so events of one day keep their causal order); after it come facts
/// recorded late (a hamlet, a cell and two members back-filled years after the fact) and
/// corrections of earlier records.
fn trung_khanh_story() -> Vec<String> {
    let mut story = Chronicle::default();
    territory(&mut story);
    organizations(&mut story);
    members(&mut story);
    cadres(&mut story);
    cell_life(&mut story);
    story.events.sort_by(|a, b| a.0.cmp(&b.0));
    let mut late = Chronicle::default();
    back_filled_facts(&mut late);
    corrections(&mut late);
    let mut lines = story.lines();
    lines.extend(late.lines());
    lines
}

fn territory(s: &mut Chronicle) {
    let d = "2005-01-01";
    s.locality(d, "cao-bang", "Cao Bằng", "province", None, true);
    s.locality(d, "trung-khanh", "Trùng Khánh", "district", Some("cao-bang"), true);
    s.locality(d, "xa-ngoc-khe", "Ngọc Khê", "commune", Some("trung-khanh"), true);
    s.locality(d, "xa-dam-thuy", "Đàm Thủy", "commune", Some("trung-khanh"), true);
    s.locality(
        d,
        "tt-trung-khanh",
        "Thị trấn Trùng Khánh",
        "commune",
        Some("trung-khanh"),
        false,
    );
    s.locality(d, "xa-phong-nam", "Phong Nậm", "commune", Some("trung-khanh"), false);
    for (id, name, parent, kind, border) in [
        ("xom-pac-ngoa", "Pác Ngòa", "xa-ngoc-khe", "hamlet", true),
        ("xom-khua-o", "Khưa Ỏ", "xa-ngoc-khe", "hamlet", true),
        ("xom-lung-nam", "Lũng Nặm", "xa-ngoc-khe", "hamlet", false),
        ("xom-na-thuon", "Nà Thuôn", "xa-ngoc-khe", "hamlet", false),
        ("xom-ban-gioc", "Bản Giốc", "xa-dam-thuy", "hamlet", true),
        ("xom-na-doong", "Nà Đoỏng", "xa-dam-thuy", "hamlet", false),
        ("xom-po-peo", "Pò Peo", "xa-dam-thuy", "hamlet", false),
        ("xom-dong-si", "Đông Si", "xa-dam-thuy", "hamlet", false),
        ("tdp-1", "Tổ dân phố 1", "tt-trung-khanh", "residential_group", false),
        ("tdp-2", "Tổ dân phố 2", "tt-trung-khanh", "residential_group", false),
        ("tdp-3", "Tổ dân phố 3", "tt-trung-khanh", "residential_group", false),
        ("xom-na-leng", "Nà Lẹng", "xa-phong-nam", "hamlet", false),
        ("xom-pac-ra", "Pác Rà", "xa-phong-nam", "hamlet", false),
        ("xom-lung-dinh", "Lũng Đính", "xa-phong-nam", "hamlet", false),
    ] {
        s.locality(d, id, name, kind, Some(parent), border);
    }
    s.locality(
        "2009-03-01",
        "xom-moi",
        "Xóm Mới",
        "hamlet",
        Some("xa-phong-nam"),
        false,
    );
    s.record(
        "2010-05-01",
        "LocalityChanged",
        json!({"locality": "xom-lung-nam", "name": "Lũng Nặm Trên"}),
    );
    s.record(
        "2011-01-01",
        "LocalityChanged",
        json!({"locality": "xom-na-leng", "parent": "xa-ngoc-khe"}),
    );
    s.record(
        "2012-03-01",
        "LocalityChanged",
        json!({"locality": "xom-dong-si", "border": true}),
    );
    s.record(
        "2012-07-01",
        "LocalityRetired",
        json!({"locality": "xom-lung-dinh", "merged_into": "xom-pac-ra"}),
    );
}

fn organizations(s: &mut Chronicle) {
    let d = "2005-01-01";
    s.organization(
        d,
        "tinh-uy-cao-bang",
        "Đảng bộ tỉnh Cao Bằng",
        "provincial_committee",
        None,
        &["cao-bang"],
    );
    s.organization(
        d,
        "huyen-uy-trung-khanh",
        "Đảng bộ huyện Trùng Khánh",
        "district_committee",
        Some("tinh-uy-cao-bang"),
        &["trung-khanh"],
    );
    for (id, name, commune) in [
        ("dang-bo-xa-ngoc-khe", "Đảng bộ xã Ngọc Khê", "xa-ngoc-khe"),
        ("dang-bo-xa-dam-thuy", "Đảng bộ xã Đàm Thủy", "xa-dam-thuy"),
        (
            "dang-bo-tt-trung-khanh",
            "Đảng bộ thị trấn Trùng Khánh",
            "tt-trung-khanh",
        ),
        ("dang-bo-xa-phong-nam", "Đảng bộ xã Phong Nậm", "xa-phong-nam"),
    ] {
        s.organization(
            d,
            id,
            name,
            "grassroots_committee",
            Some("huyen-uy-trung-khanh"),
            &[commune],
        );
    }
    s.organization(
        d,
        "dbp-ngoc-khe",
        "Đảng bộ Đồn Biên phòng Ngọc Khê",
        "border_post_committee",
        Some("tinh-uy-cao-bang"),
        &[],
    );
    s.organization(
        d,
        "dbp-dam-thuy",
        "Đảng bộ Đồn Biên phòng Đàm Thủy",
        "border_post_committee",
        Some("tinh-uy-cao-bang"),
        &[],
    );
    s.organization(
        d,
        "cb-dbp-ngoc-khe",
        "Chi bộ Đồn Biên phòng Ngọc Khê",
        "cell",
        Some("dbp-ngoc-khe"),
        &[],
    );
    s.organization(
        d,
        "cb-dbp-dam-thuy",
        "Chi bộ Đồn Biên phòng Đàm Thủy",
        "cell",
        Some("dbp-dam-thuy"),
        &[],
    );
    for (effective, id, name, parent, localities) in [
        (
            d,
            "cb-pac-ngoa",
            "Chi bộ xóm Pác Ngòa",
            "dang-bo-xa-ngoc-khe",
            &["xom-pac-ngoa"][..],
        ),
        (
            d,
            "cb-ban-gioc",
            "Chi bộ xóm Bản Giốc",
            "dang-bo-xa-dam-thuy",
            &["xom-ban-gioc"][..],
        ),
        (
            d,
            "cb-tdp-1",
            "Chi bộ tổ dân phố 1-2",
            "dang-bo-tt-trung-khanh",
            &["tdp-1", "tdp-2"][..],
        ),
        (
            d,
            "cb-tdp-3",
            "Chi bộ tổ dân phố 3",
            "dang-bo-tt-trung-khanh",
            &["tdp-3"][..],
        ),
        (
            d,
            "cb-pac-ra",
            "Chi bộ xóm Pác Rà",
            "dang-bo-xa-phong-nam",
            &["xom-pac-ra"][..],
        ),
        (
            "2006-04-01",
            "cb-khua-o",
            "Chi bộ xóm Khưa Ỏ",
            "dang-bo-xa-ngoc-khe",
            &["xom-khua-o", "xom-lung-nam"][..],
        ),
        (
            "2007-01-01",
            "cb-lung-dinh",
            "Chi bộ xóm Lũng Đính",
            "dang-bo-xa-phong-nam",
            &["xom-lung-dinh"][..],
        ),
        (
            "2008-09-01",
            "cb-na-doong",
            "Chi bộ xóm Nà Đoỏng",
            "dang-bo-xa-dam-thuy",
            &["xom-na-doong", "xom-po-peo"][..],
        ),
        (
            "2010-06-01",
            "cb-na-leng",
            "Chi bộ xóm Nà Lẹng",
            "dang-bo-xa-phong-nam",
            &["xom-na-leng"][..],
        ),
        (
            "2013-08-01",
            "cb-xom-moi",
            "Chi bộ Xóm Mới",
            "dang-bo-xa-phong-nam",
            &["xom-moi"][..],
        ),
        (
            "2013-09-01",
            "cb-dong-si",
            "Chi bộ xóm Đông Si",
            "dang-bo-xa-dam-thuy",
            &["xom-dong-si"][..],
        ),
    ] {
        s.organization(effective, id, name, "cell", Some(parent), localities);
    }
    s.record(
        "2011-03-01",
        "OrganizationRenamed",
        json!({"org": "cb-pac-ngoa", "name": "Chi bộ Pác Ngòa – Ngọc Khê"}),
    );
    // The Lũng Đính cell merges into Pác Rà once its members have moved (see `members`).
    s.record(
        "2012-06-30",
        "OrganizationDissolved",
        json!({"org": "cb-lung-dinh", "merged_into": "cb-pac-ra"}),
    );
}

/// The named members of the story, with what happens to each, and three ordinary
/// admissions a year.
fn members(s: &mut Chronicle) {
    let founders = [
        (
            "dv-001",
            "Nông Văn Hùng",
            "male",
            "1960-04-02",
            "xom-pac-ngoa",
            "cb-pac-ngoa",
        ),
        (
            "dv-002",
            "Hoàng Thị Lan",
            "female",
            "1972-08-11",
            "xom-pac-ngoa",
            "cb-pac-ngoa",
        ),
        (
            "dv-003",
            "Lục Văn Đức",
            "male",
            "1958-01-20",
            "xom-ban-gioc",
            "cb-ban-gioc",
        ),
        ("dv-004", "Đinh Thị Thu", "female", "1975-05-05", "tdp-1", "cb-tdp-1"),
        ("dv-005", "Bế Văn Sơn", "male", "1966-09-09", "tdp-2", "cb-tdp-1"),
        ("dv-006", "Triệu Văn Minh", "male", "1970-02-02", "tdp-3", "cb-tdp-3"),
        (
            "dv-007",
            "Nông Thị Hoa",
            "female",
            "1968-12-12",
            "xom-pac-ra",
            "cb-pac-ra",
        ),
        ("dv-008", "Hà Văn Tùng", "male", "1983-03-03", "xom-pac-ra", "cb-pac-ra"),
        // Border-post members live at their post; their home locality is the commune.
        (
            "dv-bp-1",
            "Lường Văn Quân",
            "male",
            "1982-06-01",
            "xa-ngoc-khe",
            "cb-dbp-ngoc-khe",
        ),
        (
            "dv-bp-2",
            "Mã Văn Hải",
            "male",
            "1984-07-07",
            "xa-ngoc-khe",
            "cb-dbp-ngoc-khe",
        ),
        (
            "dv-bp-3",
            "Nông Văn Tài",
            "male",
            "1983-02-02",
            "xa-dam-thuy",
            "cb-dbp-dam-thuy",
        ),
    ];
    for (id, name, sex, birth, home, cell) in founders {
        let n = Newcomer {
            id,
            name,
            sex,
            birth,
            home,
            cell,
            verified: "2005-01-15",
            admitted: "2005-03-01",
            kin_abroad: false,
        };
        s.admit(&n);
        s.officialize("2006-03-15", id);
    }
    let later = [
        (
            "dv-ld-1",
            "Hoàng Văn Phúc",
            "male",
            "1985-04-04",
            "xom-lung-dinh",
            "cb-lung-dinh",
            "2006-12-01",
            "2007-02-01",
            "2008-02-10",
            false,
        ),
        (
            "dv-nd-1",
            "Lý Văn Thắng",
            "male",
            "1979-11-11",
            "xom-po-peo",
            "cb-na-doong",
            "2008-08-20",
            "2008-10-01",
            "2009-10-05",
            false,
        ),
        (
            "dv-ko-1",
            "Sầm Thị Nga",
            "female",
            "1988-10-10",
            "xom-khua-o",
            "cb-khua-o",
            "2008-12-01",
            "2009-02-01",
            "2010-02-15",
            true,
        ),
        (
            "dv-ld-2",
            "Vi Thị Mai",
            "female",
            "1990-01-01",
            "xom-lung-dinh",
            "cb-lung-dinh",
            "2009-03-01",
            "2009-05-01",
            "2010-05-10",
            false,
        ),
        (
            "dv-nl-1",
            "Đàm Văn Lợi",
            "male",
            "1987-07-07",
            "xom-na-leng",
            "cb-na-leng",
            "2010-06-10",
            "2010-07-01",
            "2011-08-01",
            false,
        ),
        (
            "dv-xm-1",
            "Chu Thị Duyên",
            "female",
            "1992-03-03",
            "xom-moi",
            "cb-xom-moi",
            "2013-08-15",
            "2013-09-15",
            "2014-10-01",
            true,
        ),
    ];
    for (id, name, sex, birth, home, cell, verified, admitted, official, kin_abroad) in later {
        s.admit(&Newcomer {
            id,
            name,
            sex,
            birth,
            home,
            cell,
            verified,
            admitted,
            kin_abroad,
        });
        s.officialize(official, id);
    }
    // The Lũng Đính cell's members move before it is dissolved, one with a new home.
    s.record(
        "2012-06-01",
        "MemberTransferred",
        json!({"member": "dv-ld-1", "to_org": "cb-pac-ra", "home_locality": "xom-pac-ra"}),
    );
    s.record(
        "2012-06-01",
        "MemberTransferred",
        json!({"member": "dv-ld-2", "to_org": "cb-tdp-3", "home_locality": "tdp-3"}),
    );
    // Border-post members on temporary activity in hamlets without a resident member: one
    // whose term runs out without an end event and then starts again, one that ends early,
    // one that runs for years.
    s.record(
        "2006-05-01",
        "TemporaryActivityStarted",
        json!({"member": "dv-bp-1", "host_org": "cb-khua-o", "until": "2008-05-01"}),
    );
    s.record(
        "2008-06-01",
        "TemporaryActivityStarted",
        json!({"member": "dv-bp-1", "host_org": "cb-khua-o"}),
    );
    s.record(
        "2010-01-15",
        "TemporaryActivityEnded",
        json!({"member": "dv-bp-1", "host_org": "cb-khua-o"}),
    );
    s.record(
        "2008-10-01",
        "TemporaryActivityStarted",
        json!({"member": "dv-bp-2", "host_org": "cb-na-doong", "until": "2011-10-01"}),
    );
    s.record(
        "2010-11-20",
        "TemporaryActivityEnded",
        json!({"member": "dv-bp-2", "host_org": "cb-na-doong"}),
    );
    s.record(
        "2010-02-01",
        "TemporaryActivityStarted",
        json!({"member": "dv-bp-3", "host_org": "cb-khua-o"}),
    );
    s.record(
        "2014-12-31",
        "TemporaryActivityEnded",
        json!({"member": "dv-bp-3", "host_org": "cb-khua-o"}),
    );
    // Age, illness, discipline and death.
    s.record(
        "2010-01-10",
        "MemberExempted",
        json!({"member": "dv-003", "reason": "Tuổi cao, sức yếu"}),
    );
    s.record(
        "2013-04-10",
        "MembershipEnded",
        json!({"member": "dv-003", "reason": "died"}),
    );
    s.record(
        "2011-08-08",
        "MemberDisciplined",
        json!({"member": "dv-007", "form": "reprimand"}),
    );
    s.record(
        "2013-03-03",
        "MemberExempted",
        json!({"member": "dv-007", "reason": "Ốm dài ngày"}),
    );
    s.record("2014-03-03", "ExemptionRevoked", json!({"member": "dv-007"}));
    s.record(
        "2014-02-01",
        "MembershipEnded",
        json!({"member": "dv-006", "reason": "died"}),
    );
    // A correction recorded in its time, in the middle of the story.
    s.record(
        "2010-09-09",
        "ProfileCorrected",
        json!({"subject": "dv-002", "field": "name", "value": "Hoàng Thị Lân", "reason": "Sai chính tả trong lý lịch"}),
    );
    ordinary_admissions(s);
}

/// Three admissions a year, 2005 to 2015, into the cells founded by then; two refused
/// verifications; one resignation and one transfer among them.
fn ordinary_admissions(s: &mut Chronicle) {
    let surnames = [
        "Nông", "Hoàng", "Lục", "Bế", "Triệu", "Lý", "Đàm", "Sầm", "Vi", "Hà", "Chu",
    ];
    let given_female = ["Thị Hằng", "Thị Liên", "Thị Phương", "Thị Nhung"];
    let given_male = ["Văn Khánh", "Văn Lâm", "Văn Quang", "Văn Bình"];
    let mut cells = vec![
        ("cb-pac-ngoa", "xom-pac-ngoa"),
        ("cb-ban-gioc", "xom-ban-gioc"),
        ("cb-tdp-1", "tdp-2"),
        ("cb-tdp-3", "tdp-3"),
        ("cb-pac-ra", "xom-pac-ra"),
    ];
    for year in 2005..=2015 {
        if year == 2009 {
            cells.push(("cb-na-doong", "xom-na-doong"));
        }
        if year == 2010 {
            cells.push(("cb-khua-o", "xom-lung-nam"));
        }
        for k in 0..3usize {
            let i = (year as usize) * 3 + k;
            let (cell, home) = cells[i % cells.len()];
            let id = format!("dv-{year}-{k}");
            let female = i.is_multiple_of(2);
            let name = if female {
                format!(
                    "{} {}",
                    surnames[i % surnames.len()],
                    given_female[i % given_female.len()]
                )
            } else {
                format!("{} {}", surnames[i % surnames.len()], given_male[i % given_male.len()])
            };
            let birth = format!("{}-0{}-1{}", year - 22 - 3 * k as i32, k + 1, k);
            let verified = format!("{year}-02-1{k}");
            let admitted = format!("{year}-04-1{k}");
            s.admit(&Newcomer {
                id: &id,
                name: &name,
                sex: if female { "female" } else { "male" },
                birth: &birth,
                home,
                cell,
                verified: &verified,
                admitted: &admitted,
                kin_abroad: k == 1,
            });
            let official = date(&admitted).plus_months(13);
            if official <= date("2015-12-31") {
                s.officialize(&official.to_string(), &id);
            }
        }
    }
    for year in [2007, 2011] {
        s.record(
            &format!("{year}-03-03"),
            "BackgroundVerified",
            json!({"person": format!("dv-r-{year}"), "outcome": "refused", "kin_abroad": true}),
        );
    }
    s.record(
        "2012-09-09",
        "MembershipEnded",
        json!({"member": "dv-2006-1", "reason": "resigned"}),
    );
    s.record(
        "2011-02-02",
        "MemberTransferred",
        json!({"member": "dv-2008-2", "to_org": "cb-na-leng", "home_locality": "xom-na-leng"}),
    );
}

/// The instruments, positions, the 03-ĐA/TU standardization and the 2015-2020 plan.
fn cadres(s: &mut Chronicle) {
    s.record("2007-03-30", "InstrumentIssued", json!({"instrument": "10-ct-tw", "kind": "directive", "title": "Chỉ thị 10-CT/TW về nâng cao chất lượng sinh hoạt chi bộ", "issuer": "Ban Bí thư"}));
    s.record("2008-06-09", "InstrumentIssued", json!({"instrument": "09-hd-btctw", "kind": "guidance", "title": "Hướng dẫn 09-HD/BTCTW", "issuer": "Ban Tổ chức Trung ương"}));
    s.record("2011-12-20", "InstrumentIssued", json!({"instrument": PROGRAMME, "kind": "project", "title": "Đề án 03-ĐA/TU chuẩn hóa cán bộ cơ sở", "issuer": "Tỉnh ủy Cao Bằng", "starts": "2012-01-01", "ends": "2015-12-31"}));
    s.record(
        "2005-03-01",
        "PositionAssigned",
        json!({"person": "dv-001", "org": "cb-pac-ngoa", "position": "bi-thu"}),
    );
    s.record(
        "2006-01-01",
        "PositionAssigned",
        json!({"person": "dv-004", "org": "cb-tdp-1", "position": "bi-thu"}),
    );
    s.record(
        "2011-01-01",
        "PositionEnded",
        json!({"person": "dv-004", "org": "cb-tdp-1", "position": "bi-thu"}),
    );
    s.record(
        "2008-01-01",
        "PositionAssigned",
        json!({"person": "dv-006", "org": "cb-tdp-3", "position": "pho-bi-thu"}),
    );
    // Assessed on the programme's first day, except dv-ld-1 (later, so not in the baseline).
    for (person, gaps) in [
        ("dv-001", &["education", "political_theory"][..]),
        ("dv-002", &["state_management"][..]),
        ("dv-003", &["education", "professional"][..]),
        ("dv-004", &["professional", "state_management"][..]),
        ("dv-005", &[][..]),
        ("dv-007", &["education"][..]),
        ("dv-008", &["political_theory"][..]),
    ] {
        s.record(
            "2012-01-01",
            "CadreAssessed",
            json!({"person": person, "programme": PROGRAMME, "meets_standard": gaps.is_empty(), "gaps": gaps}),
        );
    }
    s.record(
        "2012-02-15",
        "CadreAssessed",
        json!({"person": "dv-ld-1", "programme": PROGRAMME, "meets_standard": false, "gaps": ["education"]}),
    );
    let training = |s: &mut Chronicle, d: &str, person: &str, dimension: &str, programme: bool| {
        let mut f = json!({"person": person, "course": format!("Bồi dưỡng {dimension}"), "dimension": dimension, "level": "trung cấp"});
        if programme {
            f["programme"] = json!(PROGRAMME);
        }
        s.record(d, "TrainingCompleted", f);
    };
    training(s, "2013-05-01", "dv-001", "education", true);
    training(s, "2014-05-01", "dv-001", "political_theory", true);
    s.record(
        "2014-06-01",
        "CadreStandardized",
        json!({"person": "dv-001", "programme": PROGRAMME}),
    );
    training(s, "2012-11-01", "dv-002", "state_management", true);
    s.record(
        "2012-12-01",
        "CadreStandardized",
        json!({"person": "dv-002", "programme": PROGRAMME}),
    );
    // dv-004 is assessed again a year on, with one gap left.
    s.record(
        "2013-01-10",
        "CadreAssessed",
        json!({"person": "dv-004", "programme": PROGRAMME, "meets_standard": false, "gaps": ["state_management"]}),
    );
    training(s, "2013-10-01", "dv-004", "state_management", true);
    s.record(
        "2013-12-01",
        "CadreStandardized",
        json!({"person": "dv-004", "programme": PROGRAMME}),
    );
    s.record(
        "2014-12-15",
        "CadreRetiredUnderPolicy",
        json!({"person": "dv-007", "programme": PROGRAMME}),
    );
    training(s, "2015-06-01", "dv-008", "political_theory", true);
    s.record(
        "2015-12-01",
        "CadreStandardized",
        json!({"person": "dv-008", "programme": PROGRAMME}),
    );
    // A course outside the programme does not close its gap; the later one does.
    training(s, "2013-02-02", "dv-ld-1", "education", false);
    training(s, "2015-03-03", "dv-ld-1", "education", true);
    s.record(
        "2015-04-01",
        "CadreStandardized",
        json!({"person": "dv-ld-1", "programme": PROGRAMME}),
    );
    for (person, position, org) in [
        ("dv-001", "bi-thu", "dang-bo-xa-ngoc-khe"),
        ("dv-002", "pho-bi-thu", "dang-bo-xa-ngoc-khe"),
        ("dv-ko-1", "bi-thu", "cb-khua-o"),
        ("dv-nl-1", "bi-thu", "cb-na-leng"),
        ("dv-008", "pho-bi-thu", "dang-bo-xa-phong-nam"),
        ("dv-ld-2", "bi-thu", "cb-tdp-3"),
    ] {
        s.record(
            "2013-06-01",
            "CadrePlanned",
            json!({"person": person, "term": TERM, "position": position, "org": org}),
        );
    }
    s.record(
        "2014-06-01",
        "CadreUnplanned",
        json!({"person": "dv-001", "term": TERM}),
    );
    s.record(
        "2015-01-10",
        "CadrePlanned",
        json!({"person": "dv-xm-1", "term": TERM, "position": "bi-thu", "org": "cb-xom-moi"}),
    );
}

/// Supervisors, quarterly meetings of two cells that were weak for a while, monthly ones of
/// a good cell in 2010, ratings and resolutions.
fn cell_life(s: &mut Chronicle) {
    s.record(
        "2009-06-01",
        "SupervisorAssigned",
        json!({"member": "dv-005", "cell": "cb-na-doong"}),
    );
    s.record(
        "2011-06-01",
        "SupervisorReleased",
        json!({"member": "dv-005", "cell": "cb-na-doong"}),
    );
    s.record(
        "2011-03-01",
        "SupervisorAssigned",
        json!({"member": "dv-006", "cell": "cb-khua-o"}),
    );
    for year in 2008..=2015 {
        for month in [2, 5, 8, 11] {
            let d = format!("{year}-{month:02}-15");
            if d.as_str() < "2008-11-01" {
                continue;
            }
            let present = ("2009-06-01".."2011-06-01").contains(&d.as_str());
            s.meeting(
                &d,
                "cb-na-doong",
                if month == 11 { "thematic" } else { "regular" },
                1,
                present,
            );
        }
        for month in [3, 6, 9, 12] {
            let d = format!("{year}-{month:02}-10");
            if d.as_str() < "2009-03-01" {
                continue;
            }
            let present = ("2011-03-01".."2014-02-01").contains(&d.as_str());
            s.meeting(&d, "cb-khua-o", "regular", 1, present);
        }
    }
    for month in 1..=12 {
        s.meeting(&format!("2010-{month:02}-05"), "cb-pac-ngoa", "regular", 2, false);
    }
    for (year, level) in [(2009, "weak"), (2010, "weak"), (2011, "fair"), (2012, "good")] {
        s.rating(&format!("{year}-12-20"), "cb-na-doong", year, level);
    }
    for (year, level) in [(2011, "weak"), (2012, "weak"), (2013, "fair")] {
        s.rating(&format!("{year}-12-20"), "cb-khua-o", year, level);
    }
    for year in 2008..=2014 {
        s.rating(&format!("{year}-12-20"), "cb-pac-ngoa", year, "good");
    }
    s.rating("2010-12-20", "dv-001", 2010, "excellent");
    for (d, cell, id, topic, title) in [
        (
            "2009-04-01",
            "cb-pac-ngoa",
            "nq-pac-ngoa-2009-duong",
            "rural_roads",
            "Bê tông hóa đường xóm Pác Ngòa",
        ),
        (
            "2010-05-05",
            "cb-khua-o",
            "nq-khua-o-2010-hien-dat",
            "land_donation",
            "Vận động hiến đất mở đường",
        ),
        (
            "2011-03-03",
            "cb-na-doong",
            "nq-na-doong-2011-nha-van-hoa",
            "public_works",
            "Xây nhà văn hóa xóm",
        ),
        (
            "2012-02-02",
            "cb-tdp-1",
            "nq-tdp-1-2012-kinh-te",
            "economy",
            "Phát triển kinh tế hộ gia đình",
        ),
        (
            "2013-06-06",
            "cb-pac-ra",
            "nq-pac-ra-2013-duong",
            "rural_roads",
            "Làm đường liên xóm",
        ),
        (
            "2014-04-04",
            "cb-xom-moi",
            "nq-xom-moi-2014-xay-dung-dang",
            "party_building",
            "Nâng cao chất lượng sinh hoạt chi bộ",
        ),
        (
            "2014-09-09",
            "cb-khua-o",
            "nq-khua-o-2014-duong",
            "rural_roads",
            "Cứng hóa đường vào xóm",
        ),
        (
            "2015-01-01",
            "cb-ban-gioc",
            "nq-ban-gioc-2015-an-ninh",
            "security",
            "Giữ gìn an ninh biên giới",
        ),
        (
            "2015-05-05",
            "cb-pac-ngoa",
            "nq-pac-ngoa-2015-hien-dat",
            "land_donation",
            "Hiến đất làm sân thể thao",
        ),
    ] {
        s.record(
            d,
            "ResolutionAdopted",
            json!({"cell": cell, "resolution": id, "topic": topic, "title": title}),
        );
    }
}

/// Facts recorded years after they took effect: only new entities can be back-filled, since
/// an entity's own effective dates never go backwards.
fn back_filled_facts(s: &mut Chronicle) {
    s.locality(
        "2006-02-01",
        "xom-ban-khuong",
        "Bản Khuông",
        "hamlet",
        Some("xa-ngoc-khe"),
        false,
    );
    s.organization(
        "2007-05-01",
        "cb-ban-khuong",
        "Chi bộ xóm Bản Khuông",
        "cell",
        Some("dang-bo-xa-ngoc-khe"),
        &["xom-ban-khuong"],
    );
    s.admit(&Newcomer {
        id: "dv-bk-1",
        name: "La Văn Khang",
        sex: "male",
        birth: "1983-05-05",
        home: "xom-ban-khuong",
        cell: "cb-ban-khuong",
        verified: "2007-03-01",
        admitted: "2007-06-01",
        kin_abroad: false,
    });
    s.officialize("2008-07-01", "dv-bk-1");
    // The cell is rated weak for 2008 on the day of a meeting, and that rating is recorded
    // after the meeting: asked as of the meeting's seq, the cell was not yet known as weak.
    s.meeting("2008-12-20", "cb-ban-khuong", "regular", 1, false);
    s.rating("2008-12-20", "cb-ban-khuong", 2008, "weak");
    s.meeting("2009-03-20", "cb-ban-khuong", "thematic", 1, false);
    // A member of Pác Ngòa's cell who lives in Nà Thuôn, the hamlet that had nobody.
    s.admit(&Newcomer {
        id: "dv-late",
        name: "Ninh Thị Hạnh",
        sex: "female",
        birth: "1986-08-08",
        home: "xom-na-thuon",
        cell: "cb-pac-ngoa",
        verified: "2009-02-01",
        admitted: "2009-04-01",
        kin_abroad: false,
    });
}

/// Corrections (phiếu bổ sung) recorded at the end: they change the answer for every date,
/// but only for questions asked from their `seq` on.
fn corrections(s: &mut Chronicle) {
    let d = "2015-12-20";
    s.record(
        d,
        "ProfileCorrected",
        json!({"subject": "dv-ko-1", "field": "name", "value": "Sầm Thị Ngà", "reason": "Sai dấu trong lý lịch"}),
    );
    s.record(
        d,
        "ProfileCorrected",
        json!({"subject": "dv-008", "field": "birth_date", "value": "1975-03-03", "reason": "Theo giấy khai sinh"}),
    );
    s.record(
        d,
        "ProfileCorrected",
        json!({"subject": "dv-nd-1", "field": "home_locality", "value": "xom-na-doong", "reason": "Ghi nhầm xóm"}),
    );
}

// ---------------------------------------------------------------------------------------
// Ledgers and reports

fn actor() -> Id {
    Id::parse("van-phong-huyen-uy").expect("an id")
}

/// Opens a ledger whose transaction time starts at `recorded_from` and steps a second per
/// event, and appends `lines` in batches of varied size, so the live projection is folded
/// group by group as a server would fold it.
fn write_ledger(dir: &Path, lines: &[String], recorded_from: &str) -> Ledger {
    let clock = SteppedClock::new(Timestamp::parse(recorded_from).expect("a timestamp"), 1_000_000);
    let ledger = Ledger::open(dir, LedgerOptions::with_clock(Box::new(clock))).expect("a new ledger");
    let subs: Vec<Submission> = lines
        .iter()
        .map(|l| Submission::from_json(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect();
    let mut rest = &subs[..];
    let mut size = 1;
    while !rest.is_empty() {
        let (batch, after) = rest.split_at(size.min(rest.len()));
        if let Err(e) = ledger.append(actor(), batch.to_vec(), None) {
            let first = lines.len() - rest.len();
            panic!(
                "the story is refused at its line {}: {e}\n{}",
                first + 1,
                lines[first..first + batch.len()].join("\n")
            );
        }
        rest = after;
        size = size % 37 + 1;
    }
    ledger
}

/// A projection folded from records `1..=seq` of the store, and nothing else.
fn replay_to(store: &Store, seq: u64) -> Projection {
    let mut p = Projection::new();
    for record in store.records(1).take(seq as usize) {
        p.fold(&record.expect("a good record"));
    }
    assert_eq!(p.head().seq, seq);
    p
}

/// A report's JSON, or its error as (exit code, message).
type Answer = Result<Value, (i32, String)>;

fn ask(kind: &ReportKind, day: &str, seq: u64, projection: &Projection, store: &Store) -> Answer {
    let as_of = AsOf {
        date: Some(day.to_string()),
        seq: Some(seq),
    };
    compute(kind, &as_of, projection, Some(store)).map_err(|e| (e.exit_code(), e.to_string()))
}

/// A report that must be given.
fn report(kind: &ReportKind, day: &str, seq: u64, projection: &Projection, store: &Store) -> Value {
    ask(kind, day, seq, projection, store).unwrap_or_else(|e| panic!("{kind:?} at ({day}, {seq}): {e:?}"))
}

/// The reports that depend on the date, with the filters the story gives meaning to.
fn dated_reports() -> Vec<ReportKind> {
    vec![
        ReportKind::Coverage,
        ReportKind::TemporaryActivity,
        ReportKind::Standardization {
            programme: PROGRAMME.into(),
        },
        ReportKind::Meetings { year: None },
        ReportKind::Meetings { year: Some(2011) },
        ReportKind::Resolutions,
        ReportKind::Planning { term: TERM.into() },
        ReportKind::Roster {
            org: "cb-pac-ra".into(),
        },
        ReportKind::Roster {
            org: "cb-lung-dinh".into(),
        },
        ReportKind::Roster {
            org: "cb-khua-o".into(),
        },
        ReportKind::Roster {
            org: "cb-ban-khuong".into(),
        },
    ]
}

/// The reports that depend on the `seq` only.
fn undated_reports() -> Vec<ReportKind> {
    let mut kinds = vec![
        ReportKind::Admissions {
            from_year: None,
            to_year: None,
        },
        ReportKind::Admissions {
            from_year: Some(2007),
            to_year: Some(2009),
        },
    ];
    for entity in [
        "dv-ld-1",
        "dv-ko-1",
        "dv-bk-1",
        "cb-lung-dinh",
        "xom-na-leng",
        "xom-lung-dinh",
        PROGRAMME,
        "nq-khua-o-2010-hien-dat",
    ] {
        kinds.push(ReportKind::History { entity: entity.into() });
    }
    kinds
}

/// Each 1 January and 30 June from 2004 (before the story) to 2016 (after it).
fn question_dates() -> Vec<String> {
    (2004..=2016)
        .flat_map(|y| [format!("{y}-01-01"), format!("{y}-06-30")])
        .collect()
}

/// The `seq` of the first record of `type_name` whose fields include `fields`.
fn seq_of(store: &Store, type_name: &str, fields: Value) -> u64 {
    let wanted = fields.as_object().expect("an object").clone();
    for record in store.records(1) {
        let record = record.expect("a good record");
        let have = record.submission().to_value();
        if record.type_name() == type_name && wanted.iter().all(|(k, v)| have.get(k) == Some(v)) {
            return record.seq();
        }
    }
    panic!("no {type_name} with {fields}");
}

fn ids_in(list: &Value) -> BTreeSet<String> {
    list.as_array()
        .expect("a list")
        .iter()
        .map(|x| x["id"].as_str().or(x["member"].as_str()).expect("an id").to_string())
        .collect()
}

fn roster_names(roster: &Value) -> Vec<(String, String)> {
    roster["members"]
        .as_array()
        .expect("members")
        .iter()
        .map(|m| {
            (
                m["member"].as_str().unwrap().to_string(),
                m["name"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn on_roster(roster: &Value, member: &str) -> bool {
    roster_names(roster).iter().any(|(id, _)| id == member)
}

// ---------------------------------------------------------------------------------------
// 1. Bitemporal equivalence

/// For every `seq` of the ledger and every question date, each report of the live
/// projection equals the report of a projection folded from the records up to that `seq`.
#[test]
fn the_live_projection_answers_as_of_any_seq_like_a_replay_up_to_it() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let lines = trung_khanh_story();
    assert!(
        lines.len() > 300,
        "a story of a few hundred events, not {}",
        lines.len()
    );
    let ledger = write_ledger(dir.path(), &lines, RECORDED_FROM);
    let store = ledger.store();
    let live = ledger.projection();
    let head = live.head().seq;
    assert_eq!(head, lines.len() as u64);
    assert_eq!(live.head(), store.head().expect("the head"));

    let dates = question_dates();
    let (dated, undated) = (dated_reports(), undated_reports());
    let mut prefix = Projection::new();
    let mut records = store.records(1);
    let mut distinct: BTreeSet<String> = BTreeSet::new();
    let mut compared = 0u64;
    for s in 0..=head {
        if s > 0 {
            prefix.fold(&records.next().expect("record s").expect("a good record"));
        }
        let mut check = |kind: &ReportKind, day: &str| {
            let from_live = ask(kind, day, s, &live, store);
            let from_replay = ask(kind, day, s, &prefix, store);
            if from_live != from_replay {
                panic!(
                    "{kind:?} as of ({day}, seq {s}) differs:\nlive projection: {}\nreplay to {s}: {}",
                    pretty(&from_live),
                    pretty(&from_replay)
                );
            }
            // Counted without the `seq` the answer echoes, which alone would make every
            // answer distinct.
            if let Ok(Value::Object(v)) = &from_live {
                let mut v = v.clone();
                v.remove("seq");
                distinct.insert(Value::Object(v).to_string());
            }
            compared += 1;
        };
        for kind in &undated {
            check(kind, "2016-01-01");
        }
        for day in &dates {
            for kind in &dated {
                check(kind, day);
            }
        }
    }
    // The reports changed with the seq and the date: the comparison was not of empty answers.
    assert!(
        distinct.len() > 2_000,
        "only {} distinct answers in {compared} comparisons",
        distinct.len()
    );
}

fn pretty(answer: &Answer) -> String {
    match answer {
        Ok(v) => serde_json::to_string_pretty(v).expect("json"),
        Err(e) => format!("error {e:?}"),
    }
}

/// Facts worked out by hand from the story, so the equivalence above is between right
/// answers, not two equally wrong ones.
#[test]
fn hand_computed_answers_as_of_dates_and_seqs() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let ledger = write_ledger(dir.path(), &trung_khanh_story(), RECORDED_FROM);
    let store = ledger.store();
    let p = ledger.projection();
    let head = p.head().seq;
    let at = |kind: &ReportKind, day: &str, seq: u64| report(kind, day, seq, &p, store);
    let roster = |org: &str| ReportKind::Roster { org: org.into() };

    // A name corrected at seq k: the old name for questions asked before k, the new one from
    // k on, on every date (a correction rewrites the past, from its own seq).
    let k = seq_of(
        store,
        "ProfileCorrected",
        json!({"subject": "dv-ko-1", "field": "name"}),
    );
    let name = |day: &str, seq: u64| {
        roster_names(&at(&roster("cb-khua-o"), day, seq))
            .into_iter()
            .find(|(id, _)| id == "dv-ko-1")
            .expect("on the roster")
            .1
    };
    assert_eq!(name("2015-12-31", k - 1), "Sầm Thị Nga");
    assert_eq!(name("2015-12-31", k), "Sầm Thị Ngà");
    assert_eq!(name("2010-01-01", k - 1), "Sầm Thị Nga");
    assert_eq!(name("2010-01-01", k), "Sầm Thị Ngà");

    // A transfer: on the old roster before its date, on the new one from it; and before the
    // transfer was recorded, on the old roster whatever the date.
    let t = seq_of(store, "MemberTransferred", json!({"member": "dv-ld-1"}));
    assert!(on_roster(&at(&roster("cb-lung-dinh"), "2012-05-31", head), "dv-ld-1"));
    assert!(!on_roster(&at(&roster("cb-pac-ra"), "2012-05-31", head), "dv-ld-1"));
    assert!(!on_roster(&at(&roster("cb-lung-dinh"), "2012-06-01", head), "dv-ld-1"));
    assert!(on_roster(&at(&roster("cb-pac-ra"), "2012-06-01", head), "dv-ld-1"));
    assert!(on_roster(&at(&roster("cb-lung-dinh"), "2012-06-01", t - 1), "dv-ld-1"));
    assert!(!on_roster(&at(&roster("cb-pac-ra"), "2012-06-01", t - 1), "dv-ld-1"));
    let pac_ra = at(&roster("cb-pac-ra"), "2012-06-01", head);
    let row = pac_ra["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["member"] == "dv-ld-1")
        .unwrap()
        .clone();
    assert_eq!(row["home_locality"], "xom-pac-ra");
    assert_eq!(row["status"], "official");
    // The dissolved cell is no longer active, and a roster of a cell asked before its
    // founding was recorded is an unknown organization, not an empty roster.
    assert_eq!(at(&roster("cb-lung-dinh"), "2012-07-01", head)["active"], false);
    assert_eq!(at(&roster("cb-lung-dinh"), "2012-06-29", head)["active"], true);
    let founded = seq_of(store, "OrganizationFounded", json!({"org": "cb-ban-khuong"}));
    let before = ask(&roster("cb-ban-khuong"), "2010-01-01", founded - 1, &p, store);
    assert_eq!(
        before,
        Err((
            1,
            format!("unknown organization \"cb-ban-khuong\" (as of seq {})", founded - 1)
        ))
    );
    assert_eq!(
        ids_in(&at(&roster("cb-ban-khuong"), "2010-01-01", head)["members"]),
        BTreeSet::from(["dv-bk-1".to_string()])
    );

    // Death and exemption: on the roster, exempted, until the day of death.
    let gioc = at(&roster("cb-ban-gioc"), "2013-04-09", head);
    let row = gioc["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["member"] == "dv-003")
        .expect("alive")
        .clone();
    assert_eq!(row["exempted"], true);
    assert!(!on_roster(&at(&roster("cb-ban-gioc"), "2013-04-10", head), "dv-003"));
    assert_eq!(
        ids_in(&at(&roster("cb-tdp-1"), "2005-06-30", head)["members"]),
        BTreeSet::from(["dv-004", "dv-005", "dv-2005-2"].map(String::from))
    );

    // Coverage before and after the Nà Đoỏng cell (two hamlets) is founded.
    let coverage = |day: &str, seq: u64| at(&ReportKind::Coverage, day, seq);
    let (eve, day) = (coverage("2008-08-31", head), coverage("2008-09-01", head));
    assert_eq!(
        day["with_cell"].as_u64().unwrap(),
        eve["with_cell"].as_u64().unwrap() + 2
    );
    assert!(
        ids_in(&eve["without_cell"]).contains("xom-na-doong") && ids_in(&eve["without_cell"]).contains("xom-po-peo")
    );
    assert!(
        !ids_in(&day["without_cell"]).contains("xom-na-doong") && !ids_in(&day["without_cell"]).contains("xom-po-peo")
    );
    for field in [
        "date",
        "seq",
        "localities",
        "with_member",
        "with_cell",
        "without_member",
        "without_cell",
        "temporary_only",
        "communes",
    ] {
        assert!(day.get(field).is_some(), "coverage has no field {field}");
    }
    assert_eq!(day["date"], "2008-09-01");
    assert_eq!(day["seq"], head);

    // The back-filled hamlet and member: absent from questions asked before they were
    // recorded, present from their effective dates once they were.
    let hamlet = seq_of(store, "LocalityRegistered", json!({"locality": "xom-ban-khuong"}));
    let late = seq_of(store, "MemberAdmitted", json!({"member": "dv-late"}));
    let (old, new) = (coverage("2010-01-01", hamlet - 1), coverage("2010-01-01", head));
    assert_eq!(old["localities"], 15);
    assert_eq!(new["localities"], 16);
    assert!(ids_in(&coverage("2010-01-01", late - 1)["without_member"]).contains("xom-na-thuon"));
    assert!(!ids_in(&new["without_member"]).contains("xom-na-thuon"));
    assert!(
        !ids_in(&new["without_member"]).contains("xom-khua-o"),
        "dv-ko-1 lives in Khưa Ỏ from 2009"
    );
    assert_eq!(
        coverage("2005-06-30", head)["localities"],
        14,
        "neither Xóm Mới (2009) nor Bản Khuông (2006) yet"
    );
    // The retired hamlet leaves the count on its retirement date.
    let (kept, retired) = (coverage("2012-06-30", head), coverage("2012-07-01", head));
    assert_eq!(
        retired["localities"].as_u64().unwrap() + 1,
        kept["localities"].as_u64().unwrap()
    );
    assert!(
        ids_in(&kept["without_member"]).contains("xom-lung-dinh"),
        "its members moved out on 2012-06-01"
    );
    // The hamlet moved to Ngọc Khê on 2011-01-01 is counted in its new commune from then,
    // once the move is recorded.
    let in_commune = |cov: &Value, commune: &str| -> u64 {
        cov["communes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["commune"] == commune)
            .expect("the commune")["localities"]
            .as_u64()
            .unwrap()
    };
    let moved = seq_of(store, "LocalityChanged", json!({"locality": "xom-na-leng"}));
    let (before_move, after_move) = (coverage("2010-12-31", head), coverage("2011-01-01", head));
    let (eve_unrecorded, unrecorded) = (coverage("2010-12-31", moved - 1), coverage("2011-01-01", moved - 1));
    assert_eq!(
        in_commune(&after_move, "xa-ngoc-khe"),
        in_commune(&before_move, "xa-ngoc-khe") + 1
    );
    assert_eq!(
        in_commune(&after_move, "xa-phong-nam") + 1,
        in_commune(&before_move, "xa-phong-nam")
    );
    assert_eq!(
        in_commune(&unrecorded, "xa-ngoc-khe"),
        in_commune(&eve_unrecorded, "xa-ngoc-khe")
    );
    assert_eq!(
        in_commune(&unrecorded, "xa-phong-nam"),
        in_commune(&eve_unrecorded, "xa-phong-nam")
    );
    assert_eq!(
        in_commune(&before_move, "xa-phong-nam"),
        4,
        "Nà Lẹng, Pác Rà, Lũng Đính, Xóm Mới"
    );
    // Border-post members on temporary activity: Khưa Ỏ and Lũng Nặm are covered only by
    // them in 2007; after the first term ran out (2008-05-01) nobody is there until the
    // restart on 2008-06-01.
    assert_eq!(coverage("2007-01-01", head)["temporary_only"], 2);
    assert_eq!(coverage("2008-05-15", head)["temporary_only"], 0);
    assert_eq!(coverage("2008-06-01", head)["temporary_only"], 2);
    // In late 2008 one of the Nà Đoỏng cell's two hamlets has only the border-post member.
    assert_eq!(coverage("2008-12-01", head)["temporary_only"], 3);
    // The home-locality correction moves dv-nd-1 from Pò Peo to Nà Đoỏng for all dates.
    let fixed = seq_of(store, "ProfileCorrected", json!({"subject": "dv-nd-1"}));
    assert!(ids_in(&coverage("2009-01-01", fixed - 1)["without_member"]).contains("xom-na-doong"));
    assert!(ids_in(&coverage("2009-01-01", fixed)["without_member"]).contains("xom-po-peo"));

    // Temporary activity: hosts and home organizations, and a renamed hamlet's name by date.
    let temporary = |day: &str| at(&ReportKind::TemporaryActivity, day, head);
    let y2009 = temporary("2009-01-01");
    assert_eq!(y2009["members"], 2);
    assert_eq!(y2009["from_border_posts"], 2);
    let host_names = |r: &Value| -> Vec<String> {
        r["hosts"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|h| {
                h["localities"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|l| l["name"].as_str().unwrap().to_string())
            })
            .collect()
    };
    assert!(host_names(&y2009).contains(&"Lũng Nặm".to_string()));
    assert!(host_names(&temporary("2010-06-30")).contains(&"Lũng Nặm Trên".to_string()));
    assert_eq!(temporary("2015-06-30")["members"], 0);
    let years = temporary("2012-06-30")["years"].as_array().unwrap().clone();
    assert_eq!(years.first().unwrap()["year"], 2006);
    assert_eq!(years.iter().find(|y| y["year"] == 2009).unwrap()["members"], 2);

    // Admissions: three ordinary ones a year plus the named members; 2007 gains the
    // back-filled admission once it is recorded.
    let admissions = |seq: u64| {
        at(
            &ReportKind::Admissions {
                from_year: None,
                to_year: None,
            },
            "2016-01-01",
            seq,
        )
    };
    let year = |r: &Value, y: i64| {
        r["years"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["year"] == y)
            .expect("the year")
            .clone()
    };
    let all = admissions(head);
    assert_eq!(year(&all, 2005)["admitted"], 14);
    assert_eq!(year(&all, 2007)["admitted"], 5);
    assert_eq!(year(&all, 2009)["admitted"], 6);
    assert_eq!(year(&all, 2014)["admitted"], 3);
    assert_eq!(year(&all, 2007)["refused"], 1);
    let bk = seq_of(store, "MemberAdmitted", json!({"member": "dv-bk-1"}));
    assert_eq!(year(&admissions(bk - 1), 2007)["admitted"], 4);
    let total: u64 = all["years"]
        .as_array()
        .unwrap()
        .iter()
        .map(|y| y["admitted"].as_u64().unwrap())
        .sum();
    assert_eq!(total, p.members.len() as u64);

    // Standardization under 03-ĐA/TU: six below standard on its first day (dv-004 counts
    // once, though assessed again in 2013), all settled by its end but dv-003, who died in
    // 2013 and so is no longer counted below standard after that.
    let programme = ReportKind::Standardization {
        programme: PROGRAMME.into(),
    };
    let end = at(&programme, "2015-12-31", head);
    assert_eq!(end["assessed"], 8);
    assert_eq!(end["below_standard_at_start"], 6);
    assert_eq!(end["standardized"], 5);
    assert_eq!(end["retired_under_policy"], 1);
    assert_eq!(end["below_standard"], 0);
    assert!(ids_in_people(&end["cadres_below_standard"]).is_empty());
    let before_death = at(&programme, "2013-04-09", head);
    assert!(ids_in_people(&before_death["cadres_below_standard"]).contains(&"dv-003".to_string()));
    let mid = at(&programme, "2012-06-30", head);
    assert_eq!(mid["below_standard"], 7, "six from the start and dv-ld-1 from February");
    assert_eq!(mid["standardized"], 0);
    assert_eq!(mid["gaps_open"]["education"], 4);
    let issued = seq_of(store, "InstrumentIssued", json!({"instrument": PROGRAMME}));
    assert_eq!(
        ask(&programme, "2012-06-30", issued - 1, &p, store),
        Err((
            1,
            format!("unknown programme \"{PROGRAMME}\" (as of seq {})", issued - 1)
        ))
    );

    // Planning for 2015-2020: six planned by mid-2015, four women, five under 35; the
    // corrected birth date of dv-008 makes him 40, from the correction's seq on.
    let plan = ReportKind::Planning { term: TERM.into() };
    let born = seq_of(store, "ProfileCorrected", json!({"subject": "dv-008"}));
    let mid2015 = at(&plan, "2015-06-30", born - 1);
    assert_eq!(
        (
            mid2015["planned"].as_u64(),
            mid2015["women"].as_u64(),
            mid2015["young"].as_u64()
        ),
        (Some(6), Some(4), Some(5))
    );
    assert_eq!(mid2015["women_share"], 66.7);
    assert_eq!(at(&plan, "2015-06-30", born)["young"], 4);
    assert_eq!(
        at(&plan, "2014-01-01", head)["planned"],
        6,
        "dv-001 is still planned before 2014-06-01"
    );
    assert_eq!(at(&plan, "2013-05-31", head)["planned"], 0);

    // Meetings: Nà Đoỏng was weak for 2009 and 2010 (8 meetings in 2010-2011, the
    // supervisor at 6), Khưa Ỏ for 2011 and 2012 (8 meetings, the supervisor at all), and
    // the back-filled Bản Khuông cell for 2008 (2 meetings, one on the day it was rated,
    // which counts as weak only from the rating's seq on).
    let meetings = at(&ReportKind::Meetings { year: None }, "2015-12-31", head);
    assert_eq!(meetings["of_weak_cells"], 18);
    assert_eq!(meetings["weak_with_supervisor"], 14);
    let rated = seq_of(store, "QualityRated", json!({"subject": "cb-ban-khuong"}));
    assert_eq!(
        at(&ReportKind::Meetings { year: None }, "2015-12-31", rated - 1)["of_weak_cells"],
        16
    );
    assert_eq!(
        at(&ReportKind::Meetings { year: None }, "2015-12-31", rated)["of_weak_cells"],
        17
    );
    let weak: Vec<(String, u64)> = meetings["weak_cells"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["cell"].as_str().unwrap().to_string(), c["meetings"].as_u64().unwrap()))
        .collect();
    assert_eq!(
        weak,
        vec![
            ("cb-ban-khuong".to_string(), 2),
            ("cb-khua-o".to_string(), 8),
            ("cb-na-doong".to_string(), 8)
        ]
    );
    assert_eq!(
        at(&ReportKind::Meetings { year: Some(2010) }, "2015-12-31", head)["meetings"],
        4 + 4 + 12
    );

    // Resolutions by topic, and the renamed cell's name by date.
    let resolutions = at(&ReportKind::Resolutions, "2015-12-31", head);
    assert_eq!(resolutions["total"], 9);
    assert_eq!(resolutions["by_topic"]["rural_roads"], 3);
    assert_eq!(resolutions["by_topic"]["land_donation"], 2);
    let pac_ngoa = |r: &Value| {
        r["cells"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["cell"] == "cb-pac-ngoa")
            .unwrap()["name"]
            .clone()
    };
    assert_eq!(
        pac_ngoa(&at(&ReportKind::Resolutions, "2010-01-01", head)),
        "Chi bộ xóm Pác Ngòa"
    );
    assert_eq!(pac_ngoa(&resolutions), "Chi bộ Pác Ngòa – Ngọc Khê");
    assert_eq!(at(&ReportKind::Resolutions, "2009-03-31", head)["total"], 0);

    // History: the events that named an entity, as of a seq.
    let history = |entity: &str, seq: u64| at(&ReportKind::History { entity: entity.into() }, "2016-01-01", seq);
    let types = |h: &Value| -> Vec<String> {
        h["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["type"].as_str().unwrap().to_string())
            .collect()
    };
    let ld1 = history("dv-ld-1", head);
    assert_eq!(ld1["kind"], "member");
    assert!(types(&ld1).contains(&"MemberTransferred".to_string()));
    assert!(types(&history("cb-lung-dinh", head)).ends_with(&["OrganizationDissolved".to_string()]));
    assert!(
        types(&history("cb-lung-dinh", head)).contains(&"MemberTransferred".to_string()),
        "its members' moves touch the cell"
    );
    let admitted = seq_of(store, "MemberAdmitted", json!({"member": "dv-ko-1"}));
    assert_eq!(
        history("dv-ko-1", admitted - 1)["kind"],
        "person",
        "verified but not yet admitted"
    );
    assert_eq!(history("dv-ko-1", admitted)["kind"], "member");
    assert_eq!(
        ask(
            &ReportKind::History {
                entity: "dv-bk-1".into()
            },
            "2016-01-01",
            bk - 2,
            &p,
            store
        ),
        Err((1, format!("unknown entity \"dv-bk-1\" (as of seq {})", bk - 2)))
    );
}

fn ids_in_people(list: &Value) -> Vec<String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|x| x["person"].as_str().unwrap().to_string())
        .collect()
}

// ---------------------------------------------------------------------------------------
// 2. Snapshots are caches

/// Every report, at a sample of seqs and dates, must agree between two projections.
fn assert_same_answers(expected: &Projection, got: &Projection, store: &Store, what: &str) {
    assert_eq!(expected.head(), got.head(), "{what}: heads");
    let head = expected.head().seq;
    let seqs: Vec<u64> = (0..=head).step_by(23).chain([head]).collect();
    for s in seqs {
        for kind in undated_reports() {
            assert_eq!(
                ask(&kind, "2016-01-01", s, expected, store),
                ask(&kind, "2016-01-01", s, got, store),
                "{what}: {kind:?} at seq {s}"
            );
        }
        for day in ["2006-06-30", "2008-12-31", "2011-01-01", "2013-09-30", "2015-12-31"] {
            for kind in dated_reports() {
                assert_eq!(
                    ask(&kind, day, s, expected, store),
                    ask(&kind, day, s, got, store),
                    "{what}: {kind:?} at ({day}, {s})"
                );
            }
        }
    }
}

#[test]
fn snapshots_are_caches_and_bad_ones_are_ignored() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let lines = trung_khanh_story();
    let ledger = write_ledger(dir.path(), &lines, RECORDED_FROM);
    let store = ledger.store();
    let live = ledger.projection().clone();
    let head = live.head().seq;
    assert_eq!(
        store.snapshot_seqs().unwrap(),
        Vec::<u64>::new(),
        "a small ledger writes no snapshot by itself"
    );

    // Two good snapshots, both older than the head: the later one serves, and it answers
    // questions about seqs before it too.
    let (early, late) = (120, 300);
    let (p_early, p_late) = (replay_to(store, early), replay_to(store, late));
    store.put_snapshot(&p_early).unwrap();
    store.put_snapshot(&p_late).unwrap();
    assert_eq!(store.snapshot_seqs().unwrap(), vec![early, late]);
    let (opened, how) = store.open_projection().unwrap();
    assert_eq!(
        how,
        Opened {
            from_snapshot: late,
            ignored: 0,
            replayed: head - late
        }
    );
    assert_same_answers(&live, &opened, store, "from the snapshot at 300");

    // Deleted: a full replay, the same answers.
    store.delete_snapshots().unwrap();
    assert!(store.snapshot_seqs().unwrap().is_empty());
    let (opened, how) = store.open_projection().unwrap();
    assert_eq!(
        how,
        Opened {
            from_snapshot: 0,
            ignored: 0,
            replayed: head
        }
    );
    assert_same_answers(&live, &opened, store, "without snapshots");

    // A flipped byte in the body of the latest snapshot: refused by its body hash, so the
    // older one serves.
    store.put_snapshot(&p_early).unwrap();
    let mut flipped = snapshot::encode(&p_late);
    // The last byte of the commitment's state, the last section a whole decode reads (the
    // residences after it are read only in place of the members' views).
    let last = section_range(&flipped, 13).end - 1;
    flipped[last] ^= 0x01;
    let late_hash = store.raw(late).unwrap().expect("record 300").0;
    assert_eq!(snapshot::decode(&flipped, late_hash).err(), Some(SnapshotError::Body));
    store.put_snapshot_bytes(late, &flipped).unwrap();
    let (opened, how) = store.open_projection().unwrap();
    assert_eq!(
        how,
        Opened {
            from_snapshot: early,
            ignored: 1,
            replayed: head - early
        }
    );
    assert_same_answers(&live, &opened, store, "past a tampered snapshot");

    // A snapshot of another ledger (the same events recorded at other times, so other
    // hashes) at the same seq: stale, refused by the record hash it claims.
    let fork_dir = tempfile::tempdir().expect("a temp dir");
    let fork = write_ledger(fork_dir.path(), &lines[..late as usize], "2017-03-01T00:00:00.000000Z");
    let foreign = fork.projection().clone();
    fork.close();
    assert_eq!(foreign.head().seq, late);
    assert_ne!(foreign.head().hash, late_hash);
    let foreign_bytes = snapshot::encode(&foreign);
    assert_eq!(
        snapshot::decode(&foreign_bytes, late_hash).err(),
        Some(SnapshotError::Stale {
            seq: late,
            stated: foreign.head().hash,
            actual: late_hash
        })
    );
    store.put_snapshot_bytes(late, &foreign_bytes).unwrap();
    let (opened, how) = store.open_projection().unwrap();
    assert_eq!(
        how,
        Opened {
            from_snapshot: early,
            ignored: 1,
            replayed: head - early
        }
    );
    assert_same_answers(&live, &opened, store, "past a foreign snapshot");

    // A good snapshot filed under the wrong seq, one past the head, bytes that are not a
    // snapshot at all and an empty file (which cannot even be mapped): all ignored, and
    // with nothing usable left the log is replayed.
    store.delete_snapshots().unwrap();
    store.put_snapshot_bytes(200, b"").unwrap();
    store.put_snapshot_bytes(late, &snapshot::encode(&p_early)).unwrap();
    store.put_snapshot_bytes(head + 10, &snapshot::encode(&live)).unwrap();
    store
        .put_snapshot_bytes(early, b"orgledger-projection-1 but cut short")
        .unwrap();
    assert_eq!(
        snapshot::decode(b"not a snapshot", late_hash).err(),
        Some(SnapshotError::Format)
    );
    let (opened, how) = store.open_projection().unwrap();
    assert_eq!(
        how,
        Opened {
            from_snapshot: 0,
            ignored: 4,
            replayed: head
        }
    );
    assert_same_answers(&live, &opened, store, "past four unusable snapshots");

    // Rebuilt: a new snapshot of the replayed projection replaces the bad ones as the one
    // that serves.
    store.put_snapshot(&opened).unwrap();
    let (reopened, how) = store.open_projection().unwrap();
    assert_eq!(how.from_snapshot, head);
    assert_eq!(how.replayed, 0);
    assert_same_answers(&live, &reopened, store, "from the rebuilt snapshot");
}

/// A snapshot file left half-written by a process killed while writing it is removed by
/// the next snapshot written: it is only a cache, and as large as a snapshot.
/// The byte range of section `index` (in `Parts` bit order) of a projection snapshot, read
/// from its table as the snapshot module documents it.
fn section_range(bytes: &[u8], index: usize) -> std::ops::Range<usize> {
    let table = snapshot::PROJECTION.len() + snapshot::HEADER_AFTER_MARKER;
    let len = |i: usize| {
        let at = table + i * 40;
        u64::from_be_bytes(bytes[at..at + 8].try_into().unwrap()) as usize
    };
    let start = table + snapshot::SECTIONS * 40 + (0..index).map(len).sum::<usize>();
    start..start + len(index)
}

/// `good` with a byte in the middle of its section `index` flipped.
fn with_section_damaged(good: &[u8], index: usize) -> Vec<u8> {
    let mut damaged = good.to_vec();
    let range = section_range(&damaged, index);
    assert!(!range.is_empty(), "section {index} holds bytes");
    damaged[range.start + range.len() / 2] ^= 0x01;
    damaged
}

/// Whether `outcome` is the panic of a projection read in part asked for the whole.
fn refused_for_parts(outcome: std::thread::Result<()>) -> bool {
    let Err(payload) = outcome else { return false };
    let message = payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default();
    message.contains("needs the whole projection")
}

/// A question opened from a snapshot at the head decodes only the parts its report reads,
/// and answers as the whole projection does; a damaged section it does not read costs it
/// nothing, one it reads makes the snapshot unusable (the log is folded instead); and a
/// projection read in part is never folded on or written.
#[test]
fn a_question_at_the_head_reads_only_its_parts_of_the_snapshot() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let ledger = write_ledger(dir.path(), &trung_khanh_story(), RECORDED_FROM);
    let store = ledger.store();
    let live = ledger.projection().clone();
    let head = live.head();
    let at_head = Opened {
        from_snapshot: head.seq,
        ignored: 0,
        replayed: 0,
    };
    let good = snapshot::encode(&live);
    store.put_snapshot_bytes(head.seq, &good).unwrap();
    let kinds: Vec<ReportKind> = dated_reports().into_iter().chain(undated_reports()).collect();
    for kind in &kinds {
        let (part, how) = store.open_projection_reading(kind.reads()).unwrap();
        assert_eq!(how, at_head, "{kind:?}");
        assert_eq!(part.missing(), Parts::all() - kind.reads(), "{kind:?}");
        for day in ["2008-12-31", "2015-12-31"] {
            assert_eq!(
                ask(kind, day, head.seq, &part, store),
                ask(kind, day, head.seq, &live, store),
                "{kind:?} on {day}"
            );
        }
    }

    // Read without the members' views, the residences are every member's, in the same
    // order and the same as the views hold them.
    let part = snapshot::decode_parts(&good, head.hash, ReportKind::Coverage.reads()).unwrap();
    assert!(part.members.is_empty() && !live.members.is_empty());
    let residences = |p: &Projection| p.residences().map(|r| format!("{r:?}")).collect::<Vec<_>>();
    assert_eq!(residences(&part), residences(&live));

    // The snapshot at the head replaced by `bytes`, a question of `kind` opened from it:
    // how it was opened (from the snapshot, or from the log past it), and the same answer
    // on `day` as the live projection's.
    let opened_from = |bytes: &[u8], kind: &ReportKind, day: &str| {
        store.put_snapshot_bytes(head.seq, bytes).unwrap();
        let (opened, how) = store.open_projection_reading(kind.reads()).unwrap();
        assert_eq!(
            ask(kind, day, head.seq, &opened, store),
            ask(kind, day, head.seq, &live, store),
            "{kind:?} on {day}"
        );
        assert!(
            how == at_head || opened.missing().is_empty(),
            "folded from the log, so whole"
        );
        if how == at_head {
            "the snapshot"
        } else {
            assert_eq!((how.ignored, how.replayed), (1, head.seq), "{kind:?}");
            "the log"
        }
    };
    let coverage = ReportKind::Coverage;

    // One of the residences' sections (index 15, the second of four, after the commitment's
    // state) damaged: coverage reads them, refuses the snapshot and answers from the log.
    assert_eq!((snapshot::MEMBER_SECTIONS, snapshot::SECTIONS), (4, 18));
    let damaged = with_section_damaged(&good, 15);
    assert_eq!(opened_from(&damaged, &coverage, "2013-09-30"), "the log");

    // One of the members' sections (index 3, the second of four) damaged: coverage does not
    // read them and answers from the snapshot; temporary activity does, and answers from
    // the log.
    let damaged = with_section_damaged(&good, 3);
    assert_eq!(opened_from(&damaged, &coverage, "2013-09-30"), "the snapshot");
    assert_eq!(
        opened_from(&damaged, &ReportKind::TemporaryActivity, "2008-12-31"),
        "the log"
    );

    // The meetings section (index 10, after the members' four) damaged: coverage does not
    // read it and answers from the snapshot; the meetings report does, and answers from the
    // log; so does a whole opening.
    let damaged = with_section_damaged(&good, 10);
    assert_eq!(
        snapshot::decode_parts(&damaged, head.hash, Parts::MEETINGS).err(),
        Some(SnapshotError::Body)
    );
    assert_eq!(opened_from(&damaged, &coverage, "2013-09-30"), "the snapshot");
    assert_eq!(
        opened_from(&damaged, &ReportKind::Meetings { year: None }, "2015-12-31"),
        "the log"
    );
    store.put_snapshot_bytes(head.seq, &damaged).unwrap();
    let (whole, how) = store.open_projection().unwrap();
    assert_eq!((how.ignored, how.replayed), (1, head.seq));
    assert_eq!(whole.commitment(), live.commitment());

    // A table that does not add up to the bytes that follow it, or one that was changed:
    // refused.
    let mut cut = good.clone();
    cut.pop();
    assert_eq!(
        snapshot::decode_parts(&cut, head.hash, Parts::ORGS).err(),
        Some(SnapshotError::Body)
    );
    let mut table = good.clone();
    table[snapshot::PROJECTION.len() + snapshot::HEADER_AFTER_MARKER + 3] ^= 0x01;
    assert_eq!(
        snapshot::decode_parts(&table, head.hash, Parts::ORGS).err(),
        Some(SnapshotError::Body)
    );

    // Read in part, a projection is not folded on, committed to or written.
    let part = snapshot::decode_parts(&good, head.hash, ReportKind::Coverage.reads()).unwrap();
    for (what, attempt) in [
        (
            "a snapshot",
            Box::new(|p: &Projection| drop(snapshot::encode(p))) as Box<dyn Fn(&Projection)>,
        ),
        (
            "the commitment",
            Box::new(|p: &Projection| {
                p.commitment();
            }),
        ),
    ] {
        let refused = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| attempt(&part)));
        assert!(refused_for_parts(refused), "{what} of a projection read in part");
    }
    let record = store.records(1).next().expect("a record").expect("readable");
    let mut empty = snapshot::decode_parts(&good, head.hash, Parts::empty()).unwrap();
    assert_eq!(empty.missing(), Parts::all());
    let folded = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| empty.fold(&record)));
    assert!(refused_for_parts(folded), "folding on a projection read in part");
    ledger.close();
}

/// The newest snapshot decoded while the store opens (`caches::decode_early`) is used only
/// where the open store would have decoded that file and those parts: at the head; behind
/// it only when decoded whole (the tail is folded on it); never when the record at its
/// `seq` does not have the hash it stands for. Each way opens as the store alone would.
#[test]
fn a_snapshot_decoded_while_the_store_opens_is_used_only_where_the_store_would_use_it() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let ledger = write_ledger(dir.path(), &trung_khanh_story(), RECORDED_FROM);
    let store = ledger.store();
    let live = ledger.projection().clone();
    let head = live.head();
    let behind = replay_to(store, head.seq - 7);
    let coverage = ReportKind::Coverage;
    // The store holds exactly `files`; a question reading `parts` is opened with and
    // without the early decode: the same opening, the same answer as the live projection.
    let opens = |files: &[(u64, Vec<u8>)], parts: Parts| {
        store.delete_snapshots().unwrap();
        for (seq, bytes) in files {
            store.put_snapshot_bytes(*seq, bytes).unwrap();
        }
        let early = orgledger::ledger::caches::decode_early(dir.path(), parts);
        let (with, how) = store.open_projection_reading_after(parts, early.take()).unwrap();
        let (without, how_alone) = store.open_projection_reading(parts).unwrap();
        assert_eq!(how, how_alone, "{parts:?}");
        assert_eq!(with.missing(), without.missing(), "{parts:?}");
        for day in ["2008-12-31", "2015-12-31"] {
            let answer = ask(&coverage, day, head.seq, &with, store);
            assert_eq!(
                answer,
                ask(&coverage, day, head.seq, &live, store),
                "{parts:?} on {day}"
            );
        }
        how
    };
    let at_head = snapshot::encode(&live);
    let behind_bytes = snapshot::encode(&behind);
    let opened = |from_snapshot, ignored, replayed| Opened {
        from_snapshot,
        ignored,
        replayed,
    };

    // At the head: the parts a question reads, or all of them.
    let files = [(behind.head().seq, behind_bytes.clone()), (head.seq, at_head.clone())];
    assert_eq!(opens(&files, coverage.reads()), opened(head.seq, 0, 0));
    assert_eq!(opens(&files, Parts::all()), opened(head.seq, 0, 0));

    // Behind the head: decoded in part it cannot be folded on, so the store decodes it
    // whole; decoded whole, the tail is folded on it.
    let files = [(behind.head().seq, behind_bytes.clone())];
    assert_eq!(opens(&files, coverage.reads()), opened(behind.head().seq, 0, 7));
    assert_eq!(opens(&files, Parts::all()), opened(behind.head().seq, 0, 7));

    // The snapshot behind the head, named and headed as one at the head with a hash the
    // log does not have there: it decodes by itself, and is refused once the store is
    // open, as the store's own reading refuses it (the older one is used).
    let mut forged = behind_bytes.clone();
    let marker = snapshot::PROJECTION.len();
    forged[marker..marker + 8].copy_from_slice(&head.seq.to_be_bytes());
    assert!(snapshot::decode_parts(
        &forged,
        snapshot::header_of(snapshot::PROJECTION, &forged).unwrap().hash,
        Parts::all()
    )
    .is_ok());
    let files = [(behind.head().seq, behind_bytes.clone()), (head.seq, forged)];
    for parts in [coverage.reads(), Parts::all()] {
        assert_eq!(opens(&files, parts), opened(behind.head().seq, 1, 7), "{parts:?}");
    }

    // A newer snapshot written after the early decode began (by a ledger that closed
    // before this one opened the store): the store reads the newer one.
    store.delete_snapshots().unwrap();
    store.put_snapshot_bytes(behind.head().seq, &behind_bytes).unwrap();
    let early = orgledger::ledger::caches::decode_early(dir.path(), Parts::all()).take();
    store.put_snapshot_bytes(head.seq, &at_head).unwrap();
    let (_, how) = store.open_projection_reading_after(Parts::all(), early).unwrap();
    assert_eq!(how, opened(head.seq, 0, 0));
    drop(ledger);
}

#[test]
fn partial_snapshots_left_by_a_kill_are_removed() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let ledger = write_ledger(dir.path(), &trung_khanh_story(), RECORDED_FROM);
    let store = ledger.store();
    let caches = dir.path().join("caches");
    std::fs::create_dir_all(&caches).unwrap();
    let partial = caches.join("projection-00000000000000000120.partial");
    std::fs::write(&partial, b"cut short").unwrap();
    let other = caches.join("notes.partial");
    std::fs::write(&other, b"not a snapshot").unwrap();
    store.put_snapshot(&replay_to(store, 200)).unwrap();
    assert!(!partial.exists(), "the partial snapshot is removed");
    assert!(other.exists(), "only partial snapshots are removed");
    assert_eq!(store.snapshot_seqs().unwrap(), vec![200]);
}

/// A tail of 10,000 records or more folded after the latest snapshot is kept in a new one
/// once folded, whatever the ledger's size: by a cold open (a CLI report), and by an open
/// ledger's projector (in the background, so the open does not wait). The next open folds
/// none of it again. The live pace, an eighth of the ledger, asks for more than 10,000 past
/// 80,000 events: the tail here lies between the two.
#[test]
fn a_long_tail_folded_once_is_kept_in_a_snapshot() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let events: u64 = 100_000;
    let tail: u64 = 12_000;
    orgledger::generate::write_ledger(dir.path(), events, 7).expect("the generator writes");
    let before_tail = events - tail;
    let plant = |store: &Store| {
        store.delete_snapshots().unwrap();
        store.put_snapshot(&replay_to(store, before_tail)).unwrap();
    };
    let folded = Opened {
        from_snapshot: before_tail,
        ignored: 0,
        replayed: tail,
    };
    let kept = Opened {
        from_snapshot: events,
        ignored: 0,
        replayed: 0,
    };
    {
        let store = Store::open(dir.path(), false).expect("the store opens");
        plant(&store);
        let (cold, how) = store.open_projection().unwrap();
        assert_eq!(how, folded);
        assert_eq!(store.snapshot_seqs().unwrap(), vec![before_tail, events]);
        let (again, how) = store.open_projection().unwrap();
        assert_eq!(how, kept);
        // The commitment covers the whole projection (a full comparison of answers at
        // 100,000 seqs would take minutes here).
        assert_eq!((cold.head(), cold.commitment()), (again.head(), again.commitment()));
        plant(&store);
    }
    let ledger = Ledger::open(dir.path(), LedgerOptions::default().existing()).expect("the ledger reopens");
    let live = ledger.projection().clone();
    ledger.close();
    let store = Store::open(dir.path(), false).expect("the store opens");
    assert_eq!(store.snapshot_seqs().unwrap(), vec![before_tail, events]);
    let (opened, how) = store.open_projection().unwrap();
    assert_eq!(how, kept);
    assert_eq!((live.head(), live.commitment()), (opened.head(), opened.commitment()));
}

/// Past the automatic interval (10,000 events) the writer snapshots by itself; a tampered
/// snapshot is then ignored and rebuilt by the next opening, with the same answers.
#[test]
fn a_tampered_automatic_snapshot_is_ignored_and_rebuilt() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let story = trung_khanh_story();
    let story_events = story.len() as u64;
    let ledger = write_ledger(dir.path(), &story, RECORDED_FROM);
    let meeting = |n: u32| {
        Submission::from_json(&format!(
            r#"{{"type":"CellMeetingHeld","effective":"2015-12-31","cell":"cb-pac-ngoa","kind":"regular","attendance":{},"topics":["Họp lần {n}"]}}"#,
            1 + n % 2
        ))
        .expect("a meeting")
    };
    // Batches of 1,000 until the writer has written its snapshot, then a few more events so
    // that the snapshot stands behind the head.
    let mut n = 0;
    while ledger.store().snapshot_seqs().unwrap().is_empty() {
        assert!(n < 20_000, "no automatic snapshot after {n} meetings");
        let batch: Vec<Submission> = (0..1000).map(|i| meeting(n + i)).collect();
        n += 1000;
        ledger.append(actor(), batch, None).expect("meetings");
    }
    ledger
        .append(actor(), (0..50).map(|i| meeting(n + i)).collect(), None)
        .expect("meetings");
    n += 50;
    let store = ledger.store();
    let head = ledger.head().seq;
    let automatic = store.snapshot_seqs().unwrap();
    assert_eq!(
        automatic.len(),
        1,
        "one snapshot once 10,000 events were folded: {automatic:?}"
    );
    let k = automatic[0];
    assert!(k >= orgledger::ledger::caches::SNAPSHOT_EVERY && k < head);
    let (opened, how) = store.open_projection().unwrap();
    assert_eq!(
        how,
        Opened {
            from_snapshot: k,
            ignored: 0,
            replayed: head - k
        }
    );

    // Flip a byte of its body.
    let mut bad = snapshot::encode(&replay_to(store, k));
    let i = bad.len() / 2;
    bad[i] ^= 0x80;
    store.put_snapshot_bytes(k, &bad).unwrap();
    let (rebuilt, how) = store.open_projection().unwrap();
    assert_eq!(
        how,
        Opened {
            from_snapshot: 0,
            ignored: 1,
            replayed: head
        }
    );
    assert_eq!(
        store.snapshot_seqs().unwrap(),
        vec![k, head],
        "a new snapshot is written at the head"
    );
    let (again, how) = store.open_projection().unwrap();
    assert_eq!(
        how,
        Opened {
            from_snapshot: head,
            ignored: 0,
            replayed: 0
        }
    );

    let live = ledger.projection().clone();
    for projection in [&opened, &rebuilt, &again] {
        assert_eq!(projection.head(), live.head());
        for s in [1, 200, story_events, k, head] {
            for day in ["2008-12-31", "2015-12-31"] {
                for kind in dated_reports().iter().chain(undated_reports().iter()) {
                    assert_eq!(
                        ask(kind, day, s, &live, store),
                        ask(kind, day, s, projection, store),
                        "{kind:?} at ({day}, {s})"
                    );
                }
            }
        }
    }
    let meetings = report(
        &ReportKind::Meetings { year: Some(2015) },
        "2015-12-31",
        head,
        &live,
        store,
    );
    assert_eq!(meetings["meetings"].as_u64().unwrap(), n as u64 + 8);
}

// ---------------------------------------------------------------------------------------
// 3. Reopen

/// A closed ledger reopened (from a snapshot, then the records after it) has the live
/// projection of a fresh full replay, and keeps following appends.
#[test]
fn a_reopened_ledger_has_the_projection_of_a_full_replay() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let lines = trung_khanh_story();
    let (first, rest) = lines.split_at(250);
    let ledger = write_ledger(dir.path(), first, RECORDED_FROM);
    let before = ledger.projection().clone();
    ledger.store().put_snapshot(&replay_to(ledger.store(), 200)).unwrap();
    ledger.close();

    let clock = SteppedClock::new(Timestamp::parse("2016-02-01T00:00:00.000000Z").unwrap(), 1_000_000);
    let reopened =
        Ledger::open(dir.path(), LedgerOptions::with_clock(Box::new(clock)).existing()).expect("the ledger reopens");
    let store = reopened.store();
    {
        let live = reopened.projection();
        assert_eq!(live.head(), before.head());
        assert_same_answers(
            &replay_to(store, 250),
            &live,
            store,
            "reopened from the snapshot at 200",
        );
        assert_same_answers(&before, &live, store, "before and after closing");
    }
    let subs: Vec<Submission> = rest.iter().map(|l| Submission::from_json(l).unwrap()).collect();
    for batch in subs.chunks(40) {
        reopened
            .append(actor(), batch.to_vec(), None)
            .expect("the rest of the story");
    }
    let live = reopened.projection();
    assert_eq!(live.head().seq, lines.len() as u64);
    assert_same_answers(
        &replay_to(store, live.head().seq),
        &live,
        store,
        "after appending to the reopened ledger",
    );
}

// ---------------------------------------------------------------------------------------
// 4. The `report` command

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn orgledger(data: &Path, args: &[&str]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_orgledger"))
        .env_remove("ORGLEDGER_DATA")
        .arg("--data")
        .arg(data)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("the binary runs");
    Run {
        code: out.status.code().expect("an exit code, not a signal"),
        stdout: String::from_utf8(out.stdout).expect("UTF-8"),
        stderr: String::from_utf8(out.stderr).expect("UTF-8"),
    }
}

#[test]
fn the_report_command_refuses_bad_questions_and_prints_tables() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let ledger = write_ledger(dir.path(), &trung_khanh_story(), RECORDED_FROM);
    let head = ledger.head().seq;
    ledger.close();
    let data = dir.path();
    let past = (head + 1).to_string();

    // Each bad question: exit 1, nothing on stdout, and stderr naming the problem.
    let refused: &[(&[&str], &[&str])] = &[
        (
            &["report", "coverage", "--date", "2008-02-30"],
            &["--date", "2008-02-30", "calendar date"],
        ),
        (
            &["report", "coverage", "--date", "2008-13-01"],
            &["--date", "2008-13-01"],
        ),
        (&["report", "coverage", "--date", "yesterday"], &["--date", "yesterday"]),
        (
            &["report", "coverage", "--date", "1899-12-31"],
            &["--date", "1899-12-31", "1900"],
        ),
        (
            &["report", "admissions", "--seq", &past],
            &[&past, "past the head", &head.to_string()],
        ),
        (
            &["report", "roster", "--org", "nope", "--date", "2010-01-01"],
            &["unknown organization", "nope"],
        ),
        (&["report", "history", "--entity", "nope"], &["unknown entity", "nope"]),
        (
            &["report", "planning", "--term", "nope", "--date", "2015-12-31"],
            &["unknown term", "nope"],
        ),
        (
            &[
                "report",
                "standardization",
                "--programme",
                "nope",
                "--date",
                "2013-01-01",
            ],
            &["unknown programme", "nope"],
        ),
        (
            &["report", "roster", "--org", "Chi bộ Pác Ngòa", "--date", "2010-01-01"],
            &["--org", "invalid id", "Chi bộ Pác Ngòa"],
        ),
        (
            &["report", "history", "--entity", "DV-001"],
            &["--entity", "invalid id", "DV-001"],
        ),
        (
            &[
                "report",
                "roster",
                "--org",
                "cb-ban-khuong",
                "--date",
                "2010-01-01",
                "--seq",
                "100",
            ],
            &["unknown organization", "cb-ban-khuong", "seq 100"],
        ),
    ];
    for (args, named) in refused {
        let run = orgledger(data, args);
        assert_eq!(run.code, 1, "{args:?}: {}", run.stderr);
        assert_eq!(run.stdout, "", "{args:?} printed an answer");
        for word in *named {
            assert!(
                run.stderr.contains(word),
                "{args:?}: stderr does not name {word:?}: {}",
                run.stderr
            );
        }
        assert!(!run.stderr.contains("panicked"), "{args:?}: {}", run.stderr);
    }

    // A missing required flag is a usage error.
    for args in [
        &["report", "roster"][..],
        &["report", "standardization", "--date", "2013-01-01"],
        &["report", "history"],
        &["report", "planning"],
    ] {
        let run = orgledger(data, args);
        assert_eq!(run.code, 2, "{args:?}: {}", run.stderr);
        assert_eq!(run.stdout, "");
        assert!(
            run.stderr.contains("--"),
            "{args:?}: the usage error names the flag: {}",
            run.stderr
        );
    }

    // JSON by default, and the same answer as the library's.
    let run = orgledger(data, &["report", "coverage", "--date", "2008-12-31", "--seq", "300"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let printed: Value = serde_json::from_str(&run.stdout).expect("JSON");
    assert_eq!(printed["date"], "2008-12-31");
    assert_eq!(printed["seq"], 300);
    let run = orgledger(data, &["report", "admissions"]);
    let printed: Value = serde_json::from_str(&run.stdout).expect("JSON");
    assert_eq!(printed["years"][0]["year"], 2005);
    assert_eq!(printed["years"][0]["admitted"], 14);

    // A readable table for each report, naming something the story holds.
    let tables: &[(&[&str], &str)] = &[
        (&["report", "coverage", "--date", "2013-12-31"], "Nà Thuôn"),
        (
            &["report", "temporary-activity", "--date", "2013-12-31"],
            "Nông Văn Tài",
        ),
        (&["report", "admissions"], "Ngọc Khê"),
        (
            &[
                "report",
                "standardization",
                "--programme",
                PROGRAMME,
                "--date",
                "2013-12-31",
            ],
            "Hoàng Văn Phúc",
        ),
        (&["report", "meetings", "--date", "2015-12-31"], "Chi bộ xóm Nà Đoỏng"),
        (&["report", "resolutions", "--date", "2015-12-31"], "Chi bộ xóm Khưa Ỏ"),
        (
            &["report", "planning", "--term", TERM, "--date", "2015-06-30"],
            "Sầm Thị Ngà",
        ),
        (
            &["report", "roster", "--org", "cb-pac-ngoa", "--date", "2012-01-01"],
            "Nông Văn Hùng",
        ),
        (&["report", "history", "--entity", "dv-ld-1"], "MemberTransferred"),
    ];
    for (args, name) in tables {
        let mut with_table = args.to_vec();
        with_table.extend(["--format", "table"]);
        let run = orgledger(data, &with_table);
        assert_eq!(run.code, 0, "{with_table:?}: {}", run.stderr);
        assert!(!run.stdout.trim().is_empty(), "{with_table:?}: an empty table");
        assert!(
            run.stdout.contains(name),
            "{with_table:?}: the table does not name {name:?}:\n{}",
            run.stdout
        );
        assert!(
            serde_json::from_str::<Value>(&run.stdout).is_err(),
            "{with_table:?}: a table, not JSON"
        );
        assert!(run.stdout.lines().count() > 2, "{with_table:?}:\n{}", run.stdout);
    }
}
