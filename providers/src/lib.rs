//! Kalends providers: where calendars live outside Kalends. For now, iCal feed URLs fetched
//! safely (`feed`); Google and Microsoft join with the connect issue.

pub mod feed;
