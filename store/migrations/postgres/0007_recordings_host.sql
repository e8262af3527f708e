-- 0007: the host whose recgate wrote a recording's row (store.host_id, by
-- default the hostname). In a fleet each Asterisk writes its files to its
-- own spool unless the spool is shared: the host says where a file was
-- made, and lets retention and erase tell "not found here" from "gone".
-- Rows from before have ''.
ALTER TABLE recordings ADD COLUMN host TEXT NOT NULL DEFAULT '';
