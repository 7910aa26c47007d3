//! The engine for many vault nodes (SPEC §13): PostgreSQL, one table per [`Table`] holding
//! `(k bytea PRIMARY KEY, v bytea NOT NULL)`, created by the vault itself in its own schema.
//!
//! The statements are kept to what PostgreSQL, YugabyteDB and Citus all accept: single-table
//! point reads and range scans on the primary key (`bytea` orders bytewise, as RocksDB does),
//! `INSERT … ON CONFLICT (k) DO UPDATE`, `DELETE`, and one transaction per [`Change`]. A counter
//! add is one upsert that adds in SQL, so concurrent adds on many nodes need no lock.
//! Each connection belongs to one of the store's own worker threads, which take the operations
//! from a queue: the `postgres` client runs its own small runtime, and a thread outside every
//! tokio runtime is where it may block, wherever the caller runs. A worker reconnects when its
//! connection is lost, so a connection string with several hosts and
//! `target_session_attrs=read-write` follows a failover to the new primary.

use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use postgres::error::SqlState;
use postgres::types::ToSql;
use postgres::{Client, NoTls};

use super::{prefix_successor, Change, Entry, Op, Store, StoreError, Table};

/// The schema version this code creates and reads.
pub const SCHEMA_VERSION: i64 = 1;

/// One operation, run by a worker on its connection (or told why there is none).
type Job = Box<dyn FnOnce(Result<&mut Client, StoreError>) + Send>;

pub struct PgStore {
    jobs: SyncSender<Job>,
    schema: String,
}

/// A worker: owns one connection, made on first use and again after it is lost.
fn work(config: postgres::Config, jobs: Arc<Mutex<Receiver<Job>>>) {
    let mut client: Option<Client> = None;
    loop {
        let job = {
            let rx = jobs.lock().unwrap_or_else(|e| e.into_inner());
            match rx.recv() {
                Ok(job) => job,
                Err(_) => return, // the store was dropped
            }
        };
        if client.as_ref().is_none_or(Client::is_closed) {
            client = config.connect(NoTls).ok();
        }
        match client.as_mut() {
            Some(c) => job(Ok(c)),
            None => job(Err(StoreError::Unavailable(
                "cannot connect to PostgreSQL".into(),
            ))),
        }
    }
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The connection string may hold a password: never print it.
        f.debug_struct("PgStore")
            .field("schema", &self.schema)
            .finish_non_exhaustive()
    }
}

fn engine(e: impl std::fmt::Display) -> StoreError {
    StoreError::Engine(e.to_string())
}

/// A PostgreSQL error: the server out of space is [`StoreError::Full`], a lost connection or a
/// server that is not (or no longer) the primary is [`StoreError::Unavailable`].
fn pg(e: postgres::Error) -> StoreError {
    match e.code() {
        Some(c) if *c == SqlState::DISK_FULL || *c == SqlState::OUT_OF_MEMORY => {
            StoreError::Full(e.to_string())
        }
        Some(c)
            if *c == SqlState::READ_ONLY_SQL_TRANSACTION
                || *c == SqlState::ADMIN_SHUTDOWN
                || *c == SqlState::CANNOT_CONNECT_NOW
                || *c == SqlState::T_R_SERIALIZATION_FAILURE
                || *c == SqlState::T_R_DEADLOCK_DETECTED =>
        {
            StoreError::Unavailable(e.to_string())
        }
        Some(_) => engine(e),
        None if e.is_closed() || e.to_string().contains("connect") => {
            StoreError::Unavailable(e.to_string())
        }
        None => engine(e),
    }
}

