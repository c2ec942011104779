-- Availability rules of a resource or staff member (turnover, stay lengths, booking window,
-- notice, arrival and departure days, opening hours, buffers), as the JSON object the API takes
-- with only the rules that are set; NULL when none is. A booking that breaks one is refused
-- under `?reject_conflicts=true`, or saved with an open conflict of kind `rule` naming it (the
-- rule's name in `item_b`, `rule:<name>`).
ALTER TABLE resources ADD COLUMN rules TEXT;
ALTER TABLE staff ADD COLUMN rules TEXT;
ALTER TABLE conflicts DROP CONSTRAINT conflicts_kind_check;
ALTER TABLE conflicts ADD CONSTRAINT conflicts_kind_check
    CHECK (kind IN ('overlap', 'external_edit', 'rule'));
