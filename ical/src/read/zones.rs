//! Time zones: what a TZID names, and turning local times into instants.
//!
//! A TZID is resolved, in this order, to:
//! 1. the IANA zone named by the `X-LIC-LOCATION` of the file's VTIMEZONE with that TZID;
//! 2. the IANA zone the TZID itself names: exactly, after stripping a vendor prefix
//!    (`/softwarestudio.org/Tzfile/America/Chicago`, `/mozilla.org/20050126_1/Europe/London`),
//!    legacy names (`US/Eastern`, also `US-Eastern`), ignoring case;
//! 3. the IANA zone of a Windows zone name (`W. Europe Standard Time`, via `windows-timezones`);
//! 4. the IANA zone of an Exchange display name (`(GMT+10:00) Canberra, Melbourne, Sydney`,
//!    `(UTC-05:00) Eastern Time (US & Canada)`), from a table of the common ones, else the fixed
//!    offset it starts with;
//! 5. the offset rules of the file's VTIMEZONE with that TZID (its STANDARD and DAYLIGHT
//!    observances, with their RRULEs and RDATEs);
//! 6. otherwise, and for an empty TZID: floating time.

use std::cell::RefCell;
use std::collections::HashMap;
use std::str::FromStr;

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, Offset, TimeZone, Utc};
use icalendar::parser::Component;

use super::recur;
use super::rule::{self, RuleSpec};
use super::values::{Written, parse_written};
use super::work::Work;

/// A resolved zone for a local time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum ZoneRef {
    /// A `Z` time.
    Utc,
    /// No zone: the calendar's `X-WR-TIMEZONE`, else the importer's default.
    Floating,
    /// An IANA zone.
    Tz(chrono_tz::Tz),
    /// Offset rules from a VTIMEZONE of the file (index into [`Zones::custom`]): a `u32`,
    /// which makes every date-time an event holds 12 bytes smaller than a `usize` did.
    Custom(u32),
}

/// One STANDARD or DAYLIGHT observance of a VTIMEZONE.
#[derive(Debug)]
struct Observance {
    /// Its DTSTART, local time in `offset_from`.
    start: NaiveDateTime,
    offset_from: i32,
    offset_to: i32,
    rules: Vec<RuleSpec>,
    rdates: Vec<NaiveDateTime>,
}

/// Offset changes of a custom zone in one year: (UTC instant, offset after it).
type Transitions = Vec<(NaiveDateTime, i32)>;

/// A VTIMEZONE read as offset rules.
#[derive(Debug)]
struct CustomZone {
    observances: Vec<Observance>,
}

/// The zones of one feed.
#[derive(Debug)]
pub(super) struct Zones {
    floating: chrono_tz::Tz,
    custom: Vec<CustomZone>,
    /// VTIMEZONE TZIDs of the file, resolved.
    defined: HashMap<String, ZoneRef>,
    /// Resolutions of TZIDs not defined in the file.
    cache: RefCell<HashMap<String, ZoneRef>>,
    /// The TZIDs read as floating time for want of a zone (step 6), in the order first met.
    unknown: RefCell<Vec<String>>,
    /// Transitions of custom zones by (zone, year): (UTC instant, offset after it).
    transitions: RefCell<HashMap<(usize, i32), Transitions>>,
    /// The feed's work budget, spent by everything that reads the file (also outside this
    /// module: the zones are shared by every part of the reading).
    pub(super) work: Work,
}

