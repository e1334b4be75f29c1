//! Where the caret and the selection go in a laid-out line, and how the
//! text widgets read to a screen reader, in right-to-left and mixed text
//! (with the system's fonts, as the app draws it).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use cairn_gui::text::{Laid, button, label};
use egui::text::TextFormat;
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;

/// Lays out `text` in the app's body font and hands it to `check`.
fn with_laid(text: &'static str, check: impl Fn(&egui::Ui, &Laid) + 'static) {
    let mut h = Harness::builder().build_ui(move |ui| {
        if ui.ctx().cumulative_pass_nr() == 0 {
            cairn_gui::fonts::install(ui.ctx());
        }
        let format = TextFormat {
            font_id: egui::TextStyle::Body.resolve(ui.style()),
            ..Default::default()
        };
        let laid = Laid::new(ui, text, &format);
        check(ui, &laid);
    });
    h.run_steps(2);
}

/// Every caret position of `text` (byte offsets on character boundaries).
fn positions(text: &str) -> Vec<usize> {
    text.char_indices()
        .map(|(i, _)| i)
        .chain([text.len()])
        .collect()
}

#[test]
fn the_caret_runs_right_to_left_through_a_persian_word() {
    with_laid("سلام", |ui, laid| {
        let w = laid.size().x;
        assert!(laid.line.rtl);
        let xs: Vec<f32> = positions("سلام")
            .into_iter()
            .map(|at| laid.caret_x(ui, at))
            .collect();
        // Before the first letter: the right edge; after the last: the left.
        assert!((xs[0] - w).abs() < 0.5, "{xs:?} width {w}");
        assert!(xs[xs.len() - 1].abs() < 0.5, "{xs:?}");
        // Leftwards letter by letter (inside the lam-alef ligature two
        // positions may meet: it is one glyph).
        assert!(xs.windows(2).all(|p| p[1] <= p[0]), "{xs:?}");
        let distinct = xs.windows(2).filter(|p| p[1] < p[0] - 0.5).count();
        assert!(distinct >= 3, "{xs:?}");
    });
}

#[test]
fn a_click_puts_the_caret_where_it_is_drawn() {
    for text in ["سلام دنیا", "abc سلام 123", "من Cairn را ۱۴۰۳ دارم", "hello"]
    {
        with_laid(text, move |ui, laid| {
            for at in positions(text) {
                let x = laid.caret_x(ui, at);
                let back = laid.hit(ui, x);
                // Two positions can share an x (the edges between runs);
                // then the one found must be drawn there too.
                assert!(
                    back == at || (laid.caret_x(ui, back) - x).abs() < 0.5,
                    "{text:?}: caret {at} at {x} came back as {back}"
                );
            }
        });
    }
}

#[test]
fn a_selection_covers_the_letters_it_holds() {
    // "Cairn" inside a Persian line: selecting it lights the stretch where
    // the Latin word is drawn, which is between the two Persian words.
    let text = "سلام Cairn دنیا";
    with_laid(text, move |ui, laid| {
        let from = text.find("Cairn").unwrap();
        let spans = laid.spans_of(ui, from, from + "Cairn".len());
        assert_eq!(spans.len(), 1, "{spans:?}");
        let (l, r) = spans[0];
        let w = laid.size().x;
        assert!(l > 0.0 && r < w && r - l > 10.0, "{spans:?} in {w}");
        // The first Persian word is drawn right of it, the last left of it.
        let first = laid.spans_of(ui, 0, "سلام".len())[0];
        let last = laid.spans_of(ui, text.len() - "دنیا".len(), text.len())[0];
        assert!(
            first.0 >= r - 0.5 && last.1 <= l + 0.5,
            "{first:?} {last:?}"
        );
    });
}

#[test]
fn screen_readers_read_labels_and_buttons_in_logical_order() {
    let mut h = Harness::builder().build_ui(|ui| {
        if ui.ctx().cumulative_pass_nr() == 0 {
            cairn_gui::fonts::install(ui.ctx());
        }
        label(ui, "سلام Cairn دنیا");
        button(ui, "Remove علی رضا", true);
    });
    h.run_steps(2);
    assert!(h.query_by_label("سلام Cairn دنیا").is_some());
    assert!(h.query_by_label("Remove علی رضا").is_some());
}
