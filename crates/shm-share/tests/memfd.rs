//! memfd regions: opening an untrusted descriptor, and sharing with a spawned process.
#![allow(unsafe_code)] // `Command::pre_exec`, to clear CLOEXEC in the child only.

mod util;

use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::Stdio;

use rustix::fs::{MemfdFlags, SealFlags};
use shoal_shm_share::{Error, HeaderError, SharedRegion};
use shoal_test_util::{Reaped, in_role, role_command};
use util::Record;

/// Environment variable naming the role of a re-executed test binary.
const ROLE: &str = "SHOAL_SHM_ROLE";
/// Environment variable with the inherited memfd's number.
const FD_VAR: &str = "SHOAL_SHM_FD";
/// Increments each side makes in the spawned-process test.
const ITERS: u64 = 2_000;

fn dup(fd: impl AsFd) -> OwnedFd {
    rustix::io::fcntl_dupfd_cloexec(fd, 0).unwrap()
}

/// The bytes of a fresh, valid region of `capacity` bytes.
fn valid_image(capacity: usize) -> Vec<u8> {
    let region = SharedRegion::memfd("image", capacity).unwrap();
    let mut image = vec![0; 64 + capacity];
    rustix::io::pread(region.fd().unwrap(), &mut image[..], 0).unwrap();
    image
}

/// An unsealed memfd holding `bytes`.
fn unsealed(bytes: &[u8]) -> OwnedFd {
    let fd =
        rustix::fs::memfd_create("test", MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING).unwrap();
    rustix::io::pwrite(&fd, bytes, 0).unwrap();
    fd
}

fn open(bytes: &[u8]) -> Result<SharedRegion, Error> {
    SharedRegion::from_fd(unsealed(bytes))
}

#[test]
fn two_mappings_of_one_memfd_share_data_and_lock() {
    let first = SharedRegion::memfd("shared", 256).unwrap();
    first.set(&Record::filled(4)).unwrap();
    let second = SharedRegion::from_fd(dup(first.fd().unwrap())).unwrap();
    assert_eq!(second.capacity(), 256);
    assert_eq!(second.get::<Record>().unwrap(), Some(Record::filled(4)));
    let guard = first.lock().unwrap();
    // Same lock word, same thread: the kernel sees the deadlock.
    assert!(matches!(second.lock(), Err(Error::Deadlock)));
    drop(guard);
    second.set(&Record::filled(5)).unwrap();
    assert_eq!(first.peek::<Record>().unwrap(), Some(Record::filled(5)));
}

#[test]
fn a_valid_but_unsealed_memfd_gets_sealed() {
    let fd = unsealed(&valid_image(100));
    let region = SharedRegion::from_fd(dup(&fd)).unwrap();
    assert_eq!(region.capacity(), 100);
    let seals = rustix::fs::fcntl_get_seals(&fd).unwrap();
    assert!(seals.contains(SealFlags::SHRINK | SealFlags::GROW));
    // The peer can no longer pull the pages from under us.
    assert!(rustix::fs::ftruncate(&fd, 10).is_err());
    region.set_bytes(b"still mapped").unwrap();
}

#[test]
fn missing_seals_that_cannot_be_added_are_refused() {
    let fd = unsealed(&valid_image(100));
    rustix::fs::fcntl_add_seals(&fd, SealFlags::SEAL).unwrap();
    assert!(matches!(
        SharedRegion::from_fd(fd),
        Err(Error::NotSealed { .. })
    ));
    // A file that is not a memfd cannot carry seals at all.
    let path = std::env::temp_dir().join(format!("shoal-shm-{}", std::process::id()));
    std::fs::write(&path, valid_image(100)).unwrap();
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)
        .unwrap();
    std::fs::remove_file(&path).unwrap();
    assert!(matches!(
        SharedRegion::from_fd(file.into()),
        Err(Error::NotSealed { .. })
    ));
}

