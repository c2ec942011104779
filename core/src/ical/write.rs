//! The iCalendar writer (interface; implementation in progress).
