//! Finding `ac-discovery` meta tags in a discovery page.
//!
//! The Go code runs an HTML5 tokenizer over the whole document and keeps every `<meta>` start
//! tag. This is a small scanner that follows the same tokenizer states where they decide what is
//! a tag: comments, bogus comments (`<!DOCTYPE>`, `<?...>`), end tags, raw-text elements
//! (`<script>`, `<style>`, `<title>`...) whose contents are text, and attribute values that may
//! hold `>` inside quotes. Anything cut off by the end of input is dropped, as the tokenizer
//! does. Every step moves forward, so the work is linear in the input.

/// Which of the two discovery meta tags this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MetaKind {
    /// `ac-discovery`: `content` is a URL template for images and signatures.
    Discovery,
    /// `ac-discovery-pubkeys`: `content` is a URL of public keys (not a template).
    Pubkeys,
}

/// One `<meta name="ac-discovery[-pubkeys]" content="PREFIX CONTENT">`, entities decoded.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MetaTag {
    pub kind: MetaKind,
    /// The name prefix the tag applies to.
    pub prefix: String,
    /// The URL template (`Discovery`) or keys URL (`Pubkeys`).
    pub content: String,
}

/// Every discovery meta tag in `html`, in document order. Never fails: tags that are malformed
/// or lack a prefix or a URL are skipped.
pub fn parse_meta_tags(html: &str) -> Vec<MetaTag> {
    let mut scanner = Scanner {
        s: html.as_bytes(),
        src: html,
        pos: 0,
    };
    let mut out = Vec::new();
    while let Some(tag) = scanner.next_start_tag() {
        if tag.is_meta {
            out.extend(meta_tag(tag.name_attr, tag.content_attr));
        }
    }
    out
}

/// Build a [`MetaTag`] from the raw `name` and `content` attribute values, if they make one.
fn meta_tag(name: Option<&str>, content: Option<&str>) -> Option<MetaTag> {
    let kind = match decode_entities(name?).as_str() {
        "ac-discovery" => MetaKind::Discovery,
        "ac-discovery-pubkeys" => MetaKind::Pubkeys,
        _ => return None,
    };
    let content = decode_entities(content?);
    let (prefix, rest) = content.trim().split_once(char::is_whitespace)?;
    let rest = rest.trim();
    if prefix.is_empty() || rest.is_empty() {
        return None;
    }
    Some(MetaTag {
        kind,
        prefix: prefix.to_string(),
        content: rest.to_string(),
    })
}

/// What the scanner keeps of a start tag: only what meta tags need, so a tag with a huge
/// number of attributes costs no more than reading it.
struct StartTag<'a> {
    is_meta: bool,
    name_attr: Option<&'a str>,
    content_attr: Option<&'a str>,
}

/// Elements whose contents the tokenizer reads as text up to the matching end tag.
const RAW_TEXT: &[&str] = &[
    "iframe",
    "noembed",
    "noframes",
    "noscript",
    "plaintext",
    "script",
    "style",
    "textarea",
    "title",
    "xmp",
];

fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | b'\r' | 0x0c)
}

struct Scanner<'a> {
    s: &'a [u8],
    /// The same bytes as `s`; slices are cut only at ASCII delimiters, so they stay valid UTF-8.
    src: &'a str,
    pos: usize,
}

impl<'a> Scanner<'a> {
    fn peek(&self, ahead: usize) -> Option<u8> {
        self.s.get(self.pos + ahead).copied()
    }

    fn find_from(&self, needle: &str) -> Option<usize> {
        self.src.get(self.pos..)?.find(needle).map(|i| self.pos + i)
    }

    /// Move past the next `>`; false at end of input.
    fn skip_past_gt(&mut self) -> bool {
        match self.find_from(">") {
            Some(i) => {
                self.pos = i + 1;
                true
            }
            None => false,
        }
    }

