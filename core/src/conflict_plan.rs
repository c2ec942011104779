//! What a detection pass changes in the recorded conflicts, decided without the database: the
//! collisions a pass found (and the rules a booking breaks) become [`Found`] conflicts, and
//! [`Plan::of`] compares them with the open ones the pass is responsible for. The use case
//! (`kalends_service::conflicts`) reads, decides here, and hands the store the plan to write in
//! one transaction.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::availability::{Rule, Violation};
use crate::conflict_record::{ConflictItem, ConflictKind};
use crate::conflicts::{self, Busy, Class, Collision, ItemRef, Severity, Source};
use crate::domain::Owner;

/// A conflict a pass found, ready to record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Found {
    /// An overlap or a broken rule.
    pub kind: ConflictKind,
    /// Whose calendar records it.
    pub owner: Owner,
    /// What makes it the same conflict from one pass to the next: its two items (or the
    /// booking, its owner and the rule).
    pub pair_key: String,
    /// The first item, as the `item_a` column names it.
    pub item_a: String,
    /// The second item (or the rule).
    pub item_b: String,
    /// Where it starts.
    pub start: DateTime<Utc>,
    /// Where it ends.
    pub end: DateTime<Utc>,
    /// How bad it is.
    pub severity: Severity,
    /// Its items, as the API shows them.
    pub items: Vec<ConflictItem>,
    /// What to do about it.
    pub suggestion: String,
}

impl Found {
    /// The collision `c` of items `a` and `b`, recorded in `owner`'s calendar.
    pub fn overlap(owner: Owner, a: &Busy, b: &Busy, c: Collision) -> Self {
        let side =
            |x: &Busy| ConflictItem { kind: x.item.source, id: x.item.id, label: x.label.clone() };
        let (x, y) = if a.item <= b.item { (a.item, b.item) } else { (b.item, a.item) };
        Found {
            kind: ConflictKind::Overlap,
            owner,
            pair_key: Collision::pair_key(a.item, b.item),
            item_a: x.to_string(),
            item_b: y.to_string(),
            start: c.start,
            end: c.end,
            severity: c.severity,
            items: vec![side(a), side(b)],
            suggestion: c.suggestion,
        }
    }
}

impl From<&RuleBreach> for Found {
    fn from(b: &RuleBreach) -> Self {
        let (Owner::Resource(owner_id) | Owner::Staff(owner_id)) = b.owner;
        let rule = b.violation.rule;
        Found {
            kind: ConflictKind::Rule,
            owner: b.owner,
            pair_key: format!("rule:{}:{owner_id}:{rule}", b.booking.id),
            item_a: ItemRef { source: Source::Booking, id: b.booking.id }.to_string(),
            item_b: format!("rule:{rule}"),
            start: b.start,
            end: b.end,
            severity: b.violation.severity(),
            items: vec![b.booking.clone()],
            suggestion: format!(
                "The booking breaks a rule: {}. Move it, or change the rules if this one is an \
                 exception.",
                b.violation.message
            ),
        }
    }
}

/// Every collision among `items`, the busy items of `owner` (with its family's, for a
/// resource), each recorded in the calendar it belongs to ([`conflicts::recorded_by`]).
pub fn found_among(owner: Owner, items: &mut [Busy]) -> Vec<Found> {
    let collisions = conflicts::find(items);
    collisions
        .into_iter()
        .filter_map(|c| {
            let (a, b) = (&items[c.a], &items[c.b]);
            conflicts::recorded_by(owner, a.kin, b.kin).map(|home| Found::overlap(home, a, b, c))
        })
        .collect()
}

/// The collisions of the one item `item` among `items` (busy items of `owner` around it);
/// nothing when the item is not among them.
pub fn found_with(owner: Owner, item: ItemRef, items: &[Busy]) -> Vec<Found> {
    let Some(me) = items.iter().find(|b| b.item == item) else { return Vec::new() };
    conflicts::find_with(me, items)
        .into_iter()
        .filter_map(|(k, c)| {
            let home = conflicts::recorded_by(owner, me.kin, items[k].kin)?;
            Some(Found::overlap(home, me, &items[k], c))
        })
        .collect()
}

