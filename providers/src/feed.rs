//! Fetching iCal feed URLs politely and safely (interface; implementation in progress).
