//! The app's words in the user's language: Fluent files under `gui/i18n/`,
//! embedded in the binary, chosen from the system locale unless the user
//! picked one (`--lang`, `CAIRN_LANG`, or the language menu).
//!
//! Every string the app shows goes through [`tr!`](crate::tr), whose message
//! ids are checked against the English file when the app is compiled.

use std::sync::LazyLock;

use i18n_embed::LanguageLoader;
use i18n_embed::fluent::{FluentLanguageLoader, fluent_language_loader};
use unic_langid::LanguageIdentifier;

#[derive(rust_embed::RustEmbed)]
#[folder = "i18n/"]
struct Localizations;

/// The loader every [`tr!`](crate::tr) reads.
pub static LOADER: LazyLock<FluentLanguageLoader> = LazyLock::new(|| {
    let loader = fluent_language_loader!();
    // English always loads: it is what a missing translation falls back to.
    if let Err(e) = loader.load_fallback_language(&Localizations) {
        tracing::error!("the app's English strings do not load: {e}");
    }
    loader.set_use_isolating(false);
    loader
});

/// The languages the app ships, as (tag, its own name for itself).
pub const LANGUAGES: &[(&str, &str)] = &[
    ("en-US", "English"),
    ("fa", "فارسی"),
    ("ar", "العربية"),
    ("ru", "Русский"),
    ("my", "မြန်မာ"),
    ("zh-CN", "简体中文"),
];

/// A message in the current language.
#[macro_export]
macro_rules! tr {
    ($id:literal) => {
        i18n_embed_fl::fl!($crate::i18n::LOADER, $id)
    };
    ($id:literal, $($args:tt)*) => {
        i18n_embed_fl::fl!($crate::i18n::LOADER, $id, $($args)*)
    };
}

/// Switches to `tag` (a BCP 47 tag such as `fa` or `zh-CN`), or to the
/// system's languages when `None`. Returns the language now in use; a tag
/// that is not shipped falls back to English.
pub fn select(tag: Option<&str>) -> LanguageIdentifier {
    cairn_node::i18n::select(&LOADER, &Localizations, tag)
}

/// The language in use.
pub fn current() -> LanguageIdentifier {
    cairn_node::i18n::current(&LOADER)
}

/// Whether the language in use is written right to left: the window is then
/// mirrored (lists on the right, rows from the right).
pub fn rtl() -> bool {
    cairn_node::i18n::is_rtl(&current())
}

/// "Copy", for the context menu of any text (`crate::text`).
pub fn copy() -> String {
    tr!("copy")
}
