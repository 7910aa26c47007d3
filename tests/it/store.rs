//! The storage engines' contract (the `Store` trait), held to the same tests on RocksDB and — in
//! `make test-pg`, where `LICENCE_VAULT_TEST_PG` names a PostgreSQL server — on PostgreSQL:
//! atomic changes, prefix scans in both directions, paging after a key, counters.

use licence_vault::store::{Change, Read, StoreError, Table};

use crate::support::store_at;

fn entries(v: Vec<(Vec<u8>, Vec<u8>)>) -> Vec<(String, String)> {
    v.into_iter()
        .map(|(k, v)| (String::from_utf8(k).unwrap(), String::from_utf8(v).unwrap()))
        .collect()
}

#[test]
fn a_change_is_applied_whole_and_scans_keep_to_their_prefix_in_both_directions() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_at(&dir.path().join("db"));
    let mut c = Change::durable();
    for k in ["a/1", "a/2", "a/3", "ab", "b/1", "a\u{7f}"] {
        c.put(Table::Meta, k.as_bytes(), format!("v{k}").into_bytes());
    }
    c.put(Table::LicenceMeta, b"a/1".to_vec(), b"other table".to_vec());
    store.commit(c).unwrap();
    let fwd = entries(store.scan(Table::Meta, b"a/", false, 10).unwrap());
    assert_eq!(
        fwd,
        [("a/1", "va/1"), ("a/2", "va/2"), ("a/3", "va/3")]
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
    );
    let rev = entries(store.scan(Table::Meta, b"a/", true, 2).unwrap());
    assert_eq!(
        rev,
        [("a/3", "va/3"), ("a/2", "va/2")].map(|(k, v)| (k.to_owned(), v.to_owned()))
    );
    assert_eq!(
        store.get(Table::LicenceMeta, b"a/1").unwrap().unwrap(),
        b"other table"
    );
    assert_eq!(store.get(Table::Meta, b"zz").unwrap(), None);
    let got = store
        .multi_get(
            Table::Meta,
            &[b"b/1".to_vec(), b"nope".to_vec(), b"ab".to_vec()],
        )
        .unwrap();
    assert_eq!(
        got,
        vec![Some(b"vb/1".to_vec()), None, Some(b"vab".to_vec())]
    );
    // An empty prefix is the whole table; a prefix of 0xff bytes has no upper bound.
    assert_eq!(store.scan(Table::Meta, b"", false, 100).unwrap().len(), 6);
    let mut c = Change::durable();
    c.put(Table::Meta, vec![0xff, 0xff, 1], b"high".to_vec());
    c.delete(Table::Meta, b"ab".to_vec());
    store.commit(c).unwrap();
    assert_eq!(
        store
            .scan(Table::Meta, &[0xff, 0xff], false, 10)
            .unwrap()
            .len(),
        1
    );
    assert_eq!(store.get(Table::Meta, b"ab").unwrap(), None);
}

#[test]
fn a_change_applies_its_operations_in_order_when_tables_alternate() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_at(&dir.path().join("db"));
    let mut c = Change::durable();
    c.put(Table::Meta, b"k".to_vec(), b"first".to_vec())
        .put(Table::LicenceMeta, b"k".to_vec(), b"m".to_vec())
        .add(Table::ReuseStats, b"n".to_vec(), 2)
        .delete(Table::Meta, b"k".to_vec())
        .add(Table::ReuseStats, b"n".to_vec(), 3)
        .put(Table::LicenceMeta, b"k".to_vec(), b"m2".to_vec())
        .put(Table::Meta, b"k".to_vec(), b"last".to_vec())
        .put(Table::Meta, b"j".to_vec(), b"j".to_vec())
        .delete(Table::Meta, b"j".to_vec());
    store.commit(c).unwrap();
    assert_eq!(store.get(Table::Meta, b"k").unwrap().unwrap(), b"last");
    assert_eq!(store.get(Table::Meta, b"j").unwrap(), None);
    assert_eq!(store.get(Table::LicenceMeta, b"k").unwrap().unwrap(), b"m2");
    assert_eq!(
        store.get(Table::ReuseStats, b"n").unwrap().unwrap(),
        5u64.to_be_bytes()
    );
}

#[test]
fn a_flight_of_reads_answers_each_read_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_at(&dir.path().join("db"));
    let mut c = Change::durable();
    for k in ["a/1", "a/2", "b"] {
        c.put(Table::Meta, k.as_bytes(), format!("v{k}").into_bytes());
    }
    c.put(Table::LicenceMeta, b"b".to_vec(), b"meta b".to_vec());
    store.commit(c).unwrap();
    let got = store
        .read_all(&[
            Read::Get(Table::Meta, b"b"),
            Read::Get(Table::Meta, b"none"),
            Read::Get(Table::Meta, b"b"),
            Read::Get(Table::LicenceMeta, b"b"),
            Read::Scan {
                table: Table::Meta,
                prefix: b"a/",
                reverse: true,
                limit: 10,
            },
            Read::Get(Table::Meta, b"a/1"),
        ])
        .unwrap();
    let got: Vec<Vec<(String, String)>> = got.into_iter().map(entries).collect();
    let e = |k: &str, v: &str| vec![(k.to_owned(), v.to_owned())];
    assert_eq!(
        got,
        vec![
            e("b", "vb"),
            vec![],
            e("b", "vb"),
            e("b", "meta b"),
            [("a/2", "va/2"), ("a/1", "va/1")]
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .to_vec(),
            e("a/1", "va/1"),
        ]
    );
    assert_eq!(store.read_all(&[]).unwrap(), Vec::<Vec<_>>::new());
}

