//! Text in every script: right-to-left and mixed lines laid out in visual
//! order (the Unicode bidirectional algorithm, UAX #9) over egui's own shaper.
//!
//! egui 0.37 shapes each run of one font with harfrust (Arabic joining,
//! ligatures, Indic and Burmese reordering), but has no bidi: it places runs
//! left to right in logical order, and shapes a run right to left whenever its
//! first letter belongs to a right-to-left script, Arabic-Indic digits
//! included. So a line is cut here into *units* that egui shapes correctly on
//! their own, placed in the order the bidi algorithm gives:
//!
//! - a right-to-left level run becomes its words (letters of right-to-left
//!   scripts with their marks and joiners) and its single other characters
//!   (mirrored where Unicode says so: `(` shows as `)`), placed right to left;
//! - a left-to-right level run stays whole, except that a character of a
//!   right-to-left script inside it (a digit of `۱۴۰۳`, which is a
//!   left-to-right number) is a unit of its own, so egui does not turn the
//!   number around.
//!
//! Each unit is one section of a [`LayoutJob`], in visual order. A unit is
//! never cut inside a word, so joining is untouched. Where the caret and
//! selection go inside a unit is measured from the unit's prefixes
//! ([`Line::caret_x`]), which does not depend on how egui numbers glyphs
//! (its glyph counts are wrong inside right-to-left runs: egui issue #8576).

use std::ops::Range;
use std::sync::Arc;

use egui::text::{LayoutJob, TextFormat};
use egui::{Align, Color32, FontSelection, Galley, Rect, Response, RichText, Sense, Ui, Vec2};
use unicode_bidi::{BidiClass, BidiInfo, bidi_class};
use unicode_segmentation::UnicodeSegmentation;

/// A piece of a line that egui shapes on its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unit {
    /// Where the unit's characters are in the logical text (bytes).
    pub logical: Range<usize>,
    /// Shaped and read right to left.
    pub rtl: bool,
}

/// One line (no line breaks) cut into units, in visual order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// The paragraph's direction: that of its first strong character.
    pub rtl: bool,
    /// Left to right on the screen.
    pub units: Vec<Unit>,
}

/// True for characters of scripts written right to left (Hebrew, Arabic,
/// Syriac, Thaana, N'Ko, Samaritan, Mandaic and their presentation forms;
/// the historic right-to-left scripts of the supplementary planes). egui's
/// shaper turns a run around when its first letter is one of these.
pub fn rtl_script(c: char) -> bool {
    matches!(c as u32,
        0x0590..=0x08FF | 0xFB1D..=0xFDFF | 0xFE70..=0xFEFF | 0x10800..=0x10FFF | 0x1E800..=0x1EFFF)
}

/// Explicit direction controls: they steer the algorithm and are not drawn.
fn control(c: char) -> bool {
    matches!(
        bidi_class(c),
        BidiClass::LRE
            | BidiClass::RLE
            | BidiClass::LRO
            | BidiClass::RLO
            | BidiClass::PDF
            | BidiClass::LRI
            | BidiClass::RLI
            | BidiClass::FSI
            | BidiClass::PDI
    )
}

/// Whether `text` needs the bidi algorithm at all: most lines do not, and
/// they are one unit.
fn needs_bidi(text: &str) -> bool {
    text.chars().any(|c| {
        rtl_script(c)
            || matches!(
                bidi_class(c),
                BidiClass::R
                    | BidiClass::AL
                    | BidiClass::AN
                    | BidiClass::RLE
                    | BidiClass::RLO
                    | BidiClass::RLI
                    | BidiClass::FSI
            )
    })
}

