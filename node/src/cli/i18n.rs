//! The command line's sentences in the user's language: Fluent files under
//! `node/i18n/`, embedded in the binary; `CAIRN_LANG` (a tag such as `fa`)
//! overrides the system's language.

use std::sync::LazyLock;

use i18n_embed::LanguageLoader;
use i18n_embed::fluent::{FluentLanguageLoader, fluent_language_loader};

#[derive(rust_embed::RustEmbed)]
#[folder = "i18n/"]
struct Localizations;

pub(crate) static LOADER: LazyLock<FluentLanguageLoader> = LazyLock::new(|| {
    let loader = fluent_language_loader!();
    if let Err(e) = loader.load_fallback_language(&Localizations) {
        tracing::error!("the command line's English strings do not load: {e}");
    }
    let tag = std::env::var("CAIRN_LANG").ok().filter(|t| !t.is_empty());
    cairn_node::i18n::select(&loader, &Localizations, tag.as_deref());
    loader
});

/// A sentence in the user's language.
macro_rules! tr {
    ($id:literal) => {
        i18n_embed_fl::fl!($crate::cli::i18n::LOADER, $id)
    };
    ($id:literal, $($args:tt)*) => {
        i18n_embed_fl::fl!($crate::cli::i18n::LOADER, $id, $($args)*)
    };
}
pub(crate) use tr;
