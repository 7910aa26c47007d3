//! The embedded default engine: RocksDB, one column family per [`Table`].

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, RwLock, RwLockReadGuard};
use std::time::{Duration, Instant};

use rocksdb::{
    BlockBasedOptions, Cache, ColumnFamily, ColumnFamilyDescriptor, DBCompressionType, Direction,
    FlushOptions, IteratorMode, Options, ReadOptions, SliceTransform, WriteBatch,
    WriteBufferManager, WriteOptions, DB,
};

use super::{prefix_successor, Change, Entry, Op, Store, StoreError, Table};

/// Tunables of the RocksDB engine; the defaults suit a 2-core machine holding tens of millions of licences.
#[derive(Debug, Clone)]
pub struct RocksConfig {
    pub block_cache_bytes: usize,
    pub write_buffer_bytes: usize,
    pub bloom_bits_per_key: f64,
    /// Bound on all memtables together (16 tables × 2 × `write_buffer_bytes` would be 2 GiB):
    /// past ~90 % of it RocksDB flushes the largest memtable early.
    pub memtable_budget_bytes: usize,
    /// Bulk load (offline import): writes skip the WAL and every flush covers all column families
    /// at once (atomic flush), so after a crash the store holds a consistent prefix of the writes
    /// and the import can simply be run again. The caller must [`Store::flush`] at the end.
    pub bulk_load: bool,
    /// Opened to read only (a backup being checked): nothing in the directory is written; the
    /// engine's own log goes to the temporary directory.
    pub read_only: bool,
}

impl Default for RocksConfig {
    fn default() -> Self {
        Self {
            block_cache_bytes: 256 << 20,
            write_buffer_bytes: 64 << 20,
            bloom_bits_per_key: 10.0,
            memtable_budget_bytes: 512 << 20,
            bulk_load: false,
            read_only: false,
        }
    }
}

/// How often a store that stopped writing for a full disk tries to recover.
const RECOVERY_INTERVAL: Duration = Duration::from_millis(500);
/// The space a recovery needs before it reopens the database (a new WAL and MANIFEST).
const RECOVERY_PROBE_BYTES: usize = 1 << 20;

pub struct RocksStore {
    /// `None` only while a reopen after a full disk has not yet succeeded.
    db: RwLock<Option<DB>>,
    path: PathBuf,
    config: RocksConfig,
    /// Set when a write failed for lack of space: RocksDB then refuses every write (a hard
    /// background error) until the database is reopened, and it has no resume in its C API.
    full: AtomicBool,
    last_recovery: Mutex<Option<Instant>>,
    /// Conditional changes check and write under the stripes of the keys they condition on, so
    /// two of them on one key apply one after the other, and changes on other keys (other
    /// holders) still share WAL syncs.
    stripes: Box<[Mutex<()>]>,
}

/// Stripes of [`RocksStore::stripes`].
const CONDITION_STRIPES: usize = 1024;

impl std::fmt::Debug for RocksStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RocksStore")
            .field("path", &self.path)
            .finish()
    }
}

fn engine(e: rocksdb::Error) -> StoreError {
    let text = e.into_string();
    if text.contains("No space left on device") || text.contains("NoSpace") {
        StoreError::Full(text)
    } else {
        StoreError::Engine(text)
    }
}

/// The open database, or why there is none.
struct Db<'a>(RwLockReadGuard<'a, Option<DB>>);

impl Db<'_> {
    fn get(&self) -> Result<&DB, StoreError> {
        self.0
            .as_ref()
            .ok_or_else(|| StoreError::Full("reopening after a full disk".into()))
    }

    fn cf(&self, table: Table) -> Result<&ColumnFamily, StoreError> {
        // Every table's family is created at open, so a missing one means a damaged database.
        self.get()?
            .cf_handle(table.name())
            .ok_or_else(|| StoreError::Engine(format!("column family {} missing", table.name())))
    }
}