impl Zones {
    /// Reads the file's VTIMEZONE components, spending from `work`.
    pub(super) fn new(floating: chrono_tz::Tz, vtimezones: &[Component<'_>], work: Work) -> Self {
        let mut zones = Zones {
            floating,
            custom: Vec::new(),
            defined: HashMap::new(),
            cache: RefCell::new(HashMap::new()),
            unknown: RefCell::new(Vec::new()),
            transitions: RefCell::new(HashMap::new()),
            work,
        };
        for vtz in vtimezones {
            if !zones.work.spend(1) {
                break;
            }
            let Some(tzid) = vtz.find_prop("TZID").map(|p| clean_tzid(p.val.as_str())) else {
                continue;
            };
            if tzid.is_empty() || zones.defined.contains_key(tzid) {
                continue;
            }
            let from_location = vtz
                .find_prop("X-LIC-LOCATION")
                .and_then(|p| resolve_name(clean_tzid(p.val.as_str())));
            let resolved = match from_location.or_else(|| resolve_name(tzid)) {
                Some(tz) => ZoneRef::Tz(tz),
                None => match read_custom(vtz) {
                    Some(custom) => match u32::try_from(zones.custom.len()) {
                        Ok(i) => {
                            zones.custom.push(custom);
                            ZoneRef::Custom(i)
                        }
                        Err(_) => ZoneRef::Floating,
                    },
                    None => ZoneRef::Floating,
                },
            };
            zones.defined.insert(tzid.to_owned(), resolved);
        }
        zones
    }

    /// Resolves a TZID parameter value.
    pub(super) fn resolve(&self, tzid: &str) -> ZoneRef {
        let tzid = clean_tzid(tzid);
        if tzid.is_empty() {
            return ZoneRef::Floating;
        }
        if let Some(z) = self.defined.get(tzid) {
            return self.noted(tzid, *z);
        }
        if let Some(z) = self.cache.borrow().get(tzid) {
            return *z;
        }
        let resolved = self
            .defined
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(tzid))
            .map(|(_, z)| *z)
            .or_else(|| resolve_name(tzid).map(ZoneRef::Tz))
            .unwrap_or(ZoneRef::Floating);
        self.cache.borrow_mut().insert(tzid.to_owned(), resolved);
        self.noted(tzid, resolved)
    }

    /// `zone`, the resolution of `tzid`, noted among [`Zones::unknown`] when it is floating
    /// for want of a zone.
    fn noted(&self, tzid: &str, zone: ZoneRef) -> ZoneRef {
        if zone == ZoneRef::Floating && !self.unknown.borrow().iter().any(|u| u == tzid) {
            self.unknown.borrow_mut().push(tzid.to_owned());
        }
        zone
    }

    /// What the reading guessed: each TZID that named no zone Kalends knows and no VTIMEZONE
    /// of the file it could read, whose times were read as floating (in the calendar's
    /// `X-WR-TIMEZONE`, else the default zone), in words.
    pub(super) fn guessed(&self) -> Vec<String> {
        let zone = self.floating.name();
        let unknown = self.unknown.borrow();
        unknown
            .iter()
            .map(|tzid| {
                format!(
                    "TZID {tzid:?} names no time zone known here and no VTIMEZONE of the file \
                     that can be read: its times were read as local times in {zone}, which may \
                     be wrong"
                )
            })
            .collect()
    }

    /// The instant of a local time in a zone. A time skipped by a DST change is read with the
    /// offset before the change (RFC 5545 3.3.5); a repeated one is the first of the two.
    pub(super) fn to_utc(&self, zone: ZoneRef, local: NaiveDateTime) -> DateTime<Utc> {
        match zone {
            ZoneRef::Utc => local.and_utc(),
            ZoneRef::Floating => tz_to_utc(self.floating, local),
            ZoneRef::Tz(tz) => tz_to_utc(tz, local),
            ZoneRef::Custom(i) => self.custom_to_utc(i, local),
        }
    }

    /// The local time of an instant in a zone.
    pub(super) fn to_local(&self, zone: ZoneRef, utc: DateTime<Utc>) -> NaiveDateTime {
        match zone {
            ZoneRef::Utc => utc.naive_utc(),
            ZoneRef::Floating => utc.with_timezone(&self.floating).naive_local(),
            ZoneRef::Tz(tz) => utc.with_timezone(&tz).naive_local(),
            ZoneRef::Custom(i) => {
                let u = utc.naive_utc();
                u + Duration::seconds(i64::from(self.custom_offset_at(i, u)))
            }
        }
    }