/// Whether `s` may be used as an SQL identifier as it is (the schema name).
fn plain_identifier(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .next()
            .is_some_and(|b| b.is_ascii_lowercase() || b == b'_')
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

impl PgStore {
    /// Connects to `url` (a libpq connection string or `postgres://` URL) with `connections`
    /// connections, and creates or checks the vault's tables in `schema`.
    pub fn open(url: &str, schema: &str, connections: u32) -> Result<Self, StoreError> {
        if !plain_identifier(schema) {
            return Err(engine(format!(
                "schema {schema:?} must be lower-case letters, digits and _"
            )));
        }
        let mut config: postgres::Config = url.parse().map_err(pg)?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(5));
        }
        let (tx, rx) = sync_channel::<Job>(1024);
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..connections.max(1) {
            let (config, rx) = (config.clone(), rx.clone());
            std::thread::Builder::new()
                .name(format!("pg-{i}"))
                .spawn(move || work(config, rx))
                .map_err(engine)?;
        }
        let store = Self {
            jobs: tx,
            schema: schema.to_owned(),
        };
        store.migrate()?;
        Ok(store)
    }

    /// Runs `f` on a worker's connection and waits for its result.
    fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Client) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let (tx, rx) = sync_channel(1);
        let job: Job = Box::new(move |c| {
            let _ = tx.send(c.and_then(f));
        });
        self.jobs.send(job).map_err(|_| StoreError::Closed)?;
        rx.recv().map_err(|_| StoreError::Closed)?
    }

    fn table(&self, t: Table) -> String {
        format!("{}.{}", self.schema, t.name())
    }

    /// Creates the schema, the tables and the version row on first use; refuses a schema made
    /// by a newer version.
    fn migrate(&self) -> Result<(), StoreError> {
        let schema = self.schema.clone();
        let tables: Vec<String> = Table::ALL.iter().map(|t| self.table(*t)).collect();
        self.run(move |c| {
            let mut tx = c.transaction().map_err(pg)?;
            tx.batch_execute(&format!(
                "CREATE SCHEMA IF NOT EXISTS {schema};
                 CREATE TABLE IF NOT EXISTS {schema}.schema_version (id int PRIMARY KEY, version bigint NOT NULL);"
            ))
            .map_err(pg)?;
            for t in &tables {
                tx.batch_execute(&format!(
                    "CREATE TABLE IF NOT EXISTS {t} (k bytea PRIMARY KEY, v bytea NOT NULL)"
                ))
                .map_err(pg)?;
            }
            let row = tx
                .query_opt(
                    &format!("SELECT version FROM {schema}.schema_version WHERE id = 1"),
                    &[],
                )
                .map_err(pg)?;
            match row.map(|r| r.get::<_, i64>(0)) {
                None => {
                    tx.execute(
                        &format!(
                            "INSERT INTO {schema}.schema_version (id, version) VALUES (1, $1) ON CONFLICT (id) DO NOTHING"
                        ),
                        &[&SCHEMA_VERSION],
                    )
                    .map_err(pg)?;
                }
                Some(v) if v > SCHEMA_VERSION => {
                    return Err(engine(format!(
                        "the schema {schema} is at version {v}, newer than this vault ({SCHEMA_VERSION})"
                    )))
                }
                Some(_) => {}
            }
            tx.commit().map_err(pg)
        })
        .or_else(|e| match e {
            // Two nodes creating the schema at once: the loser finds it made.
            StoreError::Engine(m) if m.contains("duplicate key") || m.contains("already exists") => {
                Ok(())
            }
            other => Err(other),
        })
    }

    /// Entries with keys in the range, in key order (descending when `reverse`), at most `limit`.
    fn range(
        &self,
        table: Table,
        lower: (Vec<u8>, bool),
        upper: Option<Vec<u8>>,
        reverse: bool,
        limit: usize,
    ) -> Result<Vec<Entry>, StoreError> {
        let lower_op = if lower.1 { ">=" } else { ">" };
        let order = if reverse { "DESC" } else { "ASC" };
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let t = self.table(table);
        self.run(move |c| {
            let rows = match &upper {
                Some(u) => c.query(
                    &format!(
                        "SELECT k, v FROM {t} WHERE k {lower_op} $1 AND k < $2 ORDER BY k {order} LIMIT $3"
                    ),
                    &[&lower.0, u, &limit],
                ),
                None => c.query(
                    &format!("SELECT k, v FROM {t} WHERE k {lower_op} $1 ORDER BY k {order} LIMIT $2"),
                    &[&lower.0, &limit],
                ),
            }
            .map_err(pg)?;
            Ok(rows.into_iter().map(|r| (r.get(0), r.get(1))).collect())
        })
    }
}

impl Store for PgStore {
    fn get(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let (t, key) = (self.table(table), key.to_vec());
        self.run(move |c| {
            let row = c
                .query_opt(&format!("SELECT v FROM {t} WHERE k = $1"), &[&key])
                .map_err(pg)?;
            Ok(row.map(|r| r.get(0)))
        })
    }

