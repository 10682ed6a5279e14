//! `_redirects`: one `FROM TO [STATUS][!]` rule a line, parsed into compiled rules, and the first one that
//! matches a request.
//!
//! Fields are separated by spaces or tabs; a field starting with '#' begins a comment to the end of the line
//! (so `/a /b#top` keeps its fragment, `/a /b # moved` is commented). STATUS defaults to 301. What Netlify
//! allows beyond that — query-parameter matches (`/store id=:id /blog/:id`), `Country=`, `Language=`,
//! `Role=` and other conditions, host-based FROMs, proxying — is refused with a line saying so, rather than
//! silently matching more or less than the site's author meant.

use std::ops::ControlFlow;

use super::index::Index;
use super::pattern::Pattern;
use super::target::Target;
use super::{count_rule, for_each_line, is_http_url, Redirect, RuleError};

const FILE: &str = "_redirects";

/// Redirects, a rewrite (200) and a 404 page.
const STATUSES: &[u16] = &[200, 301, 302, 303, 307, 308, 404];

#[derive(Debug, Default)]
pub(super) struct RedirectRules {
    rules: Vec<Rule>,
    index: Index,
}

#[derive(Debug)]
struct Rule {
    from: Pattern,
    to: Target,
    status: u16,
    force: bool,
}

pub(super) fn parse(text: &str) -> Result<RedirectRules, RuleError> {
    let mut rules = Vec::new();
    let mut count = 0;
    for_each_line(FILE, text, |line| {
        let fields: Vec<&str> =
            line.split([' ', '\t']).filter(|f| !f.is_empty()).take_while(|f| !f.starts_with('#')).collect();
        if fields.is_empty() {
            return Ok(());
        }
        count_rule(&mut count)?;
        rules.push(rule(&fields)?);
        Ok(())
    })?;
    let mut index = Index::default();
    for (i, rule) in rules.iter().enumerate() {
        index.insert(u32::try_from(i).unwrap_or(u32::MAX), rule.from.key());
    }
    Ok(RedirectRules { rules, index })
}

/// One line's fields, comment removed; never empty.
fn rule(fields: &[&str]) -> Result<Rule, String> {
    let (from, to, rest) = match fields {
        [from, to, rest @ ..] => (*from, *to, rest),
        _ => return Err("expected FROM TO [STATUS]".into()),
    };
    if is_http_url(from) {
        return Err(format!("'{from}': rules for a host are not supported (FROM must be a path)"));
    }
    if !from.starts_with('/') {
        return Err(format!("FROM '{from}' must be a path starting with '/'"));
    }
    if to.contains('=') && !to.starts_with('/') && !is_http_url(to) {
        return Err(format!("query-parameter matches ('{to}') are not supported"));
    }
    let (status, force, conditions) = match rest.split_first() {
        None => (301, false, rest),
        Some((word, conditions)) if !is_condition(word) => {
            let (status, force) = status(word)?;
            (status, force, conditions)
        }
        Some(_) => (301, false, rest),
    };
    if let Some(field) = conditions.first() {
        return Err(match field.split_once('=') {
            Some((key, _)) => format!("conditions ({key}=...) are not supported"),
            None => format!("unexpected field '{field}' after the status"),
        });
    }
    let from = Pattern::parse(from)?;
    let to = Target::parse(to, status, &from)?;
    Ok(Rule { from, to, status, force })
}

/// `Country=au,nz`, `Language=en`, `Role=admin`, `Cookie=...`: a condition, not a status.
fn is_condition(word: &str) -> bool {
    word.contains('=')
}

/// `301`, `200!`: the status and whether it is forced.
fn status(word: &str) -> Result<(u16, bool), String> {
    let (digits, force) = match word.strip_suffix('!') {
        Some(digits) => (digits, true),
        None => (word, false),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("'{word}' is not a status"));
    }
    match digits.parse::<u16>() {
        Ok(code) if STATUSES.contains(&code) => Ok((code, force)),
        _ => Err(format!("unknown status {digits}")),
    }
}

impl RedirectRules {
    pub(super) fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// See [`super::Rules::redirect_for`]. A rule whose expansion is unusable (a rewrite to a '..' segment
    /// through an odd capture) does not apply, and the next one is tried.
    pub(super) fn redirect_for(&self, path: &str, query: Option<&str>) -> Option<Redirect> {
        let mut captures = Vec::new();
        self.index.candidates(path, |i| {
            let Some(rule) = self.rules.get(i) else { return ControlFlow::Continue(()) };
            if !rule.from.captures(path, &mut captures) {
                return ControlFlow::Continue(());
            }
            match rule.to.expand(&captures, query) {
                Some(target) => ControlFlow::Break(Redirect { status: rule.status, target, force: rule.force }),
                None => ControlFlow::Continue(()),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A status field and what it means (status, forced) or the error.
    type StatusRow = (&'static str, Result<(u16, bool), &'static str>);

    #[test]
    fn statuses() {
        let rows: &[StatusRow] = &[
            ("301", Ok((301, false))),
            ("200!", Ok((200, true))),
            ("404", Ok((404, false))),
            ("308!", Ok((308, true))),
            ("299", Err("unknown status 299")),
            ("500", Err("unknown status 500")),
            ("99999", Err("unknown status 99999")),
            ("!", Err("'!' is not a status")),
            ("301!!", Err("'301!!' is not a status")),
            ("permanent", Err("'permanent' is not a status")),
            ("+301", Err("'+301' is not a status")),
        ];
        for (word, want) in rows {
            assert_eq!(status(word), want.map_err(str::to_owned), "{word}");
        }
    }

    #[test]
    fn fields() {
        let rows: &[(&[&str], &str)] = &[
            (&["/a"], "expected FROM TO"),
            (&["https://blog.example.com/*", "/blog/:splat"], "rules for a host"),
            (&["a", "/b"], "FROM 'a' must be a path"),
            (&["/store", "id=:id", "/blog/:id", "301"], "query-parameter matches ('id=:id')"),
            (&["/", "/anz", "302", "Country=au,nz"], "conditions (Country=...)"),
            (&["/", "/fr", "302", "Language=fr"], "conditions (Language=...)"),
            (&["/admin/*", "/admin/:splat", "200!", "Role=admin"], "conditions (Role=...)"),
            (&["/a", "/b", "Country=de"], "conditions (Country=...)"),
            (&["/a", "/b", "301", "extra"], "unexpected field 'extra'"),
            (&["/a", "/b", "moved"], "'moved' is not a status"),
        ];
        for (fields, want) in rows {
            match rule(fields) {
                Ok(r) => panic!("{fields:?} accepted: {r:?}"),
                Err(e) => assert!(e.contains(want), "{fields:?}: {e:?} does not say {want:?}"),
            }
        }
    }
}