    fn custom_to_utc(&self, i: u32, local: NaiveDateTime) -> DateTime<Utc> {
        let mut offsets: Vec<i32> = self.custom[i as usize]
            .observances
            .iter()
            .flat_map(|o| [o.offset_from, o.offset_to])
            .collect();
        offsets.sort_unstable_by(|a, b| b.cmp(a));
        offsets.dedup();
        // The largest valid offset is the earlier of two repeated times.
        for &o in &offsets {
            let u = local - Duration::seconds(i64::from(o));
            if self.custom_offset_at(i, u) == o {
                return u.and_utc();
            }
        }
        // In a gap: the offset in force before it.
        let before = self.custom_offset_at(i, local - Duration::days(1));
        (local - Duration::seconds(i64::from(before))).and_utc()
    }

    /// The UTC offset of a custom zone at a UTC instant.
    fn custom_offset_at(&self, i: u32, utc: NaiveDateTime) -> i32 {
        let year = utc.year();
        let mut best: Option<(NaiveDateTime, i32)> = None;
        for y in [year - 1, year] {
            self.with_transitions(i as usize, y, |list| {
                for &(at, offset) in list {
                    if at <= utc && best.is_none_or(|(b, _)| at >= b) {
                        best = Some((at, offset));
                    }
                }
            });
        }
        if let Some((_, offset)) = best {
            return offset;
        }
        // No transition in the last two years: the latest observance that has started, else the
        // offset before the first one.
        let zone = &self.custom[i as usize];
        zone.observances
            .iter()
            .filter(|o| o.start - Duration::seconds(i64::from(o.offset_from)) <= utc)
            .max_by_key(|o| o.start)
            .map(|o| o.offset_to)
            .or_else(|| zone.observances.iter().min_by_key(|o| o.start).map(|o| o.offset_from))
            .unwrap_or(0)
    }

    fn with_transitions(&self, i: usize, year: i32, f: impl FnOnce(&[(NaiveDateTime, i32)])) {
        if let Some(list) = self.transitions.borrow().get(&(i, year)) {
            f(list);
            return;
        }
        let list = self.compute_transitions(i, year);
        f(&list);
        self.transitions.borrow_mut().insert((i, year), list);
    }

    fn compute_transitions(&self, i: usize, year: i32) -> Transitions {
        let (Some(lo), Some(hi)) =
            (NaiveDate::from_ymd_opt(year, 1, 1), NaiveDate::from_ymd_opt(year + 1, 1, 1))
        else {
            return Vec::new();
        };
        let (lo, hi) = (lo.and_time(Default::default()), hi.and_time(Default::default()));
        let mut out = Vec::new();
        let mut onsets = Vec::new();
        for o in &self.custom[i].observances {
            if o.start >= hi {
                continue;
            }
            onsets.clear();
            if o.start >= lo {
                onsets.push(o.start);
            }
            onsets.extend(o.rdates.iter().filter(|d| **d >= lo && **d < hi));
            for rule in &o.rules {
                // UNTIL of an observance rule is UTC; as a local time it is close enough.
                let until = rule.until.map(|u| match u {
                    Written::Date(d) => d.and_hms_opt(23, 59, 59).unwrap_or_default(),
                    Written::Local(t) => t,
                    Written::Utc(t) => t + Duration::seconds(i64::from(o.offset_from)),
                });
                let mut budget = 1_000;
                let _ = recur::expand(
                    rule,
                    o.start,
                    until,
                    lo,
                    hi,
                    500,
                    &mut budget,
                    &self.work,
                    &mut onsets,
                );
            }
            for &onset in &onsets {
                out.push((onset - Duration::seconds(i64::from(o.offset_from)), o.offset_to));
            }
        }
        out.sort_unstable();
        out
    }
}

