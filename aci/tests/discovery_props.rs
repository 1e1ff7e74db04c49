//! Property tests for discovery: references round-trip through Display, and the meta tag
//! scanner neither panics nor misses a well-formed tag hidden in noise, on any input.

use std::time::{Duration, Instant};

use aci::discovery::{
    AppReference, MetaKind, MetaTag, decode_entities, endpoints, fill_template, parse_meta_tags,
};
use aci::types::AcIdentifier;
use proptest::prelude::*;

const IDENT: &str = "[a-z0-9]{1,4}([-._~/][a-z0-9]{1,4}){0,3}";

fn label_value() -> impl Strategy<Value = String> {
    // Anything but the reference's separators, whitespace and controls.
    "[^,:\\s\\p{C}]{1,8}"
}

fn app_reference() -> impl Strategy<Value = AppReference> {
    let labels = prop::collection::btree_map(
        IDENT.prop_filter("reserved", |l| l != "name"),
        label_value(),
        0..5,
    );
    (IDENT, labels).prop_map(|(name, labels)| {
        let mut app = AppReference::new(AcIdentifier::new(name).unwrap());
        for (k, v) in labels {
            app = app.with_label(&k, &v).unwrap();
        }
        app
    })
}

/// Fragments that steer random input into the scanner's interesting states.
fn html_soup() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("<".to_string()),
        Just("</".to_string()),
        Just(">".to_string()),
        Just("/>".to_string()),
        Just("<meta ".to_string()),
        Just("<META\t".to_string()),
        Just("<script>".to_string()),
        Just("</script".to_string()),
        Just("<title/>".to_string()),
        Just("<!--".to_string()),
        Just("--".to_string()),
        Just("--!>".to_string()),
        Just("<!".to_string()),
        Just("<?".to_string()),
        Just("name=".to_string()),
        Just("name=\"ac-discovery\"".to_string()),
        Just("content=".to_string()),
        Just("'".to_string()),
        Just("\"".to_string()),
        Just("=".to_string()),
        Just("&".to_string()),
        Just("&#x".to_string()),
        Just("&amp;".to_string()),
        Just(";".to_string()),
        Just(" ".to_string()),
        "\\PC{0,6}",
        "[\\u{80}-\\u{10FFFF}]{1,3}",
    ];
    prop::collection::vec(piece, 0..40).prop_map(|v| v.concat())
}

fn attr(quote: u8, key: &str, value: &str) -> String {
    match quote {
        0 => format!("{key}=\"{value}\""),
        1 => format!("{key}='{value}'"),
        _ => format!("{key} = \"{value}\""),
    }
}

proptest! {
    #[test]
    fn reference_display_round_trips(app in app_reference()) {
        let shown = app.to_string();
        let back = AppReference::parse(&shown).unwrap();
        prop_assert_eq!(&back, &app);
        prop_assert_eq!(back.to_string(), shown);
    }

    #[test]
    fn reference_parse_never_panics(s in "\\PC{0,40}") {
        if let Ok(app) = AppReference::parse(&s) {
            prop_assert_eq!(AppReference::parse(&app.to_string()).unwrap(), app);
        }
    }

    #[test]
    fn meta_parse_never_panics(s in "\\PC{0,200}") {
        for tag in parse_meta_tags(&s) {
            prop_assert!(!tag.prefix.is_empty() && !tag.content.is_empty());
        }
    }

    #[test]
    fn meta_parse_never_panics_on_soup(s in html_soup()) {
        let tags = parse_meta_tags(&s);
        let app = AppReference::parse("a.com/b").unwrap();
        let _ = endpoints(&tags, &app);
    }

    /// A well-formed tag after any complete element is found, whatever the attribute order,
    /// quoting, tag-name case and closing style.
    #[test]
    fn well_formed_tag_is_found(
        prefix in "[a-z0-9.]{1,10}",
        url in "[a-z0-9/{}.:?=]{1,20}",
        quote in 0u8..3,
        swap in any::<bool>(),
        upper in any::<bool>(),
        close in prop_oneof![Just(">"), Just("/>"), Just(" />")],
        before in prop_oneof![Just(""), Just("<p class=x>text</p>"), Just("<!-- c -->"), Just("<br/>")],
    ) {
        let name = attr(quote, "name", "ac-discovery-pubkeys");
        let content = attr(quote, "content", &format!("{prefix} {url}"));
        let attrs = if swap { format!("{content} {name}") } else { format!("{name} {content}") };
        let tag = if upper { "META" } else { "meta" };
        let html = format!("{before}<{tag} {attrs}{close}");
        prop_assert_eq!(
            parse_meta_tags(&html),
            vec![MetaTag { kind: MetaKind::Pubkeys, prefix, content: url }]
        );
    }

    #[test]
    fn entity_free_text_is_unchanged(s in "[^&]{0,50}") {
        prop_assert_eq!(decode_entities(&s), s);
    }

    /// Templates made of known variables always render, and one unknown variable anywhere
    /// (labels here have components of at most 4 letters, so `{zzzzzq}` is never a label)
    /// makes the template skipped.
    #[test]
    fn templates_render_known_variables_only(
        app in app_reference(),
        pieces in prop::collection::vec(
            prop_oneof![
                "[a-z/.:]{0,4}",
                Just("{name}".to_string()),
                Just("{ext}".to_string()),
                Just("{version}".to_string()),
            ],
            0..8,
        ),
        at in any::<prop::sample::Index>(),
    ) {
        let mut pieces = pieces;
        for label in app.labels().keys() {
            pieces.push(format!("{{{label}}}"));
        }
        let template = pieces.concat();
        let url = fill_template(&template, &app, "aci.asc").unwrap();
        let has_ext = template.contains("{ext}");
        prop_assert!(!has_ext || url.contains("aci.asc"), "{} -> {}", template, url);
        pieces.insert(at.index(pieces.len() + 1), "{zzzzzq}".to_string());
        prop_assert_eq!(fill_template(&pieces.concat(), &app, "aci"), None);
    }
}

/// Hostile shapes of a large page still scan in linear time.
#[test]
fn large_inputs_scan_quickly() {
    const N: usize = 1 << 20;
    let shapes = [
        "<".repeat(N),
        "</".repeat(N / 2),
        "<!---->".repeat(N / 7),
        "<!-- -- ".repeat(N / 8),
        "<script></scrip".repeat(N / 16),
        "<a b='".repeat(N / 6),
        format!("<meta content=\"{}\">", "&".repeat(N)),
        format!("<meta {}>", "x ".repeat(N / 2)),
    ];
    for html in &shapes {
        let start = Instant::now();
        let _ = parse_meta_tags(html);
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "slow on {:?}...",
            &html[..20]
        );
    }
}
