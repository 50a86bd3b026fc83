//! The numbers the rules use, each with the regulation it comes from. Regulations change;
//! when one does, the constant changes here and nowhere else.

/// A person is admitted at 18 full years or older (Điều lệ Đảng, Điều 1).
pub const MIN_ADMISSION_AGE: i32 = 18;
/// ... and at 60 or younger; older admissions need the Central Committee's approval, which
/// this ledger does not model (Điều lệ Đảng, Điều 1; QĐ 24-QĐ/TW, 1.1).
pub const MAX_ADMISSION_AGE: i32 = 60;
/// A probationary member can be officialized 12 months after admission (Điều lệ Đảng, Điều 5).
pub const PROBATION_MONTHS: u32 = 12;
/// An event may carry an effective date up to this many days after the UTC day it is
/// recorded, so that an office seven hours ahead of UTC can record today's change.
pub const FUTURE_SLACK_DAYS: i64 = 1;