    /// The next start tag in the document, or None at the end.
    fn next_start_tag(&mut self) -> Option<StartTag<'a>> {
        loop {
            self.pos = self.find_from("<")? + 1;
            match self.peek(0)? {
                c if c.is_ascii_alphabetic() => return self.start_tag(),
                b'/' => match self.peek(1)? {
                    c if c.is_ascii_alphabetic() => {
                        self.pos += 1;
                        self.tag_body()?; // end tag: attributes are read, then ignored
                    }
                    // `</>` is ignored; `</1...>` is a bogus comment. Both end at `>`.
                    _ => self.skip_past_gt().then_some(())?,
                },
                b'!' => self.markup_declaration()?,
                b'?' => self.skip_past_gt().then_some(())?,
                _ => {} // a lone '<' is text
            }
        }
    }

    /// `<!--comment-->` or a bogus comment such as `<!DOCTYPE html>`; `pos` is on the `!`.
    fn markup_declaration(&mut self) -> Option<()> {
        if self.src.get(self.pos..)?.starts_with("!--") {
            self.pos += 3;
            let rest = self.src.get(self.pos..)?;
            // `<!-->` and `<!--->` are complete (empty) comments.
            if rest.starts_with('>') || rest.starts_with("->") {
                self.pos += if rest.starts_with('>') { 1 } else { 2 };
                return Some(());
            }
            // Ends at the first `-->` or `--!>`; one forward scan keeps many comments linear.
            let mut from = 0;
            loop {
                let dash = from + rest.get(from..)?.find("--")?;
                let after = &rest[dash + 2..];
                if after.starts_with('>') || after.starts_with("!>") {
                    self.pos += dash + if after.starts_with('>') { 3 } else { 4 };
                    return Some(());
                }
                from = dash + 1;
            }
        } else {
            self.skip_past_gt().then_some(())
        }
    }

    /// A start tag; `pos` is on the first letter of its name.
    fn start_tag(&mut self) -> Option<StartTag<'a>> {
        let start = self.pos;
        let tag = self.tag_body()?;
        let name = &self.src[start..tag.name_end];
        if let Some(raw) = RAW_TEXT.iter().find(|r| r.eq_ignore_ascii_case(name)) {
            self.skip_raw_text(raw);
        }
        Some(StartTag {
            is_meta: name.eq_ignore_ascii_case("meta"),
            name_attr: tag.name_attr,
            content_attr: tag.content_attr,
        })
    }

    /// Skip the text inside a raw-text element, up to (not past) its end tag.
    fn skip_raw_text(&mut self, name: &str) {
        if name == "plaintext" {
            self.pos = self.s.len(); // nothing ends it
            return;
        }
        while let Some(i) = self.find_from("</") {
            let after = i + 2 + name.len();
            let matches_name = self
                .src
                .get(i + 2..after)
                .is_some_and(|n| n.eq_ignore_ascii_case(name));
            let boundary = self
                .s
                .get(after)
                .is_none_or(|&c| is_space(c) || c == b'/' || c == b'>');
            if matches_name && boundary {
                self.pos = i;
                return;
            }
            self.pos = i + 2;
        }
        self.pos = self.s.len();
    }

    /// Read a tag's name and attributes through the closing `>`; `pos` is on the name.
    /// None when input ends inside the tag.
    fn tag_body(&mut self) -> Option<TagBody<'a>> {
        while self
            .peek(0)
            .is_some_and(|c| !is_space(c) && c != b'/' && c != b'>')
        {
            self.pos += 1;
        }
        let mut body = TagBody {
            name_end: self.pos,
            name_attr: None,
            content_attr: None,
        };
        loop {
            // A stray '/' not followed by '>' acts as whitespace; '/>' only marks self-closing.
            while self.peek(0).is_some_and(|c| is_space(c) || c == b'/') {
                self.pos += 1;
            }
            if self.peek(0)? == b'>' {
                self.pos += 1;
                return Some(body);
            }
            let (key, value) = self.attribute()?;
            // The first of duplicate attributes wins, as HTML5 says.
            if key.eq_ignore_ascii_case("name") && body.name_attr.is_none() {
                body.name_attr = Some(value);
            } else if key.eq_ignore_ascii_case("content") && body.content_attr.is_none() {
                body.content_attr = Some(value);
            }
        }
    }

    /// One `key`, `key=value`, `key="value"` or `key='value'`; `pos` is on the key.
    fn attribute(&mut self) -> Option<(&'a str, &'a str)> {
        let start = self.pos;
        self.pos += 1; // the first character belongs to the name even if it is '='
        while self
            .peek(0)
            .is_some_and(|c| !is_space(c) && !matches!(c, b'/' | b'>' | b'='))
        {
            self.pos += 1;
        }
        let key = self.src.get(start..self.pos)?;
        while self.peek(0).is_some_and(is_space) {
            self.pos += 1;
        }
        if self.peek(0)? != b'=' {
            return Some((key, ""));
        }
        self.pos += 1;
        while self.peek(0).is_some_and(is_space) {
            self.pos += 1;
        }
        let value = match self.peek(0)? {
            q @ (b'"' | b'\'') => {
                self.pos += 1;
                let end = self.find_from(if q == b'"' { "\"" } else { "'" })?;
                let v = &self.src[self.pos..end];
                self.pos = end + 1;
                v
            }
            b'>' => "",
            _ => {
                let vstart = self.pos;
                while self.peek(0).is_some_and(|c| !is_space(c) && c != b'>') {
                    self.pos += 1;
                }
                &self.src[vstart..self.pos]
            }
        };
        Some((key, value))
    }
}

