//! The errors of configuring and installing aitrace.

use std::fmt;

/// An invalid setting, named as the user wrote it (`AITRACE_QUEUE_SIZE`, `max_batch_size`, ...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The setting at fault.
    pub setting: String,
    /// What is wrong with it.
    pub message: String,
}

impl ConfigError {
    /// An error about `setting`.
    pub fn new(setting: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigError {
            setting: setting.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid aitrace setting `{}`: {}",
            self.setting, self.message
        )
    }
}

impl std::error::Error for ConfigError {}

/// Why [`Builder::install`](crate::Builder::install) failed.
#[derive(Debug)]
pub enum InstallError {
    /// A setting is invalid.
    Config(ConfigError),
    /// Another global subscriber was already installed; use [`Builder::build_layer`](crate::Builder::build_layer) and add the
    /// layer to your own subscriber instead.
    AlreadyInstalled(String),
}

impl fmt::Display for InstallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InstallError::Config(e) => e.fmt(f),
            InstallError::AlreadyInstalled(e) => write!(
                f,
                "a global tracing subscriber is already set ({e}); add `build_layer()` to it instead"
            ),
        }
    }
}

impl std::error::Error for InstallError {}

impl From<ConfigError> for InstallError {
    fn from(e: ConfigError) -> Self {
        InstallError::Config(e)
    }
}