impl Line {
    /// `text` cut into units (line breaks are the caller's: see [`lines`]).
    pub fn new(text: &str) -> Self {
        if text.is_empty() {
            return Self {
                rtl: false,
                units: Vec::new(),
            };
        }
        if !needs_bidi(text) {
            return Self {
                rtl: false,
                units: vec![Unit {
                    logical: 0..text.len(),
                    rtl: false,
                }],
            };
        }
        // Explicit embeddings, overrides and isolates from other people are
        // not obeyed: "report<RLO>gpj.exe" would show as "reportexe.jpg"
        // (THREAT_MODEL.md, "Attacks tried" 26). Each becomes a word joiner
        // (a boundary neutral of the same length, which the algorithm
        // skips), so the units' byte ranges still index `text`.
        let neutral: std::borrow::Cow<'_, str> = if text.chars().any(control) {
            text.chars()
                .map(|c| if control(c) { '\u{2060}' } else { c })
                .collect::<String>()
                .into()
        } else {
            text.into()
        };
        let info = BidiInfo::new(&neutral, None);
        let mut units = Vec::new();
        let rtl = info.paragraphs.first().is_some_and(|p| p.level.is_rtl());
        // A paragraph separator other than '\n' (U+2029, U+0085...) makes
        // more than one paragraph; they follow each other on the line.
        for para in &info.paragraphs {
            let (levels, runs) = info.visual_runs(para, para.range.clone());
            for run in runs {
                if levels[run.start].is_rtl() {
                    let mut cut = Vec::new();
                    rtl_units(&neutral, run, &mut cut);
                    units.extend(cut.into_iter().rev());
                } else {
                    ltr_units(&neutral, run, &mut units);
                }
            }
        }
        Self { rtl, units }
    }

    /// The unit holding the character that starts at byte `at`.
    fn unit_of(&self, at: usize) -> Option<usize> {
        self.units
            .iter()
            .position(|u| u.logical.start <= at && at < u.logical.end)
    }
}

/// A right-to-left run in logical order: words of right-to-left letters
/// (with their marks and joiners, cut only between grapheme clusters), and
/// every other cluster alone.
fn rtl_units(text: &str, run: Range<usize>, out: &mut Vec<Unit>) {
    let mut word: Option<Range<usize>> = None;
    for (at, cluster) in text[run.clone()].grapheme_indices(true) {
        let at = run.start + at;
        let end = at + cluster.len();
        let letter = cluster.chars().next().is_some_and(rtl_script);
        match (&mut word, letter) {
            (Some(w), true) => w.end = end,
            (None, true) => word = Some(at..end),
            (_, false) => {
                if let Some(w) = word.take() {
                    out.push(Unit {
                        logical: w,
                        rtl: true,
                    });
                }
                out.push(Unit {
                    logical: at..end,
                    rtl: true,
                });
            }
        }
    }
    if let Some(w) = word {
        out.push(Unit {
            logical: w,
            rtl: true,
        });
    }
}

/// A left-to-right run: whole, but for clusters of right-to-left scripts
/// (digits of Arabic-script numbers), each alone.
fn ltr_units(text: &str, run: Range<usize>, out: &mut Vec<Unit>) {
    let mut from = run.start;
    for (at, cluster) in text[run.clone()].grapheme_indices(true) {
        let at = run.start + at;
        if cluster.chars().next().is_some_and(rtl_script) {
            if from < at {
                out.push(Unit {
                    logical: from..at,
                    rtl: false,
                });
            }
            out.push(Unit {
                logical: at..at + cluster.len(),
                rtl: false,
            });
            from = at + cluster.len();
        }
    }
    if from < run.end {
        out.push(Unit {
            logical: from..run.end,
            rtl: false,
        });
    }
}

/// What a unit shows: its text without direction controls, a lone neutral
/// character mirrored in a right-to-left run.
fn shown(text: &str, unit: &Unit) -> String {
    let part = &text[unit.logical.clone()];
    let mut chars = part.chars();
    if unit.rtl
        && let (Some(c), None) = (chars.next(), chars.next())
        && let Some(m) = unicode_bidi_mirroring::get_mirrored(c)
    {
        return m.to_string();
    }
    part.chars().filter(|c| !control(*c)).collect()
}

/// The lines of `text`: cut at `\n` (a `\r` before it goes too).
pub fn lines(text: &str) -> impl Iterator<Item = &str> {
    text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l))
}

/// The job that draws `line` of `text` in `format`, units in visual order.
pub fn job(text: &str, line: &Line, format: &TextFormat) -> LayoutJob {
    let mut job = LayoutJob::default();
    for unit in &line.units {
        let shown = shown(text, unit);
        if !shown.is_empty() {
            job.append(&shown, 0.0, format.clone());
        }
    }
    job
}