fn tz_to_utc(tz: chrono_tz::Tz, local: NaiveDateTime) -> DateTime<Utc> {
    match tz.from_local_datetime(&local) {
        chrono::LocalResult::Single(t) => t.with_timezone(&Utc),
        chrono::LocalResult::Ambiguous(a, _) => a.with_timezone(&Utc),
        chrono::LocalResult::None => {
            let before =
                tz.offset_from_utc_datetime(&(local - Duration::days(1))).fix().local_minus_utc();
            (local - Duration::seconds(i64::from(before))).and_utc()
        }
    }
}

/// A TZID as written, without quotes and surrounding blanks.
fn clean_tzid(raw: &str) -> &str {
    raw.trim().trim_matches('"').trim()
}

fn read_custom(vtz: &Component<'_>) -> Option<CustomZone> {
    let mut observances = Vec::new();
    for sub in &vtz.components {
        let name = sub.name.as_str();
        if name != "STANDARD" && name != "DAYLIGHT" {
            continue;
        }
        let offset = |prop: &str| sub.find_prop(prop).and_then(|p| parse_offset(p.val.as_str()));
        let (Some(offset_from), Some(offset_to)) = (offset("TZOFFSETFROM"), offset("TZOFFSETTO"))
        else {
            continue;
        };
        let start =
            match sub.find_prop("DTSTART").and_then(|p| parse_written(p.val.as_str(), false)) {
                Some(Written::Local(t) | Written::Utc(t)) => t,
                Some(Written::Date(d)) => d.and_time(Default::default()),
                None => NaiveDate::from_ymd_opt(1601, 1, 1)?.and_time(Default::default()),
            };
        let mut rules = Vec::new();
        let mut rdates = Vec::new();
        for p in &sub.properties {
            match p.name.as_str() {
                "RRULE" => {
                    if let Ok(rule) = rule::parse_rule(p.val.as_str()) {
                        rules.push(rule);
                    }
                }
                "RDATE" => {
                    for v in p.val.as_str().split(',') {
                        match parse_written(v, false) {
                            Some(Written::Local(t) | Written::Utc(t)) => rdates.push(t),
                            Some(Written::Date(d)) => rdates.push(d.and_time(Default::default())),
                            None => {}
                        }
                    }
                }
                _ => {}
            }
        }
        observances.push(Observance { start, offset_from, offset_to, rules, rdates });
    }
    (!observances.is_empty()).then_some(CustomZone { observances })
}

/// `+0100`, `-0530`, `+013045`, `+01:00` in seconds east of UTC.
fn parse_offset(raw: &str) -> Option<i32> {
    let s = raw.trim();
    let (sign, rest) = match s.as_bytes().first()? {
        b'+' => (1, &s[1..]),
        b'-' => (-1, &s[1..]),
        _ => (1, s),
    };
    let digits: Vec<i32> = rest
        .bytes()
        .filter(|b| *b != b':')
        .map(|b| if b.is_ascii_digit() { i32::from(b - b'0') } else { -1 })
        .collect();
    if digits.iter().any(|d| *d < 0) || !(digits.len() == 4 || digits.len() == 6) {
        return None;
    }
    let h = digits[0] * 10 + digits[1];
    let m = digits[2] * 10 + digits[3];
    let sec = if digits.len() == 6 { digits[4] * 10 + digits[5] } else { 0 };
    if h > 23 || m > 59 || sec > 59 {
        return None;
    }
    Some(sign * (h * 3600 + m * 60 + sec))
}

