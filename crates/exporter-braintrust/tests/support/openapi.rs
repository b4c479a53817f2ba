//! The vendors' OpenAPI documents and a validator for them: `aitrace_testkit::openapi`.
pub(crate) use aitrace_testkit::openapi::{check, load_spec};
