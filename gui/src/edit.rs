//! A one-line text field that edits text in any script: Persian and Arabic
//! right to left, mixed with English and numbers, shaped as it is typed.
//!
//! egui's `TextEdit` places its caret by glyph index, which egui 0.37 gets
//! wrong inside right-to-left runs (egui issue #8576), and it draws mixed
//! lines in logical order. This field keeps the text in logical order (as it
//! is sent), lays it out with [`crate::text`], and puts the caret and the
//! selection where those units are on the screen.
//!
//! Keys: typing and pasting insert at the caret (replacing a selection);
//! Backspace and Delete remove one character (a selection, if any); Left
//! and Right move one character *visually* (in a right-to-left word, Left
//! moves forward through the text), with Shift to select; Home and End go to
//! the line's start and end; Ctrl+A selects all; Ctrl+C, Ctrl+X, Ctrl+V copy,
//! cut and paste; Enter submits; Escape leaves the field.

use egui::{
    Color32, Event, EventFilter, Key, Rect, Response, Sense, StrokeKind, TextStyle, Ui, vec2,
};

use crate::text::{Laid, next_boundary, prev_boundary};

/// Where the caret is, what is selected, how far the line is scrolled.
#[derive(Clone, Copy, Debug, Default)]
struct State {
    /// Byte offset of the caret in the text.
    caret: usize,
    /// The other end of the selection (== `caret`: none).
    anchor: usize,
    /// How far a line wider than the field is scrolled to the left.
    scroll: f32,
}

/// What the field did this frame.
pub struct Output {
    pub response: Response,
    /// Enter was pressed in the field.
    pub submitted: bool,
}

fn clean(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_control() || *c == '\t')
        .collect()
}

/// Puts the caret of the field `id_salt` (in this `ui`) after the last
/// character of `text`, and the keyboard focus on it: for a field whose
/// text was just put there (a message to edit).
pub fn caret_to_end(ui: &mut Ui, id_salt: &str, text: &str) {
    let id = ui.make_persistent_id(("line-edit", id_salt));
    let end = text.len();
    ui.data_mut(|d| {
        let st: &mut State = d.get_temp_mut_or_default(id);
        st.caret = end;
        st.anchor = end;
    });
    ui.memory_mut(|m| m.request_focus(id));
}

