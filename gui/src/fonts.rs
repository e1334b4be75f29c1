//! Fonts for every script the app shows.
//!
//! egui's own fonts cover Latin, Greek and Cyrillic. Everything else —
//! Arabic and Persian, Burmese, Devanagari, Chinese — comes from the
//! system's fonts, found per script the first time a character needs one
//! (egui_system_font_provider, over fontconfig on Linux). Emoji come from the
//! system's colour emoji font, installed up front right after egui's own
//! fonts: otherwise the first font found for some symbol (DejaVu Sans has
//! the emoticons, in outline) would draw 😀 grey. On Debian the package
//! dependencies are `fonts-noto-core` (Arabic, Myanmar, Devanagari and most
//! other scripts), `fonts-noto-cjk` and `fonts-noto-color-emoji`; emoji are
//! drawn in colour (epaint's `color_fonts`).

use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use egui::FontPriority;
use egui::epaint::text::{FontData, FontFamily, FontInsert, FontProvider, InsertFontFamily};

/// Lets `ctx` find system fonts for characters its own fonts lack.
pub fn install(ctx: &egui::Context) {
    let locale = crate::i18n::current().to_string();
    ctx.add_font_provider(Arc::new(ColourEmoji::find()));
    ctx.add_font_provider(Arc::new(
        egui_system_font_provider::SystemFontProvider::new().with_locale(Some(&locale)),
    ));
}

/// The system's emoji font (Noto Color Emoji on Debian), for every family.
struct ColourEmoji {
    /// Looked up on a thread of its own: enumerating the system's fonts
    /// takes a moment. Taken by the first family that asks.
    finding: Mutex<Option<JoinHandle<Option<FontData>>>>,
    found: Mutex<Option<Option<FontData>>>,
}

impl ColourEmoji {
    fn find() -> Self {
        let finding = std::thread::Builder::new()
            .name("cairn-emoji-font".into())
            .spawn(emoji_font)
            .ok();
        Self {
            finding: Mutex::new(finding),
            found: Mutex::new(None),
        }
    }

    fn font(&self) -> Option<FontData> {
        let mut found = self.found.lock().unwrap_or_else(|e| e.into_inner());
        if found.is_none() {
            let handle = self
                .finding
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .take();
            *found = Some(handle.and_then(|h| h.join().ok()).flatten());
        }
        found.clone().flatten()
    }
}

impl FontProvider for ColourEmoji {
    fn fonts_for_family(&self, family: &FontFamily) -> Vec<FontInsert> {
        let Some(data) = self.font() else {
            return Vec::new();
        };
        vec![FontInsert {
            name: "system:emoji".to_owned(),
            data,
            families: vec![InsertFontFamily {
                family: family.clone(),
                priority: FontPriority::Lowest,
            }],
        }]
    }
}

/// The first colour font of the system's emoji family.
fn emoji_font() -> Option<FontData> {
    use fontique::{Collection, CollectionOptions, GenericFamily, QueryFamily, QueryStatus};
    let mut collection = Collection::new(CollectionOptions {
        shared: false,
        system_fonts: true,
    });
    let mut cache = fontique::SourceCache::new(Default::default());
    let mut query = collection.query(&mut cache);
    query.set_families([QueryFamily::Generic(GenericFamily::Emoji)]);
    let mut found = None;
    query.matches_with(|font| {
        found = Some(font.clone());
        QueryStatus::Stop
    });
    let font = found?;
    let (blob, _) = font.blob.into_raw_parts();
    Some(FontData::from_blob(blob, font.index))
}