/// A line laid out: its units, where each one is on the screen, and the
/// galley that draws it.
#[derive(Clone)]
pub struct Laid {
    pub text: String,
    pub line: Line,
    /// Left and right edge of each unit, from the line's left edge.
    pub spans: Vec<(f32, f32)>,
    pub galley: Arc<Galley>,
    format: TextFormat,
}

impl Laid {
    pub fn new(ui: &Ui, text: &str, format: &TextFormat) -> Self {
        let line = Line::new(text);
        let galley = ui
            .ctx()
            .fonts_mut(|f| f.layout_job(job(text, &line, format)));
        // Each unit's width is its own layout's (cached by egui): the
        // galley's glyphs cannot be trusted to say where a unit ends.
        let mut spans = Vec::with_capacity(line.units.len());
        let mut x = 0.0;
        for unit in &line.units {
            let w = width(ui, &shown(text, unit), format);
            spans.push((x, x + w));
            x += w;
        }
        Self {
            text: text.to_owned(),
            line,
            spans,
            galley,
            format: format.clone(),
        }
    }

    pub fn size(&self) -> Vec2 {
        self.galley.size()
    }

    /// Where the caret stands (from the line's left edge) before the
    /// character at byte `at` (`at == text.len()`: after the last).
    ///
    /// The caret after a character sits at that character's trailing edge,
    /// inside its unit: after the last letter of a right-to-left word it is
    /// left of the word.
    pub fn caret_x(&self, ui: &Ui, at: usize) -> f32 {
        let Some(last) = self.line.units.len().checked_sub(1) else {
            return 0.0;
        };
        let (unit, edge) = if at > 0 {
            let before = prev_boundary(&self.text, at);
            match self.line.unit_of(before) {
                Some(u) => (u, at),
                None => (last, self.line.units[last].logical.end),
            }
        } else {
            match self.line.unit_of(0) {
                Some(u) => (u, 0),
                None => return 0.0,
            }
        };
        let u = &self.line.units[unit];
        let (left, right) = self.spans[unit];
        let prefix = self.prefix_width(ui, u, edge);
        if u.rtl { right - prefix } else { left + prefix }
    }

    /// The width of `unit`'s text up to byte `edge`.
    ///
    /// In a right-to-left word a prefix is measured with a zero-width joiner
    /// after it, so its last letter takes the joining form it has inside
    /// the word; and the widths never shrink from one prefix to the next
    /// (a lam-alef ligature is narrower than the lam alone was): the caret
    /// inside a ligature is a convention, but it never moves backwards.
    fn prefix_width(&self, ui: &Ui, unit: &Unit, edge: usize) -> f32 {
        let edge = edge.clamp(unit.logical.start, unit.logical.end);
        if edge == unit.logical.start {
            return 0.0;
        }
        let (l, r) = self.spans[self.line.units.iter().position(|x| x == unit).unwrap_or(0)];
        if edge == unit.logical.end {
            return r - l;
        }
        let measure = |end: usize| {
            let mut part: String = self.text[unit.logical.start..end]
                .chars()
                .filter(|c| !control(*c))
                .collect();
            if unit.rtl {
                part.push('\u{200d}');
            }
            width(ui, &part, &self.format).min(r - l)
        };
        if !unit.rtl {
            return measure(edge);
        }
        let mut widest: f32 = 0.0;
        let mut at = unit.logical.start;
        while at < edge {
            at = next_boundary(&self.text, at);
            widest = widest.max(measure(at));
        }
        widest
    }

    /// The caret position (byte offset, on a character boundary) nearest to
    /// `x` from the line's left edge.
    pub fn hit(&self, ui: &Ui, x: f32) -> usize {
        if self.line.units.is_empty() {
            return 0;
        }
        let mut best = (f32::INFINITY, 0);
        let consider = |at: usize, best: &mut (f32, usize)| {
            let d = (self.caret_x(ui, at) - x).abs();
            if d < best.0 {
                *best = (d, at);
            }
        };
        // Only the unit under x (or the nearest) is searched character by
        // character; its edges stand for the others.
        let nearest = self
            .spans
            .iter()
            .enumerate()
            .min_by(|a, b| {
                let d = |(l, r): (f32, f32)| {
                    if x < l {
                        l - x
                    } else if x > r {
                        x - r
                    } else {
                        0.0
                    }
                };
                d(*a.1).total_cmp(&d(*b.1))
            })
            .map(|(i, _)| i)
            .unwrap_or(0);
        let u = &self.line.units[nearest];
        for (at, _) in self.text[u.logical.clone()].char_indices() {
            consider(u.logical.start + at, &mut best);
        }
        consider(u.logical.end, &mut best);
        best.1
    }

