#![no_main]
libfuzzer_sys::fuzz_target!(|d: &[u8]| shoal_tests::fuzz::mux::mux_last(d));
