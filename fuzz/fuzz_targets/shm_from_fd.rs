#![no_main]
libfuzzer_sys::fuzz_target!(|d: &[u8]| shoal_tests::fuzz::shm::shm_from_fd(d));