impl RocksStore {
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        Self::open_with(path, &RocksConfig::default())
    }

    pub fn open_with(path: &Path, config: &RocksConfig) -> Result<Self, StoreError> {
        Ok(Self {
            db: RwLock::new(Some(Self::open_db(path, config)?)),
            path: path.to_owned(),
            config: config.clone(),
            full: AtomicBool::new(false),
            last_recovery: Mutex::new(None),
            stripes: (0..CONDITION_STRIPES).map(|_| Mutex::new(())).collect(),
        })
    }

    fn db(&self) -> Db<'_> {
        Db(self
            .db
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner))
    }

    /// After a write failed for lack of space: when there is room again (a probe file can be
    /// written), closes and reopens the database, which recovers from its WAL every write it
    /// acknowledged. At most once per [`RECOVERY_INTERVAL`]; `Err(Full)` while it cannot.
    fn recover(&self) -> Result<(), StoreError> {
        if !self.full.load(Ordering::Acquire) {
            return Ok(());
        }
        {
            let mut last = self
                .last_recovery
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if last.is_some_and(|t| t.elapsed() < RECOVERY_INTERVAL) {
                return Err(StoreError::Full("waiting for free space".into()));
            }
            *last = Some(Instant::now());
        }
        let probe = self.path.join("SPACE-PROBE");
        let room = std::fs::write(&probe, vec![0u8; RECOVERY_PROBE_BYTES])
            .and_then(|()| std::fs::File::open(&probe)?.sync_all());
        let _ = std::fs::remove_file(&probe);
        if let Err(e) = room {
            return Err(StoreError::Full(format!("no free space yet: {e}")));
        }
        let mut db = self
            .db
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if !self.full.load(Ordering::Acquire) {
            return Ok(()); // another thread recovered meanwhile
        }
        // The old handle must be closed (its lock released) before the new one opens.
        *db = None;
        *db = Some(Self::open_db(&self.path, &self.config)?);
        self.full.store(false, Ordering::Release);
        tracing::warn!(path = %self.path.display(), "storage recovered after a full disk; writes resume");
        Ok(())
    }

    fn open_db(path: &Path, config: &RocksConfig) -> Result<DB, StoreError> {
        let mut db_opts = Options::default();
        db_opts.create_if_missing(true);
        db_opts.create_missing_column_families(true);
        db_opts.set_max_background_jobs(2);
        db_opts.set_bytes_per_sync(1 << 20);
        // Concurrent writers share one WAL fsync (group commit) instead of queueing behind each other.
        // (RocksDB refuses pipelined writes with atomic flush; a bulk load has a single writer.)
        db_opts.set_enable_pipelined_write(!config.bulk_load);
        // Writers waiting for a group's WAL sync sleep instead of spinning: on a small machine the
        // spinning took the cores the other pulls needed (BENCHMARKS.md, round 3).
        db_opts.set_enable_write_thread_adaptive_yield(false);
        // Reuse obsolete WAL files instead of growing new ones: a synced append to a file that
        // grows must also write its size to disk, and on this class of disk that write queued
        // behind flushes and compactions for 100–200 ms, stalling every pull of the sync group
        // (BENCHMARKS.md, round 3). Recycled records carry their log number, so recovery stops
        // at the stale tail of a reused file (point-in-time recovery, RocksDB's default). A bulk
        // load writes no WAL, which RocksDB refuses together with recycling.
        db_opts.set_recycle_log_file_num(if config.bulk_load { 0 } else { 4 });
        // Bound the WAL: a column family written a little in every batch (`meta`) would otherwise
        // pin every WAL file, and a crash late in a bulk import would replay gigabytes.
        db_opts.set_max_total_wal_size(256 << 20);
        db_opts.set_atomic_flush(config.bulk_load);
        db_opts.set_write_buffer_manager(&WriteBufferManager::new_write_buffer_manager(
            config.memtable_budget_bytes,
            false,
        ));
        let cache = Cache::new_lru_cache(config.block_cache_bytes);
        let cfs = Table::ALL.iter().map(|t| {
            let mut block = BlockBasedOptions::default();
            block.set_block_cache(&cache);
            block.set_bloom_filter(config.bloom_bits_per_key, false);
            // Index and filter blocks stay with their open table files (about 2 % of the data),
            // outside the block cache: in it, at 12 M licences, random document reads evicted
            // them and every holder scan re-read and re-checked a filter block (BENCHMARKS.md).
            block.set_cache_index_and_filter_blocks(false);
            block.set_block_size(16 << 10);
            let mut opts = Options::default();
            opts.set_block_based_table_factory(&block);
            opts.set_write_buffer_size(config.write_buffer_bytes);
            // LZ4 at every level: at 12 M licences zstd decompression was 60 % of a point read,
            // and LZ4 still stores well within the disk budget (BENCHMARKS.md).
            opts.set_compression_type(DBCompressionType::Lz4);
            opts.set_bottommost_compression_type(DBCompressionType::Lz4);
            opts.set_level_compaction_dynamic_level_bytes(true);
            opts.set_merge_operator_associative("u64_add", add_counts);
            if let Some(n) = t.key_prefix_len() {
                // A holder's entries are found by seeking to its digest; prefix Bloom filters let
                // that seek skip every file without the holder instead of searching each level.
                opts.set_prefix_extractor(SliceTransform::create_fixed_prefix(n));
                opts.set_memtable_prefix_bloom_ratio(0.05);
            }
            ColumnFamilyDescriptor::new(t.name(), opts)
        });
        if config.read_only {
            db_opts.create_if_missing(false);
            db_opts.create_missing_column_families(false);
            db_opts.set_db_log_dir(std::env::temp_dir());
            return DB::open_cf_descriptors_read_only(&db_opts, path, cfs, false).map_err(engine);
        }
        DB::open_cf_descriptors(&db_opts, path, cfs).map_err(engine)
    }

    /// A consistent copy of the database as of now in `to` (which must not exist), taken while
    /// it serves: RocksDB's checkpoint (memtables flushed, table files hard-linked where the
    /// file system allows, copied otherwise).
    fn checkpoint(&self, to: &Path) -> Result<(), StoreError> {
        let db = self.db();
        let db = db.get()?;
        rocksdb::checkpoint::Checkpoint::new(db)
            .and_then(|c| c.create_checkpoint(to))
            .map_err(engine)
    }
}

