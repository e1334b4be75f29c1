//! Fonts for every script the app shows.
//!
//! egui's own fonts cover Latin, Greek and Cyrillic. Everything else —
//! Arabic and Persian, Burmese, Devanagari, Chinese, emoji — comes from the
//! system's fonts, found per script the first time a character needs one
//! (egui_system_font_provider, over fontconfig on Linux). On Debian the
//! package dependencies are `fonts-noto-core` (Arabic, Myanmar, Devanagari
//! and most other scripts), `fonts-noto-cjk` and `fonts-noto-color-emoji`;
//! emoji are drawn in colour (epaint's `color_fonts`).

use std::sync::Arc;

/// Lets `ctx` find system fonts for characters its own fonts lack.
pub fn install(ctx: &egui::Context) {
    let locale = crate::i18n::current().to_string();
    ctx.add_font_provider(Arc::new(
        egui_system_font_provider::SystemFontProvider::new().with_locale(Some(&locale)),
    ));
}
