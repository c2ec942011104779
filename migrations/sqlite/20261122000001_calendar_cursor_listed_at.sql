-- When the full listing behind a calendar's cursor ran. Its window (yesterday to 18 months
-- ahead of then) is the one the cursor's incremental changes keep (a Graph delta link keeps the
-- window of its first request); single events from the window's end on are listed apart, in
-- full, on every import. NULL on cursors written before: their next import lists in full.
ALTER TABLE calendar_cursors ADD COLUMN listed_at TEXT;