    /// The stretches of the screen, left edge and right edge, that show the
    /// characters in bytes `from..to` (for drawing a selection).
    pub fn spans_of(&self, ui: &Ui, from: usize, to: usize) -> Vec<(f32, f32)> {
        let mut out = Vec::new();
        for (i, u) in self.line.units.iter().enumerate() {
            let a = from.max(u.logical.start);
            let b = to.min(u.logical.end);
            if a >= b {
                continue;
            }
            let (l, r) = self.spans[i];
            let pa = self.prefix_width(ui, u, a);
            let pb = self.prefix_width(ui, u, b);
            out.push(if u.rtl {
                (r - pb, r - pa)
            } else {
                (l + pa, l + pb)
            });
        }
        out
    }
}

/// The start of the character before byte `at`.
pub fn prev_boundary(text: &str, at: usize) -> usize {
    text[..at].char_indices().next_back().map_or(0, |(i, _)| i)
}

/// The end of the character at byte `at`.
pub fn next_boundary(text: &str, at: usize) -> usize {
    text[at..]
        .chars()
        .next()
        .map_or(text.len(), |c| at + c.len_utf8())
}

fn width(ui: &Ui, text: &str, format: &TextFormat) -> f32 {
    if text.is_empty() {
        return 0.0;
    }
    let job = LayoutJob::single_section(text.to_owned(), format.clone());
    ui.ctx().fonts_mut(|f| f.layout_job(job)).size().x
}

/// The format `text` is drawn in, as `ui.label` would draw it.
pub fn format_of(ui: &Ui, text: &RichText) -> TextFormat {
    let job = egui::WidgetText::from(text.clone()).into_layout_job(
        ui.style(),
        FontSelection::Default,
        Align::Center,
    );
    job.sections
        .first()
        .map(|s| s.format.clone())
        .unwrap_or_else(|| TextFormat {
            font_id: FontSelection::Default.resolve(ui.style()),
            color: Color32::PLACEHOLDER,
            ..Default::default()
        })
}

/// The most characters of one line laid out for the screen: a line is one
/// row (no wrapping), so more would be off the window anyway, and a
/// 64 KiB line of short right-to-left words from a hostile contact would be
/// tens of thousands of units to lay out in every frame that shows it.
pub const MAX_SHOWN: usize = 1_000;

/// `line`, cut to [`MAX_SHOWN`] characters with an ellipsis.
pub fn screen_line(line: &str) -> std::borrow::Cow<'_, str> {
    match line.char_indices().nth(MAX_SHOWN) {
        Some((cut, _)) => format!("{}…", &line[..cut]).into(),
        None => line.into(),
    }
}

/// Lines laid out in recent frames, by what they were laid out from: a
/// conversation shows the same rows frame after frame, and the bidi
/// analysis and the units' widths need not be redone for each.
#[derive(Default)]
struct LaidCache {
    lines: std::collections::HashMap<u64, (Arc<Laid>, u64)>,
    pass: u64,
}

/// `line` laid out in `format`, from the cache when it was laid out in
/// this or the last frame at the same scale with the same fonts.
fn laid_cached(ui: &Ui, line: &str, format: &TextFormat) -> Arc<Laid> {
    use std::hash::{Hash, Hasher};
    let ctx = ui.ctx();
    let mut h = std::collections::hash_map::DefaultHasher::new();
    line.hash(&mut h);
    format.hash(&mut h);
    ctx.pixels_per_point().to_bits().hash(&mut h);
    // A font found since (a script seen for the first time) may change
    // how a line shapes: it is then laid out anew.
    ctx.fonts(|f| f.discovered_fonts().len()).hash(&mut h);
    let key = h.finish();
    let pass = ctx.cumulative_pass_nr();
    let cache = ctx.memory_mut(|m| {
        m.data
            .get_temp_mut_or_default::<Arc<std::sync::Mutex<LaidCache>>>(egui::Id::unique(
                "cairn-laid-lines",
            ))
            .clone()
    });
    let mut cache = cache.lock().unwrap_or_else(|e| e.into_inner());
    if cache.pass != pass {
        // Forget what was not shown in the last frame.
        cache.lines.retain(|_, (_, used)| *used + 1 >= pass);
        cache.pass = pass;
    }
    if let Some((laid, used)) = cache.lines.get_mut(&key) {
        *used = pass;
        return Arc::clone(laid);
    }
    let laid = Arc::new(Laid::new(ui, line, format));
    cache.lines.insert(key, (Arc::clone(&laid), pass));
    laid
}

