#![no_main]
libfuzzer_sys::fuzz_target!(|d: &[u8]| shoal_tests::fuzz::udp_pump::udp_pump_proc_table(d));
