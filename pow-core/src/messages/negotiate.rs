//! Choosing the language of a response: `Accept-Language` negotiation, or the language an
//! app's middleware chose.

use super::{LanguageIdentifier, Messages};

/// Longest `Accept-Language` header considered; the rest is ignored.
const MAX_ACCEPT_LANGUAGE_LEN: usize = 1024;
/// Most language ranges considered from one header.
const MAX_ACCEPT_LANGUAGE_ITEMS: usize = 16;

/// Picks the best of `available` for an `Accept-Language` header (Fluent's filtering
/// negotiation over the ranges ordered by quality). Falls back to the first available
/// language (English) for a missing, unknown or malformed header.
pub fn negotiate(
    accept_language: Option<&str>,
    available: &[LanguageIdentifier],
) -> LanguageIdentifier {
    let default = available
        .first()
        .cloned()
        .unwrap_or_else(|| unic_langid::langid!("en"));
    let Some(header) = accept_language else {
        return default;
    };
    let header = truncate(header, MAX_ACCEPT_LANGUAGE_LEN);
    let requested = parse_accept_language(header);
    if requested.is_empty() {
        return default;
    }
    let offered: Vec<Offered> = available
        .iter()
        .enumerate()
        .filter_map(|(index, l)| {
            fluent_langneg::LanguageIdentifier::try_from_bytes(l.to_string().as_bytes())
                .ok()
                .map(|id| Offered { index, id })
        })
        .collect();
    fluent_langneg::negotiate_languages(
        &requested,
        &offered,
        None,
        fluent_langneg::NegotiationStrategy::Filtering,
    )
    .first()
    .and_then(|o| available.get(o.index))
    .cloned()
    .unwrap_or(default)
}

struct Offered {
    index: usize,
    id: fluent_langneg::LanguageIdentifier,
}

impl AsRef<fluent_langneg::LanguageIdentifier> for Offered {
    fn as_ref(&self) -> &fluent_langneg::LanguageIdentifier {
        &self.id
    }
}

impl PartialEq for Offered {
    fn eq(&self, other: &Self) -> bool {
        self.index == other.index
    }
}

fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Language ranges of an `Accept-Language` header, best quality first (stable for ties);
/// `*`, `q=0` and unparsable entries are dropped.
pub(super) fn parse_accept_language(header: &str) -> Vec<fluent_langneg::LanguageIdentifier> {
    let mut ranges: Vec<(f32, fluent_langneg::LanguageIdentifier)> = header
        .split(',')
        .take(MAX_ACCEPT_LANGUAGE_ITEMS)
        .filter_map(|item| {
            let mut parts = item.split(';');
            let tag = parts.next()?.trim();
            if tag.is_empty() || tag == "*" {
                return None;
            }
            let mut quality = 1.0_f32;
            for param in parts {
                if let Some(q) = param.trim().strip_prefix("q=") {
                    quality = q.trim().parse().ok().filter(|q: &f32| q.is_finite())?;
                }
            }
            if quality <= 0.0 {
                return None;
            }
            let id = fluent_langneg::LanguageIdentifier::try_from_bytes(tag.as_bytes()).ok()?;
            Some((quality, id))
        })
        .collect();
    ranges.sort_by(|a, b| b.0.total_cmp(&a.0));
    ranges.into_iter().map(|(_, id)| id).collect()
}

/// The language of a request: a [`LanguageIdentifier`] an app's middleware put in the
/// request extensions (if offered), else the negotiated `Accept-Language`.
pub fn request_language(
    req: &dyn crate::request::RequestSource,
    messages: &dyn Messages,
) -> LanguageIdentifier {
    let available = messages.languages();
    let facts = req.facts();
    if let Some(chosen) = facts.language {
        if available.contains(&chosen) {
            return chosen;
        }
    }
    negotiate(facts.accept_language.as_deref(), available)
}
