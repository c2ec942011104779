//! A booking against its owners' rules: which busy items the judgement needs, and what the
//! rules say of the booking among them. Used where a booking is written (`?reject_conflicts`
//! refuses it) and after every write (a conflict of kind `rule` says which rule it breaks).

use chrono::{DateTime, Duration, Utc};

use super::{NightItem, Rules, Violation, check_appointment, check_stay, nights_reach};
use crate::conflicts::Busy;
use crate::domain::{TimeZone, local_midnight};

/// The instants whose busy items [`judge`] needs for `booking` under `rules`: for a stay, the
/// nights a turnover, a stay length or a gap reaches ([`nights_reach`]); for an appointment, the
/// buffers around it and a day either side.
pub fn reach(rules: &Rules, days_zone: TimeZone, booking: &Busy) -> (DateTime<Utc>, DateTime<Utc>) {
    if booking.all_day {
        let night = NightItem::of(booking, days_zone);
        let (from, to) = nights_reach(rules, night.start, night.end);
        (local_midnight(from, days_zone), local_midnight(to, days_zone))
    } else {
        let gap = Duration::minutes(i64::from(
            rules.buffer_before_minutes() + rules.buffer_after_minutes(),
        ));
        (booking.start - gap - Duration::days(1), booking.end + gap + Duration::days(1))
    }
}

/// What `rules` say of `booking` among `items` (its owner's busy items within [`reach`]; its
/// own stored version, if listed, is left out), `now` being the time of the write. A stay is
/// judged in nights of `days_zone` (where its days are counted), an appointment against
/// opening hours in `owner_zone`. The notice and the window are judged only for `new_dates`:
/// a booking that keeps its dates stays valid as today moves on.
pub fn judge(
    rules: &Rules,
    (days_zone, owner_zone): (TimeZone, TimeZone),
    now: DateTime<Utc>,
    booking: &Busy,
    items: &[Busy],
    new_dates: bool,
) -> Vec<Violation> {
    if rules.is_empty() {
        return Vec::new();
    }
    let others = items.iter().filter(|item| item.item != booking.item);
    if booking.all_day {
        let stay = NightItem::of(booking, days_zone);
        let others: Vec<NightItem> = others.map(|item| NightItem::of(item, days_zone)).collect();
        let today = now.with_timezone(&days_zone.tz()).date_naive();
        check_stay(rules, today, (stay.start, stay.end), &others, new_dates)
    } else {
        let others: Vec<_> = others.map(|item| (item.start, item.end)).collect();
        check_appointment(rules, owner_zone, now, (booking.start, booking.end), &others, new_dates)
    }
}

/// Whether `booking` takes other dates than its stored version among `items` (a new booking,
/// or one moved): only then are the notice and the window judged.
pub fn has_new_dates(booking: &Busy, items: &[Busy]) -> bool {
    !items.iter().any(|item| {
        item.item == booking.item && (item.start, item.end) == (booking.start, booking.end)
    })
}

#[cfg(test)]
mod tests {
    use chrono::{NaiveDate, TimeZone as _};
    use uuid::Uuid;

    use super::*;
    use crate::availability::{Rule, RulesDraft};
    use crate::conflicts::{Class, ItemRef, Source};

    fn zone() -> TimeZone {
        "Europe/Paris".parse().unwrap()
    }

    fn rules(json: serde_json::Value) -> Rules {
        Rules::try_from(serde_json::from_value::<RulesDraft>(json).unwrap()).unwrap()
    }

    fn stay(id: Uuid, from: (u32, u32), to: (u32, u32)) -> Busy {
        let day = |(m, d)| local_midnight(NaiveDate::from_ymd_opt(2027, m, d).unwrap(), zone());
        Busy {
            item: ItemRef { source: Source::Booking, id },
            start: day(from),
            end: day(to),
            all_day: true,
            class: Class::Confirmed,
            group: None,
            label: "Stay".into(),
            kin: Default::default(),
        }
    }

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2027, 1, 1, 9, 0, 0).unwrap()
    }

    #[test]
    fn a_one_night_stay_under_a_two_night_minimum_breaks_min_nights() {
        let booking = stay(Uuid::now_v7(), (3, 10), (3, 11));
        let found = judge(
            &rules(serde_json::json!({"min_nights": 2})),
            (zone(), zone()),
            now(),
            &booking,
            &[],
            true,
        );
        assert_eq!(found.iter().map(|v| v.rule).collect::<Vec<_>>(), [Rule::MinNights]);
        assert_eq!((found[0].limit.clone(), found[0].value.clone()), (2.into(), 1.into()));
    }

    #[test]
    fn a_stay_is_not_judged_against_its_own_stored_version() {
        let id = Uuid::now_v7();
        let booking = stay(id, (3, 10), (3, 12));
        let stored = stay(id, (3, 11), (3, 13));
        let rules = rules(serde_json::json!({"turnover_days": 1}));
        assert!(
            judge(&rules, (zone(), zone()), now(), &booking, std::slice::from_ref(&stored), true)
                .is_empty()
        );
        assert!(has_new_dates(&booking, &[stored]));
        assert!(!has_new_dates(&booking, std::slice::from_ref(&booking)));
    }

    #[test]
    fn a_stay_ending_the_day_before_the_next_one_breaks_the_turnover() {
        let booking = stay(Uuid::now_v7(), (3, 10), (3, 12));
        let next = stay(Uuid::now_v7(), (3, 12), (3, 14));
        let rules = rules(serde_json::json!({"turnover_days": 1}));
        let found = judge(&rules, (zone(), zone()), now(), &booking, &[next], true);
        assert_eq!(found.iter().map(|v| v.rule).collect::<Vec<_>>(), [Rule::TurnoverDays]);
    }

    #[test]
    fn no_rules_judge_nothing_and_read_only_the_booking_itself() {
        let booking = stay(Uuid::now_v7(), (3, 10), (3, 11));
        assert!(judge(&Rules::default(), (zone(), zone()), now(), &booking, &[], true).is_empty());
        let (from, to) = reach(&rules(serde_json::json!({"turnover_days": 2})), zone(), &booking);
        assert!(from < booking.start && to > booking.end);
    }
}
