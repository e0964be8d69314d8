#![allow(dead_code)]

pub mod crash;
pub mod model;
pub mod rng;
