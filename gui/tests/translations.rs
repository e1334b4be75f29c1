//! The translation files agree with the English one: they parse, name the
//! same messages, and use the same placeables (a translation that drops
//! `{ $name }` would show a sentence without the name; one that invents a
//! placeable shows an error marker).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};

use fluent_syntax::ast::{Entry, Expression, InlineExpression, Pattern, PatternElement};

/// The app's Fluent files, and the command line's (`node/i18n`).
const FILES: [(&str, &str); 2] = [("i18n", "cairn.ftl"), ("../node/i18n", "cairn-cli.ftl")];

/// Each message of a Fluent file, with the variables it uses.
fn messages(dir: &str, file: &str, lang: &str) -> BTreeMap<String, BTreeSet<String>> {
    let path = format!("{}/{dir}/{lang}/{file}", env!("CARGO_MANIFEST_DIR"));
    let source = std::fs::read_to_string(&path).unwrap();
    let resource = fluent_syntax::parser::parse(source.as_str())
        .unwrap_or_else(|(_, errors)| panic!("{path} does not parse: {errors:?}"));
    let mut out = BTreeMap::new();
    for entry in resource.body {
        if let Entry::Message(m) = entry {
            let mut vars = BTreeSet::new();
            if let Some(value) = &m.value {
                pattern_vars(value, &mut vars);
            }
            assert!(
                out.insert(m.id.name.to_owned(), vars).is_none(),
                "{path}: {} twice",
                m.id.name
            );
        }
    }
    out
}

fn pattern_vars(p: &Pattern<&str>, out: &mut BTreeSet<String>) {
    for element in &p.elements {
        if let PatternElement::Placeable { expression } = element {
            expression_vars(expression, out);
        }
    }
}

fn expression_vars(e: &Expression<&str>, out: &mut BTreeSet<String>) {
    match e {
        Expression::Inline(i) => inline_vars(i, out),
        Expression::Select { selector, variants } => {
            inline_vars(selector, out);
            for v in variants {
                pattern_vars(&v.value, out);
            }
        }
    }
}

fn inline_vars(i: &InlineExpression<&str>, out: &mut BTreeSet<String>) {
    match i {
        InlineExpression::VariableReference { id } => {
            out.insert(id.name.to_owned());
        }
        InlineExpression::Placeable { expression } => expression_vars(expression, out),
        _ => {}
    }
}

#[test]
fn every_language_translates_every_message_with_the_same_placeables() {
    for (dir, file) in FILES {
        let english = messages(dir, file, "en-US");
        assert!(english.len() > 40, "{file}: {} messages", english.len());
        for (tag, _) in cairn_gui::i18n::LANGUAGES
            .iter()
            .filter(|(t, _)| *t != "en-US")
        {
            let theirs = messages(dir, file, tag);
            let missing: Vec<_> = english
                .keys()
                .filter(|k| !theirs.contains_key(*k))
                .collect();
            assert!(missing.is_empty(), "{file}: {tag} lacks {missing:?}");
            let extra: Vec<_> = theirs
                .keys()
                .filter(|k| !english.contains_key(*k))
                .collect();
            assert!(extra.is_empty(), "{file}: {tag} has unknown {extra:?}");
            for (id, vars) in &english {
                assert_eq!(
                    &theirs[id], vars,
                    "{file}: {tag}: {id} uses other placeables"
                );
            }
        }
    }
}

#[test]
fn each_language_is_chosen_by_its_tag_and_says_so_in_its_own_words() {
    for (tag, own_name) in cairn_gui::i18n::LANGUAGES {
        let now = cairn_gui::i18n::select(Some(tag));
        assert_eq!(now.to_string(), *tag);
        let title = cairn_gui::tr!("tab-chats");
        assert!(!title.is_empty(), "{own_name}");
        if *tag != "en-US" {
            assert_ne!(title, "Chats", "{tag} shows English");
        }
        assert_eq!(
            cairn_gui::i18n::rtl(),
            matches!(*tag, "fa" | "ar"),
            "{tag}: direction"
        );
    }
    // A language not shipped falls back to English, not to an error.
    cairn_gui::i18n::select(Some("xx"));
    assert_eq!(cairn_gui::tr!("tab-chats"), "Chats");
}
