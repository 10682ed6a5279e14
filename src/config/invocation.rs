//! The command line kept as given, so the configuration can be built again from it and a re-read config file.
//!
//! At start, and again on every HUP, the master needs "the configuration now": the config file read afresh,
//! with whatever the command line said on top of it. `Invocation` is that command line (its arguments, which
//! options it gave, the file it names); `load` merges and validates, reporting a problem that comes from the
//! file as `FILE:LINE: ...`.
//!
//! The merge works on arguments, not on parsed values: the file's keys become `--name=value` arguments
//! (`file.rs`), those the command line also gives are dropped (a command-line `--listen` replaces the file's
//! whole list), and clap parses the file's arguments followed by the command line's, so there is one parser
//! and one validation for both.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};

use clap::error::{ContextKind, ContextValue};
use clap::parser::ValueSource;
use clap::{ArgMatches, CommandFactory, FromArgMatches};

use super::file::{self, Entry, Kind};
use super::{Cli, Config, OptionError};

/// The command line as given, kept so a reload can build the configuration again with a re-read file.
#[derive(Clone, Debug)]
pub struct Invocation {
    /// The arguments as given, argv[0] included.
    args: Vec<OsString>,
    /// clap ids of the options the command line gave (these win over the file).
    from_command_line: Vec<String>,
    /// `--config` as given (for messages), and made absolute (for reading, and the base of relative paths).
    config: Option<(PathBuf, PathBuf)>,
    check: bool,
}

impl Invocation {
    /// Parses std::env::args_os(); --help/--version/usage errors behave exactly as clap's Cli::parse() does
    /// (print and exit).
    pub fn from_env() -> Invocation {
        let args: Vec<OsString> = std::env::args_os().collect();
        let matches = Cli::command().get_matches_from(args.iter());
        Invocation::from_matches(args, &matches)
    }

    /// For tests: parse an explicit argv (argv[0] included); Err is clap's rendered error as a String.
    pub fn from_args<I: IntoIterator<Item = OsString>>(args: I) -> Result<Invocation, String> {
        let args: Vec<OsString> = args.into_iter().collect();
        let matches = Cli::command().try_get_matches_from(args.iter()).map_err(|e| e.render().to_string())?;
        Ok(Invocation::from_matches(args, &matches))
    }

    fn from_matches(args: Vec<OsString>, matches: &ArgMatches) -> Invocation {
        let from_command_line = matches
            .ids()
            .filter(|id| matches.value_source(id.as_str()) == Some(ValueSource::CommandLine))
            .map(|id| id.to_string())
            .collect();
        let config = matches.get_one::<PathBuf>("config").map(|shown| {
            // An unusable path stays as given: reading it reports the problem.
            let absolute = std::path::absolute(shown).unwrap_or_else(|_| shown.clone());
            (shown.clone(), absolute)
        });
        Invocation { args, from_command_line, config, check: matches.get_flag("check") }
    }

    /// Reads the config file (if any) afresh, merges it under the command line and validates: the Config,
    /// or one line describing the first problem (file:line: ...). Called at start and on every HUP.
    pub fn load(&self) -> Result<Config, String> {
        let mut cmd = Cli::command();
        let entries = match &self.config {
            Some((shown, path)) => file::read(shown, path, &cmd)?,
            None => Vec::new(),
        };
        let used: Vec<&Entry> = entries.iter().filter(|e| !self.from_command_line.contains(&e.id)).collect();
        let matches =
            cmd.try_get_matches_from_mut(self.merged_args(&used)).map_err(|e| self.clap_problem(&e, &used))?;
        let cli = Cli::from_arg_matches(&matches).map_err(|e| first_line(&e))?;
        Config::from_cli_tagged(cli).map_err(|e| self.config_problem(e, &used))
    }

    /// --check
    pub fn check_only(&self) -> bool {
        self.check
    }

    /// The --config path as given.
    pub fn config_file(&self) -> Option<&Path> {
        self.config.as_ref().map(|(shown, _)| shown.as_path())
    }

    /// argv[0], the file's options, the command line's arguments, then the file's root unless the command
    /// line gave one (after `--`, so a root starting with `-` stays a path).
    fn merged_args(&self, used: &[&Entry]) -> Vec<OsString> {
        let (argv0, given) =
            self.args.split_first().map_or((OsString::from("staticd"), &[][..]), |(first, rest)| (first.clone(), rest));
        let mut args = vec![argv0];
        args.extend(used.iter().filter(|e| e.kind != Kind::Positional).flat_map(|e| e.args()));
        args.extend(given.iter().cloned());
        if let Some(root) = used.iter().find(|e| e.kind == Kind::Positional) {
            // A `--` on the command line already ends its options (clap refused any misplaced one).
            if !given.iter().any(|a| a == OsStr::new("--")) {
                args.push("--".into());
            }
            args.extend(root.args());
        }
        args
    }

    /// A clap error about the merged arguments: at the line of the file's value when that is what it is about.
    fn clap_problem(&self, err: &clap::Error, used: &[&Entry]) -> String {
        let message = first_line(err);
        let context = |kind| match err.get(kind) {
            Some(ContextValue::String(s)) => Some(s.as_str()),
            _ => None,
        };
        let entry = context(ContextKind::InvalidArg).and_then(|arg| {
            used.iter().find(|e| {
                arg.strip_prefix("--")
                    .and_then(|rest| rest.strip_prefix(e.key.as_str()))
                    .is_some_and(|after| after.is_empty() || after.starts_with([' ', '=']))
            })
        });
        match (entry, &self.config) {
            (Some(e), Some((shown, _))) => {
                let line = context(ContextKind::InvalidValue).map_or(e.line, |v| e.line_of_value(v));
                format!("{}:{line}: {message}", shown.display())
            }
            _ => message,
        }
    }

    /// A problem `Config` found: at the line of the file's key (or of the value it quotes) when the option's
    /// value came from the file.
    fn config_problem(&self, err: OptionError, used: &[&Entry]) -> String {
        let (Some(entry), Some((shown, _))) = (used.iter().find(|e| e.id == err.option), &self.config) else {
            return err.message;
        };
        let line = entry
            .values
            .iter()
            .find(|(v, _)| err.message.contains(&format!("'{}'", v.to_string_lossy())))
            .map_or(entry.line, |(_, line)| *line);
        let named = err.message.contains(&format!("--{}", entry.key));
        let message = if named { err.message } else { format!("{}: {}", entry.key, err.message) };
        format!("{}:{line}: {message}", shown.display())
    }
}

/// clap's message without its `error: ` prefix and usage lines.
fn first_line(err: &clap::Error) -> String {
    let rendered = err.render().to_string();
    let line = rendered.lines().find(|l| !l.trim().is_empty()).unwrap_or_default();
    line.strip_prefix("error: ").unwrap_or(line).to_string()
}

#[cfg(test)]
mod tests;
