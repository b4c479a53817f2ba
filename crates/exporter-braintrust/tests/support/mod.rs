pub(crate) mod openapi;