/// The lines of `text` laid out in `format`.
fn laid_lines(ui: &Ui, text: &str, format: &TextFormat) -> Vec<Arc<Laid>> {
    lines(text)
        .map(|l| laid_cached(ui, &screen_line(l), format))
        .collect()
}

/// Draws laid-out lines in `rect`; right-to-left lines to its right edge.
fn paint(ui: &Ui, rect: Rect, laid: &[Arc<Laid>], color: Color32) {
    let mut y = rect.top();
    for l in laid {
        let x = if l.line.rtl {
            rect.right() - l.size().x
        } else {
            rect.left()
        };
        ui.painter()
            .galley(egui::pos2(x, y), Arc::clone(&l.galley), color);
        y += l.size().y;
    }
}

fn size_of(laid: &[Arc<Laid>]) -> Vec2 {
    laid.iter().fold(Vec2::ZERO, |s, l| {
        egui::vec2(s.x.max(l.size().x), s.y + l.size().y)
    })
}

/// Like `ui.label`, for text in any script: the screen reader (and a test)
/// reads the text in logical order, as it was written. Right-click copies it.
pub fn label(ui: &mut Ui, text: impl Into<RichText>) -> Response {
    let text = text.into();
    let format = format_of(ui, &text);
    let laid = laid_lines(ui, text.text(), &format);
    let (rect, response) = ui.allocate_exact_size(size_of(&laid), Sense::click());
    if ui.is_rect_visible(rect) {
        paint(ui, rect, &laid, ui.visuals().text_color());
    }
    let words = text.text().to_owned();
    response.widget_info(|| {
        egui::WidgetInfo::labeled(egui::accesskit::Role::Label, true, words.clone())
    });
    response.context_menu(|ui| {
        if ui.button(crate::i18n::copy()).clicked() {
            ui.ctx().copy_text(text.text().to_owned());
            ui.close();
        }
    });
    response
}

/// Like `ui.selectable_label`, for text in any script.
pub fn selectable(ui: &mut Ui, selected: bool, text: impl Into<RichText>) -> Response {
    let text = text.into();
    let format = format_of(ui, &text);
    let laid = laid_lines(ui, text.text(), &format);
    let padding = ui.spacing().button_padding;
    let size = size_of(&laid) + 2.0 * padding;
    let (rect, response) = ui.allocate_exact_size(size, Sense::click());
    let words = text.text().to_owned();
    response.widget_info(|| {
        egui::WidgetInfo::selected(egui::accesskit::Role::Button, true, selected, words.clone())
    });
    if ui.is_rect_visible(rect) {
        let visuals = ui.style().interact_selectable(&response, selected);
        if selected || response.hovered() || response.highlighted() {
            ui.painter().rect(
                rect.expand(visuals.expansion),
                visuals.corner_radius,
                visuals.weak_bg_fill,
                visuals.bg_stroke,
                egui::StrokeKind::Inside,
            );
        }
        paint(ui, rect.shrink2(padding), &laid, visuals.text_color());
    }
    response
}

