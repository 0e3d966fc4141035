//! The example `stratakv.toml` parses to exactly `Options::default()`, and a misspelt key
//! is refused by name.

use stratakv::Options;

#[test]
fn example_config_is_the_defaults() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/stratakv.toml");
    let o = Options::from_file(path).unwrap();
    assert!(
        o == Options::default(),
        "stratakv.toml drifted from Options::default()"
    );
    let text = std::fs::read_to_string(path).unwrap();
    let e = Options::from_toml_str(&text.replace("memtable_size", "memtable_sise")).unwrap_err();
    assert!(e.to_string().contains("memtable_sise"), "{e}");
    assert!(Options::from_file("/nonexistent/stratakv.toml").is_err());
}
