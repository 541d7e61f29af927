//! Memory-store specifics; the Store contract itself is checked by the testkit suite
//! (tests/conformance.rs).
#![allow(clippy::unwrap_used)]

#[test]
fn the_memory_store_takes_no_options() {
    let mut registry = asyncz_core::PluginRegistry::new();
    asyncz_stores_memory::register(&mut registry);
    assert!(registry
        .create_store("memory", &asyncz_core::Map::new())
        .is_ok());
    let mut bad = asyncz_core::Map::new();
    bad.insert("directory".into(), "/tmp".into());
    let err = registry
        .create_store("memory", &bad)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("invalid directory") && err.contains("takes no options"),
        "{err}"
    );
}

#[test]
fn the_memory_store_is_not_persistent() {
    use asyncz_core::Store;
    assert!(!asyncz_stores_memory::MemoryStore::new().is_persistent());
}
