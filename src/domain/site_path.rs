//! Paths on this site that no browser can read as another site's address.

/// `candidate` when it is a path on this site that a browser cannot read as another site's
/// address: it starts with one `/`, and neither it nor its percent-decoding starts with `//` or
/// `/\\`, holds a backslash (browsers read `\\` as `/`) or a control character (browsers drop
/// tabs and newlines, so `/\t/host` becomes `//host`). Used for `next` after login, for every
/// link built from a request's path, and for image paths an admin gives.
pub fn same_site_path(candidate: &str) -> Option<&str> {
    fn plain(path: &str) -> bool {
        path.starts_with('/')
            && !path[1..].starts_with(['/', '\\'])
            && !path.chars().any(|c| c == '\\' || c.is_control())
    }
    let decoded = percent_encoding::percent_decode_str(candidate).decode_utf8_lossy();
    (plain(candidate) && plain(&decoded)).then_some(candidate)
}

#[cfg(test)]
mod tests {
    use super::same_site_path;

    #[test]
    fn only_plain_same_site_paths_pass() {
        for good in [
            "/",
            "/account",
            "/dashboard?days=7",
            "/staff/pickups/ABC",
            "/a%20b",
        ] {
            assert_eq!(same_site_path(good), Some(good));
        }
        for bad in [
            "",
            "account",
            "https://evil.example/",
            "//evil.example",
            "/\\evil.example",
            "\\\\evil.example",
            "/\t/evil.example/x",
            "/%09/evil.example/x",
            "/\n/evil.example",
            "/x\r\nSet-Cookie: a=b",
            "/x\u{7f}",
            "/%2F/evil.example",
            "/%5Cevil.example",
            "/a/b\\c",
        ] {
            assert_eq!(same_site_path(bad), None, "{bad:?}");
        }
    }
}