/// The IANA zone a name stands for, if any (steps 2 to 4 of the module docs).
pub(super) fn resolve_name(raw: &str) -> Option<chrono_tz::Tz> {
    let name = clean_tzid(raw);
    if name.is_empty() {
        return None;
    }
    if let Ok(tz) = chrono_tz::Tz::from_str(name) {
        return Some(tz);
    }
    // Vendor prefixes: try every suffix after a '/'.
    if name.contains('/') {
        let mut rest = name;
        while let Some(i) = rest.find('/') {
            rest = &rest[i + 1..];
            if let Ok(tz) = chrono_tz::Tz::from_str(rest) {
                return Some(tz);
            }
        }
    }
    if let Ok(w) = windows_timezones::WindowsTimezone::from_str(name) {
        return Some(w.into());
    }
    if let Some(tz) = display_name(name) {
        return Some(tz);
    }
    // `US-Eastern` for `US/Eastern`, and names in the wrong case.
    if let Some(i) = name.find('-') {
        let mut slashed = String::with_capacity(name.len());
        slashed.push_str(&name[..i]);
        slashed.push('/');
        slashed.push_str(&name[i + 1..]);
        if let Ok(tz) = chrono_tz::Tz::from_str(&slashed) {
            return Some(tz);
        }
    }
    chrono_tz::TZ_VARIANTS
        .iter()
        .find(|tz| tz.name().eq_ignore_ascii_case(name))
        .or_else(|| {
            // `Tzfile/america/chicago`: the last two segments.
            name.rfind('/').and_then(|i| {
                let two = name[..i].rfind('/').map_or(name, |j| &name[j + 1..]);
                chrono_tz::TZ_VARIANTS.iter().find(|tz| tz.name().eq_ignore_ascii_case(two))
            })
        })
        .copied()
}

/// Exchange / Outlook display names: `(GMT+10:00) Canberra, Melbourne, Sydney`.
fn display_name(name: &str) -> Option<chrono_tz::Tz> {
    let rest = name.strip_prefix('(')?;
    let close = rest.find(')')?;
    let offset_text = &rest[..close];
    let places = rest[close + 1..].trim();
    let key = places.to_ascii_lowercase().replace("  ", " ");
    if let Some((_, iana)) = DISPLAY_NAMES.iter().find(|(k, _)| *k == key) {
        return chrono_tz::Tz::from_str(iana).ok();
    }
    // Unknown places: the fixed offset, when it is whole hours.
    let offset = offset_text.trim_start_matches("GMT").trim_start_matches("UTC").trim();
    if offset.is_empty() {
        return Some(chrono_tz::Tz::UTC);
    }
    let seconds = parse_offset(offset)?;
    if seconds % 3600 != 0 {
        return None;
    }
    let hours = -seconds / 3600;
    let etc = if hours == 0 { "Etc/GMT".to_owned() } else { format!("Etc/GMT{hours:+}") };
    chrono_tz::Tz::from_str(&etc).ok()
}

