//! placeholder while the server tests are written.
mod common;
#[allow(unused_imports)]
use common::server::*;
