-- Schema version 2 of the metrics database, as m001_executions and m002_report_indexes made it (kept to test
-- migrations from it): a finished execution, its JSON lists as version 2 wrote them (spaced, non-ASCII
-- escaped), with two phases and two models, one of them estimated at 5000 nano-dollars; and a running one.
PRAGMA user_version = 2;
CREATE TABLE schema_migrations (
            version INTEGER PRIMARY KEY,
            name TEXT NOT NULL,
            applied_at_ms INTEGER NOT NULL
        );
CREATE TABLE executions (
            execution_id TEXT PRIMARY KEY,
            task_id TEXT NOT NULL,
            project TEXT NOT NULL,
            project_path TEXT,
            agent_command TEXT NOT NULL,           -- JSON array of the agent's argv
            model_requested TEXT,
            status TEXT NOT NULL,                  -- running, succeeded, failed, timed_out, cancelled, interrupted
            failure_category TEXT,
            failure_reason TEXT,
            exit_code INTEGER,
            started_at_ms INTEGER NOT NULL,        -- UTC epoch milliseconds
            ended_at_ms INTEGER,
            duration_ms INTEGER,
            updated_at_ms INTEGER NOT NULL,        -- last sign of life of a running row
            host TEXT,                             -- hostname and pid of the recording process,
            host_pid INTEGER,                      --   to tell a dead host from a slow one
            num_turns INTEGER,
            tokens_input INTEGER NOT NULL DEFAULT 0,
            tokens_output INTEGER NOT NULL DEFAULT 0,
            tokens_cache_read INTEGER NOT NULL DEFAULT 0,
            tokens_cache_write INTEGER NOT NULL DEFAULT 0,     -- 5-minute and 1-hour writes
            tokens_cache_write_1h INTEGER NOT NULL DEFAULT 0,  -- the 1-hour part of tokens_cache_write
            tokens_total INTEGER NOT NULL DEFAULT 0,
            cost_nano_usd INTEGER,                 -- NULL: unknown
            cost_source TEXT NOT NULL DEFAULT 'unknown',   -- reported, estimated, unknown
            reported_cost_nano_usd INTEGER,        -- total_cost_usd as the agent reported it
            price_table_version TEXT,              -- set when any part of the cost was estimated
            tool_calls TEXT NOT NULL DEFAULT '{}', -- JSON object: tool name -> count
            files_read TEXT NOT NULL DEFAULT '[]',
            files_written TEXT NOT NULL DEFAULT '[]',
            commit_shas TEXT NOT NULL DEFAULT '[]',
            pr_url TEXT,
            files_changed INTEGER,
            lines_added INTEGER,
            lines_removed INTEGER,
            malformed_lines INTEGER NOT NULL DEFAULT 0,
            usage_complete INTEGER NOT NULL DEFAULT 1,
            source_key TEXT UNIQUE                 -- where an imported execution came from
        );
CREATE TABLE phases (
            execution_id TEXT NOT NULL REFERENCES executions (execution_id) ON DELETE CASCADE,
            seq INTEGER NOT NULL,
            name TEXT NOT NULL,
            started_at_ms INTEGER NOT NULL,
            ended_at_ms INTEGER NOT NULL,
            duration_ms INTEGER NOT NULL,
            PRIMARY KEY (execution_id, seq)
        ) WITHOUT ROWID;
CREATE TABLE execution_models (
            execution_id TEXT NOT NULL REFERENCES executions (execution_id) ON DELETE CASCADE,
            model TEXT NOT NULL,
            tokens_input INTEGER NOT NULL,
            tokens_output INTEGER NOT NULL,
            tokens_cache_read INTEGER NOT NULL,
            tokens_cache_write INTEGER NOT NULL,
            tokens_cache_write_1h INTEGER NOT NULL,
            tokens_total INTEGER NOT NULL,
            cost_nano_usd INTEGER,
            cost_source TEXT NOT NULL,
            PRIMARY KEY (execution_id, model)
        ) WITHOUT ROWID;
CREATE INDEX executions_running ON executions (status) WHERE status = 'running';
CREATE INDEX executions_report_by_start ON executions (
            started_at_ms, status, project, duration_ms, tokens_input, tokens_output, tokens_cache_read,
            tokens_cache_write, tokens_cache_write_1h, tokens_total, cost_nano_usd, cost_source,
            files_changed, lines_added, lines_removed, pr_url, execution_id, model_requested
        );
CREATE INDEX executions_report_by_project ON executions (
            project, started_at_ms, status, duration_ms, tokens_total, cost_nano_usd
        );
CREATE INDEX phases_by_name ON phases (name, duration_ms);
CREATE INDEX executions_by_duration ON executions (duration_ms, started_at_ms, status, project);
CREATE INDEX executions_failures ON executions (
            started_at_ms, status, project, failure_category, failure_reason, task_id
        ) WHERE status IN ('failed', 'timed_out', 'cancelled', 'interrupted');
INSERT INTO schema_migrations VALUES (1, 'm001_executions', 1764000000000);
INSERT INTO schema_migrations VALUES (2, 'm002_report_indexes', 1764100000000);
INSERT INTO executions (execution_id, task_id, project, project_path, agent_command, model_requested, status, exit_code, started_at_ms, ended_at_ms, duration_ms, updated_at_ms, host, host_pid, num_turns, tokens_input, tokens_output, tokens_cache_read, tokens_cache_write, tokens_total, cost_nano_usd, cost_source, reported_cost_nano_usd, tool_calls, files_read, files_written, commit_shas, pr_url, files_changed, lines_added, lines_removed) VALUES ('v2-row', 'GH-2', 'shop', '/src/shop', '["claude", "-p", "r\u00e9sum\u00e9"]', 'claude-sonnet-4-6', 'succeeded', 0, 1764000000000, 1764000060000, 60000, 1764000060000, 'build-01', 4242, 4, 10, 20, 30, 40, 100, 123456789, 'reported', 123456789, '{"Bash": 1, "Read": 2}', '["src/app.py", "src/\u00fc.py"]', '["src/app.py"]', '["abc1234", "def5678"]', 'https://github.com/acme/shop/pull/7', 1, 5, 2);
INSERT INTO phases VALUES ('v2-row', 0, 'planning', 1764000000000, 1764000020000, 20000);
INSERT INTO phases VALUES ('v2-row', 1, 'executing', 1764000020000, 1764000060000, 40000);
INSERT INTO execution_models VALUES ('v2-row', 'claude-haiku-4-5-20251001', 4, 5, 0, 0, 0, 9, 5000, 'estimated');
INSERT INTO execution_models VALUES ('v2-row', 'claude-sonnet-4-6', 6, 15, 30, 40, 0, 91, 123451789, 'reported');
INSERT INTO executions (execution_id, task_id, project, agent_command, status, started_at_ms, updated_at_ms, host, host_pid) VALUES ('v2-running', 'GH-3', 'shop', '["claude", "-p"]', 'running', 1764000120000, 1764000125000, 'build-01', 4243);
INSERT INTO phases VALUES ('v2-running', 0, 'planning', 1764000120000, 1764000125000, 5000);
