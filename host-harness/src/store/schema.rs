//! The store's tables, in SQLite's and PostgreSQL's dialects. Everything a connection owns
//! is keyed by its id and goes with it (`ON DELETE CASCADE`):
//!
//! | table | one row per | holds |
//! |---|---|---|
//! | `connections` | connection | id, display name, component path, the component's connector id |
//! | `settings` | connection × key | a non-secret setting (JSON) |
//! | `secrets` | connection × key | a sealed secret: key id, nonce, ciphertext ([`super::crypto`]) |
//! | `checkpoints` | connection × stream | the state to resume from |
//! | `raw_pages` | page | a page as the provider sent it (the last 5 runs' of a connection) |
//! | `records` | connection × stream × natural key | the normalized record |
//! | `runs` | run | the import history (its counts updated with every committed page) |
//! | `leases` | connection | who runs it now and until when ([`super::lease`]) |
//! | `schedule` | scheduled connection | interval, jitter, next due time |
//! | `repositories` | connection × repository path | a registered local git repository: when added, its last import |
//! | `repository_tips` | connection × repository × tip | the delivery read position ([`crate::delivery::Cursor`]): the commit each ref was read at, and orphaned tips |
//! | `commits` | connection × repository × commit id | one commit read from the repository (author after `.mailmap`, UTC time, lines, files) |
//! | `aliases` | connection × email | another email of a person: alias → the person's email |
//! | `team_members` | connection × team × email | a team's members |
//! | `meta` | fact | the schema version |
//!
//! Times people read are RFC 3339 text; times compared (leases, schedule) are Unix
//! milliseconds.
//!
//! The delivery and identity tables (`repositories` … `team_members`) came after version 2
//! was released, as new tables only: every open creates what is missing (`IF NOT EXISTS`),
//! so a store made before gets them, empty, and nothing else changes. A repository's tips
//! and commits go with it (`ON DELETE CASCADE` on `(connection, path)`).

/// The version of this layout (1 was the one-configuration store keyed by connector id).
pub const VERSION: i64 = 2;

