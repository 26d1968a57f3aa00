//! Two Faaslets on one host share a value: the same memfd, mapped twice, shows each side's
//! writes to the other, to `read`/`write` of the local tier, and (after flagging dirty and
//! pushing) to other hosts.

use std::sync::Arc;

use faasm_state::sys::{SharedMapping, page_size};
use faasm_state::{InProcessTier, LocalTier, StateKey};

#[test]
fn two_mappings_of_one_value_share_writes() {
    let global = Arc::new(InProcessTier::new());
    let host = LocalTier::new(global.clone());
    let k = StateKey::new("alice", "shared").unwrap();
    let a = host.value_for_mapping(&k, 10_000).unwrap();
    let b = host.value_for_mapping(&k, 10_000).unwrap();
    assert!(Arc::ptr_eq(&a, &b), "one value per key per host");
    assert_eq!(a.size(), 10_000);
    assert_eq!(a.page_size(), page_size());
    assert_eq!(a.mapped_len() % page_size(), 0);
    assert!(a.mapped_len() >= 10_000);

    // Two Faaslets map it (here: two mappings at kernel-chosen addresses).
    let m1 = SharedMapping::new(a.file(), 0, a.mapped_len()).unwrap();
    let m2 = SharedMapping::new(b.file(), 0, b.mapped_len()).unwrap();
    assert_ne!(m1.addr(), m2.addr());
    m1.write(9_000, b"hello");
    let mut buf = [0u8; 5];
    m2.read(9_000, &mut buf);
    assert_eq!(&buf, b"hello");

    // The local tier's copies see the mapping, and the mapping sees the local tier's writes.
    host.read_at(&k, 10_000, 9_000, &mut buf).unwrap();
    assert_eq!(&buf, b"hello");
    host.write_at(&k, 10_000, 100, b"world").unwrap();
    m2.read(100, &mut buf);
    assert_eq!(&buf, b"world");

    // Only the pages holding a chunk: offset mappings see the same bytes.
    let page = page_size();
    let v = host.value_for_mapping_range(&k, 10_000, 9_000, 5).unwrap();
    let first_page = 9_000 / page * page;
    let m3 = SharedMapping::new(v.file(), first_page as u64, page).unwrap();
    m3.read(9_000 - first_page, &mut buf);
    assert_eq!(&buf, b"hello");

    // Writes through a pointer reach other hosts after flag_dirty + push.
    host.flag_dirty_range(&k, 10_000, 9_000, 5).unwrap();
    host.push(&k).unwrap();
    let other = LocalTier::new(global);
    other.read_at(&k, 10_000, 9_000, &mut buf).unwrap();
    assert_eq!(&buf, b"hello");
    other.read_at(&k, 10_000, 100, &mut buf).unwrap();
    assert_eq!(&buf, b"world");
}

#[test]
fn faaslets_on_threads_see_each_other() {
    let host = Arc::new(LocalTier::in_process());
    let k = StateKey::new("alice", "counter").unwrap();
    let writer = {
        let host = host.clone();
        let k = k.clone();
        std::thread::spawn(move || {
            let v = host.value_for_mapping(&k, 8).unwrap();
            let m = SharedMapping::new(v.file(), 0, v.mapped_len()).unwrap();
            host.lock_write(&k).unwrap();
            m.write(0, &42u64.to_le_bytes());
            host.unlock_write(&k).unwrap();
        })
    };
    writer.join().unwrap();
    let v = host.value_for_mapping(&k, 8).unwrap();
    let m = SharedMapping::new(v.file(), 0, v.mapped_len()).unwrap();
    host.lock_read(&k).unwrap();
    let mut buf = [0u8; 8];
    m.read(0, &mut buf);
    host.unlock_read(&k).unwrap();
    assert_eq!(u64::from_le_bytes(buf), 42);
}
