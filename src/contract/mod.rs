//! The contract with the host: the types wit-bindgen generates from `wit/` and the small traits
//! the imports stand behind, so that everything above runs natively under test.

pub mod ports;
pub mod records;
pub mod wit;
