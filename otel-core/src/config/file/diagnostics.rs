//! What can go wrong with a configuration file: the errors that stop setup
//! ([`FileError`]: unreadable, not YAML, an invalid substitution reference,
//! an unknown file format) and the paths that name a field in warnings.

use std::fmt;
use std::path::PathBuf;

/// The YAML path of `key` under `parent` (`tracer_provider.processors[0].batch`).
pub(crate) fn join(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_owned()
    } else {
        format!("{parent}.{key}")
    }
}

/// A configuration file that cannot be used at all. Setup stops with it
/// ([`SetupError::ConfigFile`](crate::SetupError::ConfigFile)): the
/// specification asks for no partial configuration from a broken file.
#[derive(Debug)]
#[non_exhaustive]
pub enum FileError {
    /// The file could not be read.
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid YAML.
    Parse {
        /// The file.
        path: PathBuf,
        /// 1-based line of the problem, when the parser knows it.
        line: Option<usize>,
        /// 1-based column of the problem, when the parser knows it.
        column: Option<usize>,
        /// The parser's message.
        message: String,
    },
    /// A `${...}` that is not a valid substitution reference (`${X:?err}`,
    /// `${1X}`): the specification makes the whole file invalid.
    Substitution {
        /// The file.
        path: PathBuf,
        /// The YAML path of the value holding it.
        yaml_path: String,
        /// 1-based line, when known.
        line: Option<usize>,
        /// The reference, e.g. `${API_KEY:?required}`.
        reference: String,
    },
    /// `file_format` is missing or names a format this crate does not read
    /// (it reads 1.x).
    FileFormat {
        /// The file.
        path: PathBuf,
        /// The value found (`None`: missing).
        value: Option<String>,
    },
}

impl fmt::Display for FileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FileError::Read { path, source } => {
                write!(
                    f,
                    "{}: cannot read the configuration file: {source}",
                    path.display()
                )
            }
            FileError::Parse {
                path,
                line,
                column,
                message,
            } => {
                write!(f, "{}", path.display())?;
                if let (Some(l), Some(c)) = (line, column) {
                    write!(f, ":{l}:{c}")?;
                }
                write!(f, ": not valid YAML: {message}")
            }
            FileError::Substitution {
                path,
                yaml_path,
                line,
                reference,
            } => {
                write!(f, "{}", path.display())?;
                if let Some(l) = line {
                    write!(f, ":{l}")?;
                }
                write!(
                    f,
                    ": {yaml_path}: {reference:?} is not a valid substitution reference \
                     (expected ${{NAME}}, ${{env:NAME}} or ${{NAME:-default}}; write $$ for a literal $)"
                )
            }
            FileError::FileFormat { path, value: None } => write!(
                f,
                "{}: file_format is missing (this crate reads \"1.0\" and \"1.1\")",
                path.display()
            ),
            FileError::FileFormat {
                path,
                value: Some(v),
            } => write!(
                f,
                "{}: file_format: {v:?} is not supported (this crate reads \"1.0\" and \"1.1\")",
                path.display()
            ),
        }
    }
}

impl std::error::Error for FileError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            FileError::Read { source, .. } => Some(source),
            _ => None,
        }
    }
}
