-- Distributed mode: every command that arrived through a shard's Redis stream is recorded
-- with its result (the engine events, msgpack) in the batch that executed it, so a command
-- replayed after a takeover is answered from here and never executed twice.
CREATE TABLE commands (
    command_id  text PRIMARY KEY,
    shard_id    integer NOT NULL,
    result      bytea NOT NULL,
    ts          bigint NOT NULL
);
CREATE INDEX commands_ts ON commands (ts);