struct TagBody<'a> {
    name_end: usize,
    name_attr: Option<&'a str>,
    content_attr: Option<&'a str>,
}

/// Decode character references in an attribute value: numeric ones (`&#39;`, `&#x27;`) and the
/// named ones a URL or prefix plausibly holds. Unknown or malformed references stay as written.
/// Only references closed by `;` are decoded.
pub fn decode_entities(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        // Bound the look-ahead so a value full of '&' still decodes in linear time.
        let window = rest
            .char_indices()
            .take_while(|&(i, _)| i < 32)
            .map(|(i, c)| i + c.len_utf8());
        let semi = window.last().and_then(|end| rest[1..end].find(';'));
        match semi.and_then(|i| decode_one(&rest[1..1 + i]).map(|c| (i, c))) {
            Some((i, c)) => {
                out.push(c);
                rest = &rest[i + 2..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// The character for a reference body (between `&` and `;`).
fn decode_one(body: &str) -> Option<char> {
    if let Some(num) = body.strip_prefix('#') {
        let (digits, radix) = match num.strip_prefix(['x', 'X']) {
            Some(hex) => (hex, 16),
            None => (num, 10),
        };
        if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
            return None;
        }
        // NUL, surrogates and out-of-range numbers become U+FFFD, as HTML5 says.
        let code = u32::from_str_radix(digits, radix).unwrap_or(u32::MAX);
        return Some(
            char::from_u32(code)
                .filter(|&c| c != '\0')
                .unwrap_or('\u{FFFD}'),
        );
    }
    Some(match body {
        "amp" => '&',
        "lt" => '<',
        "gt" => '>',
        "quot" => '"',
        "apos" => '\'',
        "nbsp" => '\u{a0}',
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tag(kind: MetaKind, prefix: &str, content: &str) -> MetaTag {
        MetaTag {
            kind,
            prefix: prefix.into(),
            content: content.into(),
        }
    }

    fn disc(prefix: &str, content: &str) -> MetaTag {
        tag(MetaKind::Discovery, prefix, content)
    }

    #[test]
    fn spec_examples() {
        let html = r#"<html><head>
<meta name="ac-discovery" content="example.com https://storage.example.com/{os}/{arch}/{name}-{version}.{ext}">
<meta name="ac-discovery" content="example.com hdfs://storage.example.com/{name}-{version}-{os}-{arch}.{ext}">
<meta name="ac-discovery-pubkeys" content="example.com https://example.com/pubkeys.gpg">
</head></html>"#;
        assert_eq!(
            parse_meta_tags(html),
            vec![
                disc(
                    "example.com",
                    "https://storage.example.com/{os}/{arch}/{name}-{version}.{ext}"
                ),
                disc(
                    "example.com",
                    "hdfs://storage.example.com/{name}-{version}-{os}-{arch}.{ext}"
                ),
                tag(
                    MetaKind::Pubkeys,
                    "example.com",
                    "https://example.com/pubkeys.gpg"
                ),
            ]
        );
    }

    #[test]
    fn tag_soup_variations_parse_alike() {
        let want = vec![disc("a.com", "https://a.com/{name}.{ext}")];
        for html in [
            r#"<meta content="a.com https://a.com/{name}.{ext}" name="ac-discovery">"#,
            r#"<META NAME="ac-discovery" CONTENT="a.com https://a.com/{name}.{ext}"/>"#,
            r#"<Meta name='ac-discovery' content='a.com https://a.com/{name}.{ext}' />"#,
            "<meta name=ac-discovery content=\"a.com https://a.com/{name}.{ext}\">",
            "<meta\n\tname = \"ac-discovery\"\n content=\"  a.com \t\n https://a.com/{name}.{ext}  \">",
            r#"<meta charset=utf-8 id=x name="ac-discovery" data-x='>' content="a.com https://a.com/{name}.{ext}">"#,
            r#"<body><div><p>text <meta name="ac-discovery" content="a.com https://a.com/{name}.{ext}"></p></div></body>"#,
            r#"<meta name="ac-discovery"content="a.com https://a.com/{name}.{ext}">"#,
            r#"<meta/name="ac-discovery"/content="a.com https://a.com/{name}.{ext}">"#,
            r#"a < b <meta name="ac-discovery" content="a.com https://a.com/{name}.{ext}">"#,
            r#"<meta name="ac-discovery" name="other" content="a.com https://a.com/{name}.{ext}" content="x y">"#,
        ] {
            assert_eq!(parse_meta_tags(html), want, "{html}");
        }
    }

    #[test]
    fn non_tags_are_ignored() {
        let m = r#"<meta name="ac-discovery" content="a.com https://x/{ext}">"#;
        for html in [
            format!("<!-- {m} -->"),
            format!("<!--x--!>{m}"), // that comment closes, so the tag counts
            format!("<script>var s = '{m}';</script>"),
            format!("<SCRIPT type=x>'{m}'</scriptx></Script>"),
            format!("<title>{m}</title>"),
            format!("<textarea/>{m}</textarea>"),
            format!("<plaintext>{m}</plaintext>"),
            format!("<div title=\"{}\">", m.replace('"', "&quot;")),
            m.replacen("<meta", "</meta", 1),
            format!("<!DOCTYPE html><?xml {m}?>"),
            m.replacen("<meta", "<link", 1),
        ] {
            let n = parse_meta_tags(&html).len();
            let want = usize::from(html.starts_with("<!--x--!>"));
            assert_eq!(n, want, "{html}");
        }
        // After a raw-text element ends, scanning resumes.
        let html = format!("<script>x</script >{m}<style></style>{m}");
        assert_eq!(parse_meta_tags(&html).len(), 2);
    }

    #[test]
    fn malformed_tags_are_skipped() {
        for html in [
            r#"<meta name="ac-discovery" content="a.com">"#,
            r#"<meta name="ac-discovery" content="  ">"#,
            r#"<meta name="ac-discovery">"#,
            r#"<meta content="a.com https://x/{ext}">"#,
            r#"<meta name="AC-DISCOVERY" content="a.com https://x/{ext}">"#,
            r#"<meta name="ac-discovery-other" content="a.com https://x/{ext}">"#,
            r#"<meta name="ac-discovery" content="a.com https://x/{ext}"#,
            r#"<meta name="ac-discovery" content="a.com https://x/{ext}""#,
            r#"<meta name="ac-discovery" content='a.com https://x/{ext}">"#,
            "<!-- <meta name=\"ac-discovery\" content=\"a.com https://x/{ext}\">",
            "<",
            "<m",
            "</",
            "<!",
            "<!--",
            "<?",
            "&",
            "<meta name=",
            "<meta name=\"",
        ] {
            assert!(parse_meta_tags(html).is_empty(), "{html}");
        }
        let html = r#"<meta name="ac-discovery" content="a.com"><meta name="ac-discovery" content="b.com https://b/{ext}">"#;
        assert_eq!(
            parse_meta_tags(html),
            vec![disc("b.com", "https://b/{ext}")]
        );
    }

    #[test]
    fn entities_are_decoded() {
        let html = r#"<meta name="ac&#45;discovery" content="a.com https://a.com/get?n={name}&amp;v={version}&#38;e=&#x7b;ext&#x7D;&lt;&gt;&quot;&#39;&apos;">"#;
        assert_eq!(
            parse_meta_tags(html),
            vec![disc(
                "a.com",
                "https://a.com/get?n={name}&v={version}&e={ext}<>\"''"
            )]
        );
        assert_eq!(decode_entities("&amp"), "&amp");
        assert_eq!(decode_entities("&bogus; & &;"), "&bogus; & &;");
        assert_eq!(
            decode_entities("&#0;&#xD800;&#99999999999;&#x;"),
            "\u{FFFD}\u{FFFD}\u{FFFD}&#x;"
        );
        assert_eq!(decode_entities("é&amp;é&#233;"), "é&éé");
        assert_eq!(decode_entities("&éééééééé;"), "&éééééééé;");
    }
}
