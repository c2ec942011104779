//! The command line of a benchmark example: `--name value` pairs, each name one the example
//! knows. `--help` prints the usage; a mistake prints one line and the usage and exits with
//! status 2, as the `kalends` binary does, never a panic with a backtrace.
//!
//! Included by each example with `#[path = "common/flags.rs"] mod flags;` (Cargo takes only the
//! files directly in `examples/` for examples).

#![allow(dead_code)] // each example uses the readers it needs

use std::collections::HashMap;
use std::fmt::Display;
use std::str::FromStr;

/// The flags given, by name.
pub struct Flags {
    usage: &'static str,
    given: HashMap<String, String>,
}

impl Flags {
    /// Reads the process's arguments: `known` are the flag names (with their `--`), `usage`
    /// the text `--help` prints.
    pub fn parse(usage: &'static str, known: &[&str]) -> Flags {
        let mut given = HashMap::new();
        let mut args = std::env::args().skip(1).peekable();
        while let Some(flag) = args.next() {
            if flag == "--help" || flag == "-h" {
                println!("{usage}");
                std::process::exit(0);
            }
            if !known.contains(&flag.as_str()) {
                fail(usage, format!("unknown flag {flag}"));
            }
            match args.next_if(|value| !value.starts_with("--")) {
                Some(value) => given.insert(flag, value),
                None => fail(usage, format!("{flag} needs a value")),
            };
        }
        Flags { usage, given }
    }

    /// The flag's value, if given.
    pub fn text(&self, name: &str) -> Option<String> {
        self.given.get(name).cloned()
    }

    /// The flag's value; a missing one ends the program with its message.
    pub fn required(&self, name: &str) -> String {
        self.text(name).unwrap_or_else(|| self.refuse(format!("{name} is required")))
    }

    /// The flag's value read as a number (or whatever `T` parses), if given; one that does not
    /// parse ends the program with its message.
    pub fn number<T>(&self, name: &str) -> Option<T>
    where
        T: FromStr,
        T::Err: Display,
    {
        let value = self.given.get(name)?;
        let parsed = value.parse().unwrap_or_else(|e| {
            self.refuse(format!("{name}: {value:?} is not a valid value ({e})"))
        });
        Some(parsed)
    }

    /// Ends the program with `message` and the usage, status 2: for a combination of flags the
    /// example cannot run with.
    pub fn refuse(&self, message: String) -> ! {
        fail(self.usage, message)
    }
}

/// Ends the program with `message` and the usage, status 2.
fn fail(usage: &str, message: String) -> ! {
    let program = std::env::args().next().unwrap_or_default();
    let program = program.rsplit('/').next().unwrap_or("example");
    eprintln!("{program}: {message}\n{usage}");
    std::process::exit(2);
}