    fn multi_get(
        &self,
        table: Table,
        keys: &[Vec<u8>],
    ) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let (t, keys) = (self.table(table), keys.to_vec());
        self.run(move |c| {
            let rows = c
                .query(&format!("SELECT k, v FROM {t} WHERE k = ANY($1)"), &[&keys])
                .map_err(pg)?;
            let found: std::collections::HashMap<Vec<u8>, Vec<u8>> =
                rows.into_iter().map(|r| (r.get(0), r.get(1))).collect();
            Ok(keys.iter().map(|k| found.get(k).cloned()).collect())
        })
    }

    fn scan(
        &self,
        table: Table,
        prefix: &[u8],
        reverse: bool,
        limit: usize,
    ) -> Result<Vec<Entry>, StoreError> {
        self.range(
            table,
            (prefix.to_vec(), true),
            prefix_successor(prefix),
            reverse,
            limit,
        )
    }

    fn scan_after(
        &self,
        table: Table,
        prefix: &[u8],
        after: &[u8],
        reverse: bool,
        limit: usize,
    ) -> Result<Vec<Entry>, StoreError> {
        let upper = prefix_successor(prefix);
        if reverse {
            // Keys in the prefix strictly before `after`.
            let bound = match upper {
                Some(u) if u.as_slice() < after => u,
                _ => after.to_vec(),
            };
            self.range(table, (prefix.to_vec(), true), Some(bound), true, limit)
        } else {
            let lower = if after >= prefix {
                (after.to_vec(), false)
            } else {
                (prefix.to_vec(), true)
            };
            self.range(table, lower, upper, false, limit)
        }
    }

    fn commit(&self, change: Change) -> Result<(), StoreError> {
        if change.ops.is_empty() {
            return Ok(());
        }
        let names: Vec<String> = Table::ALL.iter().map(|t| self.table(*t)).collect();
        let name = move |t: Table| -> String {
            let i = Table::ALL.iter().position(|x| *x == t).unwrap_or(0);
            names[i].clone()
        };
        self.run(move |c| {
            let mut tx = c.transaction().map_err(pg)?;
            if !change.durable {
                tx.batch_execute("SET LOCAL synchronous_commit = off")
                    .map_err(pg)?;
            }
            for op in &change.ops {
                match op {
                    Op::Put(t, k, v) => {
                        let sql = format!(
                            "INSERT INTO {} (k, v) VALUES ($1, $2) ON CONFLICT (k) DO UPDATE SET v = EXCLUDED.v",
                            name(*t)
                        );
                        tx.execute(&sql, &[k as &(dyn ToSql + Sync), v]).map_err(pg)?;
                    }
                    Op::Delete(t, k) => {
                        tx.execute(&format!("DELETE FROM {} WHERE k = $1", name(*t)), &[k])
                            .map_err(pg)?;
                    }
                    Op::Add(t, k, n) => {
                        let n = i64::try_from(*n).map_err(|_| engine("counter add beyond 2^63"))?;
                        // Counters are 8 bytes big-endian, as in RocksDB; the server adds, so
                        // concurrent adds from any node sum.
                        let sql = format!(
                            "INSERT INTO {} AS t (k, v) VALUES ($1, int8send($2::int8)) ON CONFLICT (k) \
                             DO UPDATE SET v = int8send(('x' || encode(t.v, 'hex'))::bit(64)::int8 + $2::int8)",
                            name(*t)
                        );
                        tx.execute(&sql, &[k as &(dyn ToSql + Sync), &n]).map_err(pg)?;
                    }
                }
            }
            tx.commit().map_err(pg)
        })
    }

    fn ready(&self) -> Result<(), StoreError> {
        self.run(|c| {
            // A primary accepts writes; a standby (after a failover, the old primary) does not.
            let row = c.query_one("SELECT pg_is_in_recovery()", &[]).map_err(pg)?;
            if row.get::<_, bool>(0) {
                return Err(StoreError::Unavailable(
                    "the database is a standby: not accepting writes".into(),
                ));
            }
            Ok(())
        })
    }

    fn flush(&self) -> Result<(), StoreError> {
        // Every durable change is committed synchronously; nothing is buffered here.
        Ok(())
    }
}