#[test]
fn scan_after_pages_forward_and_backward_without_gaps_or_repeats() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_at(&dir.path().join("db"));
    let mut c = Change::durable();
    for i in 0..25u8 {
        c.put(Table::HolderAccess, [b'p', 0, i].to_vec(), vec![i]);
        c.put(Table::HolderAccess, [b'q', 0, i].to_vec(), vec![i]);
    }
    store.commit(c).unwrap();
    for reverse in [false, true] {
        let mut seen = Vec::new();
        let mut page = store.scan(Table::HolderAccess, b"p\0", reverse, 7).unwrap();
        while let Some((last, _)) = page.last().cloned() {
            seen.extend(page.iter().map(|(_, v)| v[0]));
            page = store
                .scan_after(Table::HolderAccess, b"p\0", &last, reverse, 7)
                .unwrap();
        }
        let mut want: Vec<u8> = (0..25).collect();
        if reverse {
            want.reverse();
        }
        assert_eq!(seen, want, "reverse: {reverse}");
    }
    // After a key outside the prefix: from the prefix's edge.
    let before = store
        .scan_after(Table::HolderAccess, b"q\0", b"a", false, 3)
        .unwrap();
    assert_eq!(
        before.iter().map(|(_, v)| v[0]).collect::<Vec<_>>(),
        [0, 1, 2]
    );
    let after = store
        .scan_after(Table::HolderAccess, b"p\0", b"z", true, 2)
        .unwrap();
    assert_eq!(
        after.iter().map(|(_, v)| v[0]).collect::<Vec<_>>(),
        [24, 23]
    );
}

#[test]
fn counters_sum_concurrent_adds_and_survive_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    {
        let store = store_at(&path);
        std::thread::scope(|s| {
            for _ in 0..4 {
                let store = &store;
                s.spawn(move || {
                    for _ in 0..25 {
                        let mut c = Change::default();
                        c.add(Table::ReuseStats, b"pulls".to_vec(), 2);
                        store.commit(c).unwrap();
                    }
                });
            }
        });
        let mut c = Change::durable();
        c.add(Table::ReuseStats, b"pulls".to_vec(), 1);
        store.commit(c).unwrap();
        store.flush().unwrap();
    }
    let store = store_at(&path);
    let v = store.get(Table::ReuseStats, b"pulls").unwrap().unwrap();
    assert_eq!(u64::from_be_bytes(v.try_into().unwrap()), 201);
}

