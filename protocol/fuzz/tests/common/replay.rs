//! Replays the seeds kept in the repository (`fuzz/seeds/TARGET/`, inputs
//! the fuzzer found interesting, minimised) through the fuzz targets, so
//! every CI run re-checks them. The targets are built here without coverage
//! instrumentation; libFuzzer then runs each file it is given once and
//! exits non-zero if one crashes. Shared by every fuzz crate's
//! `tests/seeds.rs`.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Runs every seed of `target` through the binary at `exe`.
pub fn replay(manifest_dir: &str, target: &str, exe: &str) {
    let dir = Path::new(manifest_dir).join("seeds").join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("a seed").path())
        .collect();
    files.sort();
    assert!(
        !files.is_empty(),
        "no seeds for {target} in {}",
        dir.display()
    );
    for batch in files.chunks(256) {
        let out = Command::new(exe)
            .args(batch)
            .output()
            .unwrap_or_else(|e| panic!("{exe}: {e}"));
        assert!(
            out.status.success(),
            "{target} failed on a seed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let ran = String::from_utf8_lossy(&out.stderr)
            .matches("Executed ")
            .count();
        assert_eq!(
            ran,
            batch.len(),
            "{target} ran {ran} of {} seeds",
            batch.len()
        );
    }
}
