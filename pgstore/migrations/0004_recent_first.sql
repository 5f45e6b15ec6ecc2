-- Sessions listed the most recently updated first. A last update time is
-- now written with all nine fractional digits, so that its text sorts as
-- its time does (in the C collation, byte by byte); the times written
-- before are padded here. No index keeps that order: one would change
-- with every append, which could then no longer update the session's row
-- in place (a HOT update); a listing sorts the user's (or the app's)
-- sessions instead.
UPDATE {{schema}}.sessions SET updated = CASE
	WHEN updated ~ '\.[0-9]+Z$'
		THEN regexp_replace(updated, '\.[0-9]+Z$', '') || '.' || rpad(substring(updated from '\.([0-9]+)Z$'), 9, '0') || 'Z'
	ELSE regexp_replace(updated, 'Z$', '.000000000Z')
	END
WHERE updated !~ '\.[0-9]{9}Z$';
