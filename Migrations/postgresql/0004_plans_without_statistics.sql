-- Plans that do not depend on what the statistics say (issue 19). On a queue ANALYZEd while every
-- job was finished, the planner expects no unfinished row anywhere, finds every partial index
-- equally cheap, and took `cancellations_unfinished` (whose condition covers those of all the
-- others) for the claims, the next due time and the rescues: each read the whole backlog to return
-- 16 rows, and a drain cost the square of its backlog. With `id > 0` in its condition it serves only
-- the statements that say so (status's oldest unfinished job, "is anything left?"); the daemon's
-- claims name no id range, so only their own indexes fit them.
DROP INDEX cancellations_unfinished;
CREATE INDEX cancellations_unfinished ON cancellations (id)
    WHERE state IN ('pending', 'waiting-delay', 'sent', 'retrying', 'maintenance-paused') AND id > 0;