/// A field of `width` points editing `text`; `id_salt` names it (its caret
/// is remembered under it), `hint` shows while it is empty.
pub fn line_edit(ui: &mut Ui, text: &mut String, id_salt: &str, width: f32, hint: &str) -> Output {
    let id = ui.make_persistent_id(("line-edit", id_salt));
    let font_id = TextStyle::Body.resolve(ui.style());
    let row = ui.fonts_mut(|f| f.row_height(&font_id));
    let margin = ui.spacing().button_padding;
    let (rect, _) = ui.allocate_exact_size(vec2(width, row + 2.0 * margin.y), Sense::hover());
    let mut response = ui.interact(rect, id, Sense::click_and_drag());
    let inner = rect.shrink2(margin);
    let format = egui::text::TextFormat {
        font_id,
        color: Color32::PLACEHOLDER,
        ..Default::default()
    };
    let prev = text.clone();
    let mut st: State = ui.data_mut(|d| d.get_temp(id)).unwrap_or_default();
    // The text may have changed under the field (cleared after sending).
    let fix = |at: usize, text: &str| {
        if at <= text.len() && text.is_char_boundary(at) {
            at
        } else {
            text.len()
        }
    };
    st.caret = fix(st.caret, text);
    st.anchor = fix(st.anchor, text);
    let mut laid = Laid::new(ui, text, &format);
    let origin = |laid: &Laid, st: &State| {
        let w = laid.size().x;
        if w <= inner.width() {
            if laid.line.rtl {
                inner.right() - w
            } else {
                inner.left()
            }
        } else {
            inner.left() - st.scroll
        }
    };

    // The pointer: a click puts the caret, a drag selects.
    if let Some(pos) = response.interact_pointer_pos()
        && (response.clicked() || response.drag_started() || response.dragged())
    {
        response.request_focus();
        let at = laid.hit(ui, pos.x - origin(&laid, &st));
        let shift = ui.input(|i| i.modifiers.shift);
        st.caret = at;
        // A drag under way moves the caret only; its start (or a click)
        // moves the anchor too, unless Shift extends the selection.
        let dragging_on = response.dragged() && !response.drag_started();
        if !dragging_on && !shift {
            st.anchor = at;
        }
    }

    let mut submitted = false;
    if response.has_focus() {
        ui.memory_mut(|m| {
            m.set_focus_lock_filter(
                id,
                EventFilter {
                    horizontal_arrows: true,
                    ..Default::default()
                },
            )
        });
        let events = ui.input(|i| i.events.clone());
        for event in events {
            let (lo, hi) = (st.caret.min(st.anchor), st.caret.max(st.anchor));
            let insert = |s: &str, st: &mut State, text: &mut String| {
                let (lo, hi) = (st.caret.min(st.anchor), st.caret.max(st.anchor));
                text.replace_range(lo..hi, s);
                st.caret = lo + s.len();
                st.anchor = st.caret;
            };
            match event {
                Event::Text(s) | Event::Paste(s) => insert(&clean(&s), &mut st, text),
                Event::Ime(egui::ImeEvent::Commit(s)) => insert(&clean(&s), &mut st, text),
                Event::Copy if lo < hi => ui.ctx().copy_text(text[lo..hi].to_owned()),
                Event::Cut if lo < hi => {
                    ui.ctx().copy_text(text[lo..hi].to_owned());
                    insert("", &mut st, text);
                }
                Event::Key {
                    key,
                    pressed: true,
                    modifiers,
                    ..
                } => match key {
                    Key::Enter => submitted = true,
                    Key::Escape => response.surrender_focus(),
                    Key::Backspace if lo < hi => insert("", &mut st, text),
                    Key::Backspace if st.caret > 0 => {
                        st.anchor = prev_boundary(text, st.caret);
                        insert("", &mut st, text);
                    }
                    Key::Delete if lo < hi => insert("", &mut st, text),
                    Key::Delete if st.caret < text.len() => {
                        st.anchor = next_boundary(text, st.caret);
                        insert("", &mut st, text);
                    }
                    Key::A if modifiers.command => {
                        st.anchor = 0;
                        st.caret = text.len();
                    }
                    Key::Home | Key::End => {
                        st.caret = if key == Key::Home { 0 } else { text.len() };
                        if !modifiers.shift {
                            st.anchor = st.caret;
                        }
                    }
                    Key::ArrowLeft | Key::ArrowRight => {
                        // Visually: in a right-to-left unit, left is forward.
                        let rtl = rtl_at(&laid, text, st.caret);
                        let forward = (key == Key::ArrowRight) != rtl;
                        if !modifiers.shift && lo < hi {
                            st.caret = if forward { hi } else { lo };
                        } else if forward {
                            st.caret = next_boundary(text, st.caret);
                        } else {
                            st.caret = prev_boundary(text, st.caret);
                        }
                        if !modifiers.shift {
                            st.anchor = st.caret;
                        }
                    }
                    _ => {}
                },
                _ => {}
            }
        }
        if *text != prev {
            response.mark_changed();
            laid = Laid::new(ui, text, &format);
        }
    }

    // Keep the caret in view on a line wider than the field.
    let caret_x = laid.caret_x(ui, st.caret);
    if laid.size().x > inner.width() {
        if caret_x - st.scroll > inner.width() {
            st.scroll = caret_x - inner.width();
        } else if caret_x < st.scroll {
            st.scroll = caret_x;
        }
        st.scroll = st.scroll.clamp(0.0, laid.size().x - inner.width());
    } else {
        st.scroll = 0.0;
    }
    let x0 = origin(&laid, &st);

    if ui.is_rect_visible(rect) {
        let visuals = ui.visuals();
        let stroke = if response.has_focus() {
            visuals.selection.stroke
        } else {
            visuals.widgets.inactive.bg_stroke
        };
        ui.painter().rect(
            rect,
            visuals.widgets.inactive.corner_radius,
            visuals.text_edit_bg_color(),
            stroke,
            StrokeKind::Inside,
        );
        let painter = ui.painter_at(inner.expand(1.0));
        let (lo, hi) = (st.caret.min(st.anchor), st.caret.max(st.anchor));
        if lo < hi {
            for (l, r) in laid.spans_of(ui, lo, hi) {
                painter.rect_filled(
                    Rect::from_x_y_ranges(x0 + l..=x0 + r, inner.y_range()),
                    0.0,
                    visuals.selection.bg_fill,
                );
            }
        }
        if text.is_empty() && !response.has_focus() && !hint.is_empty() {
            let hint_laid = Laid::new(ui, hint, &format);
            let hx = if hint_laid.line.rtl {
                inner.right() - hint_laid.size().x
            } else {
                inner.left()
            };
            painter.galley(
                egui::pos2(hx, inner.top()),
                hint_laid.galley.clone(),
                visuals.weak_text_color(),
            );
        }
        painter.galley(
            egui::pos2(x0, inner.top()),
            laid.galley.clone(),
            visuals.text_color(),
        );
        if response.has_focus() {
            let x = x0 + caret_x;
            let cursor = Rect::from_x_y_ranges(x..=x, inner.y_range());
            painter.line_segment(
                [cursor.center_top(), cursor.center_bottom()],
                visuals.text_cursor.stroke,
            );
            let to_global = ui
                .ctx()
                .layer_transform_to_global(ui.layer_id())
                .unwrap_or_default();
            ui.output_mut(|o| {
                o.ime = Some(egui::output::IMEOutput {
                    purpose: egui::IMEPurpose::Normal,
                    rect: to_global * inner,
                    cursor_rect: to_global * cursor,
                    should_interrupt_composition: false,
                });
            });
        }
    }

    ui.data_mut(|d| d.insert_temp(id, st));
    let (enabled, now, hint) = (ui.is_enabled(), text.clone(), hint.to_owned());
    response.widget_info(|| egui::WidgetInfo::text_edit(enabled, &prev, &now, &hint));
    Output {
        response,
        submitted,
    }
}

/// Whether the character before the caret (or at it, at the start) is in a
/// right-to-left unit.
fn rtl_at(laid: &Laid, text: &str, caret: usize) -> bool {
    let at = if caret > 0 {
        prev_boundary(text, caret)
    } else {
        0
    };
    laid.line
        .units
        .iter()
        .find(|u| u.logical.contains(&at))
        .map_or(laid.line.rtl, |u| u.rtl)
}