pub const SQLITE: &str = r#"
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS connections (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    component  TEXT NOT NULL,
    connector  TEXT,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS settings (
    connection TEXT NOT NULL REFERENCES connections(id) ON DELETE CASCADE,
    key        TEXT NOT NULL,
    value      TEXT NOT NULL,
    PRIMARY KEY (connection, key)
);
CREATE TABLE IF NOT EXISTS secrets (
    connection TEXT NOT NULL REFERENCES connections(id) ON DELETE CASCADE,
    key        TEXT NOT NULL,
    key_id     TEXT NOT NULL,
    nonce      BLOB NOT NULL,
    ciphertext BLOB NOT NULL,
    PRIMARY KEY (connection, key)
);
CREATE TABLE IF NOT EXISTS checkpoints (
    connection TEXT NOT NULL REFERENCES connections(id) ON DELETE CASCADE,
    stream     TEXT NOT NULL,
    state      TEXT NOT NULL,
    run_id     INTEGER NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (connection, stream)
);
CREATE TABLE IF NOT EXISTS raw_pages (
    id         INTEGER PRIMARY KEY,
    connection TEXT NOT NULL REFERENCES connections(id) ON DELETE CASCADE,
    run_id     INTEGER NOT NULL,
    stream     TEXT NOT NULL,
    scope      TEXT,
    seq        INTEGER NOT NULL,
    fetched_at INTEGER NOT NULL,
    body       TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS raw_pages_connection_run ON raw_pages(connection, run_id);
CREATE TABLE IF NOT EXISTS records (
    connection     TEXT NOT NULL REFERENCES connections(id) ON DELETE CASCADE,
    stream         TEXT NOT NULL,
    key            TEXT NOT NULL,
    schema_version INTEGER NOT NULL,
    payload        TEXT NOT NULL,
    first_run      INTEGER NOT NULL,
    changed_run    INTEGER NOT NULL,
    seen_run       INTEGER NOT NULL,
    PRIMARY KEY (connection, stream, key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS runs (
    id            INTEGER PRIMARY KEY,
    connection    TEXT NOT NULL REFERENCES connections(id) ON DELETE CASCADE,
    connector     TEXT NOT NULL,
    started_at    TEXT NOT NULL,
    finished_at   TEXT,
    status        TEXT NOT NULL,
    trigger       TEXT NOT NULL,
    owner         TEXT NOT NULL,
    streams       TEXT NOT NULL,
    window_start  TEXT,
    window_end    TEXT,
    error_class   TEXT,
    error_message TEXT
);
CREATE INDEX IF NOT EXISTS runs_connection_id ON runs(connection, id);
CREATE TABLE IF NOT EXISTS leases (
    connection  TEXT PRIMARY KEY REFERENCES connections(id) ON DELETE CASCADE,
    owner       TEXT,
    run_id      INTEGER,
    expires_at  INTEGER NOT NULL DEFAULT 0,
    acquired_at INTEGER
);
CREATE TABLE IF NOT EXISTS schedule (
    connection TEXT PRIMARY KEY REFERENCES connections(id) ON DELETE CASCADE,
    every_ms   INTEGER NOT NULL,
    jitter     REAL NOT NULL,
    next_due   INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS schedule_due ON schedule(next_due);
CREATE TABLE IF NOT EXISTS repositories (
    connection     TEXT NOT NULL REFERENCES connections(id) ON DELETE CASCADE,
    path           TEXT NOT NULL,
    added_at       TEXT NOT NULL,
    last_import_at TEXT,
    last_new       INTEGER NOT NULL DEFAULT 0,
    last_error     TEXT,
    PRIMARY KEY (connection, path)
);
CREATE TABLE IF NOT EXISTS repository_tips (
    connection TEXT NOT NULL,
    repository TEXT NOT NULL,
    kind       TEXT NOT NULL,
    name       TEXT NOT NULL,
    commit_id  TEXT NOT NULL,
    PRIMARY KEY (connection, repository, kind, name),
    FOREIGN KEY (connection, repository) REFERENCES repositories(connection, path) ON DELETE CASCADE
);
CREATE TABLE IF NOT EXISTS commits (
    connection    TEXT NOT NULL,
    repository    TEXT NOT NULL,
    id            TEXT NOT NULL,
    author_name   TEXT NOT NULL,
    author_email  TEXT NOT NULL,
    author_time   TEXT NOT NULL,
    author_offset INTEGER NOT NULL,
    merge         INTEGER NOT NULL,
    lines_added   INTEGER NOT NULL,
    lines_deleted INTEGER NOT NULL,
    files_changed INTEGER NOT NULL,
    PRIMARY KEY (connection, repository, id),
    FOREIGN KEY (connection, repository) REFERENCES repositories(connection, path) ON DELETE CASCADE
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS aliases (
    connection TEXT NOT NULL REFERENCES connections(id) ON DELETE CASCADE,
    alias      TEXT NOT NULL,
    email      TEXT NOT NULL,
    PRIMARY KEY (connection, alias)
);
CREATE TABLE IF NOT EXISTS team_members (
    connection TEXT NOT NULL REFERENCES connections(id) ON DELETE CASCADE,
    team       TEXT NOT NULL,
    email      TEXT NOT NULL,
    PRIMARY KEY (connection, team, email)
);
"#;

pub const POSTGRES: &str = r#"
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS connections (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    component  TEXT NOT NULL,
    connector  TEXT,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS settings (
    connection TEXT NOT NULL REFERENCES connections(id) ON DELETE CASCADE,
    key        TEXT NOT NULL,
    value      TEXT NOT NULL,
    PRIMARY KEY (connection, key)
);
CREATE TABLE IF NOT EXISTS secrets (
    connection TEXT NOT NULL REFERENCES connections(id) ON DELETE CASCADE,
    key        TEXT NOT NULL,
    key_id     TEXT NOT NULL,
    nonce      BYTEA NOT NULL,
    ciphertext BYTEA NOT NULL,
    PRIMARY KEY (connection, key)
);
CREATE TABLE IF NOT EXISTS checkpoints (
    connection TEXT NOT NULL REFERENCES connections(id) ON DELETE CASCADE,
    stream     TEXT NOT NULL,
    state      TEXT NOT NULL,
    run_id     BIGINT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (connection, stream)
);
CREATE TABLE IF NOT EXISTS raw_pages (
    id         BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    connection TEXT NOT NULL REFERENCES connections(id) ON DELETE CASCADE,
    run_id     BIGINT NOT NULL,
    stream     TEXT NOT NULL,
    scope      TEXT,
    seq        BIGINT NOT NULL,
    fetched_at BIGINT NOT NULL,
    body       TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS raw_pages_connection_run ON raw_pages(connection, run_id);
CREATE TABLE IF NOT EXISTS records (
    connection     TEXT NOT NULL REFERENCES connections(id) ON DELETE CASCADE,
    stream         TEXT NOT NULL,
    key            TEXT NOT NULL,
    schema_version BIGINT NOT NULL,
    payload        TEXT NOT NULL,
    first_run      BIGINT NOT NULL,
    changed_run    BIGINT NOT NULL,
    seen_run       BIGINT NOT NULL,
    PRIMARY KEY (connection, stream, key)
);
CREATE TABLE IF NOT EXISTS runs (
    id            BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    connection    TEXT NOT NULL REFERENCES connections(id) ON DELETE CASCADE,
    connector     TEXT NOT NULL,
    started_at    TEXT NOT NULL,
    finished_at   TEXT,
    status        TEXT NOT NULL,
    trigger       TEXT NOT NULL,
    owner         TEXT NOT NULL,
    streams       TEXT NOT NULL,
    window_start  TEXT,
    window_end    TEXT,
    error_class   TEXT,
    error_message TEXT
);
CREATE INDEX IF NOT EXISTS runs_connection_id ON runs(connection, id);
CREATE TABLE IF NOT EXISTS leases (
    connection  TEXT PRIMARY KEY REFERENCES connections(id) ON DELETE CASCADE,
    owner       TEXT,
    run_id      BIGINT,
    expires_at  BIGINT NOT NULL DEFAULT 0,
    acquired_at BIGINT
);
CREATE TABLE IF NOT EXISTS schedule (
    connection TEXT PRIMARY KEY REFERENCES connections(id) ON DELETE CASCADE,
    every_ms   BIGINT NOT NULL,
    jitter     DOUBLE PRECISION NOT NULL,
    next_due   BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS schedule_due ON schedule(next_due);
CREATE TABLE IF NOT EXISTS repositories (
    connection     TEXT NOT NULL REFERENCES connections(id) ON DELETE CASCADE,
    path           TEXT NOT NULL,
    added_at       TEXT NOT NULL,
    last_import_at TEXT,
    last_new       BIGINT NOT NULL DEFAULT 0,
    last_error     TEXT,
    PRIMARY KEY (connection, path)
);
CREATE TABLE IF NOT EXISTS repository_tips (
    connection TEXT NOT NULL,
    repository TEXT NOT NULL,
    kind       TEXT NOT NULL,
    name       TEXT NOT NULL,
    commit_id  TEXT NOT NULL,
    PRIMARY KEY (connection, repository, kind, name),
    FOREIGN KEY (connection, repository) REFERENCES repositories(connection, path) ON DELETE CASCADE
);
CREATE TABLE IF NOT EXISTS commits (
    connection    TEXT NOT NULL,
    repository    TEXT NOT NULL,
    id            TEXT NOT NULL,
    author_name   TEXT NOT NULL,
    author_email  TEXT NOT NULL,
    author_time   TEXT NOT NULL,
    author_offset BIGINT NOT NULL,
    merge         BOOLEAN NOT NULL,
    lines_added   BIGINT NOT NULL,
    lines_deleted BIGINT NOT NULL,
    files_changed BIGINT NOT NULL,
    PRIMARY KEY (connection, repository, id),
    FOREIGN KEY (connection, repository) REFERENCES repositories(connection, path) ON DELETE CASCADE
);
CREATE TABLE IF NOT EXISTS aliases (
    connection TEXT NOT NULL REFERENCES connections(id) ON DELETE CASCADE,
    alias      TEXT NOT NULL,
    email      TEXT NOT NULL,
    PRIMARY KEY (connection, alias)
);
CREATE TABLE IF NOT EXISTS team_members (
    connection TEXT NOT NULL REFERENCES connections(id) ON DELETE CASCADE,
    team       TEXT NOT NULL,
    email      TEXT NOT NULL,
    PRIMARY KEY (connection, team, email)
);
"#;

/// The tables, in an order that respects their references (for dumps).
pub const TABLES: &[&str] = &[
    "meta",
    "connections",
    "settings",
    "secrets",
    "checkpoints",
    "raw_pages",
    "records",
    "runs",
    "leases",
    "schedule",
    "repositories",
    "repository_tips",
    "commits",
    "aliases",
    "team_members",
];

/// Moving a version-1 SQLite store (one configuration per connector id, secrets in plain
/// text) to this layout: each connector id becomes a connection (`default` when there is
/// one), its secrets are sealed on the way (see `sqlite::migrate_v1`), and the old tables
/// are dropped with `secure_delete` on, so the plain-text secrets do not stay in free pages.
pub const SQLITE_V1_RENAME: &str = r#"
ALTER TABLE settings RENAME TO v1_settings;
ALTER TABLE secrets RENAME TO v1_secrets;
ALTER TABLE checkpoints RENAME TO v1_checkpoints;
ALTER TABLE raw_pages RENAME TO v1_raw_pages;
ALTER TABLE records RENAME TO v1_records;
ALTER TABLE runs RENAME TO v1_runs;
DROP INDEX IF EXISTS raw_pages_run;
DROP INDEX IF EXISTS runs_connector;
"#;

pub const SQLITE_V1_DROP: &str = r#"
DROP TABLE v1_settings;
DROP TABLE v1_secrets;
DROP TABLE v1_checkpoints;
DROP TABLE v1_raw_pages;
DROP TABLE v1_records;
DROP TABLE v1_runs;
"#;
