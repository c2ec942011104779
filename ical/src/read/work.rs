//! The work one feed may cost to read, counted in steps.
//!
//! A feed is small to write and can be dear to read: a rule like
//! `FREQ=SECONDLY;BYHOUR=3;BYMINUTE=0;BYSECOND=0` walks the clock second by second, minute by
//! minute and hour by hour to each of its daily occurrences. Everything that loops on what the
//! file says spends from one budget per feed: each VEVENT and VTIMEZONE read, and each
//! occurrence a recurrence rule generates (of events and of VTIMEZONE observances), weighted by
//! how much walking the rule needs per occurrence. Once the budget is spent, nothing more is
//! expanded or read, and the feed is refused as a whole rather than imported in part.

use std::cell::Cell;

/// Steps spent reading one feed, against its budget.
#[derive(Debug)]
pub(super) struct Work {
    spent: Cell<u64>,
    limit: u64,
}

impl Work {
    /// A meter allowing `limit` steps.
    pub(super) fn new(limit: u64) -> Self {
        Work { spent: Cell::new(0), limit }
    }

    /// Spends `steps`. False once the budget is spent: the caller stops looping (and nothing
    /// more is counted, so the meter shows how far past the budget the last step went).
    pub(super) fn spend(&self, steps: u64) -> bool {
        if self.exhausted() {
            return false;
        }
        let spent = self.spent.get().saturating_add(steps);
        self.spent.set(spent);
        spent <= self.limit
    }

    /// Whether more than the budget was asked for.
    pub(super) fn exhausted(&self) -> bool {
        self.spent.get() > self.limit
    }

    /// Steps spent so far.
    pub(super) fn spent(&self) -> u64 {
        self.spent.get()
    }

    /// The budget.
    pub(super) fn limit(&self) -> u64 {
        self.limit
    }
}