#[test]
fn corrupt_headers_are_refused() {
    let good = valid_image(100);
    assert!(open(&good).is_ok());

    let mut bad = good.clone();
    bad[0] ^= 1;
    assert!(matches!(
        open(&bad),
        Err(Error::InvalidHeader(HeaderError::Magic { .. }))
    ));

    let mut bad = good.clone();
    bad[8..12].copy_from_slice(&2u32.to_le_bytes());
    assert!(matches!(
        open(&bad),
        Err(Error::InvalidHeader(HeaderError::Version {
            found: 2,
            supported: 1
        }))
    ));

    let mut bad = good.clone();
    bad[12..16].copy_from_slice(&32u32.to_le_bytes());
    assert!(matches!(
        open(&bad),
        Err(Error::InvalidHeader(HeaderError::HeaderLen { found: 32 }))
    ));

    // Capacity larger than the file, and one that overflows when the header is added.
    for capacity in [101u64, u64::MAX - 10] {
        let mut bad = good.clone();
        bad[16..24].copy_from_slice(&capacity.to_le_bytes());
        assert!(matches!(
            open(&bad),
            Err(Error::InvalidHeader(HeaderError::Capacity {
                file_len: 164,
                ..
            }))
        ));
    }

    let mut bad = good.clone();
    bad[24..32].copy_from_slice(&1u64.to_le_bytes());
    assert!(matches!(
        open(&bad),
        Err(Error::InvalidHeader(HeaderError::PidNamespace { .. }))
    ));
}

#[test]
fn truncated_memfds_are_refused() {
    for len in [0, 1, 63] {
        assert!(matches!(
            open(&valid_image(100)[..len]),
            Err(Error::InvalidHeader(HeaderError::Truncated { .. }))
        ));
    }
    // Header intact, data area cut short.
    let image = valid_image(100);
    assert!(matches!(
        open(&image[..150]),
        Err(Error::InvalidHeader(HeaderError::Capacity {
            capacity: 100,
            file_len: 150
        }))
    ));
}

#[test]
fn lengths_from_shared_memory_are_rechecked() {
    let region = SharedRegion::memfd("length", 16).unwrap();
    // A peer writes a length beyond the data area after we validated the header.
    rustix::io::pwrite(region.fd().unwrap(), &17u64.to_le_bytes(), 56).unwrap();
    assert!(matches!(
        region.get_bytes(),
        Err(Error::CorruptLength {
            length: 17,
            capacity: 16
        })
    ));
    assert!(matches!(
        region.peek::<u8>(),
        Err(Error::CorruptLength { .. })
    ));
    // And a capacity rewritten later changes nothing: ours was read once.
    rustix::io::pwrite(region.fd().unwrap(), &u64::MAX.to_le_bytes(), 16).unwrap();
    assert!(region.lock().unwrap().write_at(16, &[1]).is_err());
    region.set_bytes(&[1; 16]).unwrap();
}

#[test]
fn memfd_region_is_shared_with_a_spawned_process() {
    let region = SharedRegion::memfd("spawned", 64).unwrap();
    region.set(&Record::filled(0)).unwrap();
    let raw = region.fd().unwrap().as_raw_fd();
    let mut cmd = role_command("role_open_inherited_memfd_and_count", ROLE, "count");
    cmd.env(FD_VAR, raw.to_string()).stdout(Stdio::null());
    // SAFETY: between fork and exec the closure only makes one async-signal-safe system
    // call (fcntl) on a descriptor this process owns, in the child's own fd table.
    unsafe {
        cmd.pre_exec(move || {
            let fd = rustix::fd::BorrowedFd::borrow_raw(raw);
            rustix::io::fcntl_setfd(fd, rustix::io::FdFlags::empty())?;
            Ok(())
        });
    }
    let mut child = Reaped(cmd.spawn().unwrap());
    for _ in 0..ITERS {
        let mut guard = region.lock().unwrap();
        let r: Record = guard.get().unwrap().unwrap();
        guard.set(&Record::filled(r.words[0] + 1)).unwrap();
    }
    let status = child.wait_for(util::CHILD_LIMIT).expect("wait");
    assert!(status.is_some_and(|s| s.success()), "child: {status:?}");
    assert_eq!(
        region.get::<Record>().unwrap(),
        Some(Record::filled(2 * ITERS))
    );
}

/// Role entry: does nothing unless re-executed by the test above.
#[test]
fn role_open_inherited_memfd_and_count() {
    if !in_role(ROLE, "count") {
        return;
    }
    let raw: i32 = std::env::var(FD_VAR).unwrap().parse().unwrap();
    // SAFETY: the parent passed this descriptor to us by inheritance; nothing else in this
    // process owns it.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    let region = SharedRegion::from_fd(fd).unwrap();
    for _ in 0..ITERS {
        let mut guard = region.lock().unwrap();
        let r: Record = guard.get().unwrap().unwrap();
        guard.set(&Record::filled(r.words[0] + 1)).unwrap();
    }
}
