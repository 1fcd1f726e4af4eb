//! What a route's controller finds of its request in the step's assigns: the path's
//! segments, the query's parameters, whether the client asks for JSON.

/// The values of a route's `{name}` path segments, in the step's
/// [`assigns`](crate::pipeline::Step::assigns) while its controller runs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PathParams(pub Vec<(String, String)>);

impl PathParams {
    /// The value of segment `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }
}

/// In the step's [`assigns`](crate::pipeline::Step::assigns) while a page route's
/// controller runs for a client that asks for JSON (`Accept` or `Content-Type` naming
/// JSON): the controller may answer [`Answer::Json`](super::Answer::Json).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WantsJson;

/// The request's query parameters (decoded, in order), in the step's
/// [`assigns`](crate::pipeline::Step::assigns) while a route's controller runs: what a
/// provider's callback (`?code=...&state=...`) carries.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct QueryParams(pub Vec<(String, String)>);

impl QueryParams {
    /// Parses a query string (without the `?`); a malformed one reads as empty.
    pub fn parse(query: &str) -> Self {
        Self(serde_urlencoded::from_str(query).unwrap_or_default())
    }

    /// The first value of parameter `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }
}
