//! Choosing the language people read Cairn in, shared by the command line
//! and the desktop app (each has its own Fluent files and loader).
//!
//! The language is the one asked for (`--lang`, `CAIRN_LANG`, the app's
//! menu), else the system's (`LANG`, `LC_ALL`... through sys-locale), else
//! English. Placeables are not wrapped in bidi isolates: a terminal shows
//! them as stray characters, and the app lays out bidi text itself.

use i18n_embed::fluent::FluentLanguageLoader;
use i18n_embed::{DesktopLanguageRequester, I18nAssets, LanguageLoader};
use unic_langid::LanguageIdentifier;

/// Loads into `loader` the language `tag` asks for (or the system's when
/// `None`) from `assets`. Returns the language now in use; an unknown or
/// missing one leaves English.
pub fn select(
    loader: &FluentLanguageLoader,
    assets: &dyn I18nAssets,
    tag: Option<&str>,
) -> LanguageIdentifier {
    let requested: Vec<LanguageIdentifier> = match tag.map(str::parse::<LanguageIdentifier>) {
        Some(Ok(id)) => vec![id],
        Some(Err(_)) => {
            tracing::warn!(
                "unknown language tag {:?}: using English",
                tag.unwrap_or("")
            );
            Vec::new()
        }
        None => DesktopLanguageRequester::requested_languages(),
    };
    if let Err(e) = i18n_embed::select(loader, assets, &requested) {
        tracing::warn!("no translation could be loaded: {e}");
    }
    loader.set_use_isolating(false);
    current(loader)
}

/// The language `loader` speaks now.
pub fn current(loader: &FluentLanguageLoader) -> LanguageIdentifier {
    loader
        .current_languages()
        .into_iter()
        .next()
        .unwrap_or_else(|| loader.fallback_language().clone())
}

/// Whether `lang` is written right to left.
pub fn is_rtl(lang: &LanguageIdentifier) -> bool {
    matches!(
        lang.language.as_str(),
        "ar" | "fa" | "he" | "ur" | "ps" | "ckb" | "sd" | "ug" | "yi" | "dv"
    )
}
