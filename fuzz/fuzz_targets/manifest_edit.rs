#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| stratakv_fuzz::manifest_edit(data));