/// Like `ui.button` (or `ui.small_button`), for a text that may hold a
/// name in any script: drawn in visual order, read by its logical text.
pub fn button(ui: &mut Ui, text: impl Into<RichText>, small: bool) -> Response {
    let mut text = text.into();
    if small {
        text = text.small();
    }
    let format = format_of(ui, &text);
    let laid = Laid::new(ui, text.text(), &format);
    let mut button = egui::Button::new(egui::WidgetText::from(laid.galley));
    if small {
        button = button.small();
    }
    let response = ui.add(button);
    let words = text.text().to_owned();
    response.widget_info(|| {
        egui::WidgetInfo::labeled(egui::accesskit::Role::Button, true, words.clone())
    });
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The units' texts, left to right on the screen.
    fn visual(text: &str) -> Vec<String> {
        let line = Line::new(text);
        line.units.iter().map(|u| shown(text, u)).collect()
    }

    #[test]
    fn latin_is_one_unit() {
        assert_eq!(visual("hello world 42"), ["hello world 42"]);
        assert!(!Line::new("hello").rtl);
    }

    #[test]
    fn persian_words_run_right_to_left() {
        let line = Line::new("سلام دنیا");
        assert!(line.rtl);
        // "سلام" is read first, so it is the rightmost unit.
        assert_eq!(visual("سلام دنیا"), ["دنیا", " ", "سلام"]);
    }

    #[test]
    fn a_zero_width_non_joiner_stays_inside_its_word() {
        // می‌بینمت: the ZWNJ keeps "می" unjoined; it must not cut the word.
        assert_eq!(visual("می\u{200c}بینمت"), ["می\u{200c}بینمت"]);
    }

    #[test]
    fn numbers_in_persian_read_left_to_right() {
        // "year 1403 and 2024": both numbers keep their digit order.
        let v = visual("سال ۱۴۰۳ و 2024");
        assert_eq!(v, ["2024", " ", "و", " ", "۱", "۴", "۰", "۳", " ", "سال"]);
    }

    #[test]
    fn latin_inside_persian_keeps_its_order_and_place() {
        let v = visual("من Cairn را دارم");
        assert_eq!(v, ["دارم", " ", "را", " ", "Cairn", " ", "من"]);
    }

    #[test]
    fn persian_inside_english_is_turned_around_in_place() {
        let v = visual("Hello سلام دنیا world");
        assert_eq!(v, ["Hello ", "دنیا", " ", "سلام", " world"]);
        assert!(!Line::new("Hello سلام").rtl);
    }

    #[test]
    fn brackets_mirror_in_right_to_left_runs() {
        // "(hello)" in Persian: the logical "(" is drawn as ")" on the right.
        let v = visual("(سلام)");
        assert_eq!(v, ["(", "سلام", ")"]);
    }

    #[test]
    fn direction_controls_are_not_drawn() {
        // Fluent isolates its placeables: FSI name PDI.
        let v = visual("\u{2068}علی\u{2069} is here");
        assert!(
            v.iter()
                .all(|u| !u.contains('\u{2068}') && !u.contains('\u{2069}'))
        );
        assert!(v.concat().contains("علی"));
    }

    #[test]
    fn overrides_from_others_are_not_obeyed() {
        // The old file-name trick: shown as typed, not as "reportexe.jpg".
        let v = visual("report\u{202e}gpj.exe");
        assert_eq!(v.concat(), "reportgpj.exe");
        // An embedding cannot turn a Persian line around either.
        assert_eq!(
            visual("\u{202d}سلام دنیا\u{202c}").concat(),
            visual("سلام دنیا").concat()
        );
    }

    #[test]
    fn a_huge_line_is_cut_for_the_screen() {
        let line = "سلام دنیا ".repeat(8_000);
        let shown = screen_line(&line);
        assert!(shown.chars().count() <= MAX_SHOWN + 1, "{}", shown.len());
        assert!(shown.ends_with('…'));
        assert!(Line::new(&shown).units.len() < 2 * MAX_SHOWN);
        assert_eq!(screen_line("short"), "short");
    }

    #[test]
    fn every_character_is_in_exactly_one_unit() {
        for text in [
            "سلام، فردا ساعت شش در میدان می‌بینمت",
            "مرحبا بالعالم 123 (test) !",
            "မြန်မာ 中文 नमस्ते 😀",
            "a\u{202e}bc\u{202c}d",
        ] {
            let line = Line::new(text);
            let mut covered: Vec<Range<usize>> =
                line.units.iter().map(|u| u.logical.clone()).collect();
            covered.sort_by_key(|r| r.start);
            let mut at = 0;
            for r in covered {
                assert_eq!(r.start, at, "{text:?}");
                at = r.end;
            }
            assert_eq!(at, text.len(), "{text:?}");
        }
    }
}