impl Store for RocksStore {
    fn get(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let db = self.db();
        db.get()?.get_cf(db.cf(table)?, key).map_err(engine)
    }

    fn multi_get(
        &self,
        table: Table,
        keys: &[Vec<u8>],
    ) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        let db = self.db();
        let cf = db.cf(table)?;
        db.get()?
            .batched_multi_get_cf(cf, keys, false)
            .into_iter()
            .map(|r| r.map(|v| v.map(|p| p.to_vec())).map_err(engine))
            .collect()
    }

    fn scan(
        &self,
        table: Table,
        prefix: &[u8],
        reverse: bool,
        limit: usize,
    ) -> Result<Vec<Entry>, StoreError> {
        let db = self.db();
        let cf = db.cf(table)?;
        let upper = prefix_successor(prefix);
        let mode = match (reverse, &upper) {
            (false, _) => IteratorMode::From(prefix, Direction::Forward),
            (true, Some(u)) => IteratorMode::From(u, Direction::Reverse),
            (true, None) => IteratorMode::End,
        };
        let opts = read_options(table, prefix, reverse);
        let mut out = Vec::new();
        for item in db.get()?.iterator_cf_opt(cf, opts, mode) {
            let (k, v) = item.map_err(engine)?;
            if !k.starts_with(prefix) {
                // Reverse seek lands at the last key before the successor, which may be the successor's
                // own exact match is excluded by From semantics only when absent; skip it if present.
                if reverse && upper.as_deref() == Some(&k[..]) {
                    continue;
                }
                break;
            }
            out.push((k.into_vec(), v.into_vec()));
            if out.len() >= limit {
                break;
            }
        }
        Ok(out)
    }

    fn scan_after(
        &self,
        table: Table,
        prefix: &[u8],
        after: &[u8],
        reverse: bool,
        limit: usize,
    ) -> Result<Vec<Entry>, StoreError> {
        let db = self.db();
        let cf = db.cf(table)?;
        // Seek to the tighter of the two bounds; both are exclusive, so an exact hit is skipped.
        let bound = if reverse {
            match prefix_successor(prefix) {
                Some(u) if u.as_slice() < after => u,
                _ => after.to_vec(),
            }
        } else if after > prefix {
            after.to_vec()
        } else {
            prefix.to_vec()
        };
        let direction = if reverse {
            Direction::Reverse
        } else {
            Direction::Forward
        };
        let opts = if bound.starts_with(prefix) {
            read_options(table, prefix, reverse)
        } else {
            read_options(table, b"", reverse)
        };
        let mut out = Vec::new();
        for item in db
            .get()?
            .iterator_cf_opt(cf, opts, IteratorMode::From(&bound, direction))
        {
            let (k, v) = item.map_err(engine)?;
            if &k[..] == after || (reverse && &k[..] == bound.as_slice()) {
                continue;
            }
            if !k.starts_with(prefix) {
                break;
            }
            out.push((k.into_vec(), v.into_vec()));
            if out.len() >= limit {
                break;
            }
        }
        Ok(out)
    }

    fn commit(&self, change: Change) -> Result<(), StoreError> {
        self.recover()?;
        let stripes: std::collections::BTreeSet<usize> = change
            .conditions
            .iter()
            .map(|c| {
                let mut h = std::collections::hash_map::DefaultHasher::new();
                (c.table.name(), &c.key).hash(&mut h);
                usize::try_from(h.finish() % CONDITION_STRIPES as u64).unwrap_or(0)
            })
            .collect();
        let _held: Vec<_> = stripes
            .into_iter()
            .map(|i| {
                self.stripes[i]
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
            })
            .collect();
        let db = self.db();
        for c in &change.conditions {
            let now = db.get()?.get_cf(db.cf(c.table)?, &c.key).map_err(engine)?;
            if now != c.expect {
                return Err(StoreError::Conflict(format!(
                    "a key of {} changed",
                    c.table.name()
                )));
            }
        }
        let mut batch = WriteBatch::default();
        for op in &change.ops {
            match op {
                Op::Put(t, k, v) => batch.put_cf(db.cf(*t)?, k, v),
                Op::Delete(t, k) => batch.delete_cf(db.cf(*t)?, k),
                Op::Add(t, k, n) => batch.merge_cf(db.cf(*t)?, k, n.to_be_bytes()),
            }
        }
        let mut opts = WriteOptions::default();
        if self.config.bulk_load {
            opts.disable_wal(true);
        } else {
            opts.set_sync(change.durable);
        }
        db.get()?
            .write_opt(batch, &opts)
            .map_err(engine)
            .inspect_err(|e| {
                if matches!(e, StoreError::Full(_)) {
                    self.full.store(true, Ordering::Release);
                }
            })
    }

    fn ready(&self) -> Result<(), StoreError> {
        self.recover()
    }

    fn flush(&self) -> Result<(), StoreError> {
        let db = self.db();
        let cfs = Table::ALL
            .iter()
            .map(|t| db.cf(*t))
            .collect::<Result<Vec<_>, _>>()?;
        db.get()?
            .flush_cfs_opt(&cfs, &FlushOptions::default())
            .map_err(engine)?;
        if !self.config.bulk_load {
            db.get()?.flush_wal(true).map_err(engine)?;
        }
        Ok(())
    }

    fn checkpoint(&self, to: &Path) -> Result<(), StoreError> {
        RocksStore::checkpoint(self, to)
    }
}

