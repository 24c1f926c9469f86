//! What a person's text may hold, wherever it is stored or signed.

/// A message in the reader's language, of the two it is written in (Traditional Chinese when `zh`).
pub fn said(zh: bool, en: impl Into<String>, zh_text: impl Into<String>) -> String {
    if zh { zh_text.into() } else { en.into() }
}

/// Whether the text holds a Chinese character (CJK Unified Ideographs, basic block and extension A).
pub fn has_han(text: &str) -> bool {
    text.chars()
        .any(|c| matches!(c, '\u{4E00}'..='\u{9FFF}' | '\u{3400}'..='\u{4DBF}'))
}

/// Whether `c` may stand in stored or signed text: no control character but tab and newline, and
/// none of the bidirectional embeddings, overrides and isolates, which can make a page show text in
/// another order than the one signed.
pub fn is_allowed_char(c: char) -> bool {
    let control = c.is_control() && c != '\t' && c != '\n';
    let bidi_control = matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}');
    !(control || bidi_control)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tab_newline_and_letters_pass_controls_and_overrides_do_not() {
        for c in ['a', '池', '\t', '\n', ' ', '\u{200F}'] {
            assert!(is_allowed_char(c), "{c:?}");
        }
        for c in [
            '\0', '\r', '\u{7}', '\u{1b}', '\u{7f}', '\u{85}', '\u{202A}', '\u{202E}', '\u{2066}',
            '\u{2069}',
        ] {
            assert!(!is_allowed_char(c), "{c:?}");
        }
    }

    #[test]
    fn chinese_text_is_told_from_english() {
        assert!(has_han("沒有這個代碼的預約"));
        assert!(has_han("lot RICE-01 of 台梗九號"));
        assert!(!has_han("no lot RICE-01 of GTIN 04712345000022"));
        assert!(
            !has_han("（）、："),
            "CJK punctuation alone is not Chinese text"
        );
    }
}