/// Windows display names (the text after the offset), current and older spellings, lower case.
const DISPLAY_NAMES: &[(&str, &str)] = &[
    ("international date line west", "Etc/GMT+12"),
    ("midway island, samoa", "Pacific/Pago_Pago"),
    ("coordinated universal time-11", "Etc/GMT+11"),
    ("hawaii", "Pacific/Honolulu"),
    ("alaska", "America/Anchorage"),
    ("pacific time (us & canada)", "America/Los_Angeles"),
    ("pacific time (us & canada); tijuana", "America/Los_Angeles"),
    ("pacific time (us and canada); tijuana", "America/Los_Angeles"),
    ("tijuana, baja california", "America/Tijuana"),
    ("baja california", "America/Tijuana"),
    ("arizona", "America/Phoenix"),
    ("mountain time (us & canada)", "America/Denver"),
    ("mountain time (us and canada)", "America/Denver"),
    ("chihuahua, la paz, mazatlan", "America/Chihuahua"),
    ("central time (us & canada)", "America/Chicago"),
    ("central time (us and canada)", "America/Chicago"),
    ("saskatchewan", "America/Regina"),
    ("guadalajara, mexico city, monterrey", "America/Mexico_City"),
    ("central america", "America/Guatemala"),
    ("eastern time (us & canada)", "America/New_York"),
    ("eastern time (us and canada)", "America/New_York"),
    ("indiana (east)", "America/Indiana/Indianapolis"),
    ("bogota, lima, quito", "America/Bogota"),
    ("bogota, lima, quito, rio branco", "America/Bogota"),
    ("atlantic time (canada)", "America/Halifax"),
    ("caracas, la paz", "America/Caracas"),
    ("caracas", "America/Caracas"),
    ("georgetown, la paz, manaus, san juan", "America/La_Paz"),
    ("santiago", "America/Santiago"),
    ("newfoundland", "America/St_Johns"),
    ("brasilia", "America/Sao_Paulo"),
    ("buenos aires", "America/Argentina/Buenos_Aires"),
    ("buenos aires, georgetown", "America/Argentina/Buenos_Aires"),
    ("city of buenos aires", "America/Argentina/Buenos_Aires"),
    ("greenland", "America/Nuuk"),
    ("montevideo", "America/Montevideo"),
    ("mid-atlantic", "Etc/GMT+2"),
    ("coordinated universal time-02", "Etc/GMT+2"),
    ("azores", "Atlantic/Azores"),
    ("cape verde is.", "Atlantic/Cape_Verde"),
    ("cabo verde is.", "Atlantic/Cape_Verde"),
    ("greenwich mean time : dublin, edinburgh, lisbon, london", "Europe/London"),
    ("greenwich mean time: dublin, edinburgh, lisbon, london", "Europe/London"),
    ("dublin, edinburgh, lisbon, london", "Europe/London"),
    ("casablanca, monrovia", "Africa/Casablanca"),
    ("casablanca, monrovia, reykjavik", "Africa/Casablanca"),
    ("casablanca", "Africa/Casablanca"),
    ("monrovia, reykjavik", "Atlantic/Reykjavik"),
    ("coordinated universal time", "UTC"),
    ("amsterdam, berlin, bern, rome, stockholm, vienna", "Europe/Berlin"),
    ("belgrade, bratislava, budapest, ljubljana, prague", "Europe/Budapest"),
    ("brussels, copenhagen, madrid, paris", "Europe/Paris"),
    ("sarajevo, skopje, warsaw, zagreb", "Europe/Warsaw"),
    ("sarajevo, skopje, sofija, vilnius, warsaw, zagreb", "Europe/Warsaw"),
    ("west central africa", "Africa/Lagos"),
    ("athens, bucharest", "Europe/Bucharest"),
    ("athens, bucharest, istanbul", "Europe/Bucharest"),
    ("athens, istanbul, minsk", "Europe/Athens"),
    ("athens, beirut, istanbul, minsk", "Europe/Athens"),
    ("bucharest", "Europe/Bucharest"),
    ("cairo", "Africa/Cairo"),
    ("harare, pretoria", "Africa/Johannesburg"),
    ("helsinki, kyiv, riga, sofia, tallinn, vilnius", "Europe/Helsinki"),
    ("helsinki, kiev, riga, sofia, tallinn, vilnius", "Europe/Helsinki"),
    ("jerusalem", "Asia/Jerusalem"),
    ("amman", "Asia/Amman"),
    ("beirut", "Asia/Beirut"),
    ("baghdad", "Asia/Baghdad"),
    ("kuwait, riyadh", "Asia/Riyadh"),
    ("moscow, st. petersburg, volgograd", "Europe/Moscow"),
    ("moscow, st. petersburg", "Europe/Moscow"),
    ("nairobi", "Africa/Nairobi"),
    ("istanbul", "Europe/Istanbul"),
    ("tehran", "Asia/Tehran"),
    ("abu dhabi, muscat", "Asia/Dubai"),
    ("baku", "Asia/Baku"),
    ("baku, tbilisi, yerevan", "Asia/Baku"),
    ("tbilisi", "Asia/Tbilisi"),
    ("yerevan", "Asia/Yerevan"),
    ("kabul", "Asia/Kabul"),
    ("ekaterinburg", "Asia/Yekaterinburg"),
    ("islamabad, karachi", "Asia/Karachi"),
    ("islamabad, karachi, tashkent", "Asia/Karachi"),
    ("ashgabat, tashkent", "Asia/Tashkent"),
    ("tashkent", "Asia/Tashkent"),
    ("chennai, kolkata, mumbai, new delhi", "Asia/Kolkata"),
    ("sri jayawardenepura", "Asia/Colombo"),
    ("kathmandu", "Asia/Kathmandu"),
    ("astana", "Asia/Almaty"),
    ("astana, dhaka", "Asia/Dhaka"),
    ("dhaka", "Asia/Dhaka"),
    ("almaty, novosibirsk", "Asia/Almaty"),
    ("yangon (rangoon)", "Asia/Yangon"),
    ("bangkok, hanoi, jakarta", "Asia/Bangkok"),
    ("krasnoyarsk", "Asia/Krasnoyarsk"),
    ("beijing, chongqing, hong kong, urumqi", "Asia/Shanghai"),
    ("irkutsk, ulaan bataar", "Asia/Irkutsk"),
    ("irkutsk", "Asia/Irkutsk"),
    ("kuala lumpur, singapore", "Asia/Singapore"),
    ("perth", "Australia/Perth"),
    ("taipei", "Asia/Taipei"),
    ("osaka, sapporo, tokyo", "Asia/Tokyo"),
    ("seoul", "Asia/Seoul"),
    ("yakutsk", "Asia/Yakutsk"),
    ("adelaide", "Australia/Adelaide"),
    ("darwin", "Australia/Darwin"),
    ("brisbane", "Australia/Brisbane"),
    ("canberra, melbourne, sydney", "Australia/Sydney"),
    ("guam, port moresby", "Pacific/Port_Moresby"),
    ("hobart", "Australia/Hobart"),
    ("vladivostok", "Asia/Vladivostok"),
    ("magadan", "Asia/Magadan"),
    ("magadan, solomon is., new caledonia", "Pacific/Guadalcanal"),
    ("solomon is., new caledonia", "Pacific/Guadalcanal"),
    ("auckland, wellington", "Pacific/Auckland"),
    ("fiji", "Pacific/Fiji"),
    ("fiji, kamchatka, marshall is.", "Pacific/Fiji"),
    ("nuku'alofa", "Pacific/Tongatapu"),
    ("samoa", "Pacific/Apia"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zone_names_from_every_family_resolve_to_iana() {
        let cases = [
            ("America/Chicago", "America/Chicago"),
            ("\"Europe/Warsaw\"", "Europe/Warsaw"),
            ("/softwarestudio.org/Tzfile/America/Chicago", "America/Chicago"),
            ("/mozilla.org/20050126_1/Europe/London", "Europe/London"),
            ("W. Europe Standard Time", "Europe/Berlin"),
            ("Pacific Standard Time", "America/Los_Angeles"),
            ("(GMT+10:00) Canberra, Melbourne, Sydney", "Australia/Sydney"),
            ("(UTC-05:00) Eastern Time (US & Canada)", "America/New_York"),
            ("(GMT+01:00) Amsterdam, Berlin, Bern, Rome, Stockholm, Vienna", "Europe/Berlin"),
            ("(GMT+03:00) Somewhere Unlisted", "Etc/GMT-3"),
            ("US/Eastern", "US/Eastern"),
            ("US/Pacific", "US/Pacific"),
            ("US-Eastern", "US/Eastern"),
            ("europe/london", "Europe/London"),
        ];
        for (name, iana) in cases {
            assert_eq!(resolve_name(name).map(|tz| tz.name()), Some(iana), "{name}");
        }
        assert_eq!(resolve_name("Eastern"), None);
        assert_eq!(resolve_name(""), None);
    }

    #[test]
    fn offsets_are_read_with_and_without_seconds() {
        assert_eq!(parse_offset("+0100"), Some(3600));
        assert_eq!(parse_offset("-0530"), Some(-19_800));
        assert_eq!(parse_offset("+013045"), Some(5445));
        assert_eq!(parse_offset("+01:00"), Some(3600));
        assert_eq!(parse_offset("x"), None);
    }
}