/// How to iterate `table` for keys starting with `prefix`: within the table's key prefix when the
/// scan is forward and names a whole one (so prefix Bloom filters apply), in total order otherwise.
fn read_options(table: Table, prefix: &[u8], reverse: bool) -> ReadOptions {
    let mut opts = ReadOptions::default();
    match table.key_prefix_len() {
        Some(n) if !reverse && prefix.len() >= n => opts.set_prefix_same_as_start(true),
        Some(_) => opts.set_total_order_seek(true),
        None => {}
    }
    opts
}

/// The merge operator of [`Op::Add`]: sums 8-byte big-endian counters. A value of another length
/// fails the merge, which RocksDB reports as corruption rather than guessing.
fn add_counts(
    _key: &[u8],
    existing: Option<&[u8]>,
    operands: &rocksdb::MergeOperands,
) -> Option<Vec<u8>> {
    let count = |v: &[u8]| <[u8; 8]>::try_from(v).ok().map(u64::from_be_bytes);
    let mut total = existing.map_or(Some(0), count)?;
    for op in operands {
        total = total.wrapping_add(count(op)?);
    }
    Some(total.to_be_bytes().to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Writes that only a write-ahead log holds come back after a reopen, also when the log
    /// they are in is a recycled file (flushes make logs obsolete; the next log reuses one).
    #[test]
    fn durable_writes_in_recycled_logs_survive_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = RocksStore::open(dir.path()).unwrap();
            for round in 0..4u8 {
                let mut c = Change::durable();
                c.put(Table::Meta, [b'k', round], [round; 100]);
                store.commit(c).unwrap();
                store.flush().unwrap();
            }
            let mut c = Change::durable();
            c.put(Table::Meta, "unflushed", "in the log only");
            store.commit(c).unwrap();
        }
        // RocksDB's info log names what it did with the flushed logs.
        let info = std::fs::read_to_string(dir.path().join("LOG")).unwrap();
        assert!(info.contains("to recycle list"), "no log was recycled");
        let store = RocksStore::open(dir.path()).unwrap();
        assert_eq!(
            store.get(Table::Meta, b"unflushed").unwrap().as_deref(),
            Some(&b"in the log only"[..])
        );
        for round in 0..4u8 {
            assert_eq!(
                store.get(Table::Meta, &[b'k', round]).unwrap(),
                Some(vec![round; 100])
            );
        }
    }

    #[test]
    fn changes_are_atomic_and_scans_respect_prefixes() {
        let dir = tempfile::tempdir().unwrap();
        let store = RocksStore::open(dir.path()).unwrap();
        let mut c = Change::durable();
        for k in ["a1", "a2", "a3", "b1"] {
            c.put(Table::Meta, k, k.to_uppercase());
        }
        c.put(
            Table::HolderLicence,
            [0xffu8, 0xff, 1].to_vec(),
            b"x".to_vec(),
        );
        store.commit(c).unwrap();
        let keys = |v: Vec<Entry>| {
            v.into_iter()
                .map(|(k, _)| String::from_utf8(k).unwrap())
                .collect::<Vec<_>>()
        };
        assert_eq!(
            keys(store.scan(Table::Meta, b"a", false, 10).unwrap()),
            ["a1", "a2", "a3"]
        );
        assert_eq!(
            keys(store.scan(Table::Meta, b"a", true, 2).unwrap()),
            ["a3", "a2"]
        );
        assert_eq!(
            keys(store.scan(Table::Meta, b"b", true, 10).unwrap()),
            ["b1"]
        );
        assert_eq!(
            store
                .scan(Table::HolderLicence, &[0xff, 0xff], true, 10)
                .unwrap()
                .len(),
            1
        );
        assert_eq!(
            store
                .multi_get(Table::Meta, &[b"a2".to_vec(), b"zz".to_vec()])
                .unwrap(),
            vec![Some(b"A2".to_vec()), None]
        );
        drop(store);
        let store = RocksStore::open(dir.path()).unwrap();
        assert_eq!(store.get(Table::Meta, b"b1").unwrap(), Some(b"B1".to_vec()));
    }

    #[test]
    fn holder_scans_see_only_their_prefix_in_both_directions_and_across_files() {
        let dir = tempfile::tempdir().unwrap();
        let store = RocksStore::open(dir.path()).unwrap();
        let holder = |b: u8| [b; 32];
        let key = |b: u8, s: &str| [&holder(b)[..], s.as_bytes()].concat();
        for (i, b) in [1u8, 2, 3].into_iter().enumerate() {
            let mut c = Change::durable();
            for s in ["a", "b", "c"] {
                c.put(Table::HolderLicence, key(b, s), vec![]);
            }
            store.commit(c).unwrap();
            if i < 2 {
                // Spread the holders over memtable and SST files.
                store.flush().unwrap();
            }
        }
        let suffixes = |v: Vec<Entry>| {
            v.into_iter()
                .map(|(k, _)| String::from_utf8(k[32..].to_vec()).unwrap())
                .collect::<Vec<_>>()
        };
        for b in [1u8, 2, 3] {
            let fwd = store
                .scan(Table::HolderLicence, &holder(b), false, 10)
                .unwrap();
            assert_eq!(suffixes(fwd), ["a", "b", "c"], "holder {b}");
            let rev = store
                .scan(Table::HolderLicence, &holder(b), true, 2)
                .unwrap();
            assert_eq!(suffixes(rev), ["c", "b"], "holder {b}");
            let after = store
                .scan_after(Table::HolderLicence, &holder(b), &key(b, "a"), false, 10)
                .unwrap();
            assert_eq!(suffixes(after), ["b", "c"], "holder {b}");
        }
        assert!(store
            .scan(Table::HolderLicence, &holder(9), false, 10)
            .unwrap()
            .is_empty());
        assert_eq!(
            store
                .scan(Table::HolderLicence, &[2], false, 100)
                .unwrap()
                .len(),
            3
        );
        assert_eq!(
            store
                .scan(Table::HolderLicence, b"", false, 100)
                .unwrap()
                .len(),
            9
        );
    }

    #[test]
    fn adds_sum_counters_across_batches_and_restarts() {
        let dir = tempfile::tempdir().unwrap();
        let store = RocksStore::open(dir.path()).unwrap();
        let mut c = Change::durable();
        c.put(Table::ReuseStats, "k", 5u64.to_be_bytes());
        c.add(Table::ReuseStats, "k", 2)
            .add(Table::ReuseStats, "new", 7);
        store.commit(c).unwrap();
        let mut c = Change::durable();
        c.add(Table::ReuseStats, "k", 1);
        store.commit(c).unwrap();
        drop(store);
        let store = RocksStore::open(dir.path()).unwrap();
        store.flush().unwrap();
        let get = |k: &str| store.get(Table::ReuseStats, k.as_bytes()).unwrap();
        assert_eq!(get("k"), Some(8u64.to_be_bytes().to_vec()));
        assert_eq!(get("new"), Some(7u64.to_be_bytes().to_vec()));
        let mut c = Change::durable();
        c.put(Table::ReuseStats, "bad", b"xyz".to_vec());
        c.add(Table::ReuseStats, "bad", 1);
        store.commit(c).unwrap();
        match store.get(Table::ReuseStats, b"bad") {
            Err(StoreError::Engine(m)) => assert!(m.starts_with("Corruption:"), "{m}"),
            other => panic!("expected a corruption error, got {other:?}"),
        }
    }

    #[test]
    fn scan_after_pages_in_both_directions_like_the_default() {
        let dir = tempfile::tempdir().unwrap();
        let store = RocksStore::open(dir.path()).unwrap();
        let mut c = Change::durable();
        for k in ["a", "p0", "p1", "p2", "p3", "q"] {
            c.put(Table::Meta, k, k);
        }
        store.commit(c).unwrap();
        let keys = |v: Vec<Entry>| {
            v.into_iter()
                .map(|(k, _)| String::from_utf8(k).unwrap())
                .collect::<Vec<_>>()
        };
        for (after, reverse, limit, expected) in [
            ("p1", false, 10, vec!["p2", "p3"]),
            ("p1", true, 10, vec!["p0"]),
            ("p3", true, 2, vec!["p2", "p1"]),
            ("a", false, 2, vec!["p0", "p1"]),
            ("z", true, 10, vec!["p3", "p2", "p1", "p0"]),
            ("p0", true, 10, vec![]),
            ("p", false, 1, vec!["p0"]),
        ] {
            let seek = store
                .scan_after(Table::Meta, b"p", after.as_bytes(), reverse, limit)
                .unwrap();
            let default: Vec<Entry> = store
                .scan(Table::Meta, b"p", reverse, usize::MAX)
                .unwrap()
                .into_iter()
                .filter(|(k, _)| {
                    if reverse {
                        k.as_slice() < after.as_bytes()
                    } else {
                        k.as_slice() > after.as_bytes()
                    }
                })
                .take(limit)
                .collect();
            assert_eq!(keys(seek.clone()), expected, "{after} {reverse}");
            assert_eq!(seek, default, "{after} {reverse}");
        }
    }
}
