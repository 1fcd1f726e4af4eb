//! Reading the mails a suite's app wrote (`.eml` files of the engine's `FileMailer`).

use base64::Engine as _;

/// The decoded `text/plain` part of the MIME message `eml`: its body up to the next line
/// that starts with the message's own boundary (a line of the body may start with `--`,
/// as a quoted-printable soft break before a token's `--` does), decoded from
/// quoted-printable or base64 as its headers say. `None` without such a part, or for one
/// that does not decode.
pub fn text_part(eml: &str) -> Option<String> {
    let eml = eml.replace("\r\n", "\n");
    let lower = eml.to_ascii_lowercase();
    let start = lower.find("content-type: text/plain")?;
    let (headers, rest) = eml[start..].split_once("\n\n")?;
    let body = match boundary(&eml[..start]) {
        Some(boundary) => rest.split(&format!("\n--{boundary}")).next()?,
        None => rest,
    };
    let headers = headers.to_ascii_lowercase();
    if headers.contains("content-transfer-encoding: base64") {
        let compact: String = body.split_whitespace().collect();
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(compact)
            .ok()?;
        String::from_utf8(bytes).ok()
    } else if headers.contains("content-transfer-encoding: quoted-printable") {
        quoted_printable(body)
    } else {
        Some(body.to_owned())
    }
}

/// The last `boundary` parameter before a part: the boundary of the multipart that holds
/// it.
fn boundary(before: &str) -> Option<&str> {
    let at = before.to_ascii_lowercase().rfind("boundary=")?;
    let value = &before[at + "boundary=".len()..];
    let value = value.strip_prefix('"').map_or_else(
        || value.split([';', '\n', ' ']).next(),
        |quoted| quoted.split('"').next(),
    )?;
    (!value.is_empty()).then_some(value)
}

/// Decodes quoted-printable text (soft line breaks joined).
fn quoted_printable(body: &str) -> Option<String> {
    let joined = body.replace("=\n", "");
    let bytes = joined.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'=' {
            out.push(u8::from_str_radix(joined.get(i + 1..i + 3)?, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A mail whose link's token has `--` right after a quoted-printable soft break.
    const MAIL: &str = "Content-Type: multipart/alternative;\r\n boundary=\"B0undary\"\r\n\r\n\
        --B0undary\r\nContent-Type: text/plain; charset=utf-8\r\n\
        Content-Transfer-Encoding: quoted-printable\r\n\r\n\
        Open http://x/confirm/abc._H=\r\n--rest-of-token to go on.=0A\r\n\
        --B0undary\r\nContent-Type: text/html\r\n\r\n<p>html</p>\r\n--B0undary--\r\n";

    #[test]
    fn a_body_line_that_starts_with_two_dashes_is_not_the_boundary() {
        assert_eq!(
            text_part(MAIL).as_deref(),
            Some("Open http://x/confirm/abc._H--rest-of-token to go on.\n")
        );
    }

    #[test]
    fn a_single_part_mail_is_its_body() {
        let mail = "Content-Type: text/plain\r\n\r\nHello --there\r\n";
        assert_eq!(text_part(mail).as_deref(), Some("Hello --there\n"));
    }
}
