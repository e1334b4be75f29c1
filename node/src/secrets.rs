//! Secrets handed over in the environment (`CAIRN_PASSPHRASE`,
//! `CAIRN_BACKUP_PASSPHRASE`, `CAIRN_GATEWAY_SECRET`), moved out of it.
//!
//! Left in the environment, a secret is inherited by every child process
//! and shown by anything that dumps the environment (THREAT_MODEL.md,
//! "Attacks tried" 14). [`take_from_env`] runs first thing in `main`, while
//! the process has one thread, and keeps the values in memory that is wiped
//! when dropped. The kernel's copy of the initial environment
//! (`/proc/PID/environ`, readable by the same user and root) cannot be
//! wiped from safe code; the docs say so.

use std::collections::BTreeMap;
use std::sync::Mutex;

use zeroize::Zeroizing;

/// The variables that hold secrets.
pub const SECRET_VARS: [&str; 3] = [
    "CAIRN_PASSPHRASE",
    "CAIRN_BACKUP_PASSPHRASE",
    "CAIRN_GATEWAY_SECRET",
];

static TAKEN: Mutex<BTreeMap<&'static str, Zeroizing<String>>> = Mutex::new(BTreeMap::new());

/// Moves [`SECRET_VARS`] out of the environment. Call it before any thread
/// starts (the first line of `main`).
pub fn take_from_env() {
    let Ok(mut taken) = TAKEN.lock() else {
        return;
    };
    for name in SECRET_VARS {
        if let Ok(value) = std::env::var(name) {
            taken.insert(name, Zeroizing::new(value));
            // SAFETY: called from `main` before the async runtime or any other
            // thread exists, so nothing reads the environment concurrently.
            #[allow(unsafe_code)]
            unsafe {
                std::env::remove_var(name);
            }
        }
    }
}

/// A secret: taken from the environment earlier, or still there (a program
/// that embeds the node without calling [`take_from_env`]).
pub fn get(name: &'static str) -> Option<Zeroizing<String>> {
    let taken = TAKEN.lock().ok()?.get(name).cloned();
    taken.or_else(|| std::env::var(name).ok().map(Zeroizing::new))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_taken_secret_is_gone_from_the_environment_and_still_usable() {
        // SAFETY: each test runs in a process of its own under nextest; no
        // other test reads this variable.
        #[allow(unsafe_code)]
        unsafe {
            std::env::set_var("CAIRN_PASSPHRASE", "correct horse");
        }
        take_from_env();
        assert!(std::env::var("CAIRN_PASSPHRASE").is_err());
        assert_eq!(
            get("CAIRN_PASSPHRASE").as_deref().map(String::as_str),
            Some("correct horse")
        );
    }
}
