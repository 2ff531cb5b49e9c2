-- Files that an integrity check ("pmgsync verify --repair") found damaged:
-- their blob is missing, or its size or SHA-256 is not the recorded one.
-- A damaged file keeps its row, so that it is reported and can be deleted or
-- replaced, but it is not served. damage is NULL for a sound file, and
-- damaged_at is set exactly when damage is. A new version of the name is a
-- new row, sound.
ALTER TABLE files ADD COLUMN damage TEXT CHECK (damage IN ('missing', 'corrupt'));
ALTER TABLE files ADD COLUMN damaged_at INTEGER CHECK ((damaged_at IS NULL) = (damage IS NULL));
