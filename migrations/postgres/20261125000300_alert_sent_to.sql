-- The addresses an alert already went to (a JSON array): when one address group's e-mail is
-- sent and another's is deferred, the retry sends only to those still owed.
ALTER TABLE alerts ADD COLUMN sent_to TEXT NOT NULL DEFAULT '[]';
