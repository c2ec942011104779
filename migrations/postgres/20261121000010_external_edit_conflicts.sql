-- A conflict is either an overlap of two busy items (found and resolved by the detection passes)
-- or an external edit left as is under `external_edit_policy = accept`: a staff member moved or
-- deleted a booking's event by hand, and a person should decide. The detection passes only manage
-- overlaps; an external-edit conflict resolves when the booking's event is written again (the
-- booking changed, or it was re-pushed) or by hand.
ALTER TABLE conflicts ADD COLUMN kind TEXT NOT NULL DEFAULT 'overlap' CHECK (kind IN ('overlap', 'external_edit'));
