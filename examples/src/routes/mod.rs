//! HTTP routes of the example API.

pub mod demo;
pub mod health;
pub mod recommendations;
pub mod score;
pub mod stream;
pub mod users;
