-- Every session has its last update time: new sessions get it from
-- create_session, and the upgrade step of version 2 gave it to the
-- sessions a database held already.
ALTER TABLE {{schema}}.sessions ALTER COLUMN updated SET NOT NULL;
