//! The config file (`--config PATH`), read as command-line arguments.
//!
//! A TOML file whose keys are the long option names is turned into the `--name=value` arguments the same
//! options would be on the command line, so every value goes through clap's parsers and `Config::from_cli`:
//! one validation path, one meaning per option. What TOML itself can tell — a syntax error, an unknown key,
//! a value of the wrong type — is found here, and each argument remembers the line it came from, so a
//! problem found later can still be reported as `FILE:LINE: ...`.
//!
//! A relative path in the file (`root`, `access-log`, `compress-cache`, `write-token-file`, a `unix:` listen
//! address) is taken relative to the directory of the file, not to the working directory of whoever started
//! the server.

use std::ffi::OsString;
use std::path::Path;

use clap::{ArgAction, Command};
use toml::de::{DeTable, DeValue};
use toml::Spanned;

/// Options that cannot be set from the file: the file itself, and what only makes sense per invocation.
const COMMAND_LINE_ONLY: &[&str] = &["config", "check", "help", "version"];

/// One key of the file, as the command-line arguments it stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// clap's id of the option (the `Cli` field's name).
    pub id: String,
    /// The key as written: the option's long name (`root` for the positional).
    pub key: String,
    /// Line of the key.
    pub line: usize,
    pub kind: Kind,
    /// The values (relative paths already resolved), each with the line it is written on; a flag has none.
    pub values: Vec<(OsString, usize)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The positional ROOT.
    Positional,
    /// A flag: given (`true`) or not (`false`).
    Flag(bool),
    /// One value.
    Single,
    /// A repeatable option: an array (or one string).
    Repeatable,
}

impl Entry {
    /// The arguments this key adds, in the `--name=value` form (a value starting with `-` stays a value). The
    /// positional's value is returned as is: the caller places it.
    pub fn args(&self) -> Vec<OsString> {
        match self.kind {
            Kind::Flag(true) => vec![format!("--{}", self.key).into()],
            Kind::Flag(false) => Vec::new(),
            Kind::Positional => self.values.iter().map(|(v, _)| v.clone()).collect(),
            Kind::Single | Kind::Repeatable => self
                .values
                .iter()
                .map(|(v, _)| {
                    let mut arg = OsString::from(format!("--{}=", self.key));
                    arg.push(v);
                    arg
                })
                .collect(),
        }
    }

    /// The line of the value `text` (as clap or `Config` quote it), else of the key.
    pub fn line_of_value(&self, text: &str) -> usize {
        self.values.iter().find(|(v, _)| v.to_string_lossy() == text).map_or(self.line, |(_, line)| *line)
    }
}

/// Reads the file at `path` (named `shown` in messages). Err is one line: `shown:LINE: problem`.
pub fn read(shown: &Path, path: &Path, cmd: &Command) -> Result<Vec<Entry>, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: cannot read the config file: {e}", shown.display()))?;
    let text = std::str::from_utf8(&bytes).map_err(|e| {
        format!("{}:{}: the config file is not UTF-8", shown.display(), line_at(&bytes, e.valid_up_to()))
    })?;
    let base = path.parent().unwrap_or(Path::new("/"));
    parse(text, base, cmd).map_err(|(line, msg)| format!("{}:{line}: {msg}", shown.display()))
}

/// The 1-based line of byte `offset` in `text`.
pub fn line_at(text: &[u8], offset: usize) -> usize {
    text[..offset.min(text.len())].iter().filter(|b| **b == b'\n').count() + 1
}