/// Adds to `hits` the items of `items` that `?reject_conflicts=true` refuses `candidate` for:
/// real overlaps (not mere touching) with anything but a tentative booking, each item once. The
/// store applies it inside the write's transaction, with the owners locked.
pub fn add_refusing_hits(candidate: &Busy, items: &[Busy], hits: &mut Vec<ConflictItem>) {
    for (k, c) in conflicts::find_with(candidate, items) {
        let other = &items[k];
        let counts = c.severity > Severity::Low && other.class != Class::Tentative;
        if counts && !hits.iter().any(|h| h.id == other.item.id) {
            hits.push(ConflictItem {
                kind: other.item.source,
                id: other.item.id,
                label: other.label.clone(),
            });
        }
    }
}

/// A rule a saved booking breaks in one owner's calendar.
#[derive(Clone, Debug)]
pub struct RuleBreach {
    /// The resource or staff member whose rule it is.
    pub owner: Owner,
    /// The booking.
    pub booking: ConflictItem,
    /// The booking's start.
    pub start: DateTime<Utc>,
    /// Its end.
    pub end: DateTime<Utc>,
    /// The rule, its limit and the booking's value.
    pub violation: Violation,
}

/// An open conflict as a pass compares it: what identifies it and what may have moved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpenConflict {
    /// Its id.
    pub id: Uuid,
    /// Its pair key ([`Found::pair_key`]).
    pub pair_key: String,
    /// Its severity, as stored.
    pub severity: String,
    /// Where it starts.
    pub start: DateTime<Utc>,
    /// Where it ends.
    pub end: DateTime<Utc>,
}

impl OpenConflict {
    /// The booking it names, when it is a rule conflict ([`Found::from`] a [`RuleBreach`]).
    pub fn rule_booking(&self) -> Option<Uuid> {
        let rest = self.pair_key.strip_prefix("rule:")?;
        rest.split(':').next()?.parse().ok()
    }

    /// Whether it is the rule conflict of one of `rules`.
    pub fn is_of_rule(&self, rules: &[Rule]) -> bool {
        rules.iter().any(|rule| self.pair_key.ends_with(&format!(":{rule}")))
    }

    /// Whether it is `owner`'s rule conflict of one of `rules`.
    pub fn is_rule_of(&self, owner: Owner, rules: &[Rule]) -> bool {
        let (Owner::Resource(id) | Owner::Staff(id)) = owner;
        let key = |rule: &Rule| format!(":{id}:{rule}");
        self.pair_key.starts_with("rule:")
            && rules.iter().any(|rule| self.pair_key.ends_with(&key(rule)))
    }
}

/// What a detection pass changes in the open conflicts it reached, compared by pair key.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// Open conflicts no longer found: they resolve themselves.
    pub gone: Vec<Uuid>,
    /// Open conflicts found again with another severity or span: rewritten.
    pub changed: Vec<(Uuid, Found)>,
    /// Conflicts found without an open one: opened.
    pub new: Vec<Found>,
}

impl Plan {
    /// Compares what a pass `found` with the `open` conflicts it is responsible for. A pair
    /// found twice counts once.
    pub fn of(found: Vec<Found>, open: Vec<OpenConflict>) -> Self {
        let mut found_by_key: HashMap<String, Found> = HashMap::new();
        for f in found {
            found_by_key.entry(f.pair_key.clone()).or_insert(f);
        }
        let mut plan = Plan::default();
        for o in open {
            match found_by_key.remove(&o.pair_key) {
                None => plan.gone.push(o.id),
                Some(f)
                    if f.severity.as_str() != o.severity
                        || f.start != o.start
                        || f.end != o.end =>
                {
                    plan.changed.push((o.id, f))
                }
                Some(_) => {}
            }
        }
        plan.new = found_by_key.into_values().collect();
        plan
    }

    /// Whether the pass changes nothing (the common case after a booking change).
    pub fn is_empty(&self) -> bool {
        self.gone.is_empty() && self.changed.is_empty() && self.new.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone as _;

    use super::*;
    use crate::conflicts::Kin;

    fn at(hour: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2030, 5, 1, hour, 0, 0).unwrap()
    }

    fn busy(id: u128, from: u32, to: u32) -> Busy {
        Busy {
            item: ItemRef { source: Source::Booking, id: Uuid::from_u128(id) },
            start: at(from),
            end: at(to),
            all_day: false,
            class: Class::Confirmed,
            group: None,
            label: format!("Booking {id}"),
            kin: Kin::Own,
        }
    }

    fn room() -> Owner {
        Owner::Resource(Uuid::from_u128(99))
    }

