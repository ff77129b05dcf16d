//! Just enough `multipart/form-data` (RFC 7578) for `media/upload`: the whole body is in
//! memory (bounded by the route's body limit), and one named part is taken out of it.

/// One part of a form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part<'a> {
    /// The `filename` of its `Content-Disposition`, if any.
    pub filename: Option<String>,
    /// Its `Content-Type`, if any.
    pub content_type: Option<String>,
    /// Its bytes.
    pub data: &'a [u8],
}

/// The boundary of a `multipart/form-data` content type.
pub fn boundary(content_type: &str) -> Option<String> {
    let (mime, params) = content_type.split_once(';')?;
    if !mime.trim().eq_ignore_ascii_case("multipart/form-data") {
        return None;
    }
    params.split(';').find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("boundary")
            .then(|| v.trim().trim_matches('"').to_string())
            .filter(|b| !b.is_empty() && b.len() <= 70)
    })
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The value of parameter `name` in a header value such as
/// `form-data; name="media"; filename="a.jpg"`.
fn param(value: &str, name: &str) -> Option<String> {
    value.split(';').skip(1).find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case(name)
            .then(|| v.trim().trim_matches('"').to_string())
    })
}

/// The part named `name` in `body`; `None` if the body holds no such part or is not
/// well-formed multipart up to it.
pub fn part<'a>(body: &'a [u8], boundary: &str, name: &str) -> Option<Part<'a>> {
    let delimiter = format!("--{boundary}");
    let mut rest = &body[find(body, delimiter.as_bytes())? + delimiter.len()..];
    let next = format!("\r\n--{boundary}");
    loop {
        // After a delimiter: `--` ends the body, else CRLF then the part's headers.
        if rest.starts_with(b"--") {
            return None;
        }
        rest = rest.strip_prefix(b"\r\n")?;
        let headers_end = find(rest, b"\r\n\r\n")?;
        let headers = std::str::from_utf8(&rest[..headers_end]).ok()?;
        let content = &rest[headers_end + 4..];
        let end = find(content, next.as_bytes())?;
        let data = &content[..end];
        let mut part_name = None;
        let mut filename = None;
        let mut content_type = None;
        for line in headers.split("\r\n") {
            let Some((k, v)) = line.split_once(':') else {
                continue;
            };
            if k.trim().eq_ignore_ascii_case("content-disposition") {
                part_name = param(v, "name");
                filename = param(v, "filename");
            } else if k.trim().eq_ignore_ascii_case("content-type") {
                content_type = Some(v.trim().to_string());
            }
        }
        if part_name.as_deref() == Some(name) {
            return Some(Part {
                filename,
                content_type,
                data,
            });
        }
        rest = &content[end + next.len()..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_named_part() {
        let ct = "multipart/form-data; boundary=\"XyZ\"";
        let b = boundary(ct).unwrap();
        assert_eq!(b, "XyZ");
        let body = b"--XyZ\r\nContent-Disposition: form-data; name=\"other\"\r\n\r\nv\r\n--XyZ\r\nContent-Disposition: form-data; name=\"media\"; filename=\"a.png\"\r\nContent-Type: image/png\r\n\r\n\x89PNG\r\n--X\r\n--XyZ--\r\n";
        let p = part(body, &b, "media").unwrap();
        assert_eq!(p.filename.as_deref(), Some("a.png"));
        assert_eq!(p.content_type.as_deref(), Some("image/png"));
        assert_eq!(p.data, b"\x89PNG\r\n--X");
        assert!(part(body, &b, "nope").is_none());
        assert!(part(b"garbage", &b, "media").is_none());
        assert!(part(b"--XyZ\r\nno headers end", &b, "media").is_none());
        assert_eq!(boundary("application/json"), None);
    }

    #[test]
    fn garbage_never_panics() {
        let mut x = 0x2545_F491_4F6C_DD1Du64;
        let pieces: [&[u8]; 7] = [
            b"--b",
            b"\r\n",
            b"\r\n\r\n",
            b"name=\"media\"",
            b"Content-Disposition: form-data; ",
            b"--",
            b"x",
        ];
        for _ in 0..20_000 {
            let mut body = Vec::new();
            for _ in 0..(x % 12) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                body.extend_from_slice(pieces[(x % 7) as usize]);
            }
            let _ = part(&body, "b", "media");
            let _ = boundary(&String::from_utf8_lossy(&body));
        }
    }
}