/// Parses `text` into entries in the order they are written, resolving relative paths against `base`.
/// Err is the line and the problem.
pub fn parse(text: &str, base: &Path, cmd: &Command) -> Result<Vec<Entry>, (usize, String)> {
    let line = |offset: usize| line_at(text.as_bytes(), offset);
    let table = DeTable::parse(text).map_err(|e| {
        let at = e.span().map_or(1, |span| line(span.start));
        (at, e.message().replace('\n', " "))
    })?;
    let mut cmd = cmd.clone();
    cmd.build();
    let mut keys: Vec<_> = table.get_ref().iter().collect();
    keys.sort_by_key(|(key, _)| key.span().start);
    let mut entries = Vec::new();
    for (key, value) in keys {
        let name: &str = key.get_ref();
        let key_line = line(key.span().start);
        let arg = cmd
            .get_arguments()
            .find(|a| a.get_long().map_or(a.is_positional() && a.get_id() == name, |long| long == name));
        let Some(arg) = arg else {
            return Err((key_line, unknown_key(name, &cmd)));
        };
        if COMMAND_LINE_ONLY.contains(&name) {
            return Err((key_line, format!("'{name}' can only be given on the command line")));
        }
        let kind = if arg.is_positional() {
            Kind::Positional
        } else {
            match arg.get_action() {
                ArgAction::SetTrue => match value.get_ref() {
                    DeValue::Boolean(b) => Kind::Flag(*b),
                    other => return Err((line(value.span().start), wrong_type(name, "true or false", other))),
                },
                ArgAction::Append => Kind::Repeatable,
                _ => Kind::Single,
            }
        };
        let values = match kind {
            Kind::Flag(_) => Vec::new(),
            Kind::Positional | Kind::Single => vec![scalar(name, value, &line)?],
            Kind::Repeatable => match value.get_ref() {
                DeValue::Array(items) => {
                    items.iter().map(|item| scalar(name, item, &line)).collect::<Result<Vec<_>, _>>()?
                }
                _ => vec![scalar(name, value, &line)?],
            },
        };
        let values = values.into_iter().map(|(text, at)| (relative_to(base, name, &text), at)).collect();
        entries.push(Entry { id: arg.get_id().to_string(), key: name.to_string(), line: key_line, kind, values });
    }
    Ok(entries)
}

/// One value written as it would be on the command line: a string as is, a number as written.
fn scalar(
    key: &str,
    value: &Spanned<DeValue<'_>>,
    line: &impl Fn(usize) -> usize,
) -> Result<(String, usize), (usize, String)> {
    let at = line(value.span().start);
    let text = match value.get_ref() {
        DeValue::String(s) => s.to_string(),
        // Display keeps a 0o/0x/0b prefix, so `socket-mode = 0o660` means what `--socket-mode 0o660` does.
        DeValue::Integer(i) => i.to_string(),
        DeValue::Float(f) => f.as_str().to_string(),
        other => return Err((at, wrong_type(key, "a string or a number", other))),
    };
    Ok((text, at))
}

fn wrong_type(key: &str, expected: &str, got: &DeValue<'_>) -> String {
    format!("{key}: expected {expected}, not {}", with_article(got.type_str()))
}

fn with_article(noun: &str) -> String {
    let article = if noun.starts_with(['a', 'e', 'i', 'o', 'u']) { "an" } else { "a" };
    format!("{article} {noun}")
}

/// Keys whose value is a filesystem path (or, for listen, may contain one after `unix:`).
fn relative_to(base: &Path, key: &str, text: &str) -> OsString {
    let resolve = |path: &str| -> OsString {
        if Path::new(path).is_relative() {
            base.join(path).into_os_string()
        } else {
            path.into()
        }
    };
    match key {
        "root" => resolve(text),
        // Empty stays empty: `--compress-cache` refuses it with its own message.
        "compress-cache" | "write-token-file" if !text.is_empty() => resolve(text),
        "access-log" if !matches!(text, "" | "-" | "off") => resolve(text),
        "listen" => match text.strip_prefix("unix:") {
            Some(path) if !path.is_empty() => {
                let mut arg = OsString::from("unix:");
                arg.push(resolve(path));
                arg
            }
            _ => text.into(),
        },
        _ => text.into(),
    }
}

/// `unknown key 'lissten'`, with the nearest real key when one is close.
fn unknown_key(name: &str, cmd: &Command) -> String {
    let keys: Vec<String> = cmd
        .get_arguments()
        .filter_map(|a| a.get_long().map(str::to_string).or_else(|| a.is_positional().then(|| a.get_id().to_string())))
        .filter(|k| !COMMAND_LINE_ONLY.contains(&k.as_str()))
        .collect();
    let dashed = name.replace('_', "-");
    let nearest = keys
        .iter()
        .map(|k| (if *k == dashed { 0 } else { edit_distance(name, k) }, k))
        .min_by_key(|(d, _)| *d)
        .filter(|(d, _)| *d <= 2.max(name.len() / 4));
    match nearest {
        Some((_, k)) => format!("unknown key '{name}' (did you mean '{k}'?)"),
        None => format!("unknown key '{name}'"),
    }
}

/// Levenshtein distance, for the suggestion.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (above + 1).min(row[j] + 1).min(diagonal + usize::from(ca != *cb));
            diagonal = above;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests;