    fn open_as(found: &Found, id: u128) -> OpenConflict {
        OpenConflict {
            id: Uuid::from_u128(id),
            pair_key: found.pair_key.clone(),
            severity: found.severity.as_str().to_owned(),
            start: found.start,
            end: found.end,
        }
    }

    #[test]
    fn a_rule_conflict_names_its_booking_and_an_overlap_names_none() {
        let booking = Uuid::from_u128(5);
        let breach = RuleBreach {
            owner: room(),
            booking: ConflictItem { kind: Source::Booking, id: booking, label: "Stay".into() },
            start: at(9),
            end: at(11),
            violation: Violation {
                rule: Rule::MinNights,
                limit: 2.into(),
                value: 1.into(),
                message: "at least 2 nights".into(),
            },
        };
        let rule = open_as(&Found::from(&breach), 1);
        assert_eq!(rule.rule_booking(), Some(booking));
        assert!(rule.is_rule_of(room(), &[Rule::MinNights]));
        let overlap = found_among(room(), &mut [busy(1, 9, 11), busy(2, 10, 12)]);
        assert_eq!(open_as(&overlap[0], 2).rule_booking(), None);
    }

    #[test]
    fn a_new_double_booking_is_opened_once_however_often_it_is_found() {
        let mut items = vec![busy(1, 9, 11), busy(2, 10, 12)];
        let found = found_among(room(), &mut items);
        assert_eq!(found.len(), 1);
        let twice = vec![found[0].clone(), found[0].clone()];
        let plan = Plan::of(twice, Vec::new());
        assert_eq!(plan.new.len(), 1);
        assert!(plan.gone.is_empty() && plan.changed.is_empty());
    }

    #[test]
    fn a_double_booking_found_again_unchanged_changes_nothing() {
        let mut items = vec![busy(1, 9, 11), busy(2, 10, 12)];
        let found = found_among(room(), &mut items);
        let open = vec![open_as(&found[0], 7)];
        assert!(Plan::of(found, open).is_empty());
    }

    #[test]
    fn a_double_booking_that_moved_is_rewritten_and_one_that_ended_resolves_itself() {
        let mut before = vec![busy(1, 9, 11), busy(2, 10, 12), busy(3, 14, 16), busy(4, 15, 17)];
        let open: Vec<OpenConflict> = found_among(room(), &mut before)
            .iter()
            .enumerate()
            .map(|(n, f)| open_as(f, 100 + n as u128))
            .collect();
        // The first pair now overlaps longer; the second pair no longer overlaps.
        let mut now = vec![busy(1, 9, 12), busy(2, 10, 12), busy(3, 14, 15), busy(4, 16, 17)];
        let plan = Plan::of(found_among(room(), &mut now), open.clone());
        let moved = open.iter().find(|o| o.pair_key == plan.changed[0].1.pair_key).unwrap();
        assert_eq!(plan.changed.len(), 1);
        assert_eq!(plan.changed[0].0, moved.id);
        assert_eq!(plan.gone.len(), 1);
        assert_ne!(plan.gone[0], moved.id);
        assert!(plan.new.is_empty());
    }

    #[test]
    fn one_items_collisions_name_it_and_nothing_when_it_is_not_there() {
        let items = vec![busy(1, 9, 11), busy(2, 10, 12), busy(3, 20, 21)];
        let mine = ItemRef { source: Source::Booking, id: Uuid::from_u128(1) };
        let found = found_with(room(), mine, &items);
        assert_eq!(found.len(), 1);
        assert!(found[0].pair_key.contains(&mine.to_string()));
        let absent = ItemRef { source: Source::Booking, id: Uuid::from_u128(5) };
        assert!(found_with(room(), absent, &items).is_empty());
    }

    #[test]
    fn a_checked_booking_is_refused_for_a_real_overlap_but_not_for_touching_or_a_tentative_one() {
        let candidate = busy(9, 10, 12);
        let overlapping = busy(1, 11, 13);
        let touching = busy(2, 12, 14);
        let tentative = Busy { class: Class::Tentative, ..busy(3, 10, 11) };
        let items = vec![candidate.clone(), overlapping, touching, tentative];
        let mut hits = Vec::new();
        add_refusing_hits(&candidate, &items, &mut hits);
        add_refusing_hits(&candidate, &items, &mut hits);
        let ids: Vec<Uuid> = hits.iter().map(|h| h.id).collect();
        assert_eq!(ids, vec![Uuid::from_u128(1)], "each refusing item once, nothing else");
    }
}
