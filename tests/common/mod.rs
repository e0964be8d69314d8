#![allow(dead_code, unused_imports, unused_macros)]

pub mod crash;
pub mod model;
pub mod rng;
pub mod typed_model;