#[test]
fn a_conditional_change_applies_only_while_its_keys_hold_what_was_read() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_at(&dir.path().join("db"));
    let conflict = |r: Result<(), StoreError>| match r {
        Err(StoreError::Conflict(m)) => m,
        other => panic!("expected a conflict, got {other:?}"),
    };
    // Absent: the first claim applies, the second finds the key.
    let mut c = Change::durable();
    c.expect(Table::Meta, b"k".to_vec(), None)
        .put(Table::Meta, b"k".to_vec(), b"1".to_vec());
    store.commit(c.clone()).unwrap();
    assert_eq!(conflict(store.commit(c)), "a key of meta changed");
    // Equal: applies on the value read, not on another; nothing of a refused change is written.
    let mut stale = Change::durable();
    stale
        .expect(Table::Meta, b"k".to_vec(), Some(b"0".to_vec()))
        .put(Table::Meta, b"k".to_vec(), b"x".to_vec())
        .put(Table::LicenceMeta, b"other".to_vec(), b"x".to_vec());
    conflict(store.commit(stale));
    assert_eq!(store.get(Table::Meta, b"k").unwrap().unwrap(), b"1");
    assert_eq!(store.get(Table::LicenceMeta, b"other").unwrap(), None);
    let mut fresh = Change::durable();
    fresh
        .expect(Table::Meta, b"k".to_vec(), Some(b"1".to_vec()))
        .put(Table::Meta, b"k".to_vec(), b"2".to_vec());
    store.commit(fresh).unwrap();
    assert_eq!(store.get(Table::Meta, b"k").unwrap().unwrap(), b"2");
    // A key that must be absent and is not written stays absent (no claim is left behind), and
    // an empty value is a value, not an absence.
    let mut c = Change::durable();
    c.expect(Table::Meta, b"unwritten".to_vec(), None).put(
        Table::Meta,
        b"other".to_vec(),
        Vec::new(),
    );
    store.commit(c).unwrap();
    assert_eq!(store.get(Table::Meta, b"unwritten").unwrap(), None);
    let mut c = Change::durable();
    c.expect(Table::Meta, b"other".to_vec(), None).put(
        Table::Meta,
        b"other".to_vec(),
        b"y".to_vec(),
    );
    conflict(store.commit(c));
    // A deleted key is absent again.
    let mut c = Change::durable();
    c.expect(Table::Meta, b"k".to_vec(), Some(b"2".to_vec()))
        .delete(Table::Meta, b"k".to_vec());
    store.commit(c).unwrap();
    let mut c = Change::durable();
    c.expect(Table::Meta, b"k".to_vec(), None)
        .put(Table::Meta, b"k".to_vec(), b"3".to_vec());
    store.commit(c).unwrap();
    // Claimed keys written more than once end with the change's last word: the last put, or
    // absent after a delete; a claim that fails for one key writes none of the others.
    let mut c = Change::durable();
    c.expect(Table::Meta, b"twice".to_vec(), None)
        .expect(Table::Meta, b"gone".to_vec(), None)
        .put(Table::Meta, b"twice".to_vec(), b"a".to_vec())
        .put(Table::Meta, b"gone".to_vec(), b"a".to_vec())
        .put(Table::Meta, b"twice".to_vec(), b"b".to_vec())
        .delete(Table::Meta, b"gone".to_vec());
    store.commit(c).unwrap();
    assert_eq!(store.get(Table::Meta, b"twice").unwrap().unwrap(), b"b");
    assert_eq!(store.get(Table::Meta, b"gone").unwrap(), None);
    let mut c = Change::durable();
    c.expect(Table::Meta, b"new".to_vec(), None)
        .expect(Table::Meta, b"twice".to_vec(), None)
        .put(Table::Meta, b"new".to_vec(), b"n".to_vec())
        .put(Table::Meta, b"twice".to_vec(), b"c".to_vec());
    conflict(store.commit(c));
    assert_eq!(store.get(Table::Meta, b"new").unwrap(), None);
    assert_eq!(store.get(Table::Meta, b"twice").unwrap().unwrap(), b"b");
    // Two conditions on one key that contradict each other refuse the change, even where one of
    // them holds and the change would write what the other expects.
    let mut c = Change::durable();
    c.expect(Table::Meta, b"twice".to_vec(), None)
        .expect(Table::Meta, b"twice".to_vec(), Some(b"b".to_vec()))
        .put(Table::Meta, b"twice".to_vec(), b"b".to_vec())
        .put(Table::Meta, b"new".to_vec(), b"n".to_vec());
    conflict(store.commit(c));
    let mut c = Change::durable();
    c.expect(Table::Meta, b"fresh".to_vec(), None)
        .expect(Table::Meta, b"fresh".to_vec(), Some(b"f".to_vec()))
        .put(Table::Meta, b"fresh".to_vec(), b"f".to_vec());
    conflict(store.commit(c));
    assert_eq!(store.get(Table::Meta, b"fresh").unwrap(), None);
    assert_eq!(store.get(Table::Meta, b"new").unwrap(), None);
    // A counter that must be absent and is added to starts from 0.
    let mut c = Change::durable();
    c.expect(Table::Meta, b"count".to_vec(), None)
        .add(Table::Meta, b"count".to_vec(), 5);
    store.commit(c).unwrap();
    assert_eq!(
        store.get(Table::Meta, b"count").unwrap().unwrap(),
        5u64.to_be_bytes()
    );
}

#[test]
fn concurrent_read_modify_writes_on_one_key_lose_no_update_when_they_retry() {
    // Eight threads (on PostgreSQL, eight connections as eight nodes would have) each add 1 to
    // one counter 25 times by reading it and writing it back on the condition it is unchanged.
    let dir = tempfile::tempdir().unwrap();
    let store = store_at(&dir.path().join("db"));
    let (conflicts, applied) = (
        std::sync::atomic::AtomicU64::new(0),
        std::sync::atomic::AtomicU64::new(0),
    );
    std::thread::scope(|s| {
        for _ in 0..8 {
            let (store, conflicts, applied) = (&store, &conflicts, &applied);
            s.spawn(move || {
                for _ in 0..25 {
                    loop {
                        let read = store.get(Table::Meta, b"n").unwrap();
                        let n = read
                            .as_ref()
                            .map_or(0, |v| u64::from_be_bytes(v[..].try_into().unwrap()));
                        let mut c = Change::default();
                        c.expect(Table::Meta, b"n".to_vec(), read).put(
                            Table::Meta,
                            b"n".to_vec(),
                            (n + 1).to_be_bytes().to_vec(),
                        );
                        match store.commit(c) {
                            Ok(()) => break,
                            Err(StoreError::Conflict(_)) => {
                                conflicts.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            }
                            Err(e) => panic!("{e}"),
                        }
                    }
                    applied.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            });
        }
    });
    let v = store.get(Table::Meta, b"n").unwrap().unwrap();
    assert_eq!(u64::from_be_bytes(v.try_into().unwrap()), 200);
    assert_eq!(applied.into_inner(), 200);
    eprintln!("conflicts retried: {}", conflicts.into_inner());
}
